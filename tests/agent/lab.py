"""A throwaway network for one test: namespaces named ``oa<random>-…``, a fabric namespace with
one bridge per network, veths created in the fabric with their peer placed straight into the
target namespace (nothing touches the root namespace), sockets opened inside namespaces, and
amphora agents started inside theirs. ``close()`` removes everything, processes first.

Addresses come from 10.241.0.0/16 and live only inside these namespaces.
"""

from __future__ import annotations

import http.client
import json
import os
import secrets
import signal
import socket
import socketserver
import ssl
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from pyroute2 import netns  # type: ignore[import-untyped]

from ostia.certificates.ca import LocalCA

MGMT, VIP, MEMBER = "mgmt", "vip", "member"
SUBNETS = {MGMT: "10.241.0.0/24", VIP: "10.241.1.0/24", MEMBER: "10.241.2.0/24"}
VIP_GATEWAY = "10.241.1.1"
WAIT = 15.0

# pyroute2 keeps the namespaces it pushes in one process-wide stack.
_netns_lock = threading.Lock()


def wait_for(check: Callable[[], Any], timeout: float = WAIT, what: str = "condition") -> Any:
    """Poll ``check`` until it returns something true, for at most ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:g} s waiting for {what}")
        time.sleep(0.05)


def socket_in(
    ns: str, family: int = socket.AF_INET, kind: int = socket.SOCK_STREAM
) -> socket.socket:
    """A socket of namespace ``ns`` (it stays there whatever thread uses it)."""
    with _netns_lock:
        netns.pushns(ns)
        try:
            return socket.socket(family, kind)
        finally:
            netns.popns()


def http_get(
    ns: str, host: str, port: int, path: str = "/", timeout: float = 5.0
) -> tuple[int, str]:
    """One HTTP/1.1 GET on a new connection from namespace ``ns``: (status, body)."""
    sock = socket_in(ns)
    sock.settimeout(timeout)
    try:
        sock.connect((host, port))
        sock.sendall(f"GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n".encode())
        response = http.client.HTTPResponse(sock)
        response.begin()
        return response.status, response.read().decode()
    finally:
        sock.close()


class _QuietServer(ThreadingHTTPServer):
    daemon_threads = True

    def server_bind(self) -> None:  # no reverse DNS lookup of the address
        socketserver.TCPServer.server_bind(self)

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # health checks that close early


def serve_http(ns: str, host: str, port: int, name: str) -> ThreadingHTTPServer:
    """An HTTP server in namespace ``ns`` answering ``name`` to every GET (a member)."""

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        disable_nagle_algorithm = True

        def do_GET(self) -> None:  # noqa: N802
            body = name.encode()
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
            pass

    with _netns_lock:
        netns.pushns(ns)
        try:
            server = _QuietServer((host, port), Handler, bind_and_activate=False)
        finally:
            netns.popns()
    server.server_bind()
    server.server_activate()
    threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True
    ).start()
    return server


@dataclass
class Certificates:
    """The controller's CA, its client certificate, and a CA nobody trusts."""

    directory: Path
    ca: LocalCA
    client: Path
    ca_file: Path

    @classmethod
    def create(cls, directory: Path) -> Certificates:
        ca = LocalCA.load_or_create(directory / "ca")
        client = directory / "client.pem"
        client.write_bytes(ca.issue_client_certificate().bundle)
        ca_file = directory / "server_ca.pem"
        ca_file.write_bytes(ca.certificate_pem)
        return cls(directory, ca, client, ca_file)


class AgentClient:
    """Octavia's way of calling an agent: mutual TLS, the server name checked = amphora id,
    the socket made in the controller's namespace."""

    def __init__(
        self,
        ns: str,
        host: str,
        amphora_id: str,
        ca_file: Path,
        client_cert: Path | None,
        port: int = 9443,
    ) -> None:
        self.ns, self.host, self.port, self.amphora_id = ns, host, port, amphora_id
        self.context = ssl.create_default_context(cafile=str(ca_file))
        if client_cert is not None:
            self.context.load_cert_chain(client_cert)

    def _connect(self, timeout: float) -> ssl.SSLSocket:
        sock = socket_in(self.ns)
        sock.settimeout(timeout)
        try:
            sock.connect((self.host, self.port))
            return self.context.wrap_socket(sock, server_hostname=self.amphora_id)
        except BaseException:
            sock.close()
            raise

    def server_certificate(self) -> bytes:
        """The certificate the agent presents now (DER)."""
        with self._connect(10.0) as tls:
            certificate = tls.getpeercert(binary_form=True)
        assert certificate is not None
        return certificate

    def request(
        self, method: str, path: str, body: bytes | str | Any = None, timeout: float = 30.0
    ) -> tuple[int, dict[str, str], bytes]:
        if isinstance(body, str):
            body = body.encode()
        elif body is not None and not isinstance(body, bytes):
            body = json.dumps(body).encode()
        with self._connect(timeout) as tls:
            headers = f"{method} {path} HTTP/1.1\r\nHost: {self.host}\r\nConnection: close\r\n"
            if body is not None:
                headers += f"Content-Length: {len(body)}\r\n"
            tls.sendall(headers.encode() + b"\r\n" + (body or b""))
            response = http.client.HTTPResponse(tls)
            response.begin()
            return response.status, dict(response.getheaders()), response.read()

    def call(
        self, method: str, path: str, body: Any = None, timeout: float = 30.0
    ) -> tuple[int, Any]:
        """(status, JSON body) of a request."""
        status, _, data = self.request(method, path, body, timeout)
        return status, json.loads(data) if data else None


