"""Ports through the network API: fixed IPs from IPAM (first free, requested, taken,
outside the subnet, exhausted; IPv4 and IPv6), updates of fixed IPs, deletes that give
addresses back, lists and their filters."""

from __future__ import annotations

from typing import Any

from tests.helpers import Api, expect, new_id
from tests.network.neutron import BASE, addresses, create_network, create_port, create_subnet, error

PORTS = f"{BASE}/ports"


def post_port(api: Api, network_id: str, **fields: Any) -> Any:
    return api.post(PORTS, {"port": {"network_id": network_id, **fields}})


def test_create_takes_first_free_address_of_each_version(neutron: Api) -> None:
    network_id = create_network(neutron)["id"]
    v4 = create_subnet(neutron, network_id, "10.20.0.0/24")
    v6 = create_subnet(neutron, network_id, "2001:db8:20::/64")
    port = create_port(neutron, network_id, name="p", device_id="vm-1", device_owner="compute:nova")
    assert port["fixed_ips"] == [
        {"subnet_id": v4["id"], "ip_address": "10.20.0.2"},
        {"subnet_id": v6["id"], "ip_address": "2001:db8:20::1"},
    ]
    assert port["mac_address"].startswith("fa:16:3e:")
    assert (port["status"], port["admin_state_up"]) == ("DOWN", True)
    assert (port["device_id"], port["device_owner"]) == ("vm-1", "compute:nova")
    assert port["binding:vnic_type"] == "normal"
    second = create_port(neutron, network_id)
    assert addresses(second) == ["10.20.0.3", "2001:db8:20::2"]
    assert second["mac_address"] != port["mac_address"]
    assert expect(neutron.get(f"{PORTS}/{port['id']}"), 200)["port"] == port


def test_network_without_subnets_gives_a_port_without_addresses(neutron: Api) -> None:
    network_id = create_network(neutron)["id"]
    assert create_port(neutron, network_id)["fixed_ips"] == []


def test_requested_fixed_ips(neutron: Api) -> None:
    network_id = create_network(neutron)["id"]
    subnet = create_subnet(neutron, network_id, "10.21.0.0/24")
    by_both = create_port(
        neutron, network_id, fixed_ips=[{"subnet_id": subnet["id"], "ip_address": "10.21.0.50"}]
    )
    assert addresses(by_both) == ["10.21.0.50"]
    by_address = create_port(neutron, network_id, fixed_ips=[{"ip_address": "10.21.0.200"}])
    assert by_address["fixed_ips"] == [{"subnet_id": subnet["id"], "ip_address": "10.21.0.200"}]
    by_subnet = create_port(neutron, network_id, fixed_ips=[{"subnet_id": subnet["id"]}])
    assert addresses(by_subnet) == ["10.21.0.2"]
    outside_pool = create_port(neutron, network_id, fixed_ips=[{"ip_address": "10.21.0.1"}])
    assert addresses(outside_pool) == ["10.21.0.1"]


def test_requested_address_errors(neutron: Api) -> None:
    network_id = create_network(neutron)["id"]
    subnet = create_subnet(neutron, network_id, "10.22.0.0/24")
    create_port(neutron, network_id, fixed_ips=[{"ip_address": "10.22.0.9"}])

    def refused(status: int, kind: str, fixed: dict[str, str]) -> str:
        return error(post_port(neutron, network_id, fixed_ips=[fixed]), status, kind)

    assert refused(409, "IpAddressAlreadyAllocated", {"ip_address": "10.22.0.9"}) == (
        f"IP address 10.22.0.9 already allocated in subnet {subnet['id']}"
    )
    assert refused(
        400, "InvalidIpForSubnet", {"subnet_id": subnet["id"], "ip_address": "10.99.0.9"}
    ) == ("IP address 10.99.0.9 is not a valid IP for the specified subnet.")
    assert refused(
        400, "InvalidIpForSubnet", {"subnet_id": subnet["id"], "ip_address": "10.22.0.255"}
    ) == ("IP address 10.22.0.255 is not a valid IP for the specified subnet.")
    assert refused(400, "InvalidIpForNetwork", {"ip_address": "10.99.0.9"}) == (
        "IP address 10.99.0.9 is not a valid IP for any of the subnets on the specified network."
    )
    other_subnet = create_subnet(neutron, create_network(neutron)["id"], "10.23.0.0/24")
    assert refused(400, "InvalidInput", {"subnet_id": other_subnet["id"]}) == (
        f"Invalid input for operation: Failed to create port on network {network_id}, "
        f"because fixed_ips included invalid subnet {other_subnet['id']}."
    )
    missing = new_id()
    assert refused(404, "SubnetNotFound", {"subnet_id": missing}) == (
        f"Subnet {missing} could not be found."
    )
    assert refused(400, "HTTPBadRequest", {"ip_address": "ten"}) == (
        "Invalid input for fixed_ips. Reason: 'ten' is not a valid IP address."
    )
    assert error(post_port(neutron, network_id, fixed_ips=[{}]), 400, "InvalidInput") == (
        "Invalid input for operation: IP allocation requires subnet_id or ip_address."
    )


