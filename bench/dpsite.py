"""The data plane site the benches share, built and removed as the data plane tests do theirs.

- A real ``ostia up`` process (API and controller in one process; the amphora provider, Ostia's
  own networks, ``noauth``: the caller is named by ``X-Project-Id``/``X-Roles``) on SQLite in a
  scratch directory, under a random namespace prefix (``bn<hex>``), so a bench never meets a
  running Ostia or a test.
- A VIP network and a member network made through Ostia's network API, inside ``RANGE``, which
  is checked against this machine's addresses, routes and DNS servers first.
- Hosts: namespaces ``<prefix>-h<name>`` with ports of those networks, for the client, the
  member servers and hand-written HAProxies. A member server is an HAProxy that answers every
  request with its own name (``http-request return``): a fast server, so the members are not
  what a bench measures.

Nothing is configured in the root namespace. Every wait is bounded. The site stops only the
processes it started, by PID; leaving the ``with`` block (also on Ctrl-C or SIGTERM) stops
Ostia, then removes every namespace of the prefix with the processes in it (amphora agents,
their HAProxy and keepalived, the hosts), then the scratch directory.

Benches are run from the repository's top as root, e.g. ``.venv/bin/python bench/failover.py``
(this module is not ``site.py``: that name is the standard library's).
"""

from __future__ import annotations

import http.client
import ipaddress
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import Any

import httpx
from sqlalchemy import select

from api import free_port
from ostia.db.engine import Database
from ostia.db.models import Amphora
from ostia.drivers.fabric import Fabric, PortPlug, assign_address
from ostia.drivers.netns import create_namespace, inside, ip_json
from ostia.network.hostnet import UnsafeNetwork, check_disjoint

RANGE = "10.246.0.0/16"
MANAGEMENT_CIDR = "10.246.0.0/22"
VIP_CIDR = "10.246.4.0/22"
MEMBER_CIDR = "10.246.8.0/24"
MEMBER_PORT = 8080
LBS = "/v2/lbaas/loadbalancers"
NET = "/network/v2.0"
START_TIMEOUT = 60.0
STOP_TIMEOUT = 30.0
LISTEN_TIMEOUT = 10.0
SETTLE_TIMEOUT = 120.0
PROGRAMS = ("ip", "haproxy", "keepalived", "socat")

MEMBER_CONFIG = """\
global
    maxconn 4096
    nbthread 1
defaults
    mode http
    timeout connect 1s
    timeout client 30s
    timeout server 30s
frontend member
    bind {address}:{port}
    http-request return status 200 content-type text/plain string "{name}"
"""


# What an operator would write for the same service: round robin over the members, checked
# as the load balancer's HTTP monitor checks them; HAProxy's defaults otherwise.
HAND_WRITTEN = """\
global
    maxconn 4096
defaults
    mode http
    option http-keep-alive
    timeout connect 5s
    timeout client 50s
    timeout server 50s
frontend fe
    bind {address}:80
    default_backend be
backend be
    balance roundrobin
    option httpchk GET /
{servers}
"""


class BenchError(SystemExit):
    """The bench cannot go on; the message says why (the site is still removed)."""


def require(*programs: str) -> None:
    """Root, the programs the data plane needs, and ``RANGE`` free on this machine."""
    if os.geteuid() != 0:
        raise BenchError("amphorae are network namespaces: run the bench as root")
    for program in (*PROGRAMS, *programs):
        if shutil.which(program) is None:
            raise BenchError(f"{program} is not installed (apt-get install -y {program})")
    try:
        check_disjoint(RANGE, "the benches' range")
    except UnsafeNetwork as exc:
        raise BenchError(str(exc)) from None


def now() -> float:
    """Wall-clock time, comparable with the timestamps of logs and files."""
    return time.time()


def http_get(namespace: str, host: str, port: int, timeout: float = 2.0) -> str:
    """The body of one GET on a new connection from ``namespace`` (raises OSError or
    HTTPException on any failure and on a status other than 200)."""
    with inside(namespace):
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    with sock:
        sock.settimeout(timeout)
        sock.connect((host, port))
        sock.sendall(f"GET / HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n".encode())
        response = http.client.HTTPResponse(sock)
        response.begin()
        body = response.read().decode()
        if response.status != 200:
            raise http.client.HTTPException(f"{response.status}: {body}")
        return body


def wait_listening(namespace: str, host: str, port: int, timeout: float = LISTEN_TIMEOUT) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            with inside(namespace):
                sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            with sock:
                sock.settimeout(0.5)
                sock.connect((host, port))
            return
        except OSError:
            if time.monotonic() > deadline:
                raise BenchError(f"nothing listens on {host}:{port} in {namespace}") from None
            time.sleep(0.02)


