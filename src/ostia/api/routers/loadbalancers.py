"""``/v2/lbaas/loadbalancers``: list, show, create (also fully populated), update, delete
(with cascade), the status tree, statistics and failover."""

from __future__ import annotations

import json
import uuid
from typing import Any

from fastapi import APIRouter, Query, Request, Response
from sqlalchemy import literal, select, union_all
from sqlalchemy.orm import Session, contains_eager, lazyload

from ostia import constants
from ostia.api import graph, policy, views
from ostia.api.access import get_or_404, scope_list
from ostia.api.context import RequestContext
from ostia.api.deps import ContextDep, Services, ServicesDep, list_url
from ostia.api.listing import Listable, ListQuery, parse_bool, select_fields
from ostia.api.locks import lock_load_balancer, transition_load_balancer
from ostia.api.quota import check_quota
from ostia.api.responses import ApiResponse
from ostia.api.schemas.common import StatisticsRoot
from ostia.api.schemas.loadbalancer import (
    LoadBalancerFullRootResponse,
    LoadBalancerPOST,
    LoadBalancerRootPOST,
    LoadBalancerRootPUT,
    LoadBalancerRootResponse,
    LoadBalancersRootResponse,
    StatusRoot,
)
from ostia.api.stats import statistics
from ostia.api.vip import VipPlan, allocate_vip, check_network_allowed, resolve_vip
from ostia.db.models import (
    AvailabilityZone,
    Flavor,
    Listener,
    ListenerStatistics,
    LoadBalancer,
    Pool,
    ReconcileState,
    Vip,
)
from ostia.db.tree import TREE_OPTIONS
from ostia.errors import (
    DisabledOption,
    ProviderFlavorMismatch,
    ProviderNotEnabled,
    ValidationFailure,
)

router = APIRouter(tags=["load balancers"])

LISTABLE = Listable(
    model=LoadBalancer,
    columns={
        "id": LoadBalancer.id,
        "name": LoadBalancer.name,
        "description": LoadBalancer.description,
        "provisioning_status": LoadBalancer.provisioning_status,
        "operating_status": LoadBalancer.operating_status,
        "admin_state_up": LoadBalancer.enabled,
        "project_id": LoadBalancer.project_id,
        "tenant_id": LoadBalancer.project_id,
        "created_at": LoadBalancer.created_at,
        "updated_at": LoadBalancer.updated_at,
        "provider": LoadBalancer.provider,
        "flavor_id": LoadBalancer.flavor_id,
        "availability_zone": LoadBalancer.availability_zone,
        "vip_address": Vip.ip_address,
        "vip_port_id": Vip.port_id,
        "vip_subnet_id": Vip.subnet_id,
        "vip_network_id": Vip.network_id,
        "vip_qos_policy_id": Vip.qos_policy_id,
        "vip_vnic_type": Vip.vnic_type,
        "vip_sg_ids": Vip.sg_ids,
    },
    list_columns=frozenset({"vip_sg_ids"}),
)


def _visible(stmt: Any) -> Any:
    """Load balancers that are not DELETED, each with its VIP (and nothing else) loaded."""
    return (
        stmt.join(LoadBalancer.vip)
        .outerjoin(LoadBalancer.reconcile)
        .where(LoadBalancer.provisioning_status != constants.DELETED)
        .options(
            contains_eager(LoadBalancer.vip),
            contains_eager(LoadBalancer.reconcile),
            lazyload("*"),
        )
    )


def _load(session: Session, lb_id: str, *options: Any) -> LoadBalancer:
    stmt = _visible(select(LoadBalancer)).where(LoadBalancer.id == lb_id)
    lb = session.scalars(stmt.options(*options)).one_or_none()
    if lb is None:
        return get_or_404(session, LoadBalancer, lb_id)  # raises 404
    return lb


def _children(session: Session, lb_ids: list[str]) -> dict[str, views.Children]:
    """The ids of each load balancer's listeners and pools, in one query."""
    found: dict[str, views.Children] = {lb_id: views.Children() for lb_id in lb_ids}
    if not lb_ids:
        return found
    listeners = select(
        literal(True).label("is_listener"),
        Listener.load_balancer_id,
        Listener.id,
        Listener.created_at,
    ).where(Listener.load_balancer_id.in_(lb_ids))
    pools = select(literal(False), Pool.load_balancer_id, Pool.id, Pool.created_at).where(
        Pool.load_balancer_id.in_(lb_ids)
    )
    for is_listener, lb_id, child_id, _ in session.execute(
        union_all(listeners, pools).order_by("created_at", "id")
    ):
        children = found[lb_id]
        (children.listener_ids if is_listener else children.pool_ids).append(child_id)
    return found


