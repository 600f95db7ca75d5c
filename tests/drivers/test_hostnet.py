"""Host safety: what this machine uses (addresses, routes, DNS servers) is listed, a range
overlapping it is refused with the overlap named, and the network API refuses such a subnet in
managed networking."""

from __future__ import annotations

import ipaddress
import json
import subprocess
from pathlib import Path

import httpx
import pytest

from ostia.config import Settings
from ostia.network import hostnet
from ostia.network.hostnet import UnsafeNetwork, check_disjoint, host_networks
from tests.drivers.site import RANGE
from tests.helpers import Api, expect
from tests.network.neutron import BASE, create_network, error


def host_interfaces() -> list[ipaddress.IPv4Interface | ipaddress.IPv6Interface]:
    """The root namespace's addresses, loopback excepted, read here without hostnet."""
    result = subprocess.run(
        ["ip", "-j", "address", "show"], capture_output=True, text=True, timeout=30, check=True
    )
    return [
        ipaddress.ip_interface(f"{info['local']}/{info['prefixlen']}")
        for item in json.loads(result.stdout)
        if item["ifname"] != "lo"
        for info in item["addr_info"]
    ]


def host_ipv4() -> ipaddress.IPv4Interface:
    found = [i for i in host_interfaces() if isinstance(i, ipaddress.IPv4Interface)]
    if not found:
        pytest.skip("this machine has no IPv4 address besides the loopback")
    return found[0]


def dns_servers() -> list[str]:
    lines = Path("/etc/resolv.conf").read_text().splitlines()
    return [line.split()[1] for line in lines if line.startswith("nameserver")]


def test_host_networks_are_addresses_routes_and_dns_servers() -> None:
    used = host_networks()
    for interface in host_interfaces():
        assert ("address", interface.network) in used
    assert {kind for kind, _ in used} <= {"address", "route", "DNS server"}
    assert all(network.prefixlen > 0 for _, network in used), "a default route is listed"
    assert not any(network.is_loopback for _, network in used)
    for server in dns_servers():
        assert ("DNS server", ipaddress.ip_network(server.partition("%")[0])) in used


def test_the_host_address_range_is_refused() -> None:
    interface = host_ipv4()
    with pytest.raises(UnsafeNetwork) as refused:
        check_disjoint(str(interface.network), "subnet")
    assert str(refused.value) == (
        f"subnet {interface.network} overlaps this machine's address {interface.network}: "
        "choose another range"
    )
    with pytest.raises(UnsafeNetwork, match="overlaps this machine's address"):
        check_disjoint(f"{interface.ip}/32", "subnet")


def test_dns_servers_are_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for server in dns_servers():
        with pytest.raises(UnsafeNetwork, match="overlaps this machine's"):
            check_disjoint(server.partition("%")[0], "management network")
    resolv_conf = tmp_path / "resolv.conf"
    resolv_conf.write_text("# a comment\nsearch example.org\nnameserver 10.242.255.53\n")
    monkeypatch.setattr(hostnet, "RESOLV_CONF", resolv_conf)
    with pytest.raises(UnsafeNetwork) as refused:
        check_disjoint("10.242.255.0/24", "management network")
    assert str(refused.value) == (
        "management network 10.242.255.0/24 overlaps this machine's DNS server "
        "10.242.255.53/32: choose another range"
    )


def test_a_free_range_is_accepted() -> None:
    used = [network for _, network in host_networks()]
    free = ipaddress.ip_network(RANGE)
    if any(network.version == 4 and network.overlaps(free) for network in used):
        pytest.skip(f"{RANGE} is used by this machine")
    check_disjoint("10.242.7.0/24", "subnet")
    check_disjoint("10.242.0.0/16", "subnet")


@pytest.fixture
def managed(settings: Settings) -> Settings:
    settings.networking.mode = "managed"
    return settings


def post_subnet(api: Api, network_id: str, cidr: str) -> httpx.Response:
    return api.post(
        f"{BASE}/subnets", {"subnet": {"network_id": network_id, "cidr": cidr, "ip_version": 4}}
    )


def test_the_network_api_refuses_a_subnet_of_this_machine(managed: Settings, api: Api) -> None:
    interface = host_ipv4()
    network = create_network(api)
    message = error(post_subnet(api, network["id"], str(interface.network)), 400, "InvalidInput")
    assert message == (
        f"Invalid input for operation: subnet {interface.network} overlaps this machine's "
        f"address {interface.network}: choose another range."
    )
    assert expect(api.get(f"{BASE}/subnets"), 200)["subnets"] == []
    expect(post_subnet(api, network["id"], "10.242.7.0/24"), 201)


def test_noop_networking_does_not_check_the_host(api: Api) -> None:
    network = create_network(api)
    expect(post_subnet(api, network["id"], str(host_ipv4().network)), 201)