@dataclass
class AgentProcess:
    amphora_id: str
    directory: Path
    process: subprocess.Popen[bytes]
    client: AgentClient

    def read(self, name: str) -> str:
        return (self.directory / name).read_text()

    def pid_of(self, name: str) -> int | None:
        try:
            return int((self.directory / name).read_text().split()[0])
        except (OSError, ValueError, IndexError):
            return None

    def log(self) -> str:
        return self.read("agent.log")

    def stop(self, timeout: float = WAIT) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout)
        return self.process.returncode


@dataclass
class Lab:
    base: Path
    certs: Certificates
    prefix: str = field(default_factory=lambda: f"oa{secrets.token_hex(3)}")
    namespaces: list[str] = field(default_factory=list)
    agents: list[AgentProcess] = field(default_factory=list)
    servers: list[ThreadingHTTPServer] = field(default_factory=list)
    _veths: int = 0

    @property
    def fabric(self) -> str:
        return f"{self.prefix}-fab"

    def ns(self, name: str) -> str:
        return f"{self.prefix}-{name}"

    def ip(self, ns: str, *commands: str) -> str:
        result = subprocess.run(
            ["ip", "-n", ns, "-batch", "-"],
            input="\n".join(commands) + "\n",
            capture_output=True,
            text=True,
            timeout=30,
        )
        assert result.returncode == 0, f"ip -n {ns}: {result.stderr}"
        return result.stdout

    def query(self, ns: str, *args: str) -> Any:
        result = subprocess.run(
            ["ip", "-n", ns, "-j", *args], capture_output=True, text=True, timeout=30, check=True
        )
        return json.loads(result.stdout or "[]")

    def addresses(self, ns: str, ifname: str) -> set[str]:
        links = self.query(ns, "address", "show", "dev", ifname)
        return {
            f"{a['local']}/{a['prefixlen']}"
            for a in links[0]["addr_info"]
            if a["scope"] == "global"
        }

    def add_namespace(self, name: str) -> str:
        ns = self.ns(name)
        subprocess.run(["ip", "netns", "add", ns], check=True, timeout=30)
        self.namespaces.append(ns)
        self.ip(ns, "link set lo up")
        return ns

    def build_fabric(self) -> None:
        self.add_namespace("fab")
        for bridge in (MGMT, VIP, MEMBER):
            self.ip(
                self.fabric,
                f"link add br-{bridge} type bridge stp_state 0 forward_delay 0",
                f"link set br-{bridge} up",
            )

    def plug(
        self, ns: str, network: str, ifname: str, mac: str, address: str | None = None
    ) -> None:
        """A veth from the network's bridge into ``ns``, named ``ifname`` there."""
        self._veths += 1
        outer = f"v{self._veths}"
        self.ip(
            self.fabric,
            f"link add {outer} type veth peer name {ifname} netns {ns} address {mac}",
            f"link set {outer} master br-{network} up",
        )
        commands = [f"link set {ifname} up"]
        if address:
            commands.append(f"address add {address} dev {ifname}")
        self.ip(ns, *commands)

    def host(self, name: str, network: str, address: str, mac: str) -> str:
        """A namespace with one interface (eth0) on ``network``."""
        ns = self.add_namespace(name)
        self.plug(ns, network, "eth0", mac, address)
        return ns

    def member(self, name: str, address: str, mac: str, port: int = 8080) -> str:
        ns = self.host(name, MEMBER, f"{address}/24", mac)
        self.servers.append(serve_http(ns, address, port, name))
        return ns

    def amphora(
        self, name: str, index: int, topology: str = "SINGLE", **options: Any
    ) -> AgentProcess:
        """An amphora namespace (mgmt0 configured; vip0 and m0 plugged, unconfigured) with its
        agent started and answering. ``index`` picks its addresses and MACs."""
        ns = self.add_namespace(name)
        subprocess.run(
            ["ip", "netns", "exec", ns, "sysctl", "-qw", "net.ipv4.ip_nonlocal_bind=1"],
            check=True,
            timeout=30,
        )
        mgmt_ip = f"10.241.0.{10 + index}"
        self.plug(ns, MGMT, "mgmt0", f"fa:16:3e:00:00:{10 + index:02x}", f"{mgmt_ip}/24")
        self.plug(ns, VIP, "vip0", vip_mac(index))
        self.plug(ns, MEMBER, "m0", member_mac(index))
        amphora_id = str(uuid.uuid4())
        directory = self.base / name
        directory.mkdir()
        (directory / "server.pem").write_bytes(
            self.certs.ca.issue_server_certificate(amphora_id, mgmt_ip).bundle
        )
        (directory / "client_ca.pem").write_bytes(self.certs.ca.certificate_pem)
        config = {"amphora_id": amphora_id, "bind_host": mgmt_ip, "topology": topology, **options}
        (directory / "agent.json").write_text(json.dumps(config))
        return self.start_agent(ns, amphora_id, directory, mgmt_ip)

    def start_agent(self, ns: str, amphora_id: str, directory: Path, mgmt_ip: str) -> AgentProcess:
        output = open(directory / "agent.out", "wb")  # noqa: SIM115 - kept by the process
        process = subprocess.Popen(
            [
                "ip",
                "netns",
                "exec",
                ns,
                sys.executable,
                "-m",
                "ostia.agent",
                "--config",
                str(directory / "agent.json"),
            ],
            stdout=output,
            stderr=subprocess.STDOUT,
        )
        output.close()
        client = AgentClient(
            self.ns("ctl"), mgmt_ip, amphora_id, self.certs.ca_file, self.certs.client
        )
        agent = AgentProcess(amphora_id, directory, process, client)
        self.agents.append(agent)

        def answers() -> bool:
            assert process.poll() is None, (directory / "agent.out").read_text()
            try:
                return client.call("GET", "/", timeout=2)[0] == 200
            except OSError:
                return False

        wait_for(answers, what=f"the agent of {ns}")
        return agent

    def close(self) -> None:
        for server in self.servers:
            server.shutdown()
            server.server_close()
        for agent in self.agents:
            agent.stop()
        for ns in reversed(self.namespaces):
            pids = subprocess.run(
                ["ip", "netns", "pids", ns], capture_output=True, text=True, timeout=30
            ).stdout.split()
            for pid in pids:
                try:
                    os.kill(int(pid), signal.SIGKILL)
                except ProcessLookupError:
                    pass
            subprocess.run(["ip", "netns", "del", ns], timeout=30)