@router.get("/loadbalancers", response_model=LoadBalancersRootResponse)
def list_load_balancers(
    request: Request, svc: Services = ServicesDep, ctx: RequestContext = ContextDep
) -> ApiResponse:
    query = ListQuery(request.query_params, LISTABLE, svc.settings.api.pagination_max_limit)
    stmt = _visible(select(LoadBalancer))
    stmt = scope_list(ctx, "loadbalancer", request.query_params, stmt, LoadBalancer.project_id)
    with svc.db.read() as session:
        page = query.page(session, stmt, list_url(request, svc.settings))
        children = _children(session, [lb.id for lb in page.rows])
        items = [views.load_balancer(lb, children[lb.id]) for lb in page.rows]
    return ApiResponse(
        {"loadbalancers": query.select_fields(items), "loadbalancers_links": page.links}
    )


@router.get("/loadbalancers/{lb_id}", response_model=LoadBalancerRootResponse)
def show_load_balancer(
    lb_id: str, request: Request, svc: Services = ServicesDep, ctx: RequestContext = ContextDep
) -> ApiResponse:
    with svc.db.read() as session:
        lb = _load(session, lb_id)
        policy.enforce(ctx, "loadbalancer:get_one", lb.project_id)
        item = views.load_balancer(lb, _children(session, [lb_id])[lb_id])
    return ApiResponse({"loadbalancer": select_fields(request, item)})


def _provider_and_flavor(
    session: Session, svc: Services, spec: LoadBalancerPOST
) -> tuple[str, dict[str, Any]]:
    """The provider to store and the flavor's metadata (Octavia's ``_get_provider`` rules)."""
    flavor_data: dict[str, Any] = {}
    flavor_provider = None
    if spec.flavor_id is not None:
        flavor = session.get(Flavor, spec.flavor_id)
        if flavor is None:
            raise ValidationFailure(detail="Invalid flavor_id.")
        if not flavor.enabled:
            raise DisabledOption(option="flavor", value=spec.flavor_id)
        flavor_provider = flavor.flavor_profile.provider_name
        flavor_data = json.loads(flavor.flavor_profile.flavor_data or "{}")
    if spec.provider is not None and flavor_provider is not None:
        if spec.provider != flavor_provider:
            raise ProviderFlavorMismatch(flav=spec.flavor_id, prov=spec.provider)
    provider = spec.provider or flavor_provider or svc.settings.api.default_provider_driver
    if provider not in svc.settings.api.enabled_provider_drivers:
        raise ProviderNotEnabled(prov=provider)
    return provider, flavor_data


def _availability_zone_data(session: Session, name: str | None) -> dict[str, Any]:
    if name is None:
        return {}
    zone = session.get(AvailabilityZone, name)
    if zone is None:
        raise ValidationFailure(detail="Invalid availability zone.")
    if not zone.enabled:
        raise DisabledOption(option="availability_zone", value=name)
    data: dict[str, Any] = json.loads(zone.availability_zone_profile.availability_zone_data or "{}")
    return data


def _new_load_balancer(
    spec: LoadBalancerPOST, lb_id: str, project_id: str, provider: str, topology: str, vip: VipPlan
) -> LoadBalancer:
    lb = LoadBalancer(
        id=lb_id,
        project_id=project_id,
        name=spec.name,
        description=spec.description,
        enabled=bool(spec.admin_state_up),
        provider=provider,
        topology=topology,
        flavor_id=spec.flavor_id,
        availability_zone=spec.availability_zone,
        provisioning_status=constants.PENDING_CREATE,
        operating_status=constants.OFFLINE,
        vip=Vip(
            ip_address=vip.ip_address,
            port_id=vip.port_id,
            subnet_id=vip.subnet_id,
            network_id=vip.network_id,
            qos_policy_id=vip.qos_policy_id,
            sg_ids=vip.sg_ids,
            vnic_type=constants.VNIC_NORMAL,
            additional=[
                {
                    "subnet_id": a.subnet_id,
                    "network_id": a.network_id,
                    "ip_address": a.ip_address,
                    "port_id": a.port_id,
                }
                for a in vip.additional
            ],
        ),
        reconcile=ReconcileState(load_balancer_id=lb_id),
    )
    lb.set_tags(spec.tags)
    return lb


@router.post("/loadbalancers", status_code=201, response_model=LoadBalancerFullRootResponse)
def create_load_balancer(
    body: LoadBalancerRootPOST, svc: Services = ServicesDep, ctx: RequestContext = ContextDep
) -> ApiResponse:
    spec = body.loadbalancer
    project_id = spec.owner or ctx.project_id
    if not project_id:
        raise ValidationFailure(
            detail="Missing project ID in request where one is required. An administrator "
            "should check the keystone settings in the Octavia configuration."
        )
    policy.enforce(ctx, "loadbalancer:post", project_id)
    if spec.vip_sg_ids is not None:
        policy.enforce(ctx, "loadbalancer:post:vip_sg_ids", project_id)
    with svc.change() as session:
        vip = resolve_vip(session, spec, ctx, svc.settings)
        listeners = list(spec.listeners or [])
        pools = graph.collect_pools(listeners, list(spec.pools or []))
        provider, flavor_data = _provider_and_flavor(session, svc, spec)
        zone_data = _availability_zone_data(session, spec.availability_zone)
        check_network_allowed(
            vip.network_id, svc.settings.networking, zone_data.get("valid_vip_networks")
        )
        check_quota(
            session,
            svc.settings.quotas,
            project_id,
            {"load_balancer": 1, **graph.object_counts(listeners, pools)},
        )
        topology = flavor_data.get(
            "loadbalancer_topology", svc.settings.controller.loadbalancer_topology
        )
        lb_id = str(uuid.uuid4())
        allocate_vip(session, lb_id, project_id, vip, svc.settings.networking)
        lb = _new_load_balancer(spec, lb_id, project_id, provider, topology, vip)
        session.add(lb)
        graph.create_children(session, svc.settings, lb, listeners, pools)
        session.flush()
        item = views.load_balancer(lb, views.Children.full(lb))
    return ApiResponse(status_code=201, content={"loadbalancer": item})


