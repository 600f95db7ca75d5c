"""The fabric: one namespace (``<prefix>-fab``) holding a Linux bridge per network, and the veths
that plug ports into other namespaces.

A veth is created inside the fabric with its peer placed straight into the target namespace,
so nothing passes through the root namespace. The peer carries the port's MAC (fixed for the
port's life), so a re-created namespace is reached at once by neighbours that cached it; bridges
get fixed MACs too (a bridge otherwise takes the lowest MAC of its ports, which changes).
"""

from __future__ import annotations

import hashlib
import ipaddress
import re
import threading
from dataclasses import dataclass
from typing import Any

from ostia.drivers.netns import (
    NamespaceError,
    create_namespace,
    delete_namespaces,
    ip_batch,
    ip_json,
    list_namespaces,
    namespace_exists,
    write_sysctls,
)

MGMT_IFNAME = "mgmt0"
# The fabric only switches frames: no IPv6 link-local addresses, router solicitations or MLD
# of its own on the cloud networks.
FABRIC_SYSCTLS = {
    "net/ipv6/conf/default/disable_ipv6": "1",
    "net/ipv6/conf/all/disable_ipv6": "1",
}
# A dash would make namespaces ambiguous between prefixes ("a" and "a-b" both own "a-b-fab").
PREFIX = re.compile(r"[A-Za-z0-9_]+")


@dataclass(frozen=True)
class PortPlug:
    """A port of Ostia's network service, as the fabric needs it."""

    port_id: str
    network_id: str
    mac_address: str
    mtu: int = 1500


def _hex(identifier: str) -> str:
    return identifier.replace("-", "").lower()


def veth_name(port_id: str) -> str:
    """The fabric side of a port's veth."""
    return "v" + _hex(port_id)[:11]


def bridge_name(network_id: str) -> str:
    return "b" + _hex(network_id)[:11]


def bridge_mac(network_id: str) -> str:
    """A locally administered unicast MAC derived from the network id."""
    digest = hashlib.sha256(network_id.encode()).digest()
    return ":".join(f"{byte:02x}" for byte in (0x02, *digest[:5]))


def links(namespace: str) -> dict[str, dict[str, Any]]:
    """The interfaces of a namespace by name, as ``ip -j link show`` describes them."""
    return {link["ifname"]: link for link in ip_json(namespace, "link", "show")}


def _paired(outer: dict[str, Any], peer: dict[str, Any]) -> bool:
    return (
        outer.get("link_index") == peer["ifindex"] and peer.get("link_index") == (outer["ifindex"])
    )


def assign_address(namespace: str, ifname: str, address_cidr: str) -> None:
    """Make ``address_cidr`` the only global address of ``ifname`` (no DAD: the network
    service never hands an address out twice)."""
    wanted = ipaddress.ip_interface(address_cidr)
    have = {
        ipaddress.ip_interface(f"{info['local']}/{info['prefixlen']}")
        for link in ip_json(namespace, "address", "show", "dev", ifname)
        for info in link.get("addr_info", [])
        if info.get("scope") == "global"
    }
    lines = [f"address del {other} dev {ifname}" for other in sorted(have - {wanted}, key=str)]
    if wanted not in have:
        nodad = " nodad" if wanted.version == 6 else ""
        lines.append(f"address add {wanted} dev {ifname}{nodad}")
    ip_batch(namespace, lines)


class Fabric:
    """The bridges and veths of one site (every namespace named ``<prefix>-…``)."""

    def __init__(self, prefix: str) -> None:
        if not PREFIX.fullmatch(prefix):
            raise ValueError(
                f"dataplane prefix {prefix!r}: only letters, digits and underscores are allowed"
            )
        self.prefix = prefix
        self.namespace = f"{prefix}-fab"
        self.controller_namespace = f"{prefix}-ctl"
        # Plugs of one process must not race on a new bridge or on one veth.
        self._lock = threading.Lock()

    def ensure(self) -> None:
        create_namespace(self.namespace)
        write_sysctls(self.namespace, FABRIC_SYSCTLS)

    def _ensure_bridge(self, network_id: str) -> None:
        bridge = bridge_name(network_id)
        try:
            ip_batch(
                self.namespace,
                [
                    f"link add {bridge} address {bridge_mac(network_id)} type bridge"
                    " stp_state 0 forward_delay 0 mcast_snooping 0",
                    f"link set {bridge} up",
                ],
            )
        except NamespaceError:
            if bridge not in links(self.namespace):  # else another process created it
                raise

    def plug(self, plug: PortPlug, namespace: str, ifname: str) -> None:
        """Plug the port into ``namespace`` as ``ifname``, on its network's bridge; plugging
        again repairs whatever is missing or wrong (a port lives in one place only)."""
        veth, bridge = veth_name(plug.port_id), bridge_name(plug.network_id)
        with self._lock:
            if not namespace_exists(self.namespace):
                self.ensure()
            if not namespace_exists(namespace):
                raise NamespaceError(
                    f"cannot plug port {plug.port_id}: namespace {namespace} does not exist"
                )
            fabric = links(self.namespace)
            if bridge not in fabric:
                self._ensure_bridge(plug.network_id)
            outer, peer = fabric.get(veth), links(namespace).get(ifname)
            lines = []
            if outer is None or peer is None or not _paired(outer, peer):
                if peer is not None:  # something else holds the name
                    ip_batch(namespace, [f"link del {ifname}"])
                    outer = links(self.namespace).get(veth)
                if outer is not None:  # the port's veth, plugged elsewhere
                    lines.append(f"link del {veth}")
                lines.append(
                    f"link add {veth} mtu {plug.mtu} type veth peer name {ifname}"
                    f" netns {namespace} address {plug.mac_address} mtu {plug.mtu}"
                )
            lines.append(f"link set {veth} mtu {plug.mtu} master {bridge} up")
            ip_batch(self.namespace, lines)
            ip_batch(
                namespace,
                [f"link set {ifname} address {plug.mac_address} mtu {plug.mtu} up"],
            )

    def unplug(self, port_id: str) -> None:
        """Remove the port's veth (both ends), wherever its peer is."""
        veth = veth_name(port_id)
        with self._lock:
            if not namespace_exists(self.namespace) or veth not in links(self.namespace):
                return
            try:
                ip_batch(self.namespace, [f"link del {veth}"])
            except NamespaceError:
                if veth in links(self.namespace):  # else its namespace went away meanwhile
                    raise

    def attach_controller(self, plug: PortPlug, address_cidr: str) -> str:
        """The controller's namespace, with ``mgmt0`` on the management network at
        ``address_cidr``; its name."""
        create_namespace(self.controller_namespace)
        self.plug(plug, self.controller_namespace, MGMT_IFNAME)
        assign_address(self.controller_namespace, MGMT_IFNAME, address_cidr)
        return self.controller_namespace

    def destroy(self) -> None:
        """Remove every namespace of this site (amphorae, controller, hosts, then the
        fabric), their processes first."""
        mine = [name for name in list_namespaces() if name.startswith(f"{self.prefix}-")]
        delete_namespaces(sorted(mine, key=lambda name: name == self.namespace))
