"""``/v2/lbaas/healthmonitors``: list, show, create (one per pool), update and delete."""

from __future__ import annotations

import re
import uuid
from urllib.parse import urlsplit

from fastapi import APIRouter, Request, Response
from sqlalchemy import select

from ostia import constants
from ostia.api import policy, views
from ostia.api.access import get_or_404, scope_list
from ostia.api.context import RequestContext
from ostia.api.deps import ContextDep, Services, ServicesDep, list_url
from ostia.api.listing import Listable, ListQuery, select_fields
from ostia.api.locks import lock_for_child_change
from ostia.api.quota import check_quota
from ostia.api.responses import ApiResponse
from ostia.api.schemas.healthmonitor import (
    HealthMonitorPUT,
    HealthMonitorRootPOST,
    HealthMonitorRootPUT,
    HealthMonitorRootResponse,
    HealthMonitorSingleCreate,
    HealthMonitorsRootResponse,
)
from ostia.config import Settings
from ostia.db.models import HealthMonitor, Pool
from ostia.errors import (
    DisabledOption,
    DuplicateHealthMonitor,
    InvalidInput,
    InvalidOption,
    ValidationFailure,
)

router = APIRouter(tags=["health monitors"])

LISTABLE = Listable(
    model=HealthMonitor,
    columns={
        "id": HealthMonitor.id,
        "name": HealthMonitor.name,
        "type": HealthMonitor.type,
        "delay": HealthMonitor.delay,
        "timeout": HealthMonitor.timeout,
        "max_retries": HealthMonitor.rise_threshold,
        "max_retries_down": HealthMonitor.fall_threshold,
        "http_method": HealthMonitor.http_method,
        "url_path": HealthMonitor.url_path,
        "expected_codes": HealthMonitor.expected_codes,
        "admin_state_up": HealthMonitor.enabled,
        "project_id": HealthMonitor.project_id,
        "tenant_id": HealthMonitor.project_id,
        "pool_id": HealthMonitor.pool_id,
        "provisioning_status": HealthMonitor.provisioning_status,
        "operating_status": HealthMonitor.operating_status,
        "created_at": HealthMonitor.created_at,
        "updated_at": HealthMonitor.updated_at,
        "http_version": HealthMonitor.http_version,
        "domain_name": HealthMonitor.domain_name,
    },
)

HTTP_TYPES = (constants.HM_HTTP, constants.HM_HTTPS)
# The attributes only HTTP and HTTPS monitors have, with their defaults.
HTTP_DEFAULTS = {"http_method": "GET", "url_path": "/", "expected_codes": "200"}
DEFAULT_MAX_RETRIES_DOWN = 3
# Octavia lists the types a UDP or SCTP pool accepts in this order in its message.
LVS_MONITOR_NAMES = "/".join(
    (constants.HM_UDP_CONNECT, constants.HM_SCTP, constants.HM_TCP, constants.HM_HTTP)
)
WHITESPACE = re.compile(r"\s")


# -- validation --------------------------------------------------------------------


def _check_url_path(url_path: str | None) -> None:
    """A path with no scheme, host or whitespace (checked with the body, as WSME does)."""
    if url_path is None:
        return
    try:
        parts = urlsplit(url_path)
        valid = not (
            WHITESPACE.search(url_path)
            or parts.scheme
            or parts.netloc
            or not parts.path.startswith("/")
        )
    except ValueError:
        valid = False
    if not valid:
        raise InvalidInput("url_path", url_path, "Value must be a valid URL Path string")


def _check_type(settings: Settings, pool: Pool, monitor_type: str, delay: int | None) -> None:
    """The type must suit the pool's protocol; UDP-CONNECT has a minimum delay."""
    if pool.protocol not in constants.LVS_PROTOCOLS:
        if monitor_type not in constants.POOL_HEALTH_MONITOR_TYPES[pool.protocol]:
            raise ValidationFailure(
                detail=f"The {monitor_type} type is only supported for pools of type "
                f"{'/'.join(constants.LVS_PROTOCOLS)}."
            )
        return
    if monitor_type not in constants.POOL_HEALTH_MONITOR_TYPES[pool.protocol]:
        raise ValidationFailure(
            detail=f"The associated pool protocol is {pool.protocol}, so only a "
            f"{LVS_MONITOR_NAMES} health monitor is supported."
        )
    minimum = settings.api.udp_connect_min_interval_health_monitor
    if monitor_type == constants.HM_UDP_CONNECT and delay is not None and delay < minimum:
        raise ValidationFailure(
            detail=f"The request delay value {delay} should be larger than {minimum} for "
            f"{constants.HM_UDP_CONNECT} health monitor type."
        )


