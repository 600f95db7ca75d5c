"""HTTPS with mutual TLS on the standard library: routing, requests, replies, errors.

Errors the router raises have the shape of Octavia's agent (Flask/werkzeug):
``{"error": "404 Not Found: <description>", "http_code": 404}``; handlers' own results and
errors are ``{"message", "details"}`` bodies.
"""

from __future__ import annotations

import json
import logging
import re
import socket
import socketserver
import ssl
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from email.message import Message
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

log = logging.getLogger(__name__)

MAX_BODY = 16 * 1024 * 1024
HANDSHAKE_TIMEOUT = 10.0
TLS_VERSIONS = {"TLSv1.2": ssl.TLSVersion.TLSv1_2, "TLSv1.3": ssl.TLSVersion.TLSv1_3}
# werkzeug's descriptions, which Octavia's agent puts in its error bodies.
DESCRIPTIONS = {
    400: "The browser (or proxy) sent a request that this server could not understand.",
    404: (
        "The requested URL was not found on the server. If you entered the URL manually please"
        " check your spelling and try again."
    ),
    405: "The method is not allowed for the requested URL.",
    413: "The data value transmitted exceeds the capacity limit.",
    500: (
        "The server encountered an internal error and was unable to complete your request."
        " Either the server is overloaded or there is an error in the application."
    ),
}


@dataclass(frozen=True)
class Request:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: Message
    body: bytes

    def json(self) -> Any:
        """The body as JSON, or None when it is not JSON."""
        try:
            return json.loads(self.body)
        except ValueError:
            return None


@dataclass(frozen=True)
class Reply:
    status: int
    body: bytes
    content_type: str = "application/json"
    headers: dict[str, str] = field(default_factory=dict)


def reply(status: int, body: Any, headers: dict[str, str] | None = None) -> Reply:
    return Reply(status, json.dumps(body).encode(), headers=headers or {})


def message(status: int, text: str, details: Any = None, **headers: str) -> Reply:
    """A ``{"message", "details"}`` reply (``details`` left out when None, as Octavia does)."""
    body: dict[str, Any] = {"message": text}
    if details is not None:
        body["details"] = details
    return reply(status, body, headers)


class HttpError(Exception):
    def __init__(self, status: int, description: str | None = None, **headers: str) -> None:
        super().__init__(description)
        self.status = status
        self.description = description or DESCRIPTIONS[status]
        self.headers = headers

    def reply(self) -> Reply:
        phrase = HTTPStatus(self.status).phrase
        body = {"error": f"{self.status} {phrase}: {self.description}", "http_code": self.status}
        return reply(self.status, body, self.headers)


class Respond(Exception):  # noqa: N818 - a control-flow signal, not an error
    """Raised by a handler's helpers to answer at once with ``reply``."""

    def __init__(self, reply: Reply) -> None:
        super().__init__(reply.status)
        self.reply = reply


Handler = Callable[..., Reply]


class Router:
    """Routes ``<name>`` placeholders (one path segment each) to handlers; first match wins."""

    def __init__(self) -> None:
        self._routes: list[tuple[str, re.Pattern[str], Handler]] = []

    def add(self, method: str, pattern: str, handler: Handler) -> None:
        regex = re.sub(r"<(\w+)>", r"(?P<\1>[^/]+)", pattern)
        self._routes.append((method, re.compile(f"^{regex}$"), handler))

    def dispatch(self, request: Request) -> Reply:
        allowed = []
        for method, regex, handler in self._routes:
            match = regex.match(request.path)
            if match is None:
                continue
            if method != request.method:
                allowed.append(method)
                continue
            try:
                return handler(request, **match.groupdict())
            except Respond as answer:
                return answer.reply
        if allowed:
            raise HttpError(405, Allow=", ".join(sorted(set(allowed))))
        raise HttpError(404)


def tls_context(cert: Path, client_ca: Path, minimum: str) -> ssl.SSLContext:
    """The server side of mutual TLS: only clients with a certificate from ``client_ca``."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = TLS_VERSIONS[minimum]
    context.verify_mode = ssl.CERT_REQUIRED
    context.load_cert_chain(cert)
    context.load_verify_locations(cafile=client_ca)
    return context


class _RequestHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # The headers and the body of an answer go out in two writes: with Nagle's algorithm the
    # body would wait for the client's (delayed, 40 ms) acknowledgement of the headers.
    disable_nagle_algorithm = True
    server: AgentServer

    def setup(self) -> None:
        # The handshake happens here, in the request's thread, not in the accept loop.
        self.request.settimeout(HANDSHAKE_TIMEOUT)
        self.request.do_handshake()
        super().setup()
        self.connection.settimeout(self.server.read_timeout)

    def do_GET(self) -> None:  # noqa: N802 - http.server's naming
        self._serve()

    do_PUT = do_POST = do_DELETE = do_GET  # noqa: N815

    def _serve(self) -> None:
        try:
            reply_ = self.server.router.dispatch(self._read())
        except HttpError as error:
            reply_ = error.reply()
        except Exception:
            log.exception("%s %s failed", self.command, self.path)
            reply_ = HttpError(500).reply()
        self.send_response(reply_.status)
        self.send_header("Content-Type", reply_.content_type)
        self.send_header("Content-Length", str(len(reply_.body)))
        for name, value in reply_.headers.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(reply_.body)

    def _read(self) -> Request:
        try:
            length = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            raise HttpError(400) from None
        if length > MAX_BODY:
            self.close_connection = True
            raise HttpError(413)
        body = self.rfile.read(length) if length > 0 else b""
        url = urlsplit(self.path)
        return Request(self.command, url.path, parse_qs(url.query), self.headers, body)

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - http.server's name
        log.info("%s %s", self.client_address[0], format % args)


class AgentServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(
        self,
        address: tuple[str, int],
        router: Router,
        context: ssl.SSLContext,
        read_timeout: float,
    ) -> None:
        self.address_family = socket.AF_INET6 if ":" in address[0] else socket.AF_INET
        self.router = router
        self.context = context  # replaced on certificate rotation; used for new connections
        self.read_timeout = read_timeout
        super().__init__(address, _RequestHandler)

    def server_bind(self) -> None:
        # HTTPServer.server_bind resolves the host name (getfqdn): no DNS in an amphora.
        socketserver.TCPServer.server_bind(self)
        self.server_name, self.server_port = str(self.server_address[0]), self.server_address[1]

    def get_request(self) -> tuple[socket.socket, Any]:
        sock, address = self.socket.accept()
        wrapped = self.context.wrap_socket(sock, server_side=True, do_handshake_on_connect=False)
        return wrapped, address

    def handle_error(self, request: Any, client_address: Any) -> None:
        error = sys.exc_info()[1]
        if isinstance(error, OSError):  # ssl.SSLError included: a refused or broken client
            log.info("connection from %s closed: %s", client_address[0], error)
        else:
            log.exception("connection from %s failed", client_address[0])
