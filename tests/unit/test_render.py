"""HAProxy and keepalived configurations rendered from load balancer trees.

Each case is a tree built in memory (ORM objects, no database) and compared with its golden
file (``REGENERATE_GOLDEN=1`` rewrites them); every rendered configuration must also pass
``haproxy -c`` without a warning, and every keepalived one ``keepalived -t`` inside a
throwaway network namespace that has the VRRP interface. A real HAProxy on 127.0.0.1 shows
that L7 policies apply in position order.
"""

from __future__ import annotations

import datetime
import grp
import http.server
import os
import pwd
import queue
import shutil
import socket
import subprocess
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from ostia.amphora.render import (
    AmphoraView,
    HostRoute,
    RenderSettings,
    SubnetView,
    render_haproxy,
    render_keepalived,
)
from ostia.db.models import (
    HealthMonitor,
    L7Policy,
    L7Rule,
    Listener,
    LoadBalancer,
    Member,
    Pool,
    SessionPersistence,
    Vip,
)

GOLDEN = Path(__file__).parent / "golden"
REGENERATE = os.environ.get("REGENERATE_GOLDEN") == "1"
AMPHORA_DIR = "/var/lib/ostia/amphorae/a0a0a0a0-0000-4000-8000-000000000001"
SETTINGS = RenderSettings(base_dir=AMPHORA_DIR)
PING_SCRIPT = Path(__file__).parents[2] / "src/ostia/amphora/templates/ping-check.sh"

# -- trees -------------------------------------------------------------------------------

KIND_PREFIX = {
    "lb": "abababab",
    "listener": "1e1e1e1e",
    "pool": "90909090",
    "member": "3e3e3e3e",
    "monitor": "4e4e4e4e",
    "policy": "50505050",
    "rule": "7e7e7e7e",
    "amphora": "a0a0a0a0",
    "subnet": "5b5b5b5b",
}
LIVE = {"provisioning_status": "ACTIVE", "operating_status": "ONLINE", "enabled": True}


@dataclass
class Tree:
    """A load balancer tree built in memory, with ids that say what they are
    (``1e1e1e1e-…-000000000002`` is the second listener)."""

    topology: str = "SINGLE"
    vip: str = "203.0.113.10"
    additional_vips: list[str] = field(default_factory=list)
    counters: dict[str, int] = field(default_factory=dict)
    amphorae: list[AmphoraView] = field(default_factory=list)
    subnets: dict[str, SubnetView] = field(default_factory=dict)

    def __post_init__(self) -> None:
        # The VIP's subnet first, then one per additional VIP.
        self.subnet_ids = [self.ident("subnet") for _ in range(1 + len(self.additional_vips))]
        additional = [
            {"ip_address": ip, "subnet_id": subnet_id, "network_id": None}
            for ip, subnet_id in zip(self.additional_vips, self.subnet_ids[1:], strict=True)
        ]
        self.lb = LoadBalancer(
            id=self.ident("lb"), topology=self.topology, listeners=[], pools=[], **LIVE
        )
        self.lb.vip = Vip(ip_address=self.vip, subnet_id=self.subnet_ids[0], additional=additional)

    def ident(self, kind: str) -> str:
        self.counters[kind] = self.counters.get(kind, 0) + 1
        return f"{KIND_PREFIX[kind]}-0000-4000-8000-{self.counters[kind]:012d}"

    def amphora(self, role: str, vrrp_ip: str, priority: int) -> AmphoraView:
        number = self.counters.get("amphora", 0) + 1
        amphora = AmphoraView(
            id=self.ident("amphora"),
            role=role,
            vrrp_ip=vrrp_ip,
            vrrp_interface="vip0",
            priority=priority,
            management_ip=f"172.31.0.{10 + number}",
        )
        self.amphorae.append(amphora)
        return amphora

    def listener(self, protocol: str, port: int, **fields: Any) -> Listener:
        values: dict[str, Any] = {
            "connection_limit": -1,
            "insert_headers": {},
            "client_authentication": "NONE",
            "sni_container_refs": [],
            **LIVE,
            **fields,
        }
        listener = Listener(
            id=self.ident("listener"), protocol=protocol, protocol_port=port, **values
        )
        listener.load_balancer = self.lb
        return listener

    def pool(
        self,
        protocol: str,
        listener: Listener | None = None,
        algorithm: str = "ROUND_ROBIN",
        persistence: str | None = None,
        cookie_name: str | None = None,
        **fields: Any,
    ) -> Pool:
        pool = Pool(
            id=self.ident("pool"), protocol=protocol, lb_algorithm=algorithm, **{**LIVE, **fields}
        )
        pool.load_balancer = self.lb
        if persistence:
            pool.session_persistence = SessionPersistence(type=persistence, cookie_name=cookie_name)
        if listener is not None:
            listener.default_pool = pool
        return pool

    def member(self, pool: Pool, address: str, port: int, **fields: Any) -> Member:
        values = {"weight": 1, "backup": False, **LIVE, **fields}
        member = Member(id=self.ident("member"), ip_address=address, protocol_port=port, **values)
        member.pool = pool
        return member

    def monitor(self, pool: Pool, kind: str, **fields: Any) -> HealthMonitor:
        values: dict[str, Any] = {
            "delay": 5,
            "timeout": 3,
            "rise_threshold": 2,
            "fall_threshold": 3,
        }
        if kind in ("HTTP", "HTTPS"):
            values.update(http_method="GET", url_path="/", expected_codes="200")
        monitor = HealthMonitor(id=self.ident("monitor"), type=kind, **{**values, **LIVE, **fields})
        pool.health_monitor = monitor
        return monitor

    def policy(self, listener: Listener, action: str, position: int, **fields: Any) -> L7Policy:
        if action in ("REDIRECT_TO_URL", "REDIRECT_PREFIX"):
            fields.setdefault("redirect_http_code", 302)
        policy = L7Policy(
            id=self.ident("policy"), action=action, position=position, **{**LIVE, **fields}
        )
        policy.listener = listener
        return policy

    def rule(self, policy: L7Policy, kind: str, compare: str, value: str, **fields: Any) -> L7Rule:
        values = {"invert": False, **LIVE, **fields}
        rule = L7Rule(id=self.ident("rule"), type=kind, compare_type=compare, value=value, **values)
        rule.l7policy = policy
        return rule

    def standalone(self) -> Tree:
        self.amphora("STANDALONE", "203.0.113.21", 100)
        return self


