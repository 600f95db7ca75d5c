"""Hosts around a load balancer — web servers and clients — as network namespaces on the
data plane's fabric, for ``ostia demo``, the tests and the benchmarks.

A host is a namespace ``<prefix>-h<name>`` with one port of Ostia's network service plugged
in as ``eth0``. Its web server runs in this process (a thread whose listening socket was
made inside the namespace) and answers every GET with the host's name. Every request made
here is bounded by a timeout.
"""

from __future__ import annotations

import http.client
import ipaddress
import socket
import socketserver
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from ostia.drivers.fabric import Fabric, PortPlug, assign_address
from ostia.drivers.netns import create_namespace, inside

REQUEST_TIMEOUT = 2.0


@dataclass(frozen=True)
class Host:
    namespace: str
    address: str


def add_host(fabric: Fabric, name: str, port: dict[str, Any], cidr: str, mtu: int) -> Host:
    """Plug ``port`` (as the network API shows it) into a new host namespace as ``eth0``."""
    namespace = f"{fabric.prefix}-h{name}"
    create_namespace(namespace)
    plug = PortPlug(port["id"], port["network_id"], port["mac_address"], mtu)
    fabric.plug(plug, namespace, "eth0")
    address = str(port["fixed_ips"][0]["ip_address"])
    assign_address(namespace, "eth0", f"{address}/{ipaddress.ip_network(cidr).prefixlen}")
    return Host(namespace, address)


def wait_for(check: Callable[[], Any], timeout: float, what: str) -> Any:
    """Poll ``check`` until it returns something true; TimeoutError after ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result:
            return result
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout:g} s waiting for {what}")
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
    (OSError or HTTPException when no answer comes)."""
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
    """The body of one GET on a new connection made from ``namespace``; OSError or
    HTTPException on any failure, including a status other than 200."""
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


def _answering(name: str) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        # Headers and body are separate writes: without this, Nagle and delayed ACKs make
        # every keep-alive response wait 40 ms.
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


class WebServer:
    """An HTTP server in ``host``'s namespace answering ``name`` to every GET."""

    def __init__(self, host: Host, port: int, name: str) -> None:
        with inside(host.namespace):
            self._server = _Server((host.address, port), _answering(name), bind_and_activate=False)
        self._server.server_bind()
        self._server.server_activate()
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True
        )
        self._thread.start()

    def stop(self) -> None:
        """Stop serving: the port refuses connections, as a dead process's. Connections the
        kernel accepted meanwhile are served first: closing the socket would reset them after
        a load balancer sent their request, a failure no retry hides."""
        server = self._server
        server.shutdown()
        server.socket.setblocking(False)
        for _ in range(1000):
            try:
                request, address = server.get_request()
            except BlockingIOError:
                break
            server.process_request(request, address)
        server.server_close()


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

    def outage(self) -> float:
        """Seconds from the first failed request to the first success after the last one."""
        failed = [i for i, answer in enumerate(self.answers) if answer.body is None]
        if not failed:
            return 0.0
        after = next(
            (a.at for a in self.answers[failed[-1] + 1 :] if a.body is not None),
            self.answers[-1].at,
        )
        return after - self.answers[failed[0]].at

    def next_bodies(self, count: int, timeout: float = 30.0) -> list[str | None]:
        """The next ``count`` answers from now on."""
        start = len(self.answers)
        wait_for(lambda: len(self.answers) >= start + count, timeout, f"{count} answers")
        return [answer.body for answer in self.answers[start : start + count]]
