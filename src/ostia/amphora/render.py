"""The HAProxy and keepalived configurations of an amphora, rendered from a load balancer tree.

The mapping of API features to directives is Octavia's (INVENTORY §7.1–7.4, §7.6, §1.16), with
these differences:

- L7 policies are applied strictly in position order, first match wins, as the API documents:
  every action is an ``http-request`` rule (HAProxy would run ``redirect`` rules after all
  ``http-request`` rules, and ``use_backend`` last), and a policy redirecting to a pool stops the
  ``http-request`` rules with ``allow`` before its ``use_backend`` takes effect.
- ``allowed_cidrs`` are enforced by HAProxy (``tcp-request connection reject``): there are no
  security groups here.
- Members whose health monitor is on also leave rotation at their first connection error
  (``observe layer4``), TLS-HELLO monitors check that the member answers a TLS hello
  (``option ssl-hello-chk``), and expected codes are HAProxy's own list syntax.
- HAProxy runs in master-worker mode as a child of the agent (no ``daemon``), and nothing is
  logged (no syslog in an amphora namespace). Left out as well: ``http-reuse safe`` (HAProxy
  2's default), TERMINATED_HTTPS's ``redirect scheme https if !{ ssl_fc }`` (every bind of such
  a listener is TLS, so it never fires), ``tune.ssl.cachesize`` and CPU pinning.
- keepalived speaks VRRPv3 (sub-second adverts), which has no authentication.
- UDP and SCTP listeners are not rendered yet.

Peers of the ``peers`` section are named by amphora id: the agent starts HAProxy with
``-L <amphora id>``. Files the configurations name live under ``RenderSettings.base_dir`` on the
amphora's side (see ``RenderSettings``).
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from typing import Any, TypeVar

import jinja2

from ostia import constants
from ostia.db.models import (
    HealthMonitor,
    L7Policy,
    L7Rule,
    Listener,
    LoadBalancer,
    Member,
    Pool,
    StatusMixin,
)

# HAProxy's ceiling for maxconn (Octavia's HAPROXY_MAX_MAXCONN).
HAPROXY_MAX_MAXCONN = 1_000_000

LISTENER_MODES = {
    constants.TCP: "tcp",
    constants.HTTP: "http",
    constants.HTTPS: "tcp",
    constants.TERMINATED_HTTPS: "http",
    constants.PROMETHEUS: "http",
}
# PROXY and PROXYV2 pools take their listener's mode.
POOL_MODES = {constants.TCP: "tcp", constants.HTTP: "http", constants.HTTPS: "tcp"}
PROXY_PROTOCOL_OPTIONS = {constants.PROXY: "send-proxy", constants.PROXYV2: "send-proxy-v2"}
BALANCE = {
    constants.ROUND_ROBIN: "roundrobin",
    constants.LEAST_CONNECTIONS: "leastconn",
    constants.SOURCE_IP: "source",
}
CLIENT_AUTH = {"NONE": "none", "OPTIONAL": "optional", "MANDATORY": "required"}
# Each TLS version a listener or pool leaves out of tls_versions is refused with its option.
TLS_VERSION_OPTIONS = (
    ("SSLv3", "no-sslv3"),
    ("TLSv1", "no-tlsv10"),
    ("TLSv1.1", "no-tlsv11"),
    ("TLSv1.2", "no-tlsv12"),
    ("TLSv1.3", "no-tlsv13"),
)
COMPARE_FLAGS = {
    "REGEX": "-m reg",
    "STARTS_WITH": "-m beg",
    "ENDS_WITH": "-m end",
    "CONTAINS": "-m sub",
    "EQUAL_TO": "-m str",
}
# insert_headers of TERMINATED_HTTPS listeners: header -> HAProxy value (§1.16).
CLIENT_CERTIFICATE_HEADERS = {
    "X-SSL-Client-Verify": "%[ssl_c_verify]",
    "X-SSL-Client-Has-Cert": "%[ssl_c_used]",
    "X-SSL-Client-DN": "%{+Q}[ssl_c_s_dn]",
    "X-SSL-Client-CN": "%{+Q}[ssl_c_s_dn(cn)]",
    "X-SSL-Issuer": "%{+Q}[ssl_c_i_dn]",
    "X-SSL-Client-SHA1": "%{+Q}[ssl_c_sha1,hex]",
    "X-SSL-Client-Not-Before": "%{+Q}[ssl_c_notbefore]",
    "X-SSL-Client-Not-After": "%{+Q}[ssl_c_notafter]",
}

# Paths used unquoted in both configurations (and in keepalived's check command).
PLAIN_PATH = re.compile(r"/[A-Za-z0-9._/+-]*")
# Words HAProxy reads literally without quotes.
PLAIN_WORD = re.compile(r"[A-Za-z0-9_./:@=+,%*?^~!()\[\]|-]+")
CONTROL_CHARACTERS = re.compile(r"[\x00-\x1f\x7f]")


@dataclass(frozen=True)
class AmphoraView:
    """What rendering needs of an amphora (independent of how amphorae are stored)."""

    id: str
    role: str  # MASTER, BACKUP or STANDALONE
    vrrp_ip: str  # its address on the VIP network (the VRRP / base port)
    vrrp_interface: str
    priority: int
    management_ip: str


@dataclass(frozen=True)
class HostRoute:
    destination: str
    nexthop: str


@dataclass(frozen=True)
class SubnetView:
    """A VIP subnet, for keepalived's routes in the VIP routing table."""

    cidr: str
    gateway_ip: str | None = None
    host_routes: tuple[HostRoute, ...] = ()