def single_minimal() -> Tree:
    tree = Tree().standalone()
    pool = tree.pool("HTTP", tree.listener("HTTP", 80))
    tree.member(pool, "192.0.2.21", 80)
    return tree


def http_full() -> Tree:
    """An HTTP listener with every pool, member, monitor and L7 feature it can have."""
    tree = Tree(additional_vips=["2001:db8:0:1::10"]).standalone()
    listener = tree.listener(
        "HTTP",
        80,
        connection_limit=2000,
        insert_headers={
            "X-Forwarded-For": "true",
            "X-Forwarded-Port": "True",
            "X-Forwarded-Proto": "true",
            "X-SSL-Client-CN": "true",  # TERMINATED_HTTPS only: ignored here
        },
        timeout_client_data=30000,
        timeout_member_connect=1000,
        timeout_member_data=40000,
        timeout_tcp_inspect=500,
        allowed_cidrs=["192.0.2.0/24", "2001:db8::/32"],
    )
    web = tree.pool("HTTP", listener, algorithm="LEAST_CONNECTIONS")
    tree.monitor(
        web,
        "HTTP",
        http_method="HEAD",
        url_path="/health?full=1",
        http_version=1.1,
        domain_name="www.example.com",
        expected_codes="200, 202",
    )
    tree.member(web, "192.0.2.21", 8080, weight=10)
    tree.member(web, "192.0.2.22", 8080, weight=0, backup=True)
    tree.member(
        web, "2001:db8:0:2::23", 8080, monitor_address="2001:db8:0:2::24", monitor_port=9000
    )
    tree.member(web, "192.0.2.25", 8080, enabled=False)
    tree.member(web, "192.0.2.26", 8080, provisioning_status="PENDING_DELETE")
    api = tree.pool("HTTP", algorithm="SOURCE_IP")
    tree.monitor(api, "HTTP", http_version=1.0, expected_codes="200-204")
    tree.member(api, "192.0.2.31", 9000)
    tree.member(api, "192.0.2.32", 9000, monitor_port=9001)
    static = tree.pool("HTTP")
    tree.member(static, "192.0.2.41", 80)
    switched_off = tree.pool("HTTP", enabled=False)
    tree.member(switched_off, "192.0.2.51", 80)

    # Added out of order: positions decide.
    reject = tree.policy(listener, "REJECT", 2)
    tree.rule(reject, "HOST_NAME", "EQUAL_TO", "evil.example.com")
    tree.rule(reject, "PATH", "CONTAINS", "/public", invert=True)
    to_api = tree.policy(listener, "REDIRECT_TO_POOL", 1, redirect_pool=api)
    tree.rule(to_api, "PATH", "REGEX", r"^/api/v\d+/#")
    tree.rule(to_api, "HEADER", "EQUAL_TO", '"mobile app"', key="X-Client")
    moved = tree.policy(
        listener,
        "REDIRECT_TO_URL",
        3,
        redirect_url="https://example.com/moved%20here?a=1#top",
        redirect_http_code=301,
    )
    tree.rule(moved, "FILE_TYPE", "EQUAL_TO", "php")
    prefix = tree.policy(
        listener,
        "REDIRECT_PREFIX",
        4,
        redirect_prefix="https://www.example.com",
        redirect_http_code=308,
    )
    tree.rule(prefix, "COOKIE", "ENDS_WITH", "-legacy", key="session")
    tree.rule(prefix, "HOST_NAME", "STARTS_WITH", "old.")
    to_static = tree.policy(listener, "REDIRECT_TO_POOL", 5, redirect_pool=static)
    tree.rule(to_static, "FILE_TYPE", "REGEX", r"\.(css|js)$")
    tree.rule(to_static, "HEADER", "CONTAINS", "it's", key="User-Agent")
    tree.rule(to_static, "PATH", "ENDS_WITH", ".min.js")
    # Left out: a disabled policy, a policy whose only rule is disabled, a redirect to a
    # disabled pool, a policy being deleted.
    tree.rule(tree.policy(listener, "REJECT", 6, enabled=False), "PATH", "EQUAL_TO", "/a")
    tree.rule(tree.policy(listener, "REJECT", 7), "PATH", "EQUAL_TO", "/b", enabled=False)
    off = tree.policy(listener, "REDIRECT_TO_POOL", 8, redirect_pool=switched_off)
    tree.rule(off, "PATH", "EQUAL_TO", "/c")
    deleting = tree.policy(listener, "REJECT", 9, provisioning_status="PENDING_DELETE")
    tree.rule(deleting, "PATH", "EQUAL_TO", "/d")
    return tree


