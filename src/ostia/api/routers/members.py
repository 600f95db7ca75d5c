"""``/v2/lbaas/pools/{pool_id}/members``: list, show, create, update, delete, and the batch
update that makes a pool's members what the request lists."""

from __future__ import annotations

import ipaddress
import json
import uuid
from collections.abc import Iterable
from typing import Any

from fastapi import APIRouter, Request, Response
from sqlalchemy import select
from sqlalchemy.orm import Session, object_session

from ostia import constants
from ostia.api import policy, views
from ostia.api.access import get_or_404
from ostia.api.context import RequestContext
from ostia.api.deps import ContextDep, Services, ServicesDep, list_url
from ostia.api.listing import TRUE_STRINGS, Listable, ListQuery, select_fields
from ostia.api.locks import lock_for_child_change
from ostia.api.quota import check_quota
from ostia.api.responses import ApiResponse
from ostia.api.routers.pools import provider_name
from ostia.api.schemas.member import (
    MemberPOST,
    MemberRootPOST,
    MemberRootPUT,
    MemberRootResponse,
    MemberSingleCreate,
    MembersRootPUT,
    MembersRootResponse,
)
from ostia.config import Settings
from ostia.db.models import Flavor, LoadBalancer, Member, Pool
from ostia.errors import (
    DuplicateMemberEntry,
    InvalidOption,
    InvalidSubresource,
    MemberSRIOVDisabled,
    NotFound,
    ProviderUnsupportedOption,
    ValidationFailure,
)
from ostia.network.access import find_subnet

router = APIRouter(tags=["members"])

MEMBERS = "/pools/{pool_id}/members"
VNIC_DIRECT = "direct"

LISTABLE = Listable(
    model=Member,
    columns={
        "id": Member.id,
        "name": Member.name,
        "operating_status": Member.operating_status,
        "provisioning_status": Member.provisioning_status,
        "admin_state_up": Member.enabled,
        "address": Member.ip_address,
        "protocol_port": Member.protocol_port,
        "weight": Member.weight,
        "backup": Member.backup,
        "subnet_id": Member.subnet_id,
        "project_id": Member.project_id,
        "tenant_id": Member.project_id,
        "created_at": Member.created_at,
        "updated_at": Member.updated_at,
        "monitor_address": Member.monitor_address,
        "monitor_port": Member.monitor_port,
        "vnic_type": Member.vnic_type,
    },
)


class _NothingToDo(Exception):
    """A batch update that changes nothing: its transaction is rolled back."""


# -- validation --------------------------------------------------------------------


def _check_address(settings: Settings, address: str) -> None:
    """Refuse the deployment's reserved addresses, in Octavia's words."""
    ip = ipaddress.ip_address(address)
    if any(ip == ipaddress.ip_address(r) for r in settings.networking.reserved_ips):
        raise InvalidOption(value=ip.exploded.upper(), option="member address")


def _check_subnet(
    session: Session, settings: Settings, ctx: RequestContext, subnet_id: str | None
) -> None:
    """With Ostia's own networks, a member's subnet must be one the caller can see."""
    if subnet_id and settings.networking.mode == "managed":
        if find_subnet(session, ctx, subnet_id) is None:
            raise InvalidSubresource(resource="Subnet", id=subnet_id)


def _vnic_type(pool: Pool, request_sriov: bool | None) -> str:
    """``direct`` for an SR-IOV member port, which the load balancer's flavor must allow."""
    if not request_sriov:
        return constants.VNIC_NORMAL
    lb = pool.load_balancer
    session = object_session(pool)
    flavor = session.get(Flavor, lb.flavor_id) if session and lb.flavor_id else None
    metadata: dict[str, Any] = (
        json.loads(flavor.flavor_profile.flavor_data or "{}") if flavor else {}
    )
    if not metadata.get("allow_member_sriov", False):
        raise MemberSRIOVDisabled()
    return VNIC_DIRECT


def _check_address_families(pool: Pool, members: Iterable[Member]) -> None:
    """The amphora provider cannot mix IPv4 and IPv6 between VIPs and UDP/SCTP members."""
    if pool.protocol not in constants.LVS_PROTOCOLS:
        return
    for listener in pool.listeners:
        lb = listener.load_balancer
        vips = lb.vip_addresses
        versions = {ipaddress.ip_address(v).version for v in vips if v}
        for member in members:
            if ipaddress.ip_address(member.ip_address).version not in versions:
                raise ProviderUnsupportedOption(
                    prov=provider_name(lb),
                    user_msg="This provider doesn't support mixing IPv4 and IPv6 addresses "
                    f"for its VIP and members in {pool.protocol} load balancers.",
                )


