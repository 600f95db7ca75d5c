"""Networks through the network API: create, show, list (filters, fields, sorting, pages),
update, delete, tags, and Neutron's answers to bad requests."""

from __future__ import annotations

from tests.helpers import PROJECT, Api, expect, new_id
from tests.network.neutron import BASE, create_network, create_subnet, error

NETWORKS = f"{BASE}/networks"


def test_create_shows_neutron_defaults(neutron: Api) -> None:
    network = create_network(neutron, name="lb-vip-net")
    assert network["name"] == "lb-vip-net"
    assert network["project_id"] == network["tenant_id"] == PROJECT
    assert network["admin_state_up"] is True
    assert network["shared"] is False
    assert network["status"] == "ACTIVE"
    assert network["mtu"] == 1500
    assert network["port_security_enabled"] is True
    assert network["subnets"] == []
    assert network["description"] == ""
    assert network["tags"] == []
    assert network["created_at"].endswith("Z")
    shown = expect(neutron.get(f"{NETWORKS}/{network['id']}"), 200)["network"]
    assert shown == network


def test_create_with_attributes(neutron: Api) -> None:
    network = create_network(
        neutron,
        name="n",
        description="d",
        admin_state_up="false",
        shared=True,
        mtu=9000,
        port_security_enabled=False,
        tags=["b", "a"],
    )
    assert (network["description"], network["admin_state_up"], network["shared"]) == (
        "d",
        False,
        True,
    )
    assert (network["mtu"], network["port_security_enabled"]) == (9000, False)
    assert network["tags"] == ["a", "b"]


def test_show_with_fields_and_unknown_network(neutron: Api) -> None:
    network = create_network(neutron)
    shown = expect(neutron.get(f"{NETWORKS}/{network['id']}?fields=id&fields=name"), 200)
    assert shown == {"network": {"id": network["id"], "name": "net"}}
    missing = new_id()
    message = error(neutron.get(f"{NETWORKS}/{missing}"), 404, "NetworkNotFound")
    assert message == f"Network {missing} could not be found."


def test_list_filters_on_attributes(neutron: Api) -> None:
    a = create_network(neutron, name="alpha")
    b = create_network(neutron, name="beta", shared=True)
    create_network(neutron, name="gamma")

    def names(query: str) -> list[str]:
        body = expect(neutron.get(f"{NETWORKS}?{query}"), 200)
        assert "networks_links" not in body
        return sorted(n["name"] for n in body["networks"])

    assert names("") == ["alpha", "beta", "gamma"]
    assert names("name=alpha") == ["alpha"]
    assert names("name=alpha&name=beta") == ["alpha", "beta"]
    assert names(f"id={b['id']}") == ["beta"]
    assert names(f"id={a['id']}&name=beta") == []
    assert names("shared=True") == ["beta"]
    assert names("shared=false") == ["alpha", "gamma"]
    assert names(f"project_id={PROJECT}") == ["alpha", "beta", "gamma"]
    assert names("tenant_id=someone-else") == []


def test_list_fields_sorting_and_pages(neutron: Api) -> None:
    for name in ("c", "a", "b"):
        create_network(neutron, name=name)
    body = expect(neutron.get(f"{NETWORKS}?fields=name&sort_key=name&sort_dir=desc"), 200)
    assert body["networks"] == [{"name": "c"}, {"name": "b"}, {"name": "a"}]

    first = expect(neutron.get(f"{NETWORKS}?limit=2&sort_key=name&sort_dir=asc"), 200)
    assert [n["name"] for n in first["networks"]] == ["a", "b"]
    links = {link["rel"]: link["href"] for link in first["networks_links"]}
    assert links["next"].startswith("http://testserver/network/v2.0/networks?")
    following = expect(neutron.get(links["next"].removeprefix("http://testserver")), 200)
    assert [n["name"] for n in following["networks"]] == ["c"]
    assert [link["rel"] for link in following["networks_links"]] == ["previous"]


def test_list_refuses_unknown_filters_and_sort_keys(neutron: Api) -> None:
    message = error(neutron.get(f"{NETWORKS}?color=red"), 400, "HTTPBadRequest")
    assert message == "['color'] is invalid attribute for filtering"
    message = error(neutron.get(f"{NETWORKS}?sort_key=color&sort_dir=asc"), 400, "HTTPBadRequest")
    assert message == "['color'] is invalid attribute for sort_keys"
    message = error(neutron.get(f"{NETWORKS}?sort_key=name"), 400, "HTTPBadRequest")
    assert message == "The number of sort_keys and sort_dirs must be same"
    message = error(neutron.get(f"{NETWORKS}?sort_key=name&sort_dir=up"), 400, "HTTPBadRequest")
    assert message == "['up'] is invalid value for sort_dirs, valid value is 'asc' and 'desc'"