@dataclass(frozen=True)
class RenderSettings:
    """What the templates need besides the tree.

    ``base_dir`` is the amphora's directory as the amphora's processes see it; the stats socket,
    the server state file, the certificates and the PING check script live there.
    """

    base_dir: str
    # The most connections the amphora can hold (the agent's max_connections, from its file
    # descriptor limit): the global maxconn never exceeds it.
    max_connections: int = HAPROXY_MAX_MAXCONN
    # [haproxy_amphora] defaults, for listeners that leave them unset (-1 or 0).
    default_connection_limit: int = 50000
    timeout_client_data: int = 50000
    timeout_member_connect: int = 5000
    timeout_member_data: int = 50000
    timeout_tcp_inspect: int = 0
    stick_table_size: str = "10k"
    haproxy_user: str = "nobody"
    haproxy_group: str = "nogroup"
    # HAProxy's peers (stick table replication) listen on each amphora's VRRP address.
    peer_port: int = 1025
    # [keepalived_vrrp]
    vrrp_router_id: int = 1
    vrrp_advert_int: float = 0.1
    vrrp_check_interval: int = 1  # keepalived takes whole seconds only
    vrrp_fail_count: int = 2
    vrrp_success_count: int = 2
    vrrp_garp_master_delay: int = 1
    vrrp_garp_refresh_interval: int = 5
    vrrp_garp_refresh_count: int = 2

    def __post_init__(self) -> None:
        if not PLAIN_PATH.fullmatch(self.base_dir):
            raise ValueError(
                f"base_dir {self.base_dir!r} must be an absolute path of letters, digits and ._/+-"
            )

    @property
    def stats_socket(self) -> str:
        return f"{self.base_dir}/haproxy.sock"

    @property
    def state_file(self) -> str:
        """Where the agent saves ``show servers state`` before a reload."""
        return f"{self.base_dir}/haproxy.state"

    @property
    def ping_check_script(self) -> str:
        """The agent installs ``templates/ping-check.sh`` here (executable by haproxy_user)."""
        return f"{self.base_dir}/ping-check.sh"

    def certificate(self, owner_id: str, kind: str = "") -> str:
        """The PEM file of a listener's or pool's certificate: ``certs/<id>.pem`` (for a
        TERMINATED_HTTPS listener: its crt-list), ``<id>-<kind>.pem`` for a CA or CRL."""
        return f"{self.base_dir}/certs/{owner_id}{'-' + kind if kind else ''}.pem"


@dataclass(frozen=True)
class _Backend:
    pool: Pool
    name: str
    mode: str
    members: list[Member]
    health_monitor: HealthMonitor | None
    proxy_protocol: str | None
    fullconn: int
    timeout_connect: int
    timeout_server: int
    forwardfor: bool
    set_headers: list[tuple[str, str]]


@dataclass(frozen=True)
class _Policy:
    policy: L7Policy
    rules: list[L7Rule]
    backend: str | None  # REDIRECT_TO_POOL

    @property
    def condition(self) -> str:
        """The policy's rules ANDed, as ACL names."""
        return " ".join(("!" if rule.invert else "") + rule.id for rule in self.rules)


@dataclass(frozen=True)
class _Frontend:
    listener: Listener
    mode: str
    addresses: list[str]
    maxconn: int
    timeout_client: int
    timeout_tcp_inspect: int
    policies: list[_Policy]
    default_backend: str | None
    backends: list[_Backend]


@dataclass(frozen=True)
class _Route:
    destination: str
    gateway: str | None = None
    source: str | None = None


T = TypeVar("T", bound=StatusMixin)


def _live(objects: Iterable[T]) -> list[T]:
    """Objects the configuration should hold: not being deleted."""
    return [o for o in objects if o.provisioning_status != constants.PENDING_DELETE]


def _running(objects: Iterable[T]) -> list[T]:
    """Live objects that are also enabled (admin_state_up)."""
    return [o for o in _live(objects) if o.enabled]