def tcp_passthrough() -> Tree:
    """TCP, HTTPS passthrough, an HTTP pool behind a TCP listener, PROMETHEUS; UDP left out."""
    tree = Tree().standalone()
    database = tree.pool("TCP", tree.listener("TCP", 3306, connection_limit=100))
    tree.monitor(database, "TCP", delay=2, timeout=1, rise_threshold=1, fall_threshold=2)
    tree.member(database, "192.0.2.21", 3306)
    tree.member(database, "192.0.2.22", 3306, backup=True)
    secure = tree.pool("HTTPS", tree.listener("HTTPS", 443), algorithm="SOURCE_IP")
    tree.monitor(secure, "TLS-HELLO")
    tree.member(secure, "192.0.2.31", 443)
    web = tree.pool("HTTP", tree.listener("TCP", 8080, timeout_tcp_inspect=0))
    tree.monitor(web, "HTTP", url_path="/ready")
    tree.member(web, "192.0.2.41", 80)
    tree.listener("PROMETHEUS", 9100, allowed_cidrs=["10.0.0.0/8"])
    dns = tree.pool("UDP", tree.listener("UDP", 53))
    tree.member(dns, "192.0.2.51", 53)
    return tree


def proxy_protocols() -> Tree:
    tree = Tree().standalone()
    http = tree.pool("PROXY", tree.listener("HTTP", 80, insert_headers={"X-Forwarded-For": "true"}))
    tree.member(http, "192.0.2.21", 80)
    tcp = tree.pool("PROXYV2", tree.listener("TCP", 5000))
    tree.monitor(tcp, "TCP")
    tree.member(tcp, "192.0.2.22", 5000)
    tls = tree.pool(
        "PROXYV2",
        tree.listener("TERMINATED_HTTPS", 443, default_tls_container_ref="cert-1"),
    )
    tree.member(tls, "192.0.2.23", 8443)
    return tree


