"""The amphora's interfaces, configured with ``ip`` in the agent's own network namespace.

The compute and network drivers place each port's interface in the namespace with the port's
MAC address; the agent finds it by MAC and gives it addresses and routes, as Octavia's agent does
through its interface files:

- the VIP interface: the VRRP (base port) address, a default route via the VIP subnet's gateway,
  the subnet's host routes; when the agent owns the VIP (SINGLE), also the VIP itself and source
  routing: table 1 with the VIP subnet route and the default route, rules ``from <VIP>`` and
  ``from <VRRP address>`` to table 1, so replies from the VIP leave through the VIP interface.
  In ACTIVE_STANDBY keepalived adds and removes the VIP, its table 1 routes and its rule.
- a member network interface: exactly its fixed addresses (others are removed), host routes.

Every change is one ``ip -batch`` of ``replace`` commands (rules are added only when missing),
so plugging twice changes nothing. Gratuitous ARPs announce addresses that may have moved here
from another amphora.
"""

from __future__ import annotations

import ipaddress
import json
import socket
import struct
import subprocess
from dataclasses import dataclass, field
from typing import Any

IpAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IpNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

SOURCE_TABLE = 1
RULE_PRIORITY = 100
ETH_P_ARP = 0x0806


class IpError(Exception):
    """An ``ip`` command failed; the message is its output."""


@dataclass(frozen=True)
class HostRoute:
    destination: IpNetwork
    nexthop: IpAddress


@dataclass(frozen=True)
class Subnet:
    """An address on a subnet, with that subnet's gateway and host routes."""

    address: IpAddress
    network: IpNetwork
    gateway: IpAddress | None = None
    host_routes: tuple[HostRoute, ...] = field(default_factory=tuple)


def gratuitous_arp(ifname: str, address: ipaddress.IPv4Address) -> None:
    """Broadcast a gratuitous ARP request for ``address`` from ``ifname`` (with its MAC, as
    the socket bound to it gives it), so that neighbours holding another MAC for it (the
    amphora this one replaces) update at once."""
    with socket.socket(socket.AF_PACKET, socket.SOCK_RAW) as sock:
        sock.bind((ifname, 0))
        hardware = sock.getsockname()[4]
        frame = (
            b"\xff" * 6
            + hardware
            + struct.pack("!HHHBBH", ETH_P_ARP, 1, 0x0800, 6, 4, 1)
            + hardware
            + address.packed
            + b"\x00" * 6
            + address.packed
        )
        sock.send(frame)


def _host(address: IpAddress) -> str:
    return f"{address}/{address.max_prefixlen}"


def _default(address: IpAddress) -> str:
    return "default" if address.version == 4 else "::/0"