def _vip_addresses(lb: LoadBalancer) -> list[str]:
    addresses = lb.vip_addresses
    if any(address is None for address in addresses):
        raise ValueError(f"load balancer {lb.id} has a VIP without an address")
    return [address for address in addresses if address is not None]


def _headers(listener: Listener, pool: Pool) -> tuple[bool, list[tuple[str, str]]]:
    """``option forwardfor`` and the ``http-request set-header`` pairs of insert_headers."""
    wanted = {k for k, v in (listener.insert_headers or {}).items() if str(v).lower() == "true"}
    http_pool = pool.protocol == constants.HTTP
    headers: list[tuple[str, str]] = []
    if http_pool and "X-Forwarded-Port" in wanted:
        headers.append(("X-Forwarded-Port", "%[dst_port]"))
    if "X-Forwarded-Proto" in wanted and listener.protocol in constants.HAPROXY_HTTP_PROTOCOLS:
        scheme = "https" if listener.protocol == constants.TERMINATED_HTTPS else "http"
        headers.append(("X-Forwarded-Proto", scheme))
    if listener.protocol == constants.TERMINATED_HTTPS:
        headers += [(h, v) for h, v in CLIENT_CERTIFICATE_HEADERS.items() if h in wanted]
    return http_pool and "X-Forwarded-For" in wanted, headers


def _backend(listener: Listener, pool: Pool, fullconn: int, settings: RenderSettings) -> _Backend:
    mode = POOL_MODES.get(pool.protocol) or LISTENER_MODES[listener.protocol]
    proxy_protocol = PROXY_PROTOCOL_OPTIONS.get(pool.protocol)
    if pool.protocol == constants.PROXYV2 and listener.protocol == constants.TERMINATED_HTTPS:
        proxy_protocol = "send-proxy-v2-ssl-cn"
    monitors = _running([pool.health_monitor] if pool.health_monitor else [])
    forwardfor, set_headers = _headers(listener, pool)
    return _Backend(
        pool=pool,
        name=f"{pool.id}:{listener.id}",
        mode=mode,
        members=_live(pool.members),
        health_monitor=monitors[0] if monitors else None,
        proxy_protocol=proxy_protocol,
        fullconn=fullconn,
        timeout_connect=listener.timeout_member_connect or settings.timeout_member_connect,
        timeout_server=listener.timeout_member_data or settings.timeout_member_data,
        forwardfor=forwardfor,
        set_headers=set_headers,
    )


def _connection_limit(listener: Listener, settings: RenderSettings) -> int:
    limit = listener.connection_limit
    return limit if limit and limit > 0 else settings.default_connection_limit


def _frontend(listener: Listener, addresses: list[str], settings: RenderSettings) -> _Frontend:
    maxconn = _connection_limit(listener, settings)
    backends: dict[str, _Backend] = {}

    def backend_of(pool: Pool | None) -> str | None:
        if pool is None or not _running([pool]):
            return None
        backend = backends.setdefault(pool.id, _backend(listener, pool, maxconn, settings))
        return backend.name

    default_backend = backend_of(listener.default_pool)
    policies = []
    if listener.protocol in constants.HAPROXY_HTTP_PROTOCOLS:
        for policy in sorted(_running(listener.l7policies), key=lambda p: p.position):
            rules = _running(policy.rules)
            if not rules:
                continue
            backend = None
            if policy.action == constants.REDIRECT_TO_POOL:
                backend = backend_of(policy.redirect_pool)
                if backend is None:
                    continue
            policies.append(_Policy(policy, rules, backend))
    return _Frontend(
        listener=listener,
        mode=LISTENER_MODES[listener.protocol],
        addresses=addresses,
        maxconn=maxconn,
        timeout_client=listener.timeout_client_data or settings.timeout_client_data,
        timeout_tcp_inspect=listener.timeout_tcp_inspect or settings.timeout_tcp_inspect,
        policies=policies,
        default_backend=default_backend,
        backends=list(backends.values()),
    )


def _word(value: str) -> str:
    """A string as one HAProxy configuration word: bare when safe, else single-quoted (in
    which HAProxy takes everything literally)."""
    if CONTROL_CHARACTERS.search(value):
        raise ValueError(f"{value!r} cannot be written into a configuration")
    if PLAIN_WORD.fullmatch(value):
        return value
    return "'" + value.replace("'", "'\\''") + "'"


def _pattern(value: str) -> str:
    """An L7 rule value as an ACL pattern. A value in double quotes (the API's form for
    values with spaces) matches without its quotes, as in Octavia."""
    if len(value) >= 2 and value[0] == value[-1] == '"':
        value = value[1:-1]
    return ("-- " if value.startswith("-") else "") + _word(value)


