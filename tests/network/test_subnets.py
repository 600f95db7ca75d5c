"""Subnets through the network API: Neutron's defaults (gateway, allocation pools) for IPv4
and IPv6, the checks on cidr, gateway and pools, updates, deletes, lists."""

from __future__ import annotations

from typing import Any

from tests.helpers import Api, expect, new_id
from tests.network.neutron import BASE, create_network, create_port, create_subnet, error

SUBNETS = f"{BASE}/subnets"


def post_subnet(api: Api, network_id: str, **fields: Any) -> Any:
    return api.post(SUBNETS, {"subnet": {"network_id": network_id, "ip_version": 4, **fields}})


def test_ipv4_defaults(neutron: Api) -> None:
    network = create_network(neutron)
    subnet = create_subnet(neutron, network["id"], "10.1.0.0/24", name="lb-vip-subnet")
    assert subnet["cidr"] == "10.1.0.0/24"
    assert subnet["ip_version"] == 4
    assert subnet["gateway_ip"] == "10.1.0.1"
    assert subnet["allocation_pools"] == [{"start": "10.1.0.2", "end": "10.1.0.254"}]
    assert subnet["enable_dhcp"] is True
    assert subnet["network_id"] == network["id"]
    assert (subnet["dns_nameservers"], subnet["host_routes"]) == ([], [])
    shown = expect(neutron.get(f"{BASE}/networks/{network['id']}"), 200)["network"]
    assert shown["subnets"] == [subnet["id"]]
    assert expect(neutron.get(f"{SUBNETS}/{subnet['id']}"), 200)["subnet"] == subnet


def test_ipv6_defaults_gateway_is_the_subnet_router_address(neutron: Api) -> None:
    network = create_network(neutron)
    subnet = create_subnet(neutron, network["id"], "2001:DB8:0:1::/64")
    assert subnet["cidr"] == "2001:db8:0:1::/64"
    assert subnet["ip_version"] == 6
    assert subnet["gateway_ip"] == "2001:db8:0:1::"
    assert subnet["allocation_pools"] == [
        {"start": "2001:db8:0:1::1", "end": "2001:db8:0:1:ffff:ffff:ffff:ffff"}
    ]


def test_cidr_is_made_canonical(neutron: Api) -> None:
    network = create_network(neutron)
    subnet = create_subnet(neutron, network["id"], "10.2.0.77/24")
    assert subnet["cidr"] == "10.2.0.0/24"


def test_gateway_choices_shape_the_pools(neutron: Api) -> None:
    network = create_network(neutron)
    middle = create_subnet(neutron, network["id"], "10.3.0.0/28", gateway_ip="10.3.0.7")
    assert middle["allocation_pools"] == [
        {"start": "10.3.0.1", "end": "10.3.0.6"},
        {"start": "10.3.0.8", "end": "10.3.0.14"},
    ]
    none = create_subnet(neutron, network["id"], "10.3.1.0/29", gateway_ip=None)
    assert none["gateway_ip"] is None
    assert none["allocation_pools"] == [{"start": "10.3.1.1", "end": "10.3.1.6"}]
    given = create_subnet(
        neutron,
        network["id"],
        "10.3.2.0/24",
        allocation_pools=[{"start": "10.3.2.100", "end": "10.3.2.110"}],
        dns_nameservers=["10.3.2.53"],
        host_routes=[{"destination": "10.9.0.0/16", "nexthop": "10.3.2.254"}],
        enable_dhcp=False,
    )
    assert given["allocation_pools"] == [{"start": "10.3.2.100", "end": "10.3.2.110"}]
    assert given["dns_nameservers"] == ["10.3.2.53"]
    assert given["host_routes"] == [{"destination": "10.9.0.0/16", "nexthop": "10.3.2.254"}]
    assert given["enable_dhcp"] is False


def test_attribute_errors(neutron: Api) -> None:
    network_id = create_network(neutron)["id"]

    def refused(status: int, kind: str, **fields: Any) -> str:
        return error(post_subnet(neutron, network_id, **fields), status, kind)

    assert refused(400, "HTTPBadRequest", cidr="10.0.0.0/33") == (
        "Invalid input for cidr. Reason: '10.0.0.0/33' is not a valid IP subnet."
    )
    assert refused(400, "HTTPBadRequest", cidr="10.0.0.0/24", ip_version=5) == (
        "Invalid input for ip_version. Reason: 5 is not in [4, 6]."
    )
    response = neutron.post(SUBNETS, {"subnet": {"network_id": network_id, "cidr": "10.0.0.0/24"}})
    assert error(response, 400, "HTTPBadRequest") == (
        "Failed to parse request. Required attribute 'ip_version' not specified"
    )
    assert refused(400, "BadRequest") == (
        "Bad subnets request: A cidr must be specified in the absence of a subnet pool."
    )
    assert refused(400, "InvalidInput", cidr="2001:db8::/64") == (
        "Invalid input for operation: cidr '2001:db8::/64' does not match the ip_version '4'."
    )
    assert refused(400, "InvalidInput", cidr="10.0.0.0/24", gateway_ip="10.0.0.255") == (
        "Invalid input for operation: Gateway is not valid on subnet."
    )
    assert refused(400, "InvalidInput", cidr="10.0.0.0/31") == (
        "Invalid input for operation: Subnet has a prefix length that is incompatible with "
        "DHCP service enabled."
    )
    assert refused(400, "InvalidInput", cidr="10.0.0.0/24", ipv6_ra_mode="slaac") == (
        "Invalid input for operation: ipv6_ra_mode is not valid when ip_version is 4."
    )
    missing = new_id()
    response = post_subnet(neutron, missing, cidr="10.0.0.0/24")
    assert error(response, 404, "NetworkNotFound") == f"Network {missing} could not be found."