def test_create_refuses_bad_attributes(neutron: Api) -> None:
    def refused(body: dict[str, object]) -> str:
        return error(neutron.post(NETWORKS, {"network": body}), 400, "HTTPBadRequest")

    assert refused({"name": "x", "color": "red"}) == "Unrecognized attribute(s) 'color'"
    assert refused({"status": "DOWN"}) == "Attribute 'status' not allowed in POST"
    assert refused({"admin_state_up": "maybe"}) == (
        "Invalid input for admin_state_up. Reason: 'maybe' cannot be converted to boolean."
    )
    assert refused({"name": "x" * 256}) == (
        f"Invalid input for name. Reason: '{'x' * 256}' exceeds maximum length of 255."
    )
    assert refused({"mtu": "big"}) == "Invalid input for mtu. Reason: 'big' is not an integer."
    assert refused({"project_id": "a", "tenant_id": "b"}) == (
        "'project_id' and 'tenant_id' do not match"
    )


def test_create_without_any_project_is_refused(neutron: Api) -> None:
    response = neutron.client.post(NETWORKS, json={"network": {"name": "x"}})
    assert error(response, 400, "HTTPBadRequest") == (
        "Running without keystone AuthN requires that project_id is specified"
    )


def test_admin_creates_for_another_project(neutron: Api) -> None:
    network = create_network(neutron, tenant_id="other-project")
    assert network["project_id"] == "other-project"


def test_update(neutron: Api) -> None:
    network = create_network(neutron)
    body = {"network": {"name": "renamed", "admin_state_up": False, "mtu": 1400}}
    updated = expect(neutron.put(f"{NETWORKS}/{network['id']}", body), 200)["network"]
    assert (updated["name"], updated["admin_state_up"], updated["mtu"]) == ("renamed", False, 1400)
    assert expect(neutron.get(f"{NETWORKS}/{network['id']}"), 200)["network"] == updated
    response = neutron.put(f"{NETWORKS}/{network['id']}", {"network": {"project_id": "x"}})
    assert error(response, 400, "HTTPBadRequest") == "Cannot update read-only attribute project_id"
    missing = new_id()
    response = neutron.put(f"{NETWORKS}/{missing}", {"network": {"name": "x"}})
    assert error(response, 404, "NetworkNotFound") == f"Network {missing} could not be found."


def test_delete_takes_its_subnets_along(neutron: Api) -> None:
    network = create_network(neutron)
    subnet = create_subnet(neutron, network["id"], "10.0.0.0/24")
    assert expect(neutron.delete(f"{NETWORKS}/{network['id']}"), 204) is None
    error(neutron.get(f"{NETWORKS}/{network['id']}"), 404, "NetworkNotFound")
    error(neutron.get(f"{BASE}/subnets/{subnet['id']}"), 404, "SubnetNotFound")
    error(neutron.delete(f"{NETWORKS}/{network['id']}"), 404, "NetworkNotFound")


def test_delete_in_use_is_refused(neutron: Api) -> None:
    network = create_network(neutron)
    expect(neutron.post(f"{BASE}/ports", {"port": {"network_id": network["id"]}}), 201)
    message = error(neutron.delete(f"{NETWORKS}/{network['id']}"), 409, "NetworkInUse")
    assert message == (
        f"Unable to complete operation on network {network['id']}. There are one or more "
        "ports still in use on the network."
    )


def test_tags(neutron: Api) -> None:
    network = create_network(neutron)
    tags = f"{NETWORKS}/{network['id']}/tags"
    assert expect(neutron.put(tags, {"tags": ["red", "blue"]}), 200) == {"tags": ["blue", "red"]}
    assert expect(neutron.put(f"{tags}/green"), 201) is None
    assert expect(neutron.get(tags), 200) == {"tags": ["blue", "green", "red"]}
    listed = expect(neutron.get(f"{NETWORKS}?tags=green"), 200)["networks"]
    assert [n["id"] for n in listed] == [network["id"]]
    assert expect(neutron.get(f"{NETWORKS}?not-tags=green"), 200)["networks"] == []
    assert expect(neutron.delete(f"{tags}/red"), 204) is None
    error(neutron.delete(f"{tags}/red"), 404, "HTTPNotFound")
    assert expect(neutron.delete(tags), 204) is None
    assert expect(neutron.get(f"{NETWORKS}/{network['id']}"), 200)["network"]["tags"] == []
    error(neutron.get(f"{BASE}/routers/{network['id']}/tags"), 404, "HTTPNotFound")