def _check_ping(settings: Settings, monitor_type: str) -> None:
    if monitor_type == constants.HM_PING and not settings.api.allow_ping_health_monitors:
        raise DisabledOption(option="type", value=constants.HM_PING)


def _check_http_only(monitor_type: str, names: list[str]) -> None:
    """``names`` (HTTP-only attributes the request sets) must be empty for other types."""
    if monitor_type not in HTTP_TYPES and names:
        raise InvalidOption(value=names[0], option=f"health monitors of type {monitor_type}")


def _check_domain_name(
    requested: str | None, domain_name: str | None, http_version: float | None
) -> None:
    """A requested domain name needs an HTTP version; a domain name needs HTTP/1.1."""
    if requested and not http_version:
        raise ValidationFailure(
            detail="'http_version' must be specified when 'domain_name' is provided."
        )
    if domain_name and http_version and http_version < 1.1:
        raise InvalidOption(
            value=f"http_version {http_version}",
            option="health monitors HTTP 1.1 domain name health check",
        )


# -- creating ----------------------------------------------------------------------


def _add_health_monitor(
    pool: Pool, spec: HealthMonitorSingleCreate, project_id: str | None
) -> HealthMonitor:
    """The monitor's own rules, then the one-per-pool rule, then the row."""
    _check_http_only(spec.type, [name for name in HTTP_DEFAULTS if getattr(spec, name)])
    http_values = {
        name: (getattr(spec, name) or default) if spec.type in HTTP_TYPES else None
        for name, default in HTTP_DEFAULTS.items()
    }
    _check_domain_name(spec.domain_name, spec.domain_name, spec.http_version)
    if pool.health_monitor is not None:
        raise DuplicateHealthMonitor()
    monitor = HealthMonitor(
        id=str(uuid.uuid4()),
        project_id=project_id,
        pool_id=pool.id,
        name=spec.name,
        type=spec.type,
        delay=spec.delay,
        timeout=spec.timeout,
        rise_threshold=spec.max_retries,
        fall_threshold=DEFAULT_MAX_RETRIES_DOWN
        if spec.max_retries_down is None
        else spec.max_retries_down,
        http_version=spec.http_version,
        domain_name=spec.domain_name,
        enabled=bool(spec.admin_state_up),
        provisioning_status=constants.PENDING_CREATE,
        operating_status=constants.OFFLINE,
        **http_values,
    )
    monitor.set_tags(spec.tags)
    pool.health_monitor = monitor
    return monitor


def build_health_monitor(
    settings: Settings, pool: Pool, spec: HealthMonitorSingleCreate, project_id: str | None
) -> HealthMonitor:
    """Validate and create the health monitor of pool (set as pool.health_monitor)."""
    _check_url_path(spec.url_path)
    _check_ping(settings, spec.type)
    _check_type(settings, pool, spec.type, spec.delay)
    return _add_health_monitor(pool, spec, project_id)


def _check_update(settings: Settings, monitor: HealthMonitor, spec: HealthMonitorPUT) -> None:
    _check_http_only(monitor.type, [name for name in HTTP_DEFAULTS if spec.given(name)])
    for name in ("delay", "max_retries", "timeout"):
        if spec.given(name) and getattr(spec, name) is None:
            raise InvalidOption(value="None", option=name)
    _check_domain_name(
        spec.domain_name,
        spec.domain_name or monitor.domain_name,
        spec.http_version or monitor.http_version,
    )
    if monitor.pool.protocol in constants.LVS_PROTOCOLS:
        _check_type(settings, monitor.pool, monitor.type, spec.delay)


def _apply_update(monitor: HealthMonitor, spec: HealthMonitorPUT) -> None:
    columns = {
        "name": "name",
        "delay": "delay",
        "timeout": "timeout",
        "max_retries": "rise_threshold",
        "http_version": "http_version",
        "domain_name": "domain_name",
    }
    for field, column in columns.items():
        if spec.given(field):
            setattr(monitor, column, getattr(spec, field))
    for name, default in HTTP_DEFAULTS.items():
        if spec.given(name):
            setattr(monitor, name, getattr(spec, name) or default)
    if spec.given("max_retries_down"):
        monitor.fall_threshold = (
            DEFAULT_MAX_RETRIES_DOWN if spec.max_retries_down is None else spec.max_retries_down
        )
    if spec.given("admin_state_up"):
        monitor.enabled = bool(spec.admin_state_up)
    if spec.tags is not None:
        monitor.set_tags(spec.tags)
    monitor.provisioning_status = constants.PENDING_UPDATE


