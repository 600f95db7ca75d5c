"""Hosts of the data plane tests: member HTTP servers and clients, each a namespace
``<prefix>-h<name>`` with one port of Ostia's network service plugged into the site's fabric,
and traffic sent through a VIP with every request bounded.

Addresses come from ``RANGE`` (checked free on this machine by the fixture) and live only
inside the test's namespaces.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ostia import hosts
from ostia.drivers.fabric import Fabric
from ostia.hosts import Answer, Host, Reply, Traffic, WebServer, add_host, http_get, http_request
from tests.helpers import Api, expect

__all__ = ["Answer", "Hosts", "Reply", "Traffic", "http_get", "http_request", "wait_for"]

RANGE = "10.243.0.0/16"
MANAGEMENT_CIDR = "10.243.0.0/24"
VIP_CIDR = "10.243.1.0/24"
MEMBER_CIDR = "10.243.2.0/24"
MEMBER_PORT = 8080
WAIT = 30.0


def wait_for(check: Callable[[], Any], timeout: float = WAIT, what: str = "it") -> Any:
    """Poll ``check`` until it returns something true; the test fails after ``timeout``."""
    try:
        return hosts.wait_for(check, timeout, what)
    except TimeoutError as exc:
        raise AssertionError(str(exc)) from None


@dataclass
class Hosts:
    """The hosts of one test; ``close`` stops their servers (``Fabric.destroy`` removes their
    namespaces)."""

    fabric: Fabric
    api: Api
    # name → every host, and the servers of the members that serve.
    hosts: dict[str, Host] = field(default_factory=dict)
    servers: dict[str, WebServer] = field(default_factory=dict)

    def add(self, name: str, subnet: dict[str, Any]) -> tuple[str, str]:
        """A namespace with a port of ``subnet`` (created through the network API) as
        ``eth0``; (namespace, address)."""
        body = {"network_id": subnet["network_id"], "name": f"host-{name}"}
        body["fixed_ips"] = [{"subnet_id": subnet["id"]}]
        port = expect(self.api.post("/network/v2.0/ports", {"port": body}), 201)["port"]
        network = expect(self.api.get(f"/network/v2.0/networks/{subnet['network_id']}"), 200)
        host = add_host(self.fabric, name, port, subnet["cidr"], network["network"]["mtu"])
        self.hosts[name] = host
        return host.namespace, host.address

    def member(self, name: str, subnet: dict[str, Any]) -> str:
        """A host answering its own name to every GET on MEMBER_PORT; its address."""
        _, address = self.add(name, subnet)
        self.start(name)
        return address

    def start(self, name: str) -> None:
        """(Re)start the member's server: it accepts connections again."""
        self.servers[name] = WebServer(self.hosts[name], MEMBER_PORT, name)

    def stop(self, name: str) -> None:
        """Stop the member's server: its port refuses connections, as a dead process's."""
        self.servers.pop(name).stop()

    def close(self) -> None:
        for name in list(self.servers):
            self.stop(name)
