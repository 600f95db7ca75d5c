"""Load balancers on Ostia's own networks (``managed`` networking): the VIP request checked
as Octavia checks it with its network driver, the VIP port allocated in the load balancer's
transaction, conflicts, and the member subnet check."""

from __future__ import annotations

from typing import Any

import pytest

from ostia.config import Settings
from tests.helpers import (
    OTHER_PROJECT,
    PROJECT,
    Api,
    create_listener,
    create_pool,
    expect,
    fault,
    new_id,
    wait_for_lb,
)
from tests.network.neutron import BASE, addresses, create_network, create_port, create_subnet

LBS = "/v2/lbaas/loadbalancers"


@pytest.fixture
def api(managed: Settings, neutron: Api) -> Api:
    """A cloud admin on an Ostia whose load balancers use its own networks."""
    return neutron


def post_lb(api: Api, **fields: Any) -> Any:
    return api.post(LBS, {"loadbalancer": {"name": "lb", **fields}})


def ports(api: Api) -> list[dict[str, Any]]:
    return list(expect(api.get(f"{BASE}/ports"), 200)["ports"])


def load_balancer_ids(api: Api) -> set[str]:
    return {lb["id"] for lb in expect(api.get(LBS), 200)["loadbalancers"]}


def test_vip_by_subnet_gets_a_port_and_an_address(api: Api) -> None:
    network = create_network(api, name="lb-vip-net")
    subnet = create_subnet(api, network["id"], "10.60.0.0/24", name="lb-vip-subnet")
    lb = expect(post_lb(api, vip_subnet_id=subnet["id"]), 201)["loadbalancer"]
    assert lb["vip_address"] == "10.60.0.2"
    assert lb["vip_subnet_id"] == subnet["id"]
    assert lb["vip_network_id"] == network["id"]
    port = expect(api.get(f"{BASE}/ports/{lb['vip_port_id']}"), 200)["port"]
    assert port["name"] == f"octavia-lb-{lb['id']}"
    assert port["device_owner"] == "Octavia"
    assert port["device_id"] == f"lb-{lb['id']}"
    assert port["admin_state_up"] is False
    assert port["project_id"] == PROJECT
    assert port["fixed_ips"] == [{"subnet_id": subnet["id"], "ip_address": "10.60.0.2"}]
    active = wait_for_lb(api, lb["id"])
    assert (active["vip_address"], active["vip_port_id"]) == ("10.60.0.2", port["id"])
    second = expect(post_lb(api, vip_subnet_id=subnet["id"]), 201)["loadbalancer"]
    assert second["vip_address"] == "10.60.0.3"


def test_requested_address_and_conflict_writes_nothing(api: Api) -> None:
    network = create_network(api)
    subnet = create_subnet(api, network["id"], "10.61.0.0/24")
    lb = expect(post_lb(api, vip_subnet_id=subnet["id"], vip_address="10.61.0.40"), 201)
    assert lb["loadbalancer"]["vip_address"] == "10.61.0.40"
    before = (ports(api), load_balancer_ids(api))
    response = post_lb(api, vip_subnet_id=subnet["id"], vip_address="10.61.0.40")
    assert fault(response, 409) == (
        "The VIP IP address is already in use: IP address 10.61.0.40 already allocated in "
        f"subnet {subnet['id']}"
    )
    assert (ports(api), load_balancer_ids(api)) == before


def test_exhausted_subnet_is_a_conflict(api: Api) -> None:
    network = create_network(api)
    subnet = create_subnet(api, network["id"], "10.62.0.0/30")  # one address: .2
    expect(post_lb(api, vip_subnet_id=subnet["id"]), 201)
    response = post_lb(api, vip_subnet_id=subnet["id"])
    assert fault(response, 409) == (
        "The VIP IP address is already in use: No more IP addresses available for subnet "
        f"{subnet['id']}."
    )


def test_address_outside_the_subnet_is_refused(api: Api) -> None:
    network = create_network(api)
    subnet = create_subnet(api, network["id"], "10.63.0.0/24")
    for address in ("10.64.0.5", "10.63.0.255"):
        response = post_lb(api, vip_subnet_id=subnet["id"], vip_address=address)
        assert fault(response, 400) == (
            f"Validation failure: IP address {address} is not a valid IP for the specified subnet."
        )
    assert ports(api) == []


def test_unknown_subnet_network_and_port(api: Api) -> None:
    missing = new_id()
    assert fault(post_lb(api, vip_subnet_id=missing), 400) == f"Subnet {missing} not found."
    assert fault(post_lb(api, vip_network_id=missing), 400) == f"Network {missing} not found."
    assert fault(post_lb(api, vip_port_id=missing), 400) == f"Port {missing} not found."
    network = create_network(api)
    elsewhere = create_subnet(api, create_network(api)["id"], "10.65.0.0/24")
    response = post_lb(api, vip_network_id=network["id"], vip_subnet_id=elsewhere["id"])
    assert fault(response, 400) == f"Subnet {elsewhere['id']} not found."


