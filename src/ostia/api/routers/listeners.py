"""``/v2/lbaas/listeners``: list, show, create, update, delete and statistics, with Octavia's
protocol, port, TLS, header insertion and ACL rules.

There is no secret store yet: certificate references are accepted as given, but every
structural rule about them (which protocols take them, which need them) applies.
"""

from __future__ import annotations

import ipaddress
import re
import uuid
from collections.abc import Sequence
from typing import Any

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
from ostia.api.schemas.common import StatisticsRoot
from ostia.api.schemas.listener import (
    ListenerPUT,
    ListenerRootPOST,
    ListenerRootPUT,
    ListenerRootResponse,
    ListenerSingleCreate,
    ListenersRootResponse,
)
from ostia.api.stats import statistics
from ostia.config import Settings
from ostia.db.models import L7Policy, Listener, ListenerStatistics, LoadBalancer, Pool
from ostia.errors import (
    BadRequest,
    DisabledOption,
    DuplicateListenerEntry,
    InvalidOption,
    ListenerNoChildren,
    NotFound,
    ValidationFailure,
)

router = APIRouter(tags=["listeners"])

LISTABLE = Listable(
    model=Listener,
    columns={
        "id": Listener.id,
        "name": Listener.name,
        "description": Listener.description,
        "provisioning_status": Listener.provisioning_status,
        "operating_status": Listener.operating_status,
        "admin_state_up": Listener.enabled,
        "protocol": Listener.protocol,
        "protocol_port": Listener.protocol_port,
        "connection_limit": Listener.connection_limit,
        "default_tls_container_ref": Listener.default_tls_container_ref,
        "sni_container_refs": Listener.sni_container_refs,
        "project_id": Listener.project_id,
        "tenant_id": Listener.project_id,
        "default_pool_id": Listener.default_pool_id,
        "loadbalancer_id": Listener.load_balancer_id,
        "created_at": Listener.created_at,
        "updated_at": Listener.updated_at,
        "timeout_client_data": Listener.timeout_client_data,
        "timeout_member_connect": Listener.timeout_member_connect,
        "timeout_member_data": Listener.timeout_member_data,
        "timeout_tcp_inspect": Listener.timeout_tcp_inspect,
        "client_ca_tls_container_ref": Listener.client_ca_tls_container_ref,
        "client_authentication": Listener.client_authentication,
        "client_crl_container_ref": Listener.client_crl_container_ref,
        "allowed_cidrs": Listener.allowed_cidrs,
        "tls_ciphers": Listener.tls_ciphers,
        "tls_versions": Listener.tls_versions,
        "alpn_protocols": Listener.alpn_protocols,
        "hsts_max_age": Listener.hsts_max_age,
        "hsts_include_subdomains": Listener.hsts_include_subdomains,
        "hsts_preload": Listener.hsts_preload,
    },
    list_columns=frozenset(
        {"sni_container_refs", "allowed_cidrs", "tls_versions", "alpn_protocols"}
    ),
)

LIST_OPTIONS = (selectinload(Listener.l7policies).load_only(L7Policy.id),)

VALID_CIPHERS = re.compile(r"^[A-Za-z0-9\-+!:@=_.]+\Z")

# Request attributes whose stored column has another name.
COLUMN_NAMES = {"admin_state_up": "enabled"}


# -- shared with the other routers -------------------------------------------------------


def check_pool_protocol(listener_protocol: str, pool_protocol: str) -> None:
    """400 unless a ``listener_protocol`` listener may send traffic to a ``pool_protocol`` pool."""
    if pool_protocol not in constants.VALID_LISTENER_POOL_PROTOCOLS[listener_protocol]:
        raise ValidationFailure(
            detail=f"The pool protocol '{pool_protocol}' is invalid while the listener "
            f"protocol is '{listener_protocol}'."
        )


def check_ciphers(settings: Settings, ciphers: str | None) -> None:
    """An OpenSSL cipher string: safe characters only, nothing the operator prohibits."""
    if not ciphers:
        return
    if not VALID_CIPHERS.match(ciphers):
        raise ValidationFailure(
            detail="Invalid characters in cipher string. Only alphanumeric, -, +, !, :, @, "
            "=, _, and . are allowed."
        )
    prohibited = settings.api.tls_cipher_prohibit_list.split(":")
    rejected = [cipher for cipher in ciphers.split(":") if cipher in prohibited]
    if rejected:
        raise ValidationFailure(
            detail="The following ciphers have been prohibited by an administrator: "
            + ", ".join(rejected)
        )