def terminated_https() -> Tree:
    tree = Tree().standalone()
    listener = tree.listener(
        "TERMINATED_HTTPS",
        443,
        default_tls_container_ref="cert-1",
        sni_container_refs=["cert-2", "cert-3"],
        client_ca_tls_container_ref="ca-1",
        client_authentication="MANDATORY",
        client_crl_container_ref="crl-1",
        tls_ciphers="ECDHE-RSA-AES256-GCM-SHA384:ECDHE-RSA-AES128-GCM-SHA256",
        tls_versions=["TLSv1.2", "TLSv1.3"],
        alpn_protocols=["h2", "http/1.1"],
        hsts_max_age=31536000,
        hsts_include_subdomains=True,
        hsts_preload=True,
        insert_headers={
            "X-Forwarded-For": "true",
            "X-Forwarded-Proto": "true",
            **{
                header: "true"
                for header in (
                    "X-SSL-Client-Verify",
                    "X-SSL-Client-Has-Cert",
                    "X-SSL-Client-DN",
                    "X-SSL-Client-CN",
                    "X-SSL-Issuer",
                    "X-SSL-Client-SHA1",
                    "X-SSL-Client-Not-Before",
                    "X-SSL-Client-Not-After",
                )
            },
        },
    )
    reencrypted = tree.pool(
        "HTTP",
        listener,
        tls_enabled=True,
        tls_certificate_id="pool-cert",
        ca_tls_certificate_id="pool-ca",
        crl_container_id="pool-crl",
        tls_ciphers="ECDHE-ECDSA-AES256-GCM-SHA384",
        tls_versions=["TLSv1.3"],
        alpn_protocols=["http/1.1"],
    )
    tree.monitor(reencrypted, "HTTPS", url_path="/healthz", http_version=1.1)
    tree.member(reencrypted, "192.0.2.21", 8443)
    unverified = tree.pool("HTTP", tls_enabled=True)
    tree.member(unverified, "192.0.2.22", 8443)
    no_cert = tree.policy(listener, "REJECT", 1)
    tree.rule(no_cert, "SSL_CONN_HAS_CERT", "EQUAL_TO", "True", invert=True)
    ops = tree.policy(listener, "REDIRECT_TO_POOL", 2, redirect_pool=unverified)
    tree.rule(ops, "SSL_VERIFY_RESULT", "EQUAL_TO", "0")
    tree.rule(ops, "SSL_DN_FIELD", "STARTS_WITH", "ops", key="OU")
    optional = tree.listener(
        "TERMINATED_HTTPS",
        8443,
        default_tls_container_ref="cert-4",
        client_ca_tls_container_ref="ca-2",
        client_authentication="OPTIONAL",
        hsts_max_age=0,
    )
    plain = tree.pool("HTTP", optional)
    tree.member(plain, "192.0.2.23", 80)
    return tree


def active_standby() -> Tree:
    tree = Tree(
        topology="ACTIVE_STANDBY",
        vip="198.51.100.10",
        additional_vips=["2001:db8:0:5::10", "192.0.2.10"],
    )
    tree.amphora("MASTER", "198.51.100.21", 100)
    tree.amphora("BACKUP", "198.51.100.22", 90)
    primary, v6, other = tree.subnet_ids
    tree.subnets = {
        primary: SubnetView(
            "198.51.100.0/24",
            "198.51.100.1",
            (HostRoute("203.0.113.0/24", "198.51.100.254"),),
        ),
        v6: SubnetView("2001:db8:0:5::/64", "2001:db8:0:5::1"),
        other: SubnetView("192.0.2.0/24", "192.0.2.1"),  # second IPv4 default: not used
    }
    by_source = tree.pool("HTTP", tree.listener("HTTP", 80), persistence="SOURCE_IP")
    tree.monitor(by_source, "HTTP")
    tree.member(by_source, "192.0.2.21", 80)
    tree.member(by_source, "192.0.2.22", 80)
    by_cookie = tree.pool(
        "HTTP", tree.listener("HTTP", 8080), persistence="APP_COOKIE", cookie_name="JSESSIONID"
    )
    tree.member(by_cookie, "192.0.2.23", 8080)
    tcp = tree.pool("TCP", tree.listener("TCP", 22), persistence="SOURCE_IP")
    tree.member(tcp, "192.0.2.24", 22)
    return tree