def test_vip_by_network_prefers_ipv4_with_room(api: Api) -> None:
    network = create_network(api)
    assert fault(post_lb(api, vip_network_id=network["id"]), 400) == (
        "Validation failure: Supplied network does not contain a subnet."
    )
    v6 = create_subnet(api, network["id"], "2001:db8:66::/64")
    full = create_subnet(api, network["id"], "10.66.0.0/30")
    lb = expect(post_lb(api, vip_network_id=network["id"]), 201)["loadbalancer"]
    assert (lb["vip_subnet_id"], lb["vip_address"]) == (v6["id"], "2001:db8:66::1")
    roomy = create_subnet(api, network["id"], "10.66.1.0/24")
    lb = expect(post_lb(api, vip_network_id=network["id"]), 201)["loadbalancer"]
    assert (lb["vip_subnet_id"], lb["vip_address"]) == (roomy["id"], "10.66.1.2")
    assert full["id"] != lb["vip_subnet_id"]
    lb = expect(post_lb(api, vip_network_id=network["id"], vip_address="10.66.0.2"), 201)
    assert lb["loadbalancer"]["vip_subnet_id"] == full["id"]
    response = post_lb(api, vip_network_id=network["id"], vip_address="10.67.0.2")
    assert fault(response, 400) == (
        "Validation failure: Supplied network does not contain a subnet for VIP address specified."
    )


def test_network_without_room(api: Api) -> None:
    network = create_network(api)
    create_subnet(api, network["id"], "10.68.0.0/30")
    assert fault(post_lb(api, vip_network_id=network["id"]), 400) == (
        "Validation failure: Subnet(s) in the supplied network do not contain enough available IPs."
    )


def test_vip_by_port(api: Api) -> None:
    network = create_network(api)
    subnet = create_subnet(api, network["id"], "10.69.0.0/24")
    port = create_port(api, network["id"], fixed_ips=[{"ip_address": "10.69.0.50"}])
    lb = expect(post_lb(api, vip_port_id=port["id"]), 201)["loadbalancer"]
    assert (lb["vip_port_id"], lb["vip_address"]) == (port["id"], "10.69.0.50")
    assert (lb["vip_subnet_id"], lb["vip_network_id"]) == (subnet["id"], network["id"])
    assert [p["id"] for p in ports(api)] == [port["id"]]

    used = create_port(api, network["id"], device_id="vm-1")
    assert fault(post_lb(api, vip_port_id=used["id"]), 400) == (
        f"Validation failure: Port {used['id']} is already used by device vm-1 "
    )
    response = post_lb(api, vip_port_id=port["id"], vip_address="10.69.0.51")
    assert fault(response, 400) == (
        "Validation failure: Specified VIP address not found on the specified VIP port."
    )
    two = create_port(
        api, network["id"], fixed_ips=[{"subnet_id": subnet["id"]}, {"subnet_id": subnet["id"]}]
    )
    assert fault(post_lb(api, vip_port_id=two["id"]), 400) == (
        "Validation failure: VIP port's subnet could not be determined. Please specify either "
        "a VIP subnet or address."
    )
    lb = expect(post_lb(api, vip_port_id=two["id"], vip_address=addresses(two)[1]), 201)
    assert lb["loadbalancer"]["vip_address"] == addresses(two)[1]
    assert lb["loadbalancer"]["additional_vips"] == [
        {"subnet_id": subnet["id"], "ip_address": addresses(two)[0], "port_id": two["id"]}
    ]


def test_additional_vips_share_the_vip_port(api: Api) -> None:
    network = create_network(api)
    v4 = create_subnet(api, network["id"], "10.70.0.0/24")
    v6 = create_subnet(api, network["id"], "2001:db8:70::/64")
    body = {
        "vip_subnet_id": v4["id"],
        "additional_vips": [{"subnet_id": v6["id"], "ip_address": "2001:db8:70::70"}],
    }
    lb = expect(post_lb(api, **body), 201)["loadbalancer"]
    assert lb["vip_address"] == "10.70.0.2"
    assert lb["additional_vips"] == [
        {"subnet_id": v6["id"], "ip_address": "2001:db8:70::70", "port_id": lb["vip_port_id"]}
    ]
    port = expect(api.get(f"{BASE}/ports/{lb['vip_port_id']}"), 200)["port"]
    assert addresses(port) == ["10.70.0.2", "2001:db8:70::70"]

    elsewhere = create_subnet(api, create_network(api)["id"], "10.71.0.0/24")
    response = post_lb(
        api, vip_subnet_id=v4["id"], additional_vips=[{"subnet_id": elsewhere["id"]}]
    )
    assert fault(response, 400) == (
        "Validation failure: All VIP subnets must belong to the same network."
    )
    response = post_lb(api, vip_subnet_id=v4["id"], additional_vips=[{"subnet_id": v4["id"]}])
    assert fault(response, 400) == (
        "Validation failure: Duplicate VIP subnet(s) specified. Only one IP can be bound per "
        "subnet."
    )


