"""Who sees and changes what: admins see every project; members see their project's
networks, subnets and ports, shared networks and their subnets, and the ports on their
networks; what they cannot see does not exist; writes need the member role."""

from __future__ import annotations

from tests.helpers import OTHER_PROJECT, PROJECT, Api, expect
from tests.network.neutron import BASE, create_network, create_port, create_subnet, error


def ids(api: Api, collection: str) -> set[str]:
    return {item["id"] for item in expect(api.get(f"{BASE}/{collection}"), 200)[collection]}


def test_members_see_their_project_and_shared_networks(neutron: Api) -> None:
    member = neutron.as_user(PROJECT, "member")
    other = neutron.as_user(OTHER_PROJECT, "member")
    own = create_network(member, name="own")
    own_subnet = create_subnet(member, own["id"], "10.40.0.0/24")
    shared = create_network(neutron, name="shared", shared=True, tenant_id="ops")
    shared_subnet = create_subnet(neutron, shared["id"], "10.41.0.0/24", tenant_id="ops")
    theirs = create_network(other, name="theirs")
    their_subnet = create_subnet(other, theirs["id"], "10.42.0.0/24")

    assert ids(member, "networks") == {own["id"], shared["id"]}
    assert ids(member, "subnets") == {own_subnet["id"], shared_subnet["id"]}
    assert ids(other, "networks") == {theirs["id"], shared["id"]}
    assert ids(neutron, "networks") == {own["id"], shared["id"], theirs["id"]}
    assert ids(neutron, "subnets") == {own_subnet["id"], shared_subnet["id"], their_subnet["id"]}

    error(member.get(f"{BASE}/networks/{theirs['id']}"), 404, "NetworkNotFound")
    error(member.get(f"{BASE}/subnets/{their_subnet['id']}"), 404, "SubnetNotFound")
    error(member.delete(f"{BASE}/networks/{theirs['id']}"), 404, "NetworkNotFound")
    response = member.post(
        f"{BASE}/subnets",
        {"subnet": {"network_id": theirs["id"], "cidr": "10.43.0.0/24", "ip_version": 4}},
    )
    error(response, 404, "NetworkNotFound")
    expect(member.get(f"{BASE}/networks/{shared['id']}"), 200)


def test_shared_networks_are_used_not_changed_by_others(neutron: Api) -> None:
    member = neutron.as_user(PROJECT, "member")
    shared = create_network(neutron, shared=True, tenant_id="ops")
    subnet = create_subnet(neutron, shared["id"], "10.44.0.0/24", tenant_id="ops")
    response = member.put(f"{BASE}/networks/{shared['id']}", {"network": {"name": "mine"}})
    assert error(response, 403, "PolicyNotAuthorized") == (
        "rule:update_network is disallowed by policy"
    )
    response = member.post(
        f"{BASE}/subnets",
        {"subnet": {"network_id": shared["id"], "cidr": "10.45.0.0/24", "ip_version": 4}},
    )
    assert error(response, 403, "PolicyNotAuthorized") == (
        "rule:create_subnet is disallowed by policy"
    )
    response = member.delete(f"{BASE}/subnets/{subnet['id']}")
    assert error(response, 403, "PolicyNotAuthorized") == (
        "rule:delete_subnet is disallowed by policy"
    )
    port = create_port(member, shared["id"])
    assert port["project_id"] == PROJECT
    response = member.post(
        f"{BASE}/ports",
        {"port": {"network_id": shared["id"], "fixed_ips": [{"ip_address": "10.44.0.99"}]}},
    )
    assert error(response, 403, "PolicyNotAuthorized") == (
        "(rule:create_port and rule:create_port:fixed_ips:ip_address) is disallowed by policy"
    )


def test_ports_are_seen_by_their_owner_and_the_network_owner(neutron: Api) -> None:
    owner = neutron.as_user(PROJECT, "member")
    other = neutron.as_user(OTHER_PROJECT, "member")
    shared = create_network(owner, shared=False)
    create_subnet(owner, shared["id"], "10.46.0.0/24")
    expect(neutron.put(f"{BASE}/networks/{shared['id']}", {"network": {"shared": True}}), 200)
    theirs = create_port(other, shared["id"])
    mine = create_port(owner, shared["id"])
    assert ids(owner, "ports") == {theirs["id"], mine["id"]}
    assert ids(other, "ports") == {theirs["id"]}
    error(other.get(f"{BASE}/ports/{mine['id']}"), 404, "PortNotFound")
    expect(owner.delete(f"{BASE}/ports/{theirs['id']}"), 204)


def test_only_admins_share_and_members_write(neutron: Api) -> None:
    member = neutron.as_user(PROJECT, "member")
    reader = neutron.as_user(PROJECT, "reader")
    response = member.post(f"{BASE}/networks", {"network": {"name": "x", "shared": True}})
    assert error(response, 403, "PolicyNotAuthorized") == (
        "(rule:create_network and rule:create_network:shared) is disallowed by policy"
    )
    own = create_network(member, shared=False)
    response = member.put(f"{BASE}/networks/{own['id']}", {"network": {"shared": False}})
    assert error(response, 403, "PolicyNotAuthorized") == (
        "(rule:update_network and rule:update_network:shared) is disallowed by policy"
    )
    response = reader.post(f"{BASE}/networks", {"network": {"name": "x"}})
    assert error(response, 403, "PolicyNotAuthorized") == (
        "rule:create_network is disallowed by policy"
    )
    assert ids(reader, "networks") == {own["id"]}
    response = reader.put(f"{BASE}/networks/{own['id']}/tags", {"tags": ["a"]})
    error(response, 403, "PolicyNotAuthorized")
    response = member.post(f"{BASE}/networks", {"network": {"project_id": OTHER_PROJECT}})
    assert error(response, 400, "HTTPBadRequest") == (
        "Specifying 'project_id' other than the authenticated project in request is not "
        "allowed for the current user."
    )
    response = member.post(
        f"{BASE}/ports", {"port": {"network_id": own["id"], "mac_address": "fa:16:3e:00:00:09"}}
    )
    assert error(response, 403, "PolicyNotAuthorized") == (
        "(rule:create_port and rule:create_port:mac_address) is disallowed by policy"
    )
