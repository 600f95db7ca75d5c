"""``/v2/lbaas/pools``: list, show, create (on a load balancer or as a listener's default
pool), update and delete, with session persistence and backend TLS settings."""

from __future__ import annotations

import re
import uuid

from fastapi import APIRouter, Request, Response
from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from ostia import constants
from ostia.api import policy, views
from ostia.api.access import get_or_404, scope_list
from ostia.api.context import RequestContext
from ostia.api.deps import ContextDep, Services, ServicesDep, list_url
from ostia.api.listing import Listable, ListQuery, select_fields
from ostia.api.locks import lock_for_child_change
from ostia.api.quota import check_quota
from ostia.api.responses import ApiResponse
from ostia.api.routers.listeners import (
    check_alpn_protocols,
    check_ciphers,
    check_pool_protocol,
    check_tls_versions,
)
from ostia.api.schemas.pool import (
    Alpn,
    PoolPOST,
    PoolPUT,
    PoolRootPOST,
    PoolRootPUT,
    PoolRootResponse,
    PoolSingleCreate,
    PoolsRootResponse,
    SessionPersistencePOST,
    SessionPersistencePUT,
)
from ostia.config import Settings
from ostia.db.models import (
    HealthMonitor,
    L7Policy,
    Listener,
    LoadBalancer,
    Pool,
    SessionPersistence,
)
from ostia.errors import (
    DuplicatePoolEntry,
    InvalidOption,
    ListenerNoChildren,
    NotFound,
    PoolInUseByL7Policy,
    ProviderUnsupportedOption,
    ValidationFailure,
)

router = APIRouter(tags=["pools"])

LISTABLE = Listable(
    model=Pool,
    columns={
        "id": Pool.id,
        "name": Pool.name,
        "description": Pool.description,
        "provisioning_status": Pool.provisioning_status,
        "operating_status": Pool.operating_status,
        "admin_state_up": Pool.enabled,
        "protocol": Pool.protocol,
        "lb_algorithm": Pool.lb_algorithm,
        "project_id": Pool.project_id,
        "tenant_id": Pool.project_id,
        "loadbalancer_id": Pool.load_balancer_id,
        "created_at": Pool.created_at,
        "updated_at": Pool.updated_at,
        "healthmonitor_id": select(HealthMonitor.id)
        .where(HealthMonitor.pool_id == Pool.id)
        .scalar_subquery(),
        "tls_container_ref": Pool.tls_certificate_id,
        "ca_tls_container_ref": Pool.ca_tls_certificate_id,
        "crl_container_ref": Pool.crl_container_id,
        "tls_enabled": Pool.tls_enabled,
        "tls_ciphers": Pool.tls_ciphers,
        "tls_versions": Pool.tls_versions,
        "alpn_protocols": Pool.alpn_protocols,
    },
    list_columns=frozenset({"tls_versions", "alpn_protocols"}),
)

# What rendering a pool touches, loaded up front for lists.
POOL_OPTIONS = (
    selectinload(Pool.members),
    selectinload(Pool.health_monitor),
    selectinload(Pool.default_listeners),
    selectinload(Pool.redirecting_l7policies).selectinload(L7Policy.rules),
    selectinload(Pool.redirecting_l7policies).selectinload(L7Policy.listener),
)

LVS_NAMES = "/".join(constants.LVS_PROTOCOLS)
# Octavia's session persistence cookie name rules (besides the schema's pattern).
BAD_COOKIE_CHARS = re.compile(r"[\x00-\x20\x22\x28-\x29\x2c\x2f\x3a-\x40\x5b-\x5d\x7b\x7d\x7f]+")
LATIN1_CHAR = re.compile(r"[\x00-\xff]")
LEGACY_PROVIDER = "amphora"


def provider_name(lb: LoadBalancer) -> str:
    """The provider named in messages; Octavia assumes amphora for load balancers without one."""
    return lb.provider or LEGACY_PROVIDER


# -- validation --------------------------------------------------------------------