def test_what_this_network_service_does_not_have(api: Api) -> None:
    network = create_network(api)
    subnet = create_subnet(api, network["id"], "10.72.0.0/24")
    response = post_lb(api, vip_subnet_id=subnet["id"], vip_qos_policy_id=new_id())
    assert fault(response, 400) == (
        "Validation failure: VIP QoS policy is not allowed in this deployment."
    )
    group = new_id()
    response = post_lb(api, vip_subnet_id=subnet["id"], vip_sg_ids=[group])
    assert fault(response, 400) == f"Security Group {group} not found."


def test_other_projects_subnets_cannot_be_used(api: Api) -> None:
    owner = api.as_user(PROJECT, "member")
    other = api.as_user(OTHER_PROJECT, "member")
    private = create_subnet(owner, create_network(owner)["id"], "10.73.0.0/24")
    assert fault(post_lb(other, vip_subnet_id=private["id"]), 400) == (
        f"Subnet {private['id']} not found."
    )
    shared = create_network(api, shared=True, tenant_id="ops")
    public = create_subnet(api, shared["id"], "10.74.0.0/24", tenant_id="ops")
    lb = expect(post_lb(other, vip_subnet_id=public["id"]), 201)["loadbalancer"]
    port = expect(api.get(f"{BASE}/ports/{lb['vip_port_id']}"), 200)["port"]
    assert port["project_id"] == OTHER_PROJECT


def test_failed_graph_create_releases_nothing_it_took(api: Api) -> None:
    subnet = create_subnet(api, create_network(api)["id"], "10.75.0.0/24")
    body = {
        "vip_subnet_id": subnet["id"],
        "listeners": [
            {"protocol": "HTTP", "protocol_port": 80, "default_pool": {"name": "nowhere"}}
        ],
    }
    fault(post_lb(api, **body), 400)
    assert ports(api) == []
    lb = expect(post_lb(api, vip_subnet_id=subnet["id"]), 201)["loadbalancer"]
    assert lb["vip_address"] == "10.75.0.2"


def test_member_subnet_must_exist(api: Api) -> None:
    vip_subnet = create_subnet(api, create_network(api)["id"], "10.76.0.0/24")
    members_subnet = create_subnet(api, create_network(api)["id"], "10.77.0.0/24")
    lb = expect(post_lb(api, vip_subnet_id=vip_subnet["id"]), 201)["loadbalancer"]
    wait_for_lb(api, lb["id"])
    listener = create_listener(api, lb["id"])
    pool = create_pool(api, lb["id"], listener_id=listener["id"])
    members = f"/v2/lbaas/pools/{pool['id']}/members"
    missing = new_id()
    body = {"member": {"address": "10.77.0.10", "protocol_port": 80, "subnet_id": missing}}
    assert fault(api.post(members, body), 400) == f"Subnet {missing} not found."
    body["member"]["subnet_id"] = members_subnet["id"]
    member = expect(api.post(members, body), 201)["member"]
    assert member["subnet_id"] == members_subnet["id"]
    wait_for_lb(api, lb["id"])
    batch = {
        "members": [
            {"address": "10.77.0.10", "protocol_port": 80, "subnet_id": members_subnet["id"]},
            {"address": "10.77.0.11", "protocol_port": 80, "subnet_id": missing},
        ]
    }
    assert fault(api.put(members, batch), 400) == f"Subnet {missing} not found."
    listed = expect(api.get(members), 200)["members"]
    assert [m["address"] for m in listed] == ["10.77.0.10"]


def test_deleted_load_balancer_gives_its_vip_back(api: Api) -> None:
    network = create_network(api, name="reuse-net")
    subnet = create_subnet(api, network["id"], "10.61.0.0/29", name="reuse-subnet")
    lb = expect(post_lb(api, vip_subnet_id=subnet["id"], vip_address="10.61.0.5"), 201)
    lb_id = lb["loadbalancer"]["id"]
    wait_for_lb(api, lb_id)
    taken = post_lb(api, vip_subnet_id=subnet["id"], vip_address="10.61.0.5")
    assert "already in use" in fault(taken, 409)
    assert api.delete(f"{LBS}/{lb_id}").status_code == 204
    wait_for_lb(api, lb_id, "DELETED")
    assert all(port["device_id"] != f"lb-{lb_id}" for port in ports(api))
    again = expect(post_lb(api, vip_subnet_id=subnet["id"], vip_address="10.61.0.5"), 201)
    assert again["loadbalancer"]["vip_address"] == "10.61.0.5"
