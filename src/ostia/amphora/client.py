"""The controller's side of the amphora agent API: HTTPS with mutual TLS to
``https://<management address>:9443``, as Octavia's amphora driver calls its agents.

Sockets are created inside the controller's management namespace (``<prefix>-ctl``): the root
namespace has no address on the management network. The agent's certificate must be signed by
Ostia's CA *and* name the amphora id (its CN and DNS name), which is the server name checked,
so an address reused by another amphora is never mistaken for the one asked for. The
controller shows a client certificate from the same CA, which every agent requires.

Connecting is retried (for ``retry_for`` seconds) while an agent is starting; a request that
reached the agent is never repeated. Errors carry what the agent said, e.g. HAProxy's message
on a refused configuration.
"""

from __future__ import annotations

import datetime
import http.client
import json
import socket
import ssl
import tempfile
import threading
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import quote

from ostia.certificates.ca import LocalCA, expiration
from ostia.drivers.netns import inside

AGENT_PORT = 9443
API = "/1.0"
# Octavia's [haproxy_amphora] rest_request_conn_timeout and rest_request_read_timeout: a
# reload may take the agent a while (it waits for HAProxy's new worker).
CONNECT_TIMEOUT = 10.0
READ_TIMEOUT = 60.0
# How long to keep trying to connect to an agent that is starting, and how often.
RETRY_FOR = 30.0
RETRY_INTERVAL = 0.1
# The controller's client certificate is renewed when it has less than this left.
RENEW_BEFORE = datetime.timedelta(days=1)


class AgentError(Exception):
    """An agent answered with an error, or could not be reached."""

    def __init__(
        self, amphora_id: str, what: str, status: int | None, message: str, details: Any = None
    ) -> None:
        self.amphora_id = amphora_id
        self.status = status
        self.message = message
        self.details = details
        text = f"amphora {amphora_id}: {what}: " + (f"{status} " if status else "") + message
        if details:
            text += f": {details}"
        super().__init__(text)

    @property
    def permanent(self) -> bool:
        """A 400: the agent refused the request itself (HAProxy rejects the configuration,
        say); sending it again cannot help."""
        return self.status == 400


class AgentUnreachable(AgentError):
    """No connection could be made within the retry window."""


class ClientCredentials:
    """The controller's TLS context for calling agents: Ostia's CA as the only trusted root,
    and a client certificate from it, renewed before it expires."""

    def __init__(self, ca: LocalCA) -> None:
        self._ca = ca
        self._lock = threading.Lock()
        self._context: ssl.SSLContext | None = None
        self._expires = datetime.datetime.min.replace(tzinfo=datetime.UTC)

    def context(self) -> ssl.SSLContext:
        with self._lock:
            if self._context is None or self._expires - RENEW_BEFORE < datetime.datetime.now(
                datetime.UTC
            ):
                issued = self._ca.issue_client_certificate()
                context = ssl.create_default_context(cadata=self._ca.certificate_pem.decode())
                context.minimum_version = ssl.TLSVersion.TLSv1_2
                # load_cert_chain reads files only: a private file, removed once read.
                with tempfile.NamedTemporaryFile(suffix=".pem") as bundle:
                    bundle.write(issued.bundle)
                    bundle.flush()
                    context.load_cert_chain(bundle.name)
                self._context, self._expires = context, expiration(issued.certificate)
            return self._context


class _Connection(http.client.HTTPSConnection):
    """One connection whose socket is made in ``namespace``, its certificate checked against
    the amphora id."""

    def __init__(
        self,
        host: str,
        port: int,
        *,
        amphora_id: str,
        namespace: str | None,
        tls: ssl.SSLContext,
        connect_timeout: float,
        read_timeout: float,
    ) -> None:
        super().__init__(host, port, timeout=read_timeout, context=tls)
        self._amphora_id = amphora_id
        self._namespace = namespace
        self._tls = tls
        self._connect_timeout = connect_timeout

    def connect(self) -> None:
        family = socket.AF_INET6 if ":" in self.host else socket.AF_INET
        if self._namespace is None:
            sock = socket.socket(family, socket.SOCK_STREAM)
        else:
            with inside(self._namespace):
                sock = socket.socket(family, socket.SOCK_STREAM)
        try:
            sock.settimeout(self._connect_timeout)
            sock.connect((self.host, self.port))
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            sock.settimeout(self.timeout)
            self.sock = self._tls.wrap_socket(sock, server_hostname=self._amphora_id)
        except BaseException:
            sock.close()
            raise