# -- endpoints ---------------------------------------------------------------------


@router.get("/healthmonitors", response_model=HealthMonitorsRootResponse)
def list_health_monitors(
    request: Request, svc: Services = ServicesDep, ctx: RequestContext = ContextDep
) -> ApiResponse:
    query = ListQuery(request.query_params, LISTABLE, svc.settings.api.pagination_max_limit)
    stmt = scope_list(
        ctx, "healthmonitor", request.query_params, select(HealthMonitor), HealthMonitor.project_id
    )
    with svc.db.read() as session:
        page = query.page(session, stmt, list_url(request, svc.settings))
        items = [views.health_monitor(hm) for hm in page.rows]
    return ApiResponse(
        {"healthmonitors": query.select_fields(items), "healthmonitors_links": page.links}
    )


@router.get("/healthmonitors/{healthmonitor_id}", response_model=HealthMonitorRootResponse)
def show_health_monitor(
    healthmonitor_id: str,
    request: Request,
    svc: Services = ServicesDep,
    ctx: RequestContext = ContextDep,
) -> ApiResponse:
    with svc.db.read() as session:
        monitor = get_or_404(session, HealthMonitor, healthmonitor_id)
        policy.enforce(ctx, "healthmonitor:get_one", monitor.project_id)
        item = views.health_monitor(monitor)
    return ApiResponse({"healthmonitor": select_fields(request, item)})


@router.post("/healthmonitors", status_code=201, response_model=HealthMonitorRootResponse)
def create_health_monitor(
    body: HealthMonitorRootPOST, svc: Services = ServicesDep, ctx: RequestContext = ContextDep
) -> ApiResponse:
    spec = body.healthmonitor
    settings = svc.settings
    _check_url_path(spec.url_path)
    with svc.change() as session:
        pool = get_or_404(session, Pool, spec.pool_id)
        project_id = pool.load_balancer.project_id
        policy.enforce(ctx, "healthmonitor:post", project_id)
        _check_ping(settings, spec.type)
        _check_type(settings, pool, spec.type, spec.delay)
        check_quota(session, settings.quotas, project_id, {"health_monitor": 1})
        lock_for_child_change(session, pool.load_balancer_id, listeners=pool.listeners, pool=pool)
        monitor = _add_health_monitor(pool, spec, project_id)
        session.flush()
        item = views.health_monitor(monitor)
    return ApiResponse(status_code=201, content={"healthmonitor": item})


@router.put("/healthmonitors/{healthmonitor_id}", response_model=HealthMonitorRootResponse)
def update_health_monitor(
    healthmonitor_id: str,
    body: HealthMonitorRootPUT,
    svc: Services = ServicesDep,
    ctx: RequestContext = ContextDep,
) -> ApiResponse:
    spec = body.healthmonitor
    _check_url_path(spec.url_path)
    with svc.change() as session:
        monitor = get_or_404(session, HealthMonitor, healthmonitor_id)
        pool = monitor.pool
        policy.enforce(ctx, "healthmonitor:put", pool.load_balancer.project_id)
        _check_update(svc.settings, monitor, spec)
        lock_for_child_change(session, pool.load_balancer_id, listeners=pool.listeners, pool=pool)
        _apply_update(monitor, spec)
        session.flush()
        item = views.health_monitor(monitor)
    return ApiResponse({"healthmonitor": item})


@router.delete("/healthmonitors/{healthmonitor_id}", status_code=204, response_class=Response)
def delete_health_monitor(
    healthmonitor_id: str, svc: Services = ServicesDep, ctx: RequestContext = ContextDep
) -> Response:
    with svc.change() as session:
        monitor = get_or_404(session, HealthMonitor, healthmonitor_id)
        pool = monitor.pool
        policy.enforce(ctx, "healthmonitor:delete", pool.load_balancer.project_id)
        lock_for_child_change(session, pool.load_balancer_id, listeners=pool.listeners, pool=pool)
        monitor.provisioning_status = constants.PENDING_DELETE
    return Response(status_code=204)