@dataclass
class Site:
    """One Ostia with its networks and hosts; build it with ``open_site``."""

    prefix: str
    scratch: Path
    url: str
    project: str
    fabric: Fabric
    db: Database
    processes: list[subprocess.Popen[bytes]] = field(default_factory=list)
    ostia_pid: int = 0
    vip_subnet: dict[str, Any] = field(default_factory=dict)
    member_subnet: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        # A project member, as a user of the cloud; and a cloud admin (no X-Roles in noauth).
        self.user = httpx.Client(
            base_url=self.url,
            headers={"X-Project-Id": self.project, "X-Roles": "member"},
            timeout=30,
        )
        self.admin = httpx.Client(base_url=self.url, headers={"X-Project-Id": "admin"}, timeout=30)

    @property
    def amphora_dir(self) -> Path:
        return self.scratch / "amp"

    # -- the API -------------------------------------------------------------------------------

    def call(
        self,
        method: str,
        path: str,
        body: Any = None,
        expect: int = 200,
        admin: bool = False,
    ) -> Any:
        client = self.admin if admin else self.user
        response = client.request(method, path, json=body)
        if response.status_code != expect:
            raise BenchError(
                f"{method} {path}: {response.status_code} (expected {expect}): "
                f"{response.text[:500]}"
            )
        return response.json() if response.content else None

    def flavor(self, topology: str) -> str:
        """A flavor of the amphora provider with this ``loadbalancer_topology``; its id."""
        data = json.dumps({"loadbalancer_topology": topology})
        profile = {"name": topology.lower(), "provider_name": "amphora", "flavor_data": data}
        profile_id = self.call(
            "POST", "/v2/lbaas/flavorprofiles", {"flavorprofile": profile}, 201, admin=True
        )["flavorprofile"]["id"]
        flavor = {"name": topology.lower(), "flavor_profile_id": profile_id, "enabled": True}
        return str(
            self.call("POST", "/v2/lbaas/flavors", {"flavor": flavor}, 201, admin=True)["flavor"][
                "id"
            ]
        )

    def create_lb(self, body: dict[str, Any]) -> dict[str, Any]:
        """POST a load balancer (``vip_subnet_id`` is the site's VIP subnet unless given)."""
        body = {"vip_subnet_id": self.vip_subnet["id"], **body}
        return dict(self.call("POST", LBS, {"loadbalancer": body}, 201)["loadbalancer"])

    def wait_lb(
        self,
        lb_id: str,
        status: str = "ACTIVE",
        poll: float = 0.01,
        timeout: float = SETTLE_TIMEOUT,
    ) -> dict[str, Any]:
        """Poll until the load balancer is ``status`` (DELETED: until it answers 404)."""
        deadline = time.monotonic() + timeout
        while True:
            response = self.user.get(f"{LBS}/{lb_id}")
            if response.status_code == 404 and status == "DELETED":
                return {}
            if response.status_code != 200:
                raise BenchError(f"load balancer {lb_id}: {response.status_code} {response.text}")
            lb = dict(response.json()["loadbalancer"])
            if lb["provisioning_status"] == status:
                return lb
            if lb["provisioning_status"] == "ERROR":
                raise BenchError(f"load balancer {lb_id} went to ERROR; see {self.log}")
            if time.monotonic() > deadline:
                raise BenchError(f"load balancer {lb_id} not {status} after {timeout:g} s: {lb}")
            time.sleep(poll)

    def delete_lb(self, lb_id: str) -> None:
        self.call("DELETE", f"{LBS}/{lb_id}?cascade=true", expect=204)
        self.wait_lb(lb_id, "DELETED")

    def http_lb(self, name: str, members: list[str], monitor: bool = True) -> dict[str, Any]:
        """A load balancer body with an HTTP listener on port 80 and a ROUND_ROBIN pool of
        these member addresses, named m1, m2… (and an HTTP health monitor)."""
        pool: dict[str, Any] = {
            "name": f"{name}-pool",
            "protocol": "HTTP",
            "lb_algorithm": "ROUND_ROBIN",
            "members": [
                self.member_body(address, name=f"m{i}") for i, address in enumerate(members, 1)
            ],
        }
        if monitor:
            pool["healthmonitor"] = {
                "type": "HTTP",
                "delay": 5,
                "timeout": 2,
                "max_retries": 2,
                "url_path": "/",
            }
        listener = {"name": f"{name}-l", "protocol": "HTTP", "protocol_port": 80}
        return {"name": name, "listeners": [{**listener, "default_pool": pool}]}

    def member_body(self, address: str, **fields: Any) -> dict[str, Any]:
        return {
            "address": address,
            "protocol_port": MEMBER_PORT,
            "subnet_id": self.member_subnet["id"],
            **fields,
        }

    # -- amphorae ------------------------------------------------------------------------------

    def amphorae(self, lb_id: str) -> list[Amphora]:
        """The load balancer's live amphorae, highest VRRP priority first."""
        stmt = select(Amphora).where(Amphora.load_balancer_id == lb_id, Amphora.status != "DELETED")
        with self.db.read() as session:
            return sorted(session.scalars(stmt), key=lambda a: -(a.vrrp_priority or 0))

    @staticmethod
    def holds(amphora: Amphora, address: str) -> bool:
        """Whether the amphora's ``vip0`` has ``address`` (keepalived gave it the VIP)."""
        assert amphora.compute_id is not None
        found = ip_json(amphora.compute_id, "address", "show", "dev", "vip0")
        return any(info["local"] == address for link in found for info in link["addr_info"])

    # -- hosts ---------------------------------------------------------------------------------

    def host(self, name: str, plugs: list[tuple[dict[str, Any], str]]) -> tuple[str, list[str]]:
        """A namespace ``<prefix>-h<name>`` with one port per (subnet, interface name), each
        made through the network API; (namespace, the ports' addresses)."""
        namespace = f"{self.prefix}-h{name}"
        create_namespace(namespace)
        addresses = []
        for subnet, ifname in plugs:
            body = {
                "network_id": subnet["network_id"],
                "name": f"host-{name}-{ifname}",
                "fixed_ips": [{"subnet_id": subnet["id"]}],
            }
            port = self.call("POST", f"{NET}/ports", {"port": body}, 201)["port"]
            mtu = self.call("GET", f"{NET}/networks/{subnet['network_id']}")["network"]["mtu"]
            self.fabric.plug(
                PortPlug(port["id"], port["network_id"], port["mac_address"], mtu),
                namespace,
                ifname,
            )
            address = port["fixed_ips"][0]["ip_address"]
            length = ipaddress.ip_network(subnet["cidr"]).prefixlen
            assign_address(namespace, ifname, f"{address}/{length}")
            addresses.append(address)
        return namespace, addresses

    def start(self, name: str, namespace: str, argv: list[str]) -> subprocess.Popen[bytes]:
        """A process of the bench inside ``namespace`` (``ip netns exec`` execs it, so the
        PID is the program's), in its own session: Ctrl-C reaches the bench, which stops it."""
        with (self.scratch / f"{name}.log").open("ab") as log:
            process = subprocess.Popen(
                ["ip", "netns", "exec", namespace, *argv],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self.processes.append(process)
        return process

    def haproxy(self, name: str, namespace: str, config: str) -> subprocess.Popen[bytes]:
        """A hand-written HAProxy in ``namespace``, in the foreground, checked first."""
        path = self.scratch / f"{name}.cfg"
        path.write_text(config)
        check = subprocess.run(
            ["ip", "netns", "exec", namespace, "haproxy", "-c", "-q", "-f", str(path)],
            capture_output=True,
            text=True,
            timeout=30,
        )
        if check.returncode != 0:
            raise BenchError(f"{path}: {check.stdout}{check.stderr}")
        return self.start(name, namespace, ["haproxy", "-db", "-f", str(path)])

    def member(self, name: str) -> str:
        """A member server on the member network answering ``name``; its address."""
        namespace, (address,) = self.host(name, [(self.member_subnet, "eth0")])
        config = MEMBER_CONFIG.format(address=address, port=MEMBER_PORT, name=name)
        self.haproxy(name, namespace, config)
        wait_listening(namespace, address, MEMBER_PORT)
        return address

    def hand_written(self, name: str, members: list[str]) -> tuple[str, str]:
        """A host on the VIP and member networks running ``HAND_WRITTEN`` on port 80 of its
        VIP network address, once it accepts connections; (namespace, that address)."""
        namespace, (address, _) = self.host(
            name, [(self.vip_subnet, "eth0"), (self.member_subnet, "eth1")]
        )
        servers = "\n".join(
            f"    server m{i} {member}:{MEMBER_PORT} check inter 5s"
            for i, member in enumerate(members, 1)
        )
        self.haproxy(name, namespace, HAND_WRITTEN.format(address=address, servers=servers))
        wait_listening(namespace, address, 80)
        return namespace, address

    def client(self) -> tuple[str, str]:
        """The client host on the VIP network; (namespace, address)."""
        namespace, (address,) = self.host("client", [(self.vip_subnet, "eth0")])
        return namespace, address

    @property
    def log(self) -> Path:
        return self.scratch / "ostia.log"

    def close(self) -> None:
        """Stop the processes the bench started (SIGTERM, then SIGKILL), by PID."""
        for process in self.processes:
            if process.poll() is None:
                process.terminate()
        for process in self.processes:
            try:
                process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=5)
        self.user.close()
        self.admin.close()


