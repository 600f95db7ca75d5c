"""Hosts of the data plane tests: member HTTP servers and clients, each a namespace
``<prefix>-h<name>`` with one port of Ostia's network service plugged into the site's fabric,
and traffic sent through a VIP with every request bounded.

Addresses come from ``RANGE`` (checked free on this machine by the fixture) and live only
inside the test's namespaces.
"""

from __future__ import annotations

import http.client
import ipaddress
import socket
import socketserver
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from ostia.drivers.fabric import Fabric, PortPlug, assign_address
from ostia.drivers.netns import create_namespace, inside
from tests.helpers import Api, expect

RANGE = "10.243.0.0/16"
MANAGEMENT_CIDR = "10.243.0.0/24"
VIP_CIDR = "10.243.1.0/24"
MEMBER_CIDR = "10.243.2.0/24"
MEMBER_PORT = 8080
REQUEST_TIMEOUT = 2.0
WAIT = 30.0


def wait_for(check: Callable[[], Any], timeout: float = WAIT, what: str = "it") -> Any:
    """Poll ``check`` until it returns something true, for at most ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result:
            return result
        assert time.monotonic() < deadline, f"timed out after {timeout:g} s waiting for {what}"
        time.sleep(0.05)


@dataclass(frozen=True)
class Reply:
    status: int
    headers: dict[str, str]  # names in lower case
    body: str


def http_request(
    namespace: str, host: str, port: int, path: str = "/", timeout: float = REQUEST_TIMEOUT
) -> Reply:
    """One GET of ``path`` on a new connection made from ``namespace``, whatever its status
    (raises OSError or HTTPException when no answer comes)."""
    with inside(namespace):
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    with sock:
        sock.settimeout(timeout)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.connect((host, port))
        sock.sendall(f"GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n".encode())
        response = http.client.HTTPResponse(sock)
        response.begin()
        body = response.read().decode()
        headers = {name.lower(): value for name, value in response.getheaders()}
        return Reply(response.status, headers, body)


def http_get(namespace: str, host: str, port: int, timeout: float = REQUEST_TIMEOUT) -> str:
    """The body of one GET on a new connection made from ``namespace`` (raises OSError or
    HTTPException on any failure, and on a status other than 200)."""
    reply = http_request(namespace, host, port, timeout=timeout)
    if reply.status != 200:
        raise http.client.HTTPException(f"{reply.status}: {reply.body}")
    return reply.body


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def server_bind(self) -> None:  # no reverse DNS lookup of the address
        socketserver.TCPServer.server_bind(self)

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # clients and health checks that close early


def _handler(name: str) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        # Headers and body are separate writes: without this, Nagle and delayed ACKs make
        # every keep-alive response wait 40 ms (DATAPLANE_NOTES P7).
        disable_nagle_algorithm = True

        def do_GET(self) -> None:  # noqa: N802 - http.server's name
            body = name.encode()
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
            pass

    return Handler


@dataclass
class Hosts:
    """The hosts of one test; ``close`` stops their servers (``Fabric.destroy`` removes their
    namespaces)."""

    fabric: Fabric
    api: Api
    # name → (namespace, address) of every host, and the servers of the members that serve.
    hosts: dict[str, tuple[str, str]] = field(default_factory=dict)
    servers: dict[str, ThreadingHTTPServer] = field(default_factory=dict)

    def add(self, name: str, subnet: dict[str, Any]) -> tuple[str, str]:
        """A namespace with a port of ``subnet`` (created through the network API) as
        ``eth0``; (namespace, address)."""
        body = {"network_id": subnet["network_id"], "name": f"host-{name}"}
        body["fixed_ips"] = [{"subnet_id": subnet["id"]}]
        port = expect(self.api.post("/network/v2.0/ports", {"port": body}), 201)["port"]
        network = expect(self.api.get(f"/network/v2.0/networks/{subnet['network_id']}"), 200)
        namespace = f"{self.fabric.prefix}-h{name}"
        create_namespace(namespace)
        plug = PortPlug(
            port["id"], port["network_id"], port["mac_address"], network["network"]["mtu"]
        )
        self.fabric.plug(plug, namespace, "eth0")
        address = port["fixed_ips"][0]["ip_address"]
        prefix = ipaddress.ip_network(subnet["cidr"]).prefixlen
        assign_address(namespace, "eth0", f"{address}/{prefix}")
        self.hosts[name] = (namespace, address)
        return namespace, address

    def member(self, name: str, subnet: dict[str, Any]) -> str:
        """A host answering its own name to every GET on MEMBER_PORT; its address."""
        _, address = self.add(name, subnet)
        self.start(name)
        return address

    def start(self, name: str) -> None:
        """(Re)start the member's server: it accepts connections again."""
        namespace, address = self.hosts[name]
        with inside(namespace):
            server = _Server((address, MEMBER_PORT), _handler(name), bind_and_activate=False)
        server.server_bind()
        server.server_activate()
        threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True
        ).start()
        self.servers[name] = server

    def stop(self, name: str) -> None:
        """Stop the member's server: its port refuses connections, as a dead process's."""
        server = self.servers.pop(name)
        server.shutdown()
        server.server_close()

    def close(self) -> None:
        for name in list(self.servers):
            self.stop(name)


@dataclass
class Answer:
    at: float
    body: str | None  # None: the request failed
    error: str = ""


class Traffic:
    """Requests sent one after the other from a client namespace to ``host:port`` in a
    thread, each on a new connection and bounded, until ``stop``."""

    def __init__(self, namespace: str, host: str, port: int, pause: float = 0.01) -> None:
        self.namespace, self.host, self.port, self.pause = namespace, host, port, pause
        self.answers: list[Answer] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> Traffic:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(REQUEST_TIMEOUT * 2)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                body: str | None = http_get(self.namespace, self.host, self.port)
                error = ""
            except (OSError, http.client.HTTPException) as exc:
                body, error = None, f"{type(exc).__name__}: {exc}"
            self.answers.append(Answer(time.monotonic(), body, error))
            time.sleep(self.pause)

    def failures(self) -> list[Answer]:
        return [answer for answer in self.answers if answer.body is None]

    def next_bodies(self, count: int) -> list[str | None]:
        """The next ``count`` answers from now on."""
        start = len(self.answers)
        wait_for(lambda: len(self.answers) >= start + count, what=f"{count} answers")
        return [answer.body for answer in self.answers[start : start + count]]