def disabled_objects() -> Tree:
    tree = Tree().standalone()
    off = tree.pool("HTTP", tree.listener("HTTP", 80, enabled=False))
    tree.member(off, "192.0.2.21", 80)
    no_pool = tree.pool("HTTP", tree.listener("HTTP", 81), enabled=False)
    tree.member(no_pool, "192.0.2.22", 80)
    pool = tree.pool("HTTP", tree.listener("HTTP", 82))
    tree.monitor(pool, "HTTP", enabled=False)
    tree.member(pool, "192.0.2.23", 80)
    tree.member(pool, "192.0.2.24", 80, enabled=False)
    deleting = tree.pool("HTTP", tree.listener("HTTP", 83), provisioning_status="PENDING_DELETE")
    tree.member(deleting, "192.0.2.25", 80)
    gone = tree.pool("HTTP", tree.listener("HTTP", 84, provisioning_status="PENDING_DELETE"))
    tree.member(gone, "192.0.2.26", 80)
    return tree


def disabled_load_balancer() -> Tree:
    tree = single_minimal()
    tree.lb.enabled = False
    return tree


def session_persistence() -> Tree:
    tree = Tree().standalone()
    for port, kind, cookie in (
        (80, "SOURCE_IP", None),
        (81, "HTTP_COOKIE", None),
        (82, "APP_COOKIE", "PHPSESSID"),
    ):
        pool = tree.pool("HTTP", tree.listener("HTTP", port), persistence=kind, cookie_name=cookie)
        tree.member(pool, "192.0.2.21", 8000 + port)
        tree.member(pool, "192.0.2.22", 8000 + port)
    return tree


def health_monitors() -> Tree:
    """One pool per health monitor type the HAProxy listeners can have."""
    tree = Tree().standalone()
    for port, kind, protocol, fields in (
        (80, "HTTP", "HTTP", {"http_method": "POST", "url_path": "/status"}),
        (81, "HTTPS", "HTTP", {"http_version": 1.1, "expected_codes": "200,204"}),
        (82, "PING", "HTTP", {}),
        (83, "TCP", "TCP", {"delay": 1, "timeout": 1}),
        (84, "TLS-HELLO", "HTTPS", {}),
    ):
        listener_protocol = "HTTPS" if protocol == "HTTPS" else protocol
        pool = tree.pool(protocol, tree.listener(listener_protocol, port))
        tree.monitor(pool, kind, **fields)
        tree.member(pool, "192.0.2.21", 8000 + port, monitor_address="192.0.2.121")
        tree.member(pool, "192.0.2.22", 8000 + port, monitor_port=9000 + port)
    return tree


CASES: dict[str, Callable[[], Tree]] = {
    case.__name__: case
    for case in (
        single_minimal,
        http_full,
        tcp_passthrough,
        proxy_protocols,
        terminated_https,
        active_standby,
        disabled_objects,
        disabled_load_balancer,
        session_persistence,
        health_monitors,
    )
}
KEEPALIVED_CASES = ("active_standby",)


def assert_golden(name: str, text: str) -> None:
    path = GOLDEN / name
    if REGENERATE:
        path.parent.mkdir(exist_ok=True)
        path.write_text(text)
    assert path.exists(), f"no golden file {path}; run with REGENERATE_GOLDEN=1"
    assert text == path.read_text()


def keepalived_pairs(tree: Tree) -> list[tuple[AmphoraView, AmphoraView]]:
    first, second = tree.amphorae
    return [(first, second), (second, first)]


# -- golden files ------------------------------------------------------------------------


@pytest.mark.parametrize("case", CASES)
def test_haproxy_golden(case: str) -> None:
    tree = CASES[case]()
    assert_golden(f"{case}.haproxy.cfg", render_haproxy(tree.lb, tree.amphorae, settings=SETTINGS))


@pytest.mark.parametrize("case", KEEPALIVED_CASES)
def test_keepalived_golden(case: str) -> None:
    tree = CASES[case]()
    for amphora, peer in keepalived_pairs(tree):
        text = render_keepalived(tree.lb, amphora, peer, subnets=tree.subnets, settings=SETTINGS)
        assert_golden(f"{case}.keepalived.{amphora.role.lower()}.conf", text)


# -- what the renderer decides -----------------------------------------------------------


def global_maxconn(text: str) -> int:
    return int(text.split("\n    maxconn ", 1)[1].split("\n", 1)[0])