def check_tls_versions(settings: Settings, versions: list[str] | None) -> None:
    """Known versions, at least one, none below ``minimum_tls_version``; None is unset."""
    if versions == []:
        raise ValidationFailure(
            detail="Empty TLS version list. Either specify at least one TLS version or "
            "remove this parameter to use the default."
        )
    if versions is None:
        return
    invalid = [v for v in versions if v not in constants.TLS_VERSIONS]
    if invalid:
        raise ValidationFailure(detail="Invalid TLS versions: " + ", ".join(invalid))
    minimum = settings.api.minimum_tls_version
    if minimum:
        floor = constants.TLS_VERSIONS.index(minimum)
        rejected = [v for v in versions if constants.TLS_VERSIONS.index(v) < floor]
        if rejected:
            raise ValidationFailure(
                detail="Requested TLS versions are less than the minimum: "
                f"{', '.join(rejected)} < {minimum}"
            )


def check_alpn_protocols(protocols: Sequence[str] | None) -> None:
    if protocols == []:
        raise ValidationFailure(
            detail="Empty ALPN protocol list. Either specify at least one ALPN protocol or "
            "remove this parameter to use the default."
        )


# -- validation -----------------------------------------------------------------------


def _tls_name(protocol: str) -> str:
    """How Octavia names a TLS-offloading protocol in its messages."""
    return f"{protocol} with TLS" if protocol == constants.PROMETHEUS else protocol


def _check_insert_headers(protocol: str, names: Any) -> None:
    """Header insertion: HTTP-level listeners only, known headers, client certificate headers
    only where TLS ends. ``names`` is shown as given (Octavia shows the keys of the request
    as a ``dict_keys`` on create and as a list on update)."""
    if protocol not in constants.HAPROXY_HTTP_PROTOCOLS:
        raise InvalidOption(value="insert-headers", option=f"a {protocol} protocol listener.")
    supported = constants.SUPPORTED_HTTP_HEADERS + constants.SUPPORTED_SSL_HEADERS
    if any(name not in supported for name in names):
        raise InvalidOption(value=names, option="insert_headers")
    if protocol != constants.TERMINATED_HTTPS:
        ssl_headers = [name for name in names if name in constants.SUPPORTED_SSL_HEADERS]
        if ssl_headers:
            raise InvalidOption(value=ssl_headers, option=f"{protocol} protocol listener.")


def _is_ipv6(address: str | None) -> bool:
    try:
        return ipaddress.ip_address(address or "").version == 6
    except ValueError:
        return False


def _check_allowed_cidrs(lb: LoadBalancer, cidrs: list[str]) -> None:
    """Every CIDR must match the IP version of at least one VIP; no ACLs with custom VIP
    security groups."""
    if cidrs and lb.vip.sg_ids:
        raise ValidationFailure(
            detail="Allowed CIDRs are not allowed when using custom VIP Security Groups."
        )
    vips = lb.vip_addresses
    for cidr in cidrs:
        cidr_v6 = ipaddress.ip_network(cidr, strict=False).version == 6
        if not any(cidr_v6 == _is_ipv6(vip) for vip in vips):
            raise ValidationFailure(
                detail=f"CIDR {cidr} IP version incompatible with all VIPs {vips} IP version."
            )


def _check_no_duplicate_port(lb: LoadBalancer, protocol: str, port: int) -> None:
    """Listeners of one load balancer share a port only across L4 protocols (TCP/UDP/SCTP)."""
    l4 = constants.L4_PROTOCOL[protocol]
    for other in lb.listeners:
        if other.protocol_port == port and constants.L4_PROTOCOL[other.protocol] == l4:
            raise DuplicateListenerEntry(protocol=other.protocol, port=port)


def _find_pool(session: Session, lb_id: str, pool_id: str) -> Pool:
    """A pool of this load balancer (404 for a pool of another one, as Octavia)."""
    pool = session.get(Pool, pool_id)
    if pool is None or pool.load_balancer_id != lb_id:
        raise NotFound(resource="Pool", id=pool_id)
    return pool


def _check_default_pool(session: Session, lb: LoadBalancer, protocol: str, pool_id: str) -> None:
    if protocol == constants.PROMETHEUS:
        raise ListenerNoChildren(protocol=constants.PROMETHEUS)
    check_pool_protocol(protocol, _find_pool(session, lb.id, pool_id).protocol)