def _load() -> str:
    """The load average over 1, 5 and 15 minutes: other work on the machine skews a bench."""
    return " ".join(f"{value:.2f}" for value in os.getloadavg())


def _interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def _start_ostia(env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("ab") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "ostia.cli", "up"],
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


def _wait_serving(url: str, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    while True:
        try:
            if httpx.get(url + "/", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        if process.poll() is not None or time.monotonic() > deadline:
            raise BenchError(f"ostia up did not start; see {log}")
        time.sleep(0.1)


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=STOP_TIMEOUT)


@contextmanager
def open_site(topology: str = "SINGLE", settings: dict[str, str] | None = None) -> Iterator[Site]:
    """An Ostia (default ``loadbalancer_topology``: ``topology``; ``settings``: more ``OSTIA_…``
    environment variables of ``ostia up``) with the VIP and member networks made; removed at
    the end."""
    require()
    previous = signal.signal(signal.SIGTERM, _interrupt)
    prefix = f"bn{secrets.token_hex(3)}"
    # Short: HAProxy's socket paths in the amphora directory have at most 97 characters.
    scratch = Path(tempfile.mkdtemp(prefix="ostia-bench-"))
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("OSTIA_")},
        "OSTIA_DATA_DIR": str(scratch),
        "OSTIA_API__BIND_PORT": str(port),
        "OSTIA_API__AUTH_STRATEGY": "noauth",
        "OSTIA_NETWORKING__MODE": "managed",
        "OSTIA_CONTROLLER__PROVIDER": "amphora",
        "OSTIA_CONTROLLER__LOADBALANCER_TOPOLOGY": topology,
        "OSTIA_DATAPLANE__PREFIX": prefix,
        "OSTIA_DATAPLANE__MANAGEMENT_CIDR": MANAGEMENT_CIDR,
        "OSTIA_DATAPLANE__AMPHORA_DIR": str(scratch / "amp"),
        **(settings or {}),
    }
    fabric = Fabric(prefix)
    db = Database(f"sqlite:///{scratch / 'ostia.sqlite'}")
    site = Site(prefix, scratch, url, uuid.uuid4().hex, fabric, db)
    print(
        f"site {prefix}: ostia up on {url}, files in {scratch}; load average {_load()}",
        flush=True,
    )
    ostia: subprocess.Popen[bytes] | None = None
    try:
        ostia = _start_ostia(env, site.log)
        site.ostia_pid = ostia.pid
        _wait_serving(url, ostia, site.log)
        site.vip_subnet = _subnet(site, "vip-net", VIP_CIDR)
        site.member_subnet = _subnet(site, "member-net", MEMBER_CIDR)
        yield site
    finally:
        # A second Ctrl-C or SIGTERM does not cut the removal short (every step is bounded),
        # and each step runs even if one before it failed.
        interrupt = signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        with ExitStack() as removal:
            removal.callback(signal.signal, signal.SIGTERM, previous)
            removal.callback(signal.signal, signal.SIGINT, interrupt)
            removal.callback(shutil.rmtree, scratch, ignore_errors=True)
            removal.callback(fabric.destroy)
            removal.callback(db.dispose)
            if ostia is not None:
                removal.callback(_stop, ostia)
            # First: uvicorn's graceful stop would wait for the clients' idle connections.
            removal.callback(site.close)
            with suppress(OSError):  # stdout may be a closed pipe
                print(f"site {prefix}: removing; load average {_load()}", flush=True)


def _subnet(site: Site, name: str, cidr: str) -> dict[str, Any]:
    network = site.call("POST", f"{NET}/networks", {"network": {"name": name}}, 201)["network"]
    body = {"network_id": network["id"], "cidr": cidr, "ip_version": 4, "name": f"{name}-subnet"}
    return dict(site.call("POST", f"{NET}/subnets", {"subnet": body}, 201)["subnet"])