def test_global_maxconn_sums_listener_limits_with_defaults() -> None:
    tree = Tree().standalone()
    tree.listener("HTTP", 80, connection_limit=1000)
    tree.listener("HTTP", 81)  # -1: the default limit
    tree.listener("HTTP", 82, connection_limit=5000, enabled=False)
    settings = RenderSettings(base_dir=AMPHORA_DIR, default_connection_limit=3000)
    assert global_maxconn(render_haproxy(tree.lb, tree.amphorae, settings=settings)) == 4000


def test_global_maxconn_is_capped_by_the_amphora_capacity() -> None:
    tree = Tree().standalone()
    tree.listener("HTTP", 80)
    tree.listener("HTTP", 81)
    settings = RenderSettings(base_dir=AMPHORA_DIR, max_connections=8000)
    text = render_haproxy(tree.lb, tree.amphorae, settings=settings)
    assert global_maxconn(text) == 8000
    assert text.count("    maxconn 50000\n") == 2  # each listener keeps its own limit


def test_a_value_with_a_line_break_is_refused() -> None:
    tree = single_minimal()
    policy = tree.policy(tree.lb.listeners[0], "REJECT", 1)
    tree.rule(policy, "HEADER", "EQUAL_TO", "x\nbind 0.0.0.0:22", key="X-A")
    with pytest.raises(ValueError, match="cannot be written into a configuration"):
        render_haproxy(tree.lb, tree.amphorae, settings=SETTINGS)


def test_a_vip_without_an_address_is_refused() -> None:
    tree = single_minimal()
    tree.lb.vip.ip_address = None
    with pytest.raises(ValueError, match="has a VIP without an address"):
        render_haproxy(tree.lb, tree.amphorae, settings=SETTINGS)


def test_keepalived_needs_every_vip_subnet() -> None:
    tree = active_standby()
    del tree.subnets[tree.subnet_ids[1]]
    master, backup = tree.amphorae
    with pytest.raises(ValueError, match="no subnet given for VIP 2001:db8:0:5::10"):
        render_keepalived(tree.lb, master, backup, subnets=tree.subnets, settings=SETTINGS)


@pytest.mark.parametrize("base_dir", ["relative/dir", "/with space", "/quote'd"])
def test_amphora_directory_must_be_a_plain_absolute_path(base_dir: str) -> None:
    with pytest.raises(ValueError, match="must be an absolute path"):
        RenderSettings(base_dir=base_dir)


# -- HAProxy's and keepalived's own checks ----------------------------------------------


def need(*programs: str) -> None:
    for program in programs:
        if shutil.which(program) is None:
            pytest.skip(f"{program} is not installed")


@dataclass(frozen=True)
class Pki:
    """A CA, a server certificate with its key, and a CRL, as PEM."""

    ca: bytes
    server: bytes
    crl: bytes


@pytest.fixture(scope="module")
def pki() -> Pki:
    now = datetime.datetime.now(datetime.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "render test CA")])
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(1)
        .not_valid_before(now)
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    server = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "www.example.com")]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(2)
        .not_valid_before(now)
        .not_valid_after(now + datetime.timedelta(days=1))
        .sign(ca_key, hashes.SHA256())
    )
    crl = (
        x509.CertificateRevocationListBuilder()
        .issuer_name(ca_name)
        .last_update(now)
        .next_update(now + datetime.timedelta(days=1))
        .sign(ca_key, hashes.SHA256())
    )
    key_pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    return Pki(
        ca=ca.public_bytes(serialization.Encoding.PEM),
        server=server.public_bytes(serialization.Encoding.PEM) + key_pem,
        crl=crl.public_bytes(serialization.Encoding.PEM),
    )


def prepare_amphora_dir(tree: Tree, settings: RenderSettings, pki: Pki) -> None:
    """The files the agent keeps next to a configuration: certificates (as the certificate
    upload will write them), the server state file, the PING check script."""
    certs = Path(settings.base_dir) / "certs"
    certs.mkdir(parents=True)
    server = certs / "server.pem"
    server.write_bytes(pki.server)
    for listener in tree.lb.listeners:
        if listener.protocol == "TERMINATED_HTTPS":
            Path(settings.certificate(listener.id)).write_text(f"{server}\n")
            Path(settings.certificate(listener.id, "client-ca")).write_bytes(pki.ca)
            Path(settings.certificate(listener.id, "client-crl")).write_bytes(pki.crl)
    for pool in tree.lb.pools:
        Path(settings.certificate(pool.id)).write_bytes(pki.server)
        Path(settings.certificate(pool.id, "ca")).write_bytes(pki.ca)
        Path(settings.certificate(pool.id, "crl")).write_bytes(pki.crl)
    Path(settings.state_file).write_text("1\n")
    shutil.copy(PING_SCRIPT, settings.ping_check_script)