def _check_new_listener(settings: Settings, lb: LoadBalancer, v: dict[str, Any]) -> None:
    """Octavia's create checks, in its order, on the values about to be stored."""
    protocol = v["protocol"]
    has_refs = bool(
        v["default_tls_container_ref"]
        or v["client_ca_tls_container_ref"]
        or v["sni_container_refs"]
    )
    has_cert = bool(v["default_tls_container_ref"] or v["sni_container_refs"])
    offloads_tls = protocol == constants.TERMINATED_HTTPS or (
        protocol == constants.PROMETHEUS and has_refs
    )
    if v["insert_headers"]:
        _check_insert_headers(protocol, v["insert_headers"].keys())
    if protocol in constants.LVS_PROTOCOLS and (has_refs or v["insert_headers"]):
        raise ValidationFailure(detail=f"{protocol} protocol listener does not support TLS.")
    if offloads_tls and not settings.api.allow_tls_terminated_listeners:
        raise DisabledOption(option="protocol", value=_tls_name(protocol))
    if protocol == constants.PROMETHEUS and not settings.api.allow_prometheus_listeners:
        raise DisabledOption(option="protocol", value=constants.PROMETHEUS)
    if has_refs and not offloads_tls:
        raise ValidationFailure(
            detail="Certificate container references are not allowed on "
            f"{protocol} protocol listeners."
        )
    if v["client_ca_tls_container_ref"] and not has_cert:
        raise ValidationFailure(
            detail="An SNI or default certificate container reference must be provided "
            "with a client CA container reference."
        )
    if offloads_tls and not has_cert:
        raise ValidationFailure(
            detail="An SNI or default certificate container reference must be provided "
            f"for {_tls_name(protocol)} protocol listeners."
        )
    _check_client_auth(v["client_authentication"], v["client_ca_tls_container_ref"])
    _check_crl(v["client_crl_container_ref"], v["client_ca_tls_container_ref"])
    check_ciphers(settings, v["tls_ciphers"])
    _check_no_duplicate_port(lb, protocol, v["protocol_port"])
    _check_allowed_cidrs(lb, v["allowed_cidrs"] or [])
    if offloads_tls:
        check_tls_versions(settings, v["tls_versions"])
        check_alpn_protocols(v["alpn_protocols"])
    if (v["hsts_include_subdomains"] or v["hsts_preload"]) and v["hsts_max_age"] is None:
        raise ValidationFailure(
            detail="HSTS configuration options hsts_include_subdomains and hsts_preload only "
            "make sense if hsts_max_age is set as well."
        )
    _check_hsts_protocol(protocol, v["hsts_max_age"])


def _check_client_auth(mode: str | None, ca_ref: str | None) -> None:
    if mode != "NONE" and not ca_ref:
        raise ValidationFailure(
            detail=f"Client authentication setting {mode} requires a client CA container reference."
        )


def _check_crl(crl_ref: str | None, ca_ref: str | None) -> None:
    if crl_ref and not ca_ref:
        raise ValidationFailure(
            detail="A client authentication CA reference is required to specify a client "
            "authentication revocation list."
        )


def _check_hsts_protocol(protocol: str, max_age: int | None) -> None:
    if max_age is not None and protocol != constants.TERMINATED_HTTPS:
        raise ValidationFailure(
            detail="The HSTS feature can only be used for listeners using the "
            "TERMINATED_HTTPS protocol."
        )


def _check_update(settings: Settings, listener: Listener, spec: ListenerPUT) -> None:
    """Octavia's update checks, in its order: they look at the request, and at the stored
    listener only where Octavia does."""
    protocol = listener.protocol
    has_refs = bool(
        spec.default_tls_container_ref
        or spec.client_ca_tls_container_ref
        or spec.sni_container_refs
    )
    offloads_tls = protocol == constants.TERMINATED_HTTPS or (
        protocol == constants.PROMETHEUS and has_refs
    )
    if protocol in constants.LVS_PROTOCOLS and (has_refs or spec.insert_headers):
        raise ValidationFailure(
            detail=f"{protocol} protocol listener does not support TLS or header insertion."
        )
    if has_refs and not offloads_tls:
        raise ValidationFailure(
            detail="Certificate container references are not allowed on "
            f"{protocol} protocol listeners."
        )
    if spec.given("client_authentication"):
        _check_client_auth(
            spec.client_authentication,
            listener.client_ca_tls_container_ref or spec.client_ca_tls_container_ref,
        )
    if spec.insert_headers:
        _check_insert_headers(protocol, list(spec.insert_headers))
    _check_crl(
        spec.client_crl_container_ref or listener.client_crl_container_ref,
        spec.client_ca_tls_container_ref or listener.client_ca_tls_container_ref,
    )
    if spec.allowed_cidrs:
        _check_allowed_cidrs(listener.load_balancer, spec.allowed_cidrs)
    check_ciphers(settings, spec.tls_ciphers)
    if spec.given("tls_versions"):
        check_tls_versions(settings, spec.tls_versions)
    if spec.given("alpn_protocols"):
        check_alpn_protocols(spec.alpn_protocols)
    if (spec.hsts_include_subdomains or spec.hsts_preload) and (
        spec.hsts_max_age is None and listener.hsts_max_age is None
    ):
        raise ValidationFailure(
            detail="Cannot enable hsts_include_subdomains or hsts_preload if hsts_max_age "
            "was not set as well."
        )
    _check_hsts_protocol(protocol, spec.hsts_max_age)