@router.put("/loadbalancers/{lb_id}", response_model=LoadBalancerRootResponse)
def update_load_balancer(
    lb_id: str,
    body: LoadBalancerRootPUT,
    svc: Services = ServicesDep,
    ctx: RequestContext = ContextDep,
) -> ApiResponse:
    spec = body.loadbalancer
    with svc.change() as session:
        lb = _load(session, lb_id)
        policy.enforce(ctx, "loadbalancer:put", lb.project_id)
        if spec.given("vip_sg_ids"):
            policy.enforce(ctx, "loadbalancer:put:vip_sg_ids", lb.project_id)
        lock_load_balancer(session, lb_id)
        transition_load_balancer(lb, constants.PENDING_UPDATE)
        if spec.given("name"):
            lb.name = spec.name
        if spec.given("description"):
            lb.description = spec.description
        if spec.given("admin_state_up"):
            lb.enabled = bool(spec.admin_state_up)
        if spec.given("vip_qos_policy_id"):
            lb.vip.qos_policy_id = spec.vip_qos_policy_id
        if spec.given("vip_sg_ids"):
            lb.vip.sg_ids = list(spec.vip_sg_ids or [])
        if spec.given("tags"):
            lb.set_tags(spec.tags)
        session.flush()
        item = views.load_balancer(lb, _children(session, [lb_id])[lb_id])
    return ApiResponse({"loadbalancer": item})


@router.delete("/loadbalancers/{lb_id}", status_code=204, response_class=Response)
def delete_load_balancer(
    lb_id: str,
    cascade: str = Query("false"),
    svc: Services = ServicesDep,
    ctx: RequestContext = ContextDep,
) -> Response:
    with svc.change() as session:
        lb = _load(session, lb_id)
        policy.enforce(ctx, "loadbalancer:delete", lb.project_id)
        children = _children(session, [lb_id])[lb_id]
        if (children.listener_ids or children.pool_ids) and not parse_bool("cascade", cascade):
            raise ValidationFailure(detail=f"Cannot delete Load Balancer {lb_id} - it has children")
        lock_load_balancer(session, lb_id)
        transition_load_balancer(lb, constants.PENDING_DELETE, constants.DELETABLE_STATUSES)
    return Response(status_code=204)


@router.get("/loadbalancers/{lb_id}/status", response_model=StatusRoot)
@router.get("/loadbalancers/{lb_id}/statuses", response_model=StatusRoot, include_in_schema=False)
def load_balancer_status(
    lb_id: str, svc: Services = ServicesDep, ctx: RequestContext = ContextDep
) -> ApiResponse:
    with svc.db.read() as session:
        lb = _load(session, lb_id, *TREE_OPTIONS)
        policy.enforce(ctx, "loadbalancer:get_status", lb.project_id)
        tree = views.status_tree(lb)
    return ApiResponse(tree)


@router.get("/loadbalancers/{lb_id}/stats", response_model=StatisticsRoot)
def load_balancer_stats(
    lb_id: str, svc: Services = ServicesDep, ctx: RequestContext = ContextDep
) -> ApiResponse:
    with svc.db.read() as session:
        lb = _load(session, lb_id)
        policy.enforce(ctx, "loadbalancer:get_stats", lb.project_id)
        listener_ids = select(Listener.id).where(Listener.load_balancer_id == lb_id)
        stats = statistics(session, ListenerStatistics.listener_id.in_(listener_ids))
    return ApiResponse({"stats": stats})


@router.put("/loadbalancers/{lb_id}/failover", status_code=202, response_class=Response)
def fail_over_load_balancer(
    lb_id: str, svc: Services = ServicesDep, ctx: RequestContext = ContextDep
) -> Response:
    with svc.change() as session:
        lb = _load(session, lb_id)
        policy.enforce(ctx, "loadbalancer:put_failover", lb.project_id)
        lock_load_balancer(session, lb_id)
        transition_load_balancer(lb, constants.PENDING_UPDATE, constants.FAILOVERABLE_STATUSES)
        lb.failover_requested = True
    return Response(status_code=202)