def _check_session_persistence(
    protocol: str, sp: SessionPersistencePOST | SessionPersistencePUT | None, *, update: bool
) -> None:
    """Octavia's rules, in its order; ``sp.type`` already holds the stored type on update."""
    if sp is None:
        return
    if protocol in constants.LVS_PROTOCOLS:
        if sp.type == constants.SOURCE_IP and sp.cookie_name:
            raise ValidationFailure(
                detail="session_persistence SOURCE_IP type for UDP and SCTP protocols only "
                "accepts: type, persistence_timeout, persistence_granularity."
            )
        if sp.cookie_name:
            raise ValidationFailure(detail=f"Cookie names are not supported for {LVS_NAMES} pools.")
        if sp.type in (constants.HTTP_COOKIE, constants.APP_COOKIE):
            raise ValidationFailure(
                detail=f"Session persistence of type {sp.type} is not supported for "
                f"{LVS_NAMES} protocol pools."
            )
    elif sp.persistence_timeout or sp.persistence_granularity:
        # Octavia words this one differently on update.
        protocols = "UDP" if update else "UDP and SCTP"
        raise ValidationFailure(
            detail="persistence_timeout and persistence_granularity is only for "
            f"{protocols} protocol pools."
        )
    if sp.type is None:
        raise ValidationFailure(detail="Invalid session_persistence provided.")
    if sp.cookie_name:
        if sp.type != constants.APP_COOKIE:
            raise ValidationFailure(
                detail='Field "cookie_name" can only be specified with session persistence '
                'of type "APP_COOKIE".'
            )
        if BAD_COOKIE_CHARS.search(sp.cookie_name) or not LATIN1_CHAR.search(sp.cookie_name):
            raise ValidationFailure(detail='Supplied "cookie_name" is invalid.')
    if sp.type == constants.APP_COOKIE and not sp.cookie_name:
        raise ValidationFailure(
            detail='Field "cookie_name" must be specified when using the "APP_COOKIE" '
            "session persistence type."
        )


def _strings(values: list[Alpn] | None) -> list[str] | None:
    return list(values) if values is not None else None


def _check_algorithm(lb: LoadBalancer, algorithm: str | None) -> None:
    """The amphora provider's own refusal, raised where Octavia's driver call raises it."""
    if algorithm is not None and algorithm not in constants.AMPHORA_LB_ALGORITHMS:
        raise ProviderUnsupportedOption(
            prov=provider_name(lb),
            user_msg=f"Amphora provider does not support {algorithm} algorithm.",
        )


def _check_ca_and_crl_update(pool: Pool, spec: PoolPUT) -> None:
    """A CRL needs a CA, whether each comes from the request or is already stored."""
    crl = spec.crl_container_ref if spec.given("crl_container_ref") else pool.crl_container_id
    if spec.given("ca_tls_container_ref"):
        if not spec.ca_tls_container_ref and crl:
            if pool.ca_tls_certificate_id:
                raise ValidationFailure(
                    detail="A CA reference cannot be removed when a certificate revocation "
                    "list is present."
                )
            raise ValidationFailure(
                detail="A CA reference is required to specify a certificate revocation list."
            )
    elif crl and not pool.ca_tls_certificate_id:
        raise ValidationFailure(
            detail="A CA reference is required to specify a certificate revocation list."
        )


# -- creating ----------------------------------------------------------------------


def _new_pool(
    settings: Settings, lb: LoadBalancer, spec: PoolSingleCreate, project_id: str | None
) -> Pool:
    """Validate the pool's own settings and create it (PENDING_CREATE/OFFLINE) on ``lb``."""
    if spec.crl_container_ref and not spec.ca_tls_container_ref:
        raise ValidationFailure(
            detail="A CA certificate reference is required to specify a revocation list."
        )
    tls_enabled = bool(spec.tls_enabled)
    ciphers, versions = spec.tls_ciphers, spec.tls_versions
    alpn = _strings(spec.alpn_protocols)
    if tls_enabled:
        ciphers = settings.api.default_pool_ciphers if ciphers is None else ciphers
        versions = list(settings.api.default_pool_tls_versions) if versions is None else versions
        alpn = list(settings.api.default_pool_alpn_protocols) if alpn is None else alpn
    check_ciphers(settings, ciphers)
    if tls_enabled:
        check_tls_versions(settings, versions)
        check_alpn_protocols(alpn)
    pool = Pool(
        id=str(uuid.uuid4()),
        project_id=project_id,
        name=spec.name,
        description=spec.description,
        enabled=bool(spec.admin_state_up),
        protocol=spec.protocol,
        lb_algorithm=spec.lb_algorithm,
        tls_enabled=tls_enabled,
        tls_certificate_id=spec.tls_container_ref,
        ca_tls_certificate_id=spec.ca_tls_container_ref,
        crl_container_id=spec.crl_container_ref,
        tls_ciphers=ciphers,
        tls_versions=versions,
        alpn_protocols=alpn,
        provisioning_status=constants.PENDING_CREATE,
        operating_status=constants.OFFLINE,
    )
    if (sp := spec.session_persistence) is not None:
        pool.session_persistence = SessionPersistence(
            type=sp.type,
            cookie_name=sp.cookie_name,
            persistence_timeout=sp.persistence_timeout,
            persistence_granularity=sp.persistence_granularity,
        )
    pool.set_tags(spec.tags)
    lb.pools.append(pool)
    return pool