# -- building rows ----------------------------------------------------------------------


def _defaults(settings: Settings) -> dict[str, Any]:
    """What an absent (create) or null (update, Octavia's ``_set_default_on_none``) setting
    becomes; anything else absent or null is stored as null."""
    haproxy = settings.haproxy
    return {
        "connection_limit": -1,
        "timeout_client_data": haproxy.timeout_client_data,
        "timeout_member_connect": haproxy.timeout_member_connect,
        "timeout_member_data": haproxy.timeout_member_data,
        "timeout_tcp_inspect": haproxy.timeout_tcp_inspect,
        "client_authentication": "NONE",
        "tls_ciphers": settings.api.default_listener_ciphers,
        "tls_versions": list(settings.api.default_listener_tls_versions),
        "alpn_protocols": list(settings.api.default_listener_alpn_protocols),
        "hsts_include_subdomains": False,
        "hsts_preload": False,
    }


def _column_values(settings: Settings, spec: ListenerSingleCreate) -> dict[str, Any]:
    """The new row's columns: the request with Octavia's defaults filled in (TLS defaults
    only for TERMINATED_HTTPS listeners)."""
    defaults = _defaults(settings)
    if spec.protocol != constants.TERMINATED_HTTPS:
        for name in ("tls_ciphers", "tls_versions", "alpn_protocols"):
            defaults[name] = None
    values: dict[str, Any] = {
        name: getattr(spec, name)
        for name in (
            "name",
            "description",
            "protocol",
            "protocol_port",
            "default_tls_container_ref",
            "client_ca_tls_container_ref",
            "client_crl_container_ref",
            "hsts_max_age",
        )
    }
    for name, default in defaults.items():
        given = getattr(spec, name)
        values[name] = default if given is None else given
    values["enabled"] = bool(spec.admin_state_up)
    values["sni_container_refs"] = list(spec.sni_container_refs or [])
    values["insert_headers"] = dict(spec.insert_headers or {})
    values["allowed_cidrs"] = _unique(spec.allowed_cidrs)
    return values


def _unique(cidrs: list[str] | None) -> list[str] | None:
    return list(dict.fromkeys(cidrs)) if cidrs else None


def _new_listener(
    session: Session,
    settings: Settings,
    lb: LoadBalancer,
    spec: ListenerSingleCreate,
    project_id: str | None,
) -> Listener:
    values = _column_values(settings, spec)
    _check_new_listener(settings, lb, values)
    listener = Listener(
        id=str(uuid.uuid4()),
        project_id=project_id,
        default_pool_id=spec.default_pool_id,
        provisioning_status=constants.PENDING_CREATE,
        operating_status=constants.OFFLINE,
        **values,
    )
    listener.set_tags(spec.tags)
    lb.listeners.append(listener)
    return listener


def build_listener(
    session: Session,
    settings: Settings,
    lb: LoadBalancer,
    spec: ListenerSingleCreate,
    project_id: str | None,
) -> Listener:
    """Validate and create a listener row (PENDING_CREATE/OFFLINE) on lb, appended to
    lb.listeners; checks port conflicts against lb.listeners (which may include listeners
    created earlier in the same request). Ignores spec.default_pool / spec.l7policies (the graph
    handles those); validates spec.default_pool_id if given."""
    if spec.default_pool_id is not None:
        _check_default_pool(session, lb, spec.protocol, spec.default_pool_id)
    return _new_listener(session, settings, lb, spec, project_id)


def _apply_update(settings: Settings, listener: Listener, spec: ListenerPUT) -> None:
    defaults = _defaults(settings)
    for name in spec.model_fields_set:
        value = getattr(spec, name)
        if name == "tags":
            if value is not None:
                listener.set_tags(value)
            continue
        if value is None:
            value = defaults.get(name)
        if name == "admin_state_up":
            value = bool(value)
        elif name == "sni_container_refs":
            value = list(value or [])
        elif name == "insert_headers":
            value = dict(value or {})
        elif name == "allowed_cidrs":
            value = _unique(value)
        setattr(listener, COLUMN_NAMES.get(name, name), value)