def test_exhausted_subnet_and_network(neutron: Api) -> None:
    network_id = create_network(neutron)["id"]
    subnet = create_subnet(neutron, network_id, "10.24.0.0/29")  # .2 to .6
    taken = [addresses(create_port(neutron, network_id))[0] for _ in range(5)]
    assert taken == [f"10.24.0.{i}" for i in range(2, 7)]
    response = post_port(neutron, network_id, fixed_ips=[{"subnet_id": subnet["id"]}])
    assert error(response, 409, "IpAddressGenerationFailure") == (
        f"No more IP addresses available for subnet {subnet['id']}."
    )
    assert error(post_port(neutron, network_id), 409, "IpAddressGenerationFailure") == (
        f"No more IP addresses available on network {network_id}."
    )
    spill = create_subnet(neutron, network_id, "10.24.1.0/29")
    assert create_port(neutron, network_id)["fixed_ips"] == [
        {"subnet_id": spill["id"], "ip_address": "10.24.1.2"}
    ]


def test_ipv6_requested_address_is_stored_canonical(neutron: Api) -> None:
    network_id = create_network(neutron)["id"]
    subnet = create_subnet(neutron, network_id, "2001:db8:25::/64")
    port = create_port(neutron, network_id, fixed_ips=[{"ip_address": "2001:DB8:25:0::0:10"}])
    assert port["fixed_ips"] == [{"subnet_id": subnet["id"], "ip_address": "2001:db8:25::10"}]
    response = post_port(neutron, network_id, fixed_ips=[{"ip_address": "2001:db8:25::10"}])
    error(response, 409, "IpAddressAlreadyAllocated")
    response = post_port(neutron, network_id, fixed_ips=[{"ip_address": "2001:db8:25::"}])
    error(response, 400, "InvalidIpForNetwork")


def test_delete_gives_the_addresses_back(neutron: Api) -> None:
    network_id = create_network(neutron)["id"]
    create_subnet(neutron, network_id, "10.26.0.0/24")
    first = create_port(neutron, network_id)
    assert addresses(first) == ["10.26.0.2"]
    assert expect(neutron.delete(f"{PORTS}/{first['id']}"), 204) is None
    error(neutron.get(f"{PORTS}/{first['id']}"), 404, "PortNotFound")
    assert addresses(create_port(neutron, network_id)) == ["10.26.0.2"]
    missing = new_id()
    assert error(neutron.delete(f"{PORTS}/{missing}"), 404, "PortNotFound") == (
        f"Port {missing} could not be found."
    )


def test_update_fixed_ips_keeps_releases_and_takes(neutron: Api) -> None:
    network_id = create_network(neutron)["id"]
    subnet = create_subnet(neutron, network_id, "10.27.0.0/24")
    port = create_port(
        neutron,
        network_id,
        fixed_ips=[{"ip_address": "10.27.0.10"}, {"ip_address": "10.27.0.11"}],
    )
    path = f"{PORTS}/{port['id']}"
    body = {"port": {"fixed_ips": [{"subnet_id": subnet["id"]}, {"ip_address": "10.27.0.10"}]}}
    updated = expect(neutron.put(path, body), 200)["port"]
    assert addresses(updated) == ["10.27.0.11", "10.27.0.10"]
    body = {"port": {"fixed_ips": [{"ip_address": "10.27.0.11"}, {"ip_address": "10.27.0.30"}]}}
    updated = expect(neutron.put(path, body), 200)["port"]
    assert addresses(updated) == ["10.27.0.11", "10.27.0.30"]
    freed = create_port(neutron, network_id, fixed_ips=[{"ip_address": "10.27.0.10"}])
    assert addresses(freed) == ["10.27.0.10"]
    taken = {"port": {"fixed_ips": [{"ip_address": "10.27.0.10"}]}}
    error(neutron.put(path, taken), 409, "IpAddressAlreadyAllocated")
    assert addresses(expect(neutron.get(path), 200)["port"]) == ["10.27.0.11", "10.27.0.30"]
    cleared = expect(neutron.put(path, {"port": {"fixed_ips": []}}), 200)["port"]
    assert cleared["fixed_ips"] == []