def build_pool(
    session: Session,
    settings: Settings,
    lb: LoadBalancer,
    spec: PoolSingleCreate,
    project_id: str | None,
) -> Pool:
    """Validate and create a pool row (PENDING_CREATE/OFFLINE) on lb (appended to lb.pools),
    with its session persistence; ignores spec.members/spec.healthmonitor (the graph adds them)."""
    assert spec.protocol is not None
    _check_session_persistence(spec.protocol, spec.session_persistence, update=False)
    return _new_pool(settings, lb, spec, project_id)


def _parent_of(session: Session, spec: PoolPOST) -> tuple[LoadBalancer, Listener | None]:
    """The load balancer the new pool goes on and the listener it becomes default pool of."""
    if spec.loadbalancer_id is not None:
        lb = get_or_404(session, LoadBalancer, spec.loadbalancer_id)
        if spec.listener_id is None:
            return lb, None
        listener = get_or_404(session, Listener, spec.listener_id)
        if listener.load_balancer_id != lb.id:
            raise NotFound(resource="Listener", id=spec.listener_id)
        return lb, listener
    if spec.listener_id is not None:
        listener = get_or_404(session, Listener, spec.listener_id)
        return get_or_404(session, LoadBalancer, listener.load_balancer_id), listener
    raise ValidationFailure(detail="Must provide at least one of: loadbalancer_id, listener_id")


# -- endpoints ---------------------------------------------------------------------


@router.get("/pools", response_model=PoolsRootResponse)
def list_pools(
    request: Request, svc: Services = ServicesDep, ctx: RequestContext = ContextDep
) -> ApiResponse:
    query = ListQuery(request.query_params, LISTABLE, svc.settings.api.pagination_max_limit)
    stmt = scope_list(
        ctx, "pool", request.query_params, select(Pool).options(*POOL_OPTIONS), Pool.project_id
    )
    with svc.db.read() as session:
        page = query.page(session, stmt, list_url(request, svc.settings))
        items = [views.pool(p) for p in page.rows]
    return ApiResponse({"pools": query.select_fields(items), "pools_links": page.links})


@router.get("/pools/{pool_id}", response_model=PoolRootResponse)
def show_pool(
    pool_id: str, request: Request, svc: Services = ServicesDep, ctx: RequestContext = ContextDep
) -> ApiResponse:
    with svc.db.read() as session:
        pool = get_or_404(session, Pool, pool_id)
        policy.enforce(ctx, "pool:get_one", pool.project_id)
        item = views.pool(pool)
    return ApiResponse({"pool": select_fields(request, item)})


@router.post("/pools", status_code=201, response_model=PoolRootResponse)
def create_pool(
    body: PoolRootPOST, svc: Services = ServicesDep, ctx: RequestContext = ContextDep
) -> ApiResponse:
    spec = body.pool
    settings = svc.settings
    with svc.change() as session:
        lb, listener = _parent_of(session, spec)
        policy.enforce(ctx, "pool:post", lb.project_id)
        if listener is not None:
            if listener.protocol == constants.PROMETHEUS:
                raise ListenerNoChildren(protocol=constants.PROMETHEUS)
            check_pool_protocol(listener.protocol, spec.protocol)
        _check_session_persistence(spec.protocol, spec.session_persistence, update=False)
        check_quota(session, settings.quotas, lb.project_id, {"pool": 1})
        if listener is not None and listener.default_pool_id is not None:
            raise DuplicatePoolEntry()
        lock_for_child_change(session, lb.id, listeners=[listener] if listener else [])
        pool = _new_pool(settings, lb, spec, lb.project_id)
        if listener is not None:
            listener.default_pool = pool
        _check_algorithm(lb, pool.lb_algorithm)
        session.flush()
        item = views.pool(pool)
    return ApiResponse(status_code=201, content={"pool": item})