def vip_mac(index: int) -> str:
    return f"fa:16:3e:01:01:{10 + index:02x}"


def member_mac(index: int) -> str:
    return f"fa:16:3e:02:02:{10 + index:02x}"


@contextmanager
def lab(base: Path) -> Iterator[Lab]:
    """A lab with its fabric and the controller's namespace (ctl, 10.241.0.2 on mgmt)."""
    the_lab = Lab(base, Certificates.create(base / "certs"))
    try:
        the_lab.build_fabric()
        the_lab.host("ctl", MGMT, "10.241.0.2/24", "fa:16:3e:00:00:02")
        yield the_lab
    finally:
        the_lab.close()


VIP_ADDRESS = "10.241.1.100"
LISTENER_ID = "5c9a1a5e-5b8f-4c0e-9d1e-1f6a2b3c4d01"
POOL_ID = "0e2f4a6c-8b1d-4e3f-a5c7-9d0b2e4f6a02"


def haproxy_config(
    agent: AgentProcess, members: dict[str, str], version: str = "v1", maxconn: int = 4000
) -> str:
    """A combined configuration as the controller renders one: a listener on the VIP, port 80,
    whose pool holds ``members`` (server name → address, port 8080); ``GET /version`` answers
    ``version`` from HAProxy itself."""
    backend = f"{POOL_ID}:{LISTENER_ID}"
    servers = "".join(
        f"    server {name} {address}:8080 weight 1 check inter 1s\n"
        for name, address in members.items()
    )
    return (
        "global\n"
        f"    maxconn {maxconn}\n"
        f"    stats socket {agent.directory}/haproxy.sock mode 600 level admin expose-fd listeners\n"
        f"    server-state-file {agent.directory}/haproxy.state\n"
        "defaults\n"
        "    mode http\n"
        "    load-server-state-from-file global\n"
        "    timeout connect 1s\n"
        "    timeout client 10s\n"
        "    timeout server 10s\n"
        "    retries 3\n"
        "    option redispatch\n"
        f"frontend {LISTENER_ID}\n"
        "    mode http\n"
        f"    bind {VIP_ADDRESS}:80\n"
        f'    http-request return status 200 content-type text/plain string "{version}"'
        " if { path /version }\n"
        f"    default_backend {backend}\n"
        f"backend {backend}\n"
        "    mode http\n"
        "    balance roundrobin\n"
        f"{servers}"
    )