# -- creating ----------------------------------------------------------------------


def _add_member(
    pool: Pool, spec: MemberSingleCreate, project_id: str | None, vnic_type: str
) -> Member:
    if any(
        m.ip_address == spec.address and m.protocol_port == spec.protocol_port for m in pool.members
    ):
        raise DuplicateMemberEntry(ip_address=spec.address, port=spec.protocol_port)
    member = Member(
        id=str(uuid.uuid4()),
        project_id=project_id,
        pool_id=pool.id,
        name=spec.name,
        enabled=bool(spec.admin_state_up),
        ip_address=spec.address,
        protocol_port=spec.protocol_port,
        weight=1 if spec.weight is None else spec.weight,
        backup=bool(spec.backup),
        subnet_id=spec.subnet_id,
        monitor_address=spec.monitor_address,
        monitor_port=spec.monitor_port,
        vnic_type=vnic_type,
        provisioning_status=constants.PENDING_CREATE,
        operating_status=constants.OFFLINE
        if pool.health_monitor is not None
        else constants.NO_MONITOR,
    )
    member.set_tags(spec.tags)
    pool.members.append(member)
    return member


def build_member(
    settings: Settings, pool: Pool, spec: MemberSingleCreate, project_id: str | None
) -> Member:
    """Validate and create a member of pool (appended to pool.members); duplicates checked
    against pool.members."""
    _check_address(settings, spec.address)
    return _add_member(pool, spec, project_id, _vnic_type(pool, spec.request_sriov))


def _replace(member: Member, spec: MemberPOST, project_id: str | None) -> None:
    """A batch update rewrites the member from the request, defaults included (Octavia)."""
    if spec.given("name"):
        member.name = spec.name
    if spec.given("subnet_id"):
        member.subnet_id = spec.subnet_id
    if spec.tags is not None:
        member.set_tags(spec.tags)
    member.enabled = bool(spec.admin_state_up)
    member.weight = 1 if spec.weight is None else spec.weight
    member.backup = bool(spec.backup)
    member.monitor_address = spec.monitor_address
    member.monitor_port = spec.monitor_port
    member.project_id = project_id
    member.provisioning_status = constants.PENDING_UPDATE


def _batch_update(
    session: Session,
    settings: Settings,
    ctx: RequestContext,
    pool_id: str,
    specs: list[MemberPOST],
    additive_only: bool,
) -> None:
    pool = get_or_404(session, Pool, pool_id)
    project_id = pool.load_balancer.project_id
    for action in ("post", "put") if additive_only else ("post", "put", "delete"):
        policy.enforce(ctx, f"member:{action}", project_id)
    lock_for_child_change(session, pool.load_balancer_id, listeners=pool.listeners, pool=pool)
    existing = {(m.ip_address, m.protocol_port): m for m in pool.members}
    created: list[MemberPOST] = []
    updated: dict[tuple[str, int], tuple[Member, MemberPOST]] = {}
    for spec in specs:
        key = (spec.address, spec.protocol_port)
        if key not in existing:
            _check_address(settings, spec.address)
            _check_subnet(session, settings, ctx, spec.subnet_id)
            created.append(spec)
        elif key in updated:
            raise ValidationFailure(detail="Member must be updated only once in the same request.")
        else:
            updated[key] = (existing[key], spec)
    listed = {(spec.address, spec.protocol_port) for spec in specs}
    absent = [m for key, m in existing.items() if key not in listed]
    if not (created or updated or absent):
        raise _NothingToDo()
    growth = len(created) - (0 if additive_only else len(absent))
    check_quota(session, settings.quotas, project_id, {"member": growth})
    touched = [
        _add_member(pool, spec, project_id, _vnic_type(pool, spec.request_sriov))
        for spec in created
    ]
    for member, spec in updated.values():
        _replace(member, spec, project_id)
        touched.append(member)
    for member in absent:
        if additive_only:
            touched.append(member)
        else:
            member.provisioning_status = constants.PENDING_DELETE
    _check_address_families(pool, touched)


def _find_member(
    session: Session, ctx: RequestContext, pool_id: str, member_id: str, action: str
) -> Member:
    """The member, 404 unless it belongs to the pool in the path (checked after policy, as
    Octavia does)."""
    get_or_404(session, Pool, pool_id)
    member = get_or_404(session, Member, member_id)
    policy.enforce(ctx, f"member:{action}", member.pool.load_balancer.project_id)
    if member.pool_id != pool_id:
        raise NotFound(resource="Member", id=member_id)
    return member