def _log_format(value: str) -> str:
    """A literal string where HAProxy expects a log-format string."""
    return _word(value.replace("%", "%%"))


def _host(address: str) -> str:
    return f"[{address}]" if ":" in address else address


def _host_port(address: str, port: int) -> str:
    return f"{_host(address)}:{port}"


def _no_spaces(value: str) -> str:
    return "".join(value.split())


@cache
def _environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("ostia.amphora", "templates"),
        undefined=jinja2.StrictUndefined,
        autoescape=False,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        extensions=["jinja2.ext.do"],
    )
    env.filters.update(
        word=_word,
        pattern=_pattern,
        log_format=_log_format,
        host=_host,
        host_port=_host_port,
        no_spaces=_no_spaces,
    )
    env.globals.update(
        constants=constants,
        BALANCE=BALANCE,
        CLIENT_AUTH=CLIENT_AUTH,
        TLS_VERSION_OPTIONS=TLS_VERSION_OPTIONS,
        COMPARE_FLAGS=COMPARE_FLAGS,
    )
    return env


def _render(template: str, **context: Any) -> str:
    return _environment().get_template(template).render(**context)


def render_haproxy(
    lb: LoadBalancer, amphorae: Sequence[AmphoraView], *, settings: RenderSettings
) -> str:
    """The one HAProxy configuration of ``lb`` (its tree loaded), for any of its amphorae."""
    frontends = []
    if lb.enabled:
        addresses = _vip_addresses(lb)
        frontends = [
            _frontend(listener, addresses, settings)
            for listener in _running(lb.listeners)
            if listener.protocol not in constants.LVS_PROTOCOLS
        ]
    wanted = sum(frontend.maxconn for frontend in frontends) or HAPROXY_MAX_MAXCONN
    peers = None
    if lb.topology == constants.ACTIVE_STANDBY and amphorae:
        peers = f"{lb.id.replace('-', '')}_peers"
    return _render(
        "haproxy.cfg.j2",
        lb=lb,
        settings=settings,
        maxconn=min(wanted, HAPROXY_MAX_MAXCONN, settings.max_connections),
        external_check=any(
            backend.health_monitor and backend.health_monitor.type == constants.HM_PING
            for frontend in frontends
            for backend in frontend.backends
        ),
        peers=peers,
        amphorae=amphorae,
        frontends=frontends,
    )


def _vip_routes(
    vips: Sequence[tuple[str, str | None]], subnets: Mapping[str, SubnetView]
) -> list[_Route]:
    """Routes of the VIP routing table (table 1): each VIP subnet, from the VIP; one default
    route per address family (the first VIP's of that family); the subnets' host routes."""
    routes: dict[ipaddress.IPv4Network | ipaddress.IPv6Network, _Route] = {}
    for address, subnet_id in vips:
        subnet = subnets.get(subnet_id or "")
        if subnet is None:
            raise ValueError(f"no subnet given for VIP {address} (subnet {subnet_id})")
        network = ipaddress.ip_network(subnet.cidr, strict=False)
        routes.setdefault(network, _Route(str(network), source=address))
        if subnet.gateway_ip:
            anywhere = ipaddress.ip_network("::/0" if network.version == 6 else "0.0.0.0/0")
            routes.setdefault(anywhere, _Route("default", gateway=subnet.gateway_ip))
        for route in subnet.host_routes:
            destination = ipaddress.ip_network(route.destination, strict=False)
            routes.setdefault(destination, _Route(str(destination), gateway=route.nexthop))
    return list(routes.values())


def render_keepalived(
    lb: LoadBalancer,
    amphora: AmphoraView,
    peer: AmphoraView,
    *,
    subnets: Mapping[str, SubnetView],
    settings: RenderSettings,
) -> str:
    """keepalived's VRRP configuration of ``amphora`` in an ACTIVE_STANDBY pair with ``peer``.

    ``subnets`` maps the subnet ids of the VIP and additional VIPs to their subnets.
    """
    addresses = _vip_addresses(lb)
    subnet_ids = [lb.vip.subnet_id, *(extra["subnet_id"] for extra in lb.vip.additional)]
    family = ipaddress.ip_address(amphora.vrrp_ip).version
    # VIPs of the other address family than VRRP's stay out of the adverts.
    advertised = [a for a in addresses if ipaddress.ip_address(a).version == family]
    return _render(
        "keepalived.conf.j2",
        lb=lb,
        amphora=amphora,
        peer=peer,
        settings=settings,
        instance=lb.id.replace("-", ""),
        advertised=advertised,
        excluded=[a for a in addresses if a not in advertised],
        routes=_vip_routes(list(zip(addresses, subnet_ids, strict=True)), subnets),
    )