def _put_ciphers(settings: Settings, spec: PoolPUT) -> str:
    """An update's ciphers: null means the deployment default."""
    return settings.api.default_pool_ciphers if spec.tls_ciphers is None else spec.tls_ciphers


def _put_tls_versions(settings: Settings, spec: PoolPUT) -> list[str]:
    """An update's TLS versions: null means the deployment default."""
    if spec.tls_versions is None:
        return list(settings.api.default_pool_tls_versions)
    return list(spec.tls_versions)


def _apply_update(
    settings: Settings, pool: Pool, spec: PoolPUT, sp: SessionPersistencePUT | None
) -> None:
    """Write an update; ``sp`` is the requested session persistence with its type resolved."""
    simple = {
        "name": "name",
        "description": "description",
        "tls_container_ref": "tls_certificate_id",
        "ca_tls_container_ref": "ca_tls_certificate_id",
        "crl_container_ref": "crl_container_id",
        "alpn_protocols": "alpn_protocols",
    }
    for field, column in simple.items():
        if spec.given(field):
            setattr(pool, column, getattr(spec, field))
    if spec.given("admin_state_up"):
        pool.enabled = bool(spec.admin_state_up)
    if spec.given("tls_enabled"):
        pool.tls_enabled = bool(spec.tls_enabled)
    if spec.given("lb_algorithm"):
        assert spec.lb_algorithm is not None
        pool.lb_algorithm = spec.lb_algorithm
    if spec.given("tls_ciphers"):
        pool.tls_ciphers = _put_ciphers(settings, spec)
    if spec.given("tls_versions"):
        pool.tls_versions = _put_tls_versions(settings, spec)
    if spec.given("tags") and spec.tags is not None:
        pool.set_tags(spec.tags)
    if spec.given("session_persistence"):
        if sp is None:
            pool.session_persistence = None
        else:
            assert sp.type is not None
            stored = pool.session_persistence or SessionPersistence(type=sp.type)
            stored.type = sp.type
            stored.cookie_name = sp.cookie_name
            stored.persistence_timeout = sp.persistence_timeout
            stored.persistence_granularity = sp.persistence_granularity
            pool.session_persistence = stored
    pool.provisioning_status = constants.PENDING_UPDATE


@router.put("/pools/{pool_id}", response_model=PoolRootResponse)
def update_pool(
    pool_id: str,
    body: PoolRootPUT,
    svc: Services = ServicesDep,
    ctx: RequestContext = ContextDep,
) -> ApiResponse:
    spec = body.pool
    settings = svc.settings
    with svc.change() as session:
        pool = get_or_404(session, Pool, pool_id)
        lb = pool.load_balancer
        policy.enforce(ctx, "pool:put", lb.project_id)
        if spec.given("lb_algorithm") and spec.lb_algorithm is None:
            raise InvalidOption(value="None", option="lb_algorithm")
        sp = spec.session_persistence
        if sp is not None and not sp.type and pool.session_persistence is not None:
            sp = sp.model_copy(update={"type": pool.session_persistence.type})
        _check_session_persistence(pool.protocol, sp, update=True)
        _check_ca_and_crl_update(pool, spec)
        if spec.given("tls_ciphers"):
            check_ciphers(settings, _put_ciphers(settings, spec))
        if spec.given("tls_versions"):
            check_tls_versions(settings, _put_tls_versions(settings, spec))
        if spec.given("alpn_protocols"):
            check_alpn_protocols(_strings(spec.alpn_protocols))
        lock_for_child_change(session, lb.id, listeners=pool.listeners)
        if spec.given("lb_algorithm"):
            _check_algorithm(lb, spec.lb_algorithm)
        _apply_update(settings, pool, spec, sp)
        session.flush()
        item = views.pool(pool)
    return ApiResponse({"pool": item})


@router.delete("/pools/{pool_id}", status_code=204, response_class=Response)
def delete_pool(
    pool_id: str, svc: Services = ServicesDep, ctx: RequestContext = ContextDep
) -> Response:
    with svc.change() as session:
        pool = get_or_404(session, Pool, pool_id)
        policy.enforce(ctx, "pool:delete", pool.load_balancer.project_id)
        if pool.redirecting_l7policies:
            raise PoolInUseByL7Policy(id=pool.id, l7policy_id=pool.redirecting_l7policies[0].id)
        lock_for_child_change(session, pool.load_balancer_id, listeners=pool.listeners)
        pool.provisioning_status = constants.PENDING_DELETE
    return Response(status_code=204)