def test_update_other_attributes(neutron: Api) -> None:
    network_id = create_network(neutron)["id"]
    create_subnet(neutron, network_id, "10.28.0.0/24")
    port = create_port(neutron, network_id)
    body = {
        "port": {
            "name": "renamed",
            "admin_state_up": False,
            "device_id": "lb-1",
            "mac_address": "FA:16:3E:00:00:01",
            "allowed_address_pairs": [{"ip_address": "10.28.0.100"}],
        }
    }
    updated = expect(neutron.put(f"{PORTS}/{port['id']}", body), 200)["port"]
    assert (updated["name"], updated["admin_state_up"], updated["device_id"]) == (
        "renamed",
        False,
        "lb-1",
    )
    assert updated["mac_address"] == "fa:16:3e:00:00:01"
    assert updated["allowed_address_pairs"] == [
        {"ip_address": "10.28.0.100", "mac_address": "fa:16:3e:00:00:01"}
    ]
    assert addresses(updated) == addresses(port)
    response = post_port(neutron, network_id, mac_address="fa:16:3e:00:00:01")
    assert error(response, 409, "MacAddressInUse") == (
        f"Unable to complete operation for network {network_id}. The mac address "
        "fa:16:3e:00:00:01 is in use."
    )
    response = neutron.put(f"{PORTS}/{port['id']}", {"port": {"network_id": network_id}})
    assert error(response, 400, "HTTPBadRequest") == "Cannot update read-only attribute network_id"


def test_create_on_unknown_network(neutron: Api) -> None:
    missing = new_id()
    assert error(post_port(neutron, missing), 404, "NetworkNotFound") == (
        f"Network {missing} could not be found."
    )
    response = neutron.post(PORTS, {"port": {"name": "x"}})
    assert error(response, 400, "HTTPBadRequest") == (
        "Failed to parse request. Required attribute 'network_id' not specified"
    )


def test_list_filters(neutron: Api) -> None:
    network_id = create_network(neutron)["id"]
    subnet = create_subnet(neutron, network_id, "10.29.0.0/24")
    other_subnet = create_subnet(neutron, network_id, "10.30.0.0/24")
    a = create_port(
        neutron,
        network_id,
        name="a",
        device_id="lb-1",
        device_owner="Octavia",
        fixed_ips=[{"subnet_id": subnet["id"]}],
    )
    b = create_port(neutron, network_id, name="b", fixed_ips=[{"subnet_id": other_subnet["id"]}])

    def ids(query: str) -> list[str]:
        return [p["id"] for p in expect(neutron.get(f"{PORTS}?{query}"), 200)["ports"]]

    assert sorted(ids("")) == sorted([a["id"], b["id"]])
    assert ids("device_id=lb-1") == [a["id"]]
    assert ids("device_owner=Octavia&name=a") == [a["id"]]
    assert ids(f"fixed_ips=subnet_id%3D{subnet['id']}") == [a["id"]]
    assert ids("fixed_ips=ip_address%3D10.30.0.2") == [b["id"]]
    assert ids(f"network_id={network_id}&name=b") == [b["id"]]
    assert ids(f"mac_address={a['mac_address']}") == [a["id"]]
    body = expect(neutron.get(f"{PORTS}?name=a&fields=id&fields=fixed_ips"), 200)
    assert body == {"ports": [{"id": a["id"], "fixed_ips": a["fixed_ips"]}]}
    error(neutron.get(f"{PORTS}?fixed_ips=mac%3Dx"), 400, "HTTPBadRequest")