@pytest.mark.parametrize("case", CASES)
def test_haproxy_accepts(case: str, tmp_path: Path, pki: Pki) -> None:
    need("haproxy")
    tree = CASES[case]()
    settings = RenderSettings(base_dir=str(tmp_path))
    prepare_amphora_dir(tree, settings, pki)
    config = tmp_path / "haproxy.cfg"
    config.write_text(render_haproxy(tree.lb, tree.amphorae, settings=settings))
    # -dW: any warning fails the check; -L: the local peer, as the agent starts HAProxy.
    command = ["haproxy", "-c", "-dW", "-f", str(config), "-L", tree.amphorae[0].id]
    result = subprocess.run(command, capture_output=True, text=True, timeout=30)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Configuration file is valid" in result.stdout


@pytest.fixture
def namespace_with(tmp_path: Path) -> Iterator[Callable[[str], list[str]]]:
    """A throwaway network namespace; the returned function creates an interface in it and
    gives the command prefix that runs a program inside."""
    need("ip", "keepalived")
    if os.geteuid() != 0:
        pytest.skip("network namespaces need root")
    name = f"or{uuid.uuid4().hex[:10]}"
    subprocess.run(["ip", "netns", "add", name], check=True)
    try:

        def with_interface(interface: str) -> list[str]:
            subprocess.run(
                [
                    "ip",
                    "-n",
                    name,
                    "link",
                    "add",
                    interface,
                    "type",
                    "veth",
                    "peer",
                    "name",
                    "orpeer",
                ],
                check=True,
            )
            return ["ip", "netns", "exec", name]

        yield with_interface
    finally:
        subprocess.run(["ip", "netns", "del", name], check=True)


@pytest.mark.parametrize("case", KEEPALIVED_CASES)
def test_keepalived_accepts(
    case: str, tmp_path: Path, namespace_with: Callable[[str], list[str]]
) -> None:
    tree = CASES[case]()
    inside = namespace_with(tree.amphorae[0].vrrp_interface)
    settings = RenderSettings(base_dir=str(tmp_path))
    for amphora, peer in keepalived_pairs(tree):
        config = tmp_path / f"keepalived-{amphora.role}.conf"
        config.write_text(
            render_keepalived(tree.lb, amphora, peer, subnets=tree.subnets, settings=settings)
        )
        command = [*inside, "keepalived", "-t", "-l", "-f", str(config)]
        result = subprocess.run(command, capture_output=True, text=True, timeout=30)
        output = result.stdout + result.stderr
        assert result.returncode == 0, output
        assert "WARNING" not in output


