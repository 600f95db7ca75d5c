"""Helpers of the drivers' tests: ports with fresh ids and MACs, host namespaces on the fabric,
ping, mutual TLS to an agent from the controller's namespace.

Addresses come from ``RANGE`` and live only inside the test's namespaces.
"""

from __future__ import annotations

import http.client
import json
import secrets
import socket
import ssl
import subprocess
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ostia.drivers.fabric import Fabric, PortPlug, assign_address
from ostia.drivers.netns import create_namespace, inside

RANGE = "10.242.0.0/16"


def wait_for(check: Callable[[], object], timeout: float = 10.0, what: str = "it") -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, f"timed out after {timeout:g} s waiting for {what}"
        time.sleep(0.05)


def new_port(network_id: str, mtu: int = 1500) -> PortPlug:
    mac = "fa:16:3e:" + ":".join(f"{byte:02x}" for byte in secrets.token_bytes(3))
    return PortPlug(port_id=str(uuid.uuid4()), network_id=network_id, mac_address=mac, mtu=mtu)


def host(fabric: Fabric, name: str, plug: PortPlug, address_cidr: str) -> str:
    """A namespace ``<prefix>-h<name>`` with ``eth0`` plugged and addressed."""
    namespace = f"{fabric.prefix}-h{name}"
    create_namespace(namespace)
    fabric.plug(plug, namespace, "eth0")
    assign_address(namespace, "eth0", address_cidr)
    return namespace


def ip_json(namespace: str, *args: str) -> Any:
    result = subprocess.run(
        ["ip", "-n", namespace, "-j", *args], capture_output=True, text=True, timeout=30
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def link(namespace: str, ifname: str) -> dict[str, Any] | None:
    found = [item for item in ip_json(namespace, "link", "show") if item["ifname"] == ifname]
    return found[0] if found else None


def ping(namespace: str, address: str) -> bool:
    """One ping from ``namespace``, answered within 1 s."""
    result = subprocess.run(
        ["ip", "netns", "exec", namespace, "ping", "-n", "-c", "1", "-W", "1", address],
        capture_output=True,
        timeout=30,
    )
    return result.returncode == 0


def in_namespace(namespace: str, *command: str) -> str:
    result = subprocess.run(
        ["ip", "netns", "exec", namespace, *command], capture_output=True, text=True, timeout=30
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


class AgentCaller:
    """Calls agents as the controller does: its client certificate, the server's name checked
    against the amphora id, the socket made inside the controller's namespace."""

    def __init__(self, namespace: str, ca_file: Path, client_pem: Path) -> None:
        self.namespace = namespace
        self.context = ssl.create_default_context(cafile=str(ca_file))
        self.context.load_cert_chain(client_pem)

    def get(self, host: str, amphora_id: str, path: str, port: int = 9443) -> tuple[int, Any]:
        with inside(self.namespace):
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.settimeout(10)
        with sock:
            sock.connect((host, port))
            with self.context.wrap_socket(sock, server_hostname=amphora_id) as tls:
                tls.sendall(
                    f"GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n".encode()
                )
                response = http.client.HTTPResponse(tls)
                response.begin()
                return response.status, json.loads(response.read())