def plug(agent: AgentProcess, index: int) -> None:
    """Plug the amphora's VIP (VRRP address 10.241.1.1<index>) and member network
    (10.241.2.1<index>) through its agent, as the controller does."""
    vip = {
        "subnet_cidr": SUBNETS[VIP],
        "gateway": VIP_GATEWAY,
        "mac_address": vip_mac(index),
        "vrrp_ip": f"10.241.1.{10 + index}",
        "host_routes": [],
        "mtu": 1500,
    }
    assert agent.client.call("POST", f"/1.0/plug/vip/{VIP_ADDRESS}", vip)[0] == 202
    network = {
        "mac_address": member_mac(index),
        "fixed_ips": [{"ip_address": f"10.241.2.{10 + index}", "subnet_cidr": SUBNETS[MEMBER]}],
        "mtu": 1500,
    }
    assert agent.client.call("POST", "/1.0/plug/network", network)[0] == 202


def serve(agent: AgentProcess, index: int, members: dict[str, str], lb_id: str) -> None:
    """Plug the amphora, upload its configuration and start HAProxy."""
    plug(agent, index)
    path = f"/1.0/loadbalancer/{agent.amphora_id}/{lb_id}/haproxy"
    status, _, body = agent.client.request("PUT", path, haproxy_config(agent, members))
    assert status == 202, body
    status, body = agent.client.call("PUT", f"/1.0/loadbalancer/{lb_id}/start")
    assert status == 202, body


def keepalived_config(
    agent: AgentProcess, index: int, peers: list[int], priority: int, check: bool = True
) -> str:
    """A VRRP configuration as the controller renders one for ACTIVE_STANDBY (``check``: with
    the ``vrrp_script`` that fails while HAProxy's stats socket does not answer)."""
    directory = agent.directory
    unicast_peers = "".join(f"        10.241.1.{10 + peer}\n" for peer in peers)
    script, track = "", ""
    if check:
        script = (
            "vrrp_script check_haproxy {\n"
            f'    script "{directory}/haproxy-check {directory}/haproxy.sock"\n'
            "    interval 1\n"
            "    fall 2\n"
            "    rise 2\n"
            "}\n"
        )
        track = "    track_script {\n        check_haproxy\n    }\n"
    return (
        "global_defs {\n"
        f"    router_id amp{index}\n"
        "    vrrp_version 3\n"
        "    enable_script_security\n"
        "    script_user root\n"
        "    vrrp_garp_master_delay 1\n"
        "    vrrp_garp_master_refresh 5\n"
        "}\n"
        f"{script}"
        "vrrp_instance lb {\n"
        "    state BACKUP\n"
        "    interface vip0\n"
        "    virtual_router_id 51\n"
        f"    priority {priority}\n"
        "    nopreempt\n"
        "    accept\n"
        "    advert_int 0.1\n"
        f"    unicast_src_ip 10.241.1.{10 + index}\n"
        "    unicast_peer {\n"
        f"{unicast_peers}"
        "    }\n"
        "    virtual_ipaddress {\n"
        f"        {VIP_ADDRESS}\n"
        "    }\n"
        "    virtual_routes {\n"
        f"        {SUBNETS[VIP]} dev vip0 src {VIP_ADDRESS} scope link table 1\n"
        f"        default via {VIP_GATEWAY} dev vip0 onlink table 1\n"
        "    }\n"
        "    virtual_rules {\n"
        f"        from {VIP_ADDRESS}/32 table 1 priority 100\n"
        "    }\n"
        f"{track}"
        "}\n"
    )


def start_keepalived(
    agent: AgentProcess, index: int, peers: list[int], priority: int, check: bool = True
) -> None:
    config = keepalived_config(agent, index, peers, priority, check)
    status, _, body = agent.client.request("PUT", "/1.0/vrrp/upload", config)
    assert status == 200, body
    status, body = agent.client.call("PUT", "/1.0/vrrp/start")
    assert status == 202, body


def holds_vip(lab: Lab, agent: AgentProcess) -> bool:
    ns = lab.ns(agent.directory.name)
    return f"{VIP_ADDRESS}/32" in lab.addresses(ns, "vip0")