# -- endpoints ---------------------------------------------------------------------


@router.get(MEMBERS, response_model=MembersRootResponse)
def list_members(
    pool_id: str, request: Request, svc: Services = ServicesDep, ctx: RequestContext = ContextDep
) -> ApiResponse:
    query = ListQuery(request.query_params, LISTABLE, svc.settings.api.pagination_max_limit)
    with svc.db.read() as session:
        pool = get_or_404(session, Pool, pool_id)
        policy.enforce(ctx, "member:get_all", pool.project_id)
        stmt = select(Member).where(Member.pool_id == pool.id)
        page = query.page(session, stmt, list_url(request, svc.settings))
        items = [views.member(m) for m in page.rows]
    return ApiResponse({"members": query.select_fields(items), "members_links": page.links})


@router.get(MEMBERS + "/{member_id}", response_model=MemberRootResponse)
def show_member(
    pool_id: str,
    member_id: str,
    request: Request,
    svc: Services = ServicesDep,
    ctx: RequestContext = ContextDep,
) -> ApiResponse:
    with svc.db.read() as session:
        member = _find_member(session, ctx, pool_id, member_id, "get_one")
        item = views.member(member)
    return ApiResponse({"member": select_fields(request, item)})


@router.post(MEMBERS, status_code=201, response_model=MemberRootResponse)
def create_member(
    pool_id: str,
    body: MemberRootPOST,
    svc: Services = ServicesDep,
    ctx: RequestContext = ContextDep,
) -> ApiResponse:
    spec = body.member
    settings = svc.settings
    with svc.change() as session:
        pool = get_or_404(session, Pool, pool_id)
        lb: LoadBalancer = pool.load_balancer
        policy.enforce(ctx, "member:post", lb.project_id)
        _check_address(settings, spec.address)
        _check_subnet(session, settings, ctx, spec.subnet_id)
        check_quota(session, settings.quotas, lb.project_id, {"member": 1})
        vnic_type = _vnic_type(pool, spec.request_sriov)
        lock_for_child_change(session, lb.id, listeners=pool.listeners, pool=pool)
        member = _add_member(pool, spec, lb.project_id, vnic_type)
        _check_address_families(pool, [member])
        session.flush()
        item = views.member(member)
    return ApiResponse(status_code=201, content={"member": item})


@router.put(MEMBERS, status_code=202, response_class=Response)
def batch_update_members(
    pool_id: str,
    body: MembersRootPUT,
    request: Request,
    svc: Services = ServicesDep,
    ctx: RequestContext = ContextDep,
) -> Response:
    """Create, update and (unless ``additive_only``) delete, keyed by address and port."""
    additive_only = request.query_params.get("additive_only", "").strip().lower() in TRUE_STRINGS
    try:
        with svc.change() as session:
            _batch_update(session, svc.settings, ctx, pool_id, body.members, additive_only)
    except _NothingToDo:
        pass
    return Response(status_code=202)


@router.put(MEMBERS + "/{member_id}", response_model=MemberRootResponse)
def update_member(
    pool_id: str,
    member_id: str,
    body: MemberRootPUT,
    svc: Services = ServicesDep,
    ctx: RequestContext = ContextDep,
) -> ApiResponse:
    spec = body.member
    with svc.change() as session:
        member = _find_member(session, ctx, pool_id, member_id, "put")
        pool = member.pool
        lock_for_child_change(session, pool.load_balancer_id, listeners=pool.listeners, pool=pool)
        for field in ("name", "monitor_address", "monitor_port"):
            if spec.given(field):
                setattr(member, field, getattr(spec, field))
        if spec.given("admin_state_up"):
            member.enabled = bool(spec.admin_state_up)
        if spec.given("weight"):
            member.weight = 1 if spec.weight is None else spec.weight
        if spec.given("backup"):
            member.backup = bool(spec.backup)
        if spec.tags is not None:
            member.set_tags(spec.tags)
        member.provisioning_status = constants.PENDING_UPDATE
        session.flush()
        item = views.member(member)
    return ApiResponse({"member": item})


@router.delete(MEMBERS + "/{member_id}", status_code=204, response_class=Response)
def delete_member(
    pool_id: str, member_id: str, svc: Services = ServicesDep, ctx: RequestContext = ContextDep
) -> Response:
    with svc.change() as session:
        member = _find_member(session, ctx, pool_id, member_id, "delete")
        pool = member.pool
        lock_for_child_change(session, pool.load_balancer_id, listeners=pool.listeners, pool=pool)
        member.provisioning_status = constants.PENDING_DELETE
    return Response(status_code=204)
