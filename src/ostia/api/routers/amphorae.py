"""``/v2/octavia/amphorae``: Octavia's admin API on amphorae: list, show, push the
configuration again, fail one over, delete one in ERROR.

The changes only record desired state (see ``ostia.db.amphora_requests``): the load balancer
goes PENDING_UPDATE in the same transaction, and the reconciler does the work.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response
from sqlalchemy import select
from sqlalchemy.orm import Session

from ostia import constants
from ostia.api import policy
from ostia.api.context import RequestContext
from ostia.api.deps import ContextDep, Services, ServicesDep, list_url
from ostia.api.listing import Listable, ListQuery, select_fields
from ostia.api.locks import LB_RESOURCE, lock_load_balancer
from ostia.api.responses import ApiResponse
from ostia.api.schemas.amphora import AmphoraeRootResponse, AmphoraRootResponse
from ostia.db.amphora_requests import (
    DELETED,
    ERROR,
    request_configuration,
    request_replacement,
)
from ostia.db.models import Amphora, LoadBalancer
from ostia.errors import ImmutableObject, NotFound

router = APIRouter(tags=["amphorae"])

RESOURCE = "Amphora"

LISTABLE = Listable(
    model=Amphora,
    columns={
        "id": Amphora.id,
        "loadbalancer_id": Amphora.load_balancer_id,
        "compute_id": Amphora.compute_id,
        "lb_network_ip": Amphora.lb_network_ip,
        "vrrp_ip": Amphora.vrrp_ip,
        "ha_ip": Amphora.ha_ip,
        "vrrp_port_id": Amphora.vrrp_port_id,
        "ha_port_id": Amphora.ha_port_id,
        "cert_expiration": Amphora.cert_expiration,
        "cert_busy": Amphora.cert_busy,
        "role": Amphora.role,
        "status": Amphora.status,
        "vrrp_interface": Amphora.vrrp_interface,
        "vrrp_id": Amphora.vrrp_id,
        "vrrp_priority": Amphora.vrrp_priority,
        "cached_zone": Amphora.cached_zone,
        "created_at": Amphora.created_at,
        "updated_at": Amphora.updated_at,
        "image_id": Amphora.image_id,
        "compute_flavor": Amphora.compute_flavor,
        # Not shown, but Octavia filters on it: the project of the amphora's load balancer.
        "project_id": LoadBalancer.project_id,
    },
    tagged=False,
)


def render(amphora: Amphora) -> dict[str, Any]:
    def time(value: Any) -> str | None:
        return value.isoformat() if value is not None else None

    return {
        "id": amphora.id,
        "loadbalancer_id": amphora.load_balancer_id,
        "compute_id": amphora.compute_id,
        "lb_network_ip": amphora.lb_network_ip,
        "vrrp_ip": amphora.vrrp_ip,
        "ha_ip": amphora.ha_ip,
        "vrrp_port_id": amphora.vrrp_port_id,
        "ha_port_id": amphora.ha_port_id,
        "cert_expiration": time(amphora.cert_expiration),
        "cert_busy": bool(amphora.cert_busy),
        "role": amphora.role,
        "status": amphora.status,
        "vrrp_interface": amphora.vrrp_interface,
        "vrrp_id": amphora.vrrp_id,
        "vrrp_priority": amphora.vrrp_priority,
        "cached_zone": amphora.cached_zone,
        "created_at": time(amphora.created_at),
        "updated_at": time(amphora.updated_at),
        "image_id": amphora.image_id,
        "compute_flavor": amphora.compute_flavor,
    }


def _get(session: Session, amphora_id: str, lock: bool = False) -> Amphora:
    """The amphora, unless it does not exist or is DELETED (Octavia shows no deleted one)."""
    options: dict[str, Any] = {"with_for_update": True, "populate_existing": True} if lock else {}
    amphora = session.get(Amphora, amphora_id, **options)
    if amphora is None or amphora.status == DELETED:
        raise NotFound(resource=RESOURCE, id=amphora_id)
    return amphora


def _lock(session: Session, amphora_id: str) -> tuple[Amphora, LoadBalancer | None]:
    """The amphora and its load balancer, both locked: the load balancer first, as every
    change of its tree locks it."""
    lb_id = _get(session, amphora_id).load_balancer_id
    lb = lock_load_balancer(session, lb_id) if lb_id is not None else None
    return _get(session, amphora_id, lock=True), lb


def _mark_updating(amphora: Amphora, lb: LoadBalancer | None) -> None:
    """The load balancer goes PENDING_UPDATE; Octavia refuses (409) unless it is ACTIVE."""
    if lb is None:
        raise ImmutableObject(resource=RESOURCE, id=amphora.id)
    if lb.provisioning_status not in constants.MUTABLE_STATUSES:
        raise ImmutableObject(resource=LB_RESOURCE, id=lb.id)
    lb.provisioning_status = constants.PENDING_UPDATE


@router.get("/amphorae", response_model=AmphoraeRootResponse)
def list_amphorae(
    request: Request, svc: Services = ServicesDep, ctx: RequestContext = ContextDep
) -> ApiResponse:
    policy.enforce(ctx, "amphora:get_all", ctx.project_id)
    query = ListQuery(request.query_params, LISTABLE, svc.settings.api.pagination_max_limit)
    stmt = (
        select(Amphora)
        .outerjoin(LoadBalancer, LoadBalancer.id == Amphora.load_balancer_id)
        .where(Amphora.status != DELETED)
    )
    with svc.db.read() as session:
        page = query.page(session, stmt, list_url(request, svc.settings))
        items = [render(amphora) for amphora in page.rows]
    return ApiResponse({"amphorae": query.select_fields(items), "amphorae_links": page.links})


@router.get("/amphorae/{amphora_id}", response_model=AmphoraRootResponse)
def show_amphora(
    amphora_id: str, request: Request, svc: Services = ServicesDep, ctx: RequestContext = ContextDep
) -> ApiResponse:
    with svc.db.read() as session:
        item = render(_get(session, amphora_id))
    policy.enforce(ctx, "amphora:get_one", ctx.project_id)
    return ApiResponse({"amphora": select_fields(request, item)})


@router.put("/amphorae/{amphora_id}/config", status_code=202, response_class=Response)
def configure_amphora(
    amphora_id: str, svc: Services = ServicesDep, ctx: RequestContext = ContextDep
) -> Response:
    with svc.change() as session:
        _get(session, amphora_id)
        policy.enforce(ctx, "amphora:put_config", ctx.project_id)
        amphora, lb = _lock(session, amphora_id)
        _mark_updating(amphora, lb)
        request_configuration(amphora)
    return Response(status_code=202)


@router.put("/amphorae/{amphora_id}/failover", status_code=202, response_class=Response)
def fail_over_amphora(
    amphora_id: str, svc: Services = ServicesDep, ctx: RequestContext = ContextDep
) -> Response:
    with svc.change() as session:
        amphora = _get(session, amphora_id)
        owner = session.scalar(
            select(LoadBalancer.project_id).where(LoadBalancer.id == amphora.load_balancer_id)
        )
        policy.enforce(ctx, "amphora:put_failover", owner)
        amphora, lb = _lock(session, amphora_id)
        _mark_updating(amphora, lb)
        request_replacement(session, amphora)
    return Response(status_code=202)


@router.delete("/amphorae/{amphora_id}", status_code=204, response_class=Response)
def delete_amphora(
    amphora_id: str, svc: Services = ServicesDep, ctx: RequestContext = ContextDep
) -> Response:
    """Only an amphora in ERROR (spares, READY, are the spare pool's, which replaces dead
    ones itself). Its load balancer, unless busy already, goes PENDING_UPDATE so that the
    reconciler removes it."""
    policy.enforce(ctx, "amphora:delete", ctx.project_id)
    with svc.change() as session:
        amphora, lb = _lock(session, amphora_id)
        if amphora.status != ERROR:
            raise ImmutableObject(resource=RESOURCE, id=amphora_id)
        if lb is not None and lb.provisioning_status in constants.FAILOVERABLE_STATUSES:
            lb.provisioning_status = constants.PENDING_UPDATE
        request_replacement(session, amphora)
    return Response(status_code=204)