def test_pool_errors(neutron: Api) -> None:
    network_id = create_network(neutron)["id"]

    def refused(status: int, kind: str, pools: list[dict[str, str]], **fields: Any) -> str:
        response = post_subnet(
            neutron, network_id, cidr="10.4.0.0/24", allocation_pools=pools, **fields
        )
        return error(response, status, kind)

    assert refused(
        400, "OutOfBoundsAllocationPool", [{"start": "10.4.0.0", "end": "10.4.0.9"}]
    ) == ("The allocation pool 10.4.0.0-10.4.0.9 spans beyond the subnet cidr 10.4.0.0/24.")
    overlapping = [
        {"start": "10.4.0.10", "end": "10.4.0.20"},
        {"start": "10.4.0.15", "end": "10.4.0.30"},
    ]
    assert refused(409, "OverlappingAllocationPools", overlapping) == (
        "Found overlapping allocation pools: 10.4.0.10-10.4.0.20 10.4.0.15-10.4.0.30 for "
        "subnet 10.4.0.0/24."
    )
    assert refused(
        409, "GatewayConflictWithAllocationPools", [{"start": "10.4.0.1", "end": "10.4.0.9"}]
    ) == ("Gateway ip 10.4.0.1 conflicts with allocation pool 10.4.0.1-10.4.0.9.")
    assert refused(
        400, "InvalidAllocationPool", [{"start": "10.4.0.9", "end": "10.4.0.2"}]
    ).startswith("The allocation pool ")
    assert refused(400, "HTTPBadRequest", [{"start": "10.4.0.9"}]) == (
        "Invalid input for allocation_pools. Reason: Invalid data format for IP pool: "
        "'{'start': '10.4.0.9'}'."
    )


def test_overlapping_subnets_on_one_network_are_refused(neutron: Api) -> None:
    network_id = create_network(neutron)["id"]
    create_subnet(neutron, network_id, "10.5.0.0/24")
    response = post_subnet(neutron, network_id, cidr="10.5.0.128/25")
    assert error(response, 400, "InvalidInput") == (
        f"Invalid input for operation: Requested subnet with cidr: 10.5.0.128/25 for network: "
        f"{network_id} overlaps with another subnet."
    )
    other = create_network(neutron)["id"]
    create_subnet(neutron, other, "10.5.0.0/24")


def test_update(neutron: Api) -> None:
    network_id = create_network(neutron)["id"]
    subnet = create_subnet(neutron, network_id, "10.6.0.0/24")
    path = f"{SUBNETS}/{subnet['id']}"
    body = {
        "subnet": {
            "name": "renamed",
            "gateway_ip": "10.6.0.254",
            "allocation_pools": [{"start": "10.6.0.10", "end": "10.6.0.20"}],
        }
    }
    updated = expect(neutron.put(path, body), 200)["subnet"]
    assert updated["name"] == "renamed"
    assert updated["gateway_ip"] == "10.6.0.254"
    assert updated["allocation_pools"] == [{"start": "10.6.0.10", "end": "10.6.0.20"}]
    response = neutron.put(path, {"subnet": {"gateway_ip": "10.6.0.15"}})
    assert error(response, 409, "GatewayConflictWithAllocationPools") == (
        "Gateway ip 10.6.0.15 conflicts with allocation pool 10.6.0.10-10.6.0.20."
    )
    response = neutron.put(path, {"subnet": {"cidr": "10.7.0.0/24"}})
    assert error(response, 400, "HTTPBadRequest") == "Cannot update read-only attribute cidr"


def test_delete_and_in_use(neutron: Api) -> None:
    network_id = create_network(neutron)["id"]
    subnet = create_subnet(neutron, network_id, "10.8.0.0/24")
    port = create_port(neutron, network_id)
    path = f"{SUBNETS}/{subnet['id']}"
    assert error(neutron.delete(path), 409, "SubnetInUse") == (
        f"Unable to complete operation on subnet {subnet['id']}: One or more ports have an IP "
        "allocation from this subnet."
    )
    expect(neutron.delete(f"{BASE}/ports/{port['id']}"), 204)
    assert expect(neutron.delete(path), 204) is None
    assert error(neutron.get(path), 404, "SubnetNotFound") == (
        f"Subnet {subnet['id']} could not be found."
    )


def test_list_filters(neutron: Api) -> None:
    first = create_network(neutron)["id"]
    second = create_network(neutron)["id"]
    v4 = create_subnet(neutron, first, "10.9.0.0/24", name="lb-vip-subnet")
    v6 = create_subnet(neutron, first, "2001:db8:9::/64", name="six")
    other = create_subnet(neutron, second, "10.10.0.0/24", name="web-server-subnet")

    def ids(query: str) -> set[str]:
        return {s["id"] for s in expect(neutron.get(f"{SUBNETS}?{query}"), 200)["subnets"]}

    assert ids("") == {v4["id"], v6["id"], other["id"]}
    assert ids(f"network_id={first}") == {v4["id"], v6["id"]}
    assert ids("ip_version=6") == {v6["id"]}
    assert ids("name=lb-vip-subnet") == {v4["id"]}
    assert ids(f"id={other['id']}") == {other["id"]}
    assert ids("cidr=10.10.0.0/24") == {other["id"]}
    assert ids("enable_dhcp=false") == set()