class AgentClient:
    """Calls one amphora's agent."""

    def __init__(
        self,
        amphora_id: str,
        address: str,
        *,
        tls: Callable[[], ssl.SSLContext],
        namespace: str | None,
        port: int = AGENT_PORT,
        connect_timeout: float = CONNECT_TIMEOUT,
        read_timeout: float = READ_TIMEOUT,
        retry_for: float = RETRY_FOR,
    ) -> None:
        self.amphora_id = amphora_id
        self.address = address
        self._tls = tls
        self._namespace = namespace
        self._port = port
        self._connect_timeout = connect_timeout
        self._read_timeout = read_timeout
        self._retry_for = retry_for

    # -- transport ---------------------------------------------------------------------------

    def _connect(self, what: str) -> _Connection:
        deadline = time.monotonic() + self._retry_for
        while True:
            connection = _Connection(
                self.address,
                self._port,
                amphora_id=self.amphora_id,
                namespace=self._namespace,
                tls=self._tls(),
                connect_timeout=self._connect_timeout,
                read_timeout=self._read_timeout,
            )
            try:
                connection.connect()
                return connection
            except ssl.SSLCertVerificationError as exc:
                raise AgentError(self.amphora_id, what, None, str(exc)) from exc
            except OSError as exc:
                connection.close()
                if time.monotonic() >= deadline:
                    raise AgentUnreachable(
                        self.amphora_id,
                        what,
                        None,
                        f"no connection to {self.address}:{self._port} "
                        f"within {self._retry_for:g} s: {exc}",
                    ) from exc
            time.sleep(RETRY_INTERVAL)

    def request(
        self,
        method: str,
        path: str,
        body: bytes | None = None,
        expect: tuple[int, ...] = (200, 202),
    ) -> tuple[int, bytes]:
        """(status, body) of one request; an unexpected status raises AgentError with the
        agent's ``message`` and ``details``."""
        what = f"{method} {path}"
        connection = self._connect(what)
        try:
            connection.request(method, path, body=body)
            response = connection.getresponse()
            status, data = response.status, response.read()
        except OSError as exc:
            raise AgentError(self.amphora_id, what, None, str(exc)) from exc
        finally:
            connection.close()
        if status not in expect:
            message, details = _error_of(data)
            raise AgentError(self.amphora_id, what, status, message, details)
        return status, data

    def call(
        self,
        method: str,
        path: str,
        body: Any = None,
        expect: tuple[int, ...] = (200, 202),
    ) -> Any:
        """A request with a JSON body (None: no body); the answer's JSON."""
        payload = None if body is None else json.dumps(body).encode()
        _, data = self.request(method, path, payload, expect)
        return json.loads(data) if data else None

    # -- the agent's routes --------------------------------------------------------------------

    def wait_ready(self) -> dict[str, Any]:
        """``GET /``: the API version, once the agent answers."""
        return dict(self.call("GET", "/"))

    def details(self) -> dict[str, Any]:
        return dict(self.call("GET", f"{API}/details"))

    def plug_vip(self, vip: str, body: dict[str, Any]) -> None:
        self.call("POST", f"{API}/plug/vip/{quote(vip)}", body)

    def plug_network(self, body: dict[str, Any]) -> None:
        self.call("POST", f"{API}/plug/network", body)

    def get_haproxy(self, lb_id: str) -> str | None:
        """The configuration the agent holds for the load balancer; None if it has none."""
        status, data = self.request("GET", f"{API}/loadbalancer/{lb_id}/haproxy", expect=(200, 404))
        return data.decode() if status == 200 else None

    def upload_haproxy(self, lb_id: str, config: str) -> None:
        """Validated by the agent (``haproxy -c``); a refused one raises with HAProxy's words."""
        path = f"{API}/loadbalancer/{self.amphora_id}/{lb_id}/haproxy"
        self.request("PUT", path, config.encode())

    def haproxy(self, lb_id: str, action: str) -> None:
        """``start``, ``stop`` or ``reload`` (a reload of a stopped HAProxy starts it)."""
        self.call("PUT", f"{API}/loadbalancer/{lb_id}/{action}")

    def runtime(self, lb_id: str, commands: list[str]) -> None:
        """HAProxy runtime API commands (server weight and state), without a reload."""
        self.call("PUT", f"{API}/loadbalancer/{lb_id}/runtime", commands)

    def upload_vrrp(self, config: str) -> None:
        self.request("PUT", f"{API}/vrrp/upload", config.encode())

    def vrrp(self, action: str) -> None:
        """``start`` (a reload when running), ``stop`` or ``reload``."""
        self.call("PUT", f"{API}/vrrp/{action}")

    def interface(self, address: str) -> str | None:
        """The interface holding ``address`` in the amphora, None if none does."""
        status, data = self.request("GET", f"{API}/interface/{quote(address)}", expect=(200, 404))
        return str(json.loads(data)["interface"]) if status == 200 else None

    def update_config(self, config: dict[str, Any]) -> None:
        """The agent's new ``agent.json`` (Octavia's ``update_amphora_agent_config``): its
        topology applies at once."""
        self.call("PUT", f"{API}/config", config)

    def upload_server_certificate(self, bundle: bytes) -> None:
        """The agent's new certificate and key (Octavia's ``update_cert_for_rotation``): it
        shows it to every new connection; a 400 says why it refused it."""
        self.request("PUT", f"{API}/certificate", bundle)

    def server_certificate(self) -> bytes:
        """The certificate (DER) the agent shows a new connection, once checked as always."""
        connection = self._connect("TLS handshake")
        try:
            sock = connection.sock
            certificate = (
                sock.getpeercert(binary_form=True) if isinstance(sock, ssl.SSLSocket) else None
            )
        finally:
            connection.close()
        if certificate is None:
            raise AgentError(self.amphora_id, "TLS handshake", None, "no certificate shown")
        return certificate


def _error_of(data: bytes) -> tuple[str, Any]:
    """The ``message`` and ``details`` of an agent's error body (or the werkzeug-style
    ``error`` of a routing error)."""
    try:
        body = json.loads(data)
    except ValueError:
        return data.decode("utf-8", "replace").strip(), None
    if isinstance(body, dict):
        return str(body.get("message") or body.get("error") or body), body.get("details")
    return str(body), None
