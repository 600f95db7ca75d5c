"""What this machine's own network uses, so that no cloud or management subnet overlaps it.

A cloud subnet overlapping the host's addresses, routes or DNS servers would not break the
host (cloud addresses live only in namespaces), but it would make those host destinations
unreachable from amphorae and confuse anyone reading addresses; it is refused.
"""

from __future__ import annotations

import ipaddress
import json
import subprocess
from ipaddress import IPv4Network, IPv6Network
from pathlib import Path
from typing import Any

RESOLV_CONF = Path("/etc/resolv.conf")
IP_TIMEOUT = 10.0

HostNetwork = tuple[str, IPv4Network | IPv6Network]


class UnsafeNetwork(ValueError):
    """A range overlaps something this machine uses."""


def _ip_json(*args: str) -> list[dict[str, Any]]:
    result = subprocess.run(
        ["ip", "-j", *args], capture_output=True, text=True, timeout=IP_TIMEOUT, check=True
    )
    return list(json.loads(result.stdout or "[]"))


def _addresses() -> list[HostNetwork]:
    return [
        ("address", ipaddress.ip_interface(f"{info['local']}/{info['prefixlen']}").network)
        for link in _ip_json("address", "show")
        if "LOOPBACK" not in link.get("flags", [])
        for info in link.get("addr_info", [])
    ]


def _routes() -> list[HostNetwork]:
    found: list[HostNetwork] = []
    for family in ("-4", "-6"):
        for route in _ip_json(family, "route", "show", "table", "all"):
            if route["dst"] == "default" or route.get("dev") == "lo":
                continue
            if route.get("type") == "multicast":
                continue
            found.append(("route", ipaddress.ip_network(route["dst"])))
    return found


def _dns_servers() -> list[HostNetwork]:
    try:
        lines = RESOLV_CONF.read_text().splitlines()
    except OSError:
        return []
    found: list[HostNetwork] = []
    for line in lines:
        words = line.split()
        if len(words) >= 2 and words[0] == "nameserver":
            try:
                found.append(("DNS server", ipaddress.ip_network(words[1].partition("%")[0])))
            except ValueError:
                continue
    return found


def host_networks() -> list[HostNetwork]:
    """Every network this machine's root namespace uses: its interfaces' addresses (not the
    loopback's), its routes (not default or loopback ones) and its DNS servers. Read from the
    calling thread's namespace, so never call it inside ``ostia.drivers.netns.inside``."""
    return [*_addresses(), *_routes(), *_dns_servers()]


def check_disjoint(cidr: str, what: str) -> None:
    """Refuse ``cidr`` if it overlaps any of ``host_networks()``."""
    network = ipaddress.ip_network(cidr, strict=False)
    for kind, used in host_networks():
        if used.version == network.version and used.overlaps(network):
            raise UnsafeNetwork(
                f"{what} {cidr} overlaps this machine's {kind} {used}: choose another range"
            )