@pytest.mark.slow
def test_keepalived_check_fails_when_haproxy_stops_answering(
    tmp_path: Path, namespace_with: Callable[[str], list[str]]
) -> None:
    need("haproxy", "socat")
    tree = active_standby()
    master, backup = tree.amphorae
    inside = namespace_with(master.vrrp_interface)  # left down: no address anywhere
    settings = RenderSettings(base_dir=str(tmp_path))
    config = tmp_path / "keepalived.conf"
    config.write_text(
        render_keepalived(tree.lb, master, backup, subnets=tree.subnets, settings=settings)
    )
    haproxy_config = tmp_path / "haproxy.cfg"
    haproxy_config.write_text(
        f"global\n    stats socket {settings.stats_socket} mode 600 level admin\n"
        "defaults\n    timeout client 1s\n"
    )
    haproxy = subprocess.Popen(["haproxy", "-db", "-f", str(haproxy_config)])
    keepalived = subprocess.Popen(
        [
            *inside,
            "keepalived",
            "-n",
            "-l",
            "-D",
            "-P",
            "-f",
            str(config),
            "-p",
            str(tmp_path / "keepalived.pid"),
            "-r",
            str(tmp_path / "vrrp.pid"),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    lines: queue.Queue[str] = queue.Queue()

    def read() -> None:
        for line in keepalived.stdout or ():
            lines.put(line)

    threading.Thread(target=read, daemon=True).start()

    def wait_for(text: str) -> None:
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            try:
                if text in lines.get(timeout=0.5):
                    return
            except queue.Empty:
                pass
        pytest.fail(f"keepalived never logged {text!r}")

    try:
        wait_for("VRRP_Script(check_haproxy) succeeded")
        haproxy.terminate()
        haproxy.wait(timeout=10)
        wait_for("VRRP_Script(check_haproxy) failed")
    finally:
        for process in (keepalived, haproxy):
            if process.poll() is None:
                process.terminate()
                process.wait(timeout=10)


# -- a running HAProxy -------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def members() -> Iterator[Callable[[str], int]]:
    """HTTP servers on 127.0.0.1 that answer with their name; returns a starter."""
    servers: list[http.server.ThreadingHTTPServer] = []

    def start(name: str) -> int:
        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                body = name.encode()
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        return int(server.server_address[1])

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


@pytest.mark.slow
def test_l7_policies_apply_in_position_order(
    tmp_path: Path, pki: Pki, members: Callable[[str], int]
) -> None:
    need("haproxy")
    port = free_port()
    tree = Tree(vip="127.0.0.1").standalone()
    listener = tree.listener("HTTP", port)
    tree.member(tree.pool("HTTP", listener), "127.0.0.1", members("default"))
    api = tree.pool("HTTP")
    tree.member(api, "127.0.0.1", members("api"))
    quoted = tree.pool("HTTP")
    tree.member(quoted, "127.0.0.1", members("quoted"))
    tree.rule(
        tree.policy(listener, "REDIRECT_TO_POOL", 1, redirect_pool=api),
        "PATH",
        "STARTS_WITH",
        "/api",
    )
    tree.rule(
        tree.policy(listener, "REJECT", 2), "HEADER", "EQUAL_TO", '"yes please"', key="X-Block"
    )
    moved = tree.policy(
        listener,
        "REDIRECT_TO_URL",
        3,
        redirect_url="http://example.com/moved%20here",
        redirect_http_code=301,
    )
    tree.rule(moved, "PATH", "REGEX", r"^/old/\d+$")
    tree.rule(
        tree.policy(listener, "REDIRECT_TO_POOL", 4, redirect_pool=quoted),
        "COOKIE",
        "EQUAL_TO",
        "it's#1",
        key="c",
    )
    settings = RenderSettings(
        base_dir=str(tmp_path),
        max_connections=1000,  # within this process's file descriptor limit
        haproxy_user=pwd.getpwuid(os.getuid()).pw_name,
        haproxy_group=grp.getgrgid(os.getgid()).gr_name,
    )
    prepare_amphora_dir(tree, settings, pki)
    config = tmp_path / "haproxy.cfg"
    config.write_text(render_haproxy(tree.lb, tree.amphorae, settings=settings))
    haproxy = subprocess.Popen(
        ["haproxy", "-db", "-f", str(config)], stdout=subprocess.PIPE, stderr=subprocess.STDOUT
    )
    try:
        with httpx.Client(
            base_url=f"http://127.0.0.1:{port}", timeout=5, trust_env=False
        ) as client:
            deadline = time.monotonic() + 10
            while True:
                try:
                    client.get("/")
                    break
                except httpx.TransportError:
                    assert haproxy.poll() is None, haproxy.stdout.read() if haproxy.stdout else ""
                    assert time.monotonic() < deadline, "HAProxy did not start listening"
                    time.sleep(0.05)

            def answer(path: str, **kwargs: Any) -> tuple[int, str]:
                response = client.get(path, **kwargs)
                return response.status_code, response.headers.get("location") or response.text

            # Position 1 (to the api pool) wins over position 2 (reject) when both match.
            assert answer("/api/x", headers={"X-Block": "yes please"}) == (200, "api")
            assert answer("/x", headers={"X-Block": "yes please"})[0] == 403
            assert answer("/x", headers={"X-Block": "yes"}) == (200, "default")
            assert answer("/old/12") == (301, "http://example.com/moved%20here")
            assert answer("/old/ab") == (200, "default")
            assert answer("/", headers={"Cookie": "c=it's#1"}) == (200, "quoted")
            assert answer("/", headers={"Cookie": "c=it's"}) == (200, "default")
    finally:
        haproxy.terminate()
        haproxy.wait(timeout=10)