class Ip:
    def __init__(self, command: str = "ip") -> None:
        self._command = command

    def run(self, *args: str, input_text: str | None = None) -> str:
        result = subprocess.run(
            [self._command, *args],
            input=input_text,
            capture_output=True,
            text=True,
            timeout=30,
        )
        if result.returncode != 0:
            raise IpError((result.stderr or result.stdout).strip())
        return result.stdout

    def query(self, *args: str) -> Any:
        return json.loads(self.run("-j", *args) or "[]")

    def batch(self, commands: list[str]) -> None:
        if commands:
            self.run("-batch", "-", input_text="\n".join(commands) + "\n")

    def links(self) -> list[dict[str, Any]]:
        return list(self.query("-s", "link", "show"))

    def link_by_mac(self, mac: str) -> str | None:
        mac = mac.lower()
        for link in self.links():
            if str(link.get("address", "")).lower() == mac:
                return str(link["ifname"])
        return None

    def addresses(self) -> list[tuple[str, IpAddress, int]]:
        """(interface, address, prefix length) of every global address."""
        found = []
        for link in self.query("address", "show"):
            for info in link.get("addr_info", []):
                if info.get("scope") == "global":
                    address = ipaddress.ip_address(info["local"])
                    found.append((str(link["ifname"]), address, int(info["prefixlen"])))
        return found

    def interface_of(self, address: IpAddress) -> str | None:
        for ifname, local, _ in self.addresses():
            if local == address:
                return ifname
        return None

    def announce(self, addresses: list[IpAddress]) -> list[str]:
        """Send a gratuitous ARP for each local IPv4 address of the list; returns them.
        (IPv6 neighbour advertisements are not sent.)"""
        local = {address: ifname for ifname, address, _ in self.addresses()}
        announced = []
        for address in dict.fromkeys(addresses):
            ifname = local.get(address)
            if isinstance(address, ipaddress.IPv4Address) and ifname is not None:
                gratuitous_arp(ifname, address)
                announced.append(str(address))
        return announced

    def counters(self) -> dict[str, dict[str, int]]:
        """Bytes sent and received per interface, as Octavia's ``networks`` detail."""
        return {
            str(link["ifname"]): {
                "network_tx": int(link["stats64"]["tx"]["bytes"]),
                "network_rx": int(link["stats64"]["rx"]["bytes"]),
            }
            for link in self.links()
            if link.get("link_type") != "loopback" and "stats64" in link
        }

    def remove_addresses(self, addresses: set[IpAddress]) -> list[str]:
        """Delete these addresses wherever they are; returns what was deleted."""
        commands = [
            f"address del {local}/{prefixlen} dev {ifname}"
            for ifname, local, prefixlen in self.addresses()
            if local in addresses
        ]
        self.batch(commands)
        return commands

    def _missing_rules(self, sources: list[IpAddress]) -> list[str]:
        present = set()
        for family in {source.version for source in sources}:
            for rule in self.query(f"-{family}", "rule", "show"):
                if str(rule.get("table")) == str(SOURCE_TABLE) and "src" in rule:
                    present.add(ipaddress.ip_address(rule["src"]))
        return [
            f"rule add from {_host(source)} table {SOURCE_TABLE} priority {RULE_PRIORITY}"
            for source in dict.fromkeys(sources)
            if source not in present
        ]

    def plug_vip(
        self,
        ifname: str,
        vips: list[Subnet],
        vrrp: IpAddress | None,
        mtu: int | None,
        own_vip: bool,
    ) -> None:
        """Configure the VIP interface (see the module's docstring)."""
        primary = vips[0]
        commands = [f"link set dev {ifname}" + (f" mtu {mtu}" if mtu else "") + " up"]
        connected: list[IpNetwork] = []
        if vrrp is not None:
            commands.append(f"address replace {vrrp}/{primary.network.prefixlen} dev {ifname}")
            connected.append(primary.network)
        gateways: set[int] = set()
        for vip in vips:
            if vip.network not in connected:
                commands.append(f"route replace {vip.network} dev {ifname} scope link")
                connected.append(vip.network)
            if vip.gateway is not None and vip.address.version not in gateways:
                gateways.add(vip.address.version)
                commands.append(
                    f"route replace {_default(vip.address)} via {vip.gateway} dev {ifname} onlink"
                )
            for route in vip.host_routes:
                commands.append(
                    f"route replace {route.destination} via {route.nexthop} dev {ifname} onlink"
                )
        sources: list[IpAddress] = []
        if own_vip:
            for vip in vips:
                commands.append(f"address replace {_host(vip.address)} dev {ifname}")
                table = f"table {SOURCE_TABLE}"
                commands.append(
                    f"route replace {vip.network} dev {ifname} src {vip.address} scope link {table}"
                )
                if vip.gateway is not None:
                    commands.append(
                        f"route replace {_default(vip.address)} via {vip.gateway}"
                        f" dev {ifname} onlink {table}"
                    )
                for route in vip.host_routes:
                    commands.append(
                        f"route replace {route.destination} via {route.nexthop}"
                        f" dev {ifname} onlink {table}"
                    )
                sources.append(vip.address)
            if vrrp is not None:
                sources.append(vrrp)
        # One batch: the addresses and routes, then the source rules not there yet.
        self.batch(commands + self._missing_rules(sources))
        if isinstance(vrrp, ipaddress.IPv4Address):
            # The address may have belonged to another amphora (another MAC) a moment ago.
            gratuitous_arp(ifname, vrrp)

    def plug_network(self, ifname: str, fixed_ips: list[Subnet], mtu: int | None) -> None:
        """Configure a member network interface with exactly these addresses."""
        commands = [f"link set dev {ifname}" + (f" mtu {mtu}" if mtu else "") + " up"]
        wanted = {(ip.address, ip.network.prefixlen) for ip in fixed_ips}
        for name, local, prefixlen in self.addresses():
            if name == ifname and (local, prefixlen) not in wanted:
                commands.append(f"address del {local}/{prefixlen} dev {ifname}")
        for ip in fixed_ips:
            commands.append(f"address replace {ip.address}/{ip.network.prefixlen} dev {ifname}")
            for route in ip.host_routes:
                commands.append(
                    f"route replace {route.destination} via {route.nexthop} dev {ifname} onlink"
                )
        self.batch(commands)