# -- endpoints ------------------------------------------------------------------------


@router.get("/listeners", response_model=ListenersRootResponse)
def list_listeners(
    request: Request, svc: Services = ServicesDep, ctx: RequestContext = ContextDep
) -> ApiResponse:
    query = ListQuery(request.query_params, LISTABLE, svc.settings.api.pagination_max_limit)
    stmt = scope_list(
        ctx,
        "listener",
        request.query_params,
        select(Listener).options(*LIST_OPTIONS),
        Listener.project_id,
    )
    with svc.db.read() as session:
        page = query.page(session, stmt, list_url(request, svc.settings))
        items = [views.listener(listener) for listener in page.rows]
    return ApiResponse({"listeners": query.select_fields(items), "listeners_links": page.links})


@router.get("/listeners/{listener_id}", response_model=ListenerRootResponse)
def show_listener(
    listener_id: str,
    request: Request,
    svc: Services = ServicesDep,
    ctx: RequestContext = ContextDep,
) -> ApiResponse:
    with svc.db.read() as session:
        listener = get_or_404(session, Listener, listener_id)
        policy.enforce(ctx, "listener:get_one", listener.project_id)
        item = views.listener(listener)
    return ApiResponse({"listener": select_fields(request, item)})


@router.post("/listeners", status_code=201, response_model=ListenerRootResponse)
def create_listener(
    body: ListenerRootPOST, svc: Services = ServicesDep, ctx: RequestContext = ContextDep
) -> ApiResponse:
    spec = body.listener
    settings = svc.settings
    # Children are created with a listener only in a fully populated load balancer create
    # (Octavia documents them here too, but fails with a server error).
    for name in ("default_pool", "l7policies"):
        if getattr(spec, name):
            raise BadRequest(detail=f"Unknown attribute for argument listener: {name}")
    with svc.change() as session:
        lb = get_or_404(session, LoadBalancer, spec.loadbalancer_id)
        policy.enforce(ctx, "listener:post", lb.project_id)
        check_quota(session, settings.quotas, lb.project_id, {"listener": 1})
        if spec.default_pool_id is not None:
            _check_default_pool(session, lb, spec.protocol, spec.default_pool_id)
        lock_for_child_change(session, lb.id)
        listener = _new_listener(session, settings, lb, spec, lb.project_id)
        session.flush()
        item = views.listener(listener)
    return ApiResponse(status_code=201, content={"listener": item})


@router.put("/listeners/{listener_id}", response_model=ListenerRootResponse)
def update_listener(
    listener_id: str,
    body: ListenerRootPUT,
    svc: Services = ServicesDep,
    ctx: RequestContext = ContextDep,
) -> ApiResponse:
    spec = body.listener
    settings = svc.settings
    with svc.change() as session:
        listener = get_or_404(session, Listener, listener_id)
        lb = listener.load_balancer
        policy.enforce(ctx, "listener:put", lb.project_id)
        _check_update(settings, listener, spec)
        if spec.default_pool_id is not None:
            _check_default_pool(session, lb, listener.protocol, spec.default_pool_id)
        lock_for_child_change(session, lb.id, listeners=[listener])
        _apply_update(settings, listener, spec)
        session.flush()
        item = views.listener(listener)
    return ApiResponse({"listener": item})


@router.delete("/listeners/{listener_id}", status_code=204, response_class=Response)
def delete_listener(
    listener_id: str, svc: Services = ServicesDep, ctx: RequestContext = ContextDep
) -> Response:
    with svc.change() as session:
        listener = get_or_404(session, Listener, listener_id)
        policy.enforce(ctx, "listener:delete", listener.load_balancer.project_id)
        lock_for_child_change(session, listener.load_balancer_id, listeners=[listener])
        listener.provisioning_status = constants.PENDING_DELETE
    return Response(status_code=204)


@router.get("/listeners/{listener_id}/stats", response_model=StatisticsRoot)
def listener_stats(
    listener_id: str, svc: Services = ServicesDep, ctx: RequestContext = ContextDep
) -> ApiResponse:
    with svc.db.read() as session:
        listener = get_or_404(session, Listener, listener_id)
        policy.enforce(ctx, "listener:get_stats", listener.project_id)
        stats = statistics(session, ListenerStatistics.listener_id == listener_id)
    return ApiResponse({"stats": stats})
