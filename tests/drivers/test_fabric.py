"""The fabric: ports plugged as veths on per-network bridges, reaching each other and nothing
else, with the MACs and MTUs given; plugging again repairs; unplugging; re-created namespaces
reached at once; the controller's namespace; a site's teardown."""

from __future__ import annotations

import dataclasses
import secrets
import uuid

import pytest

from ostia.drivers.fabric import Fabric, bridge_name, veth_name
from ostia.drivers.netns import (
    NamespaceError,
    create_namespace,
    delete_namespace,
    ip_batch,
    list_namespaces,
    namespace_exists,
)
from tests.drivers.site import host, ip_json, link, new_port, ping


def global_addresses(namespace: str, ifname: str) -> set[str]:
    return {
        f"{info['local']}/{info['prefixlen']}"
        for item in ip_json(namespace, "address", "show", "dev", ifname)
        for info in item["addr_info"]
        if info["scope"] == "global"
    }


def bridge_details(fabric: Fabric, network_id: str) -> dict[str, object]:
    (bridge,) = ip_json(fabric.namespace, "-d", "link", "show", "dev", bridge_name(network_id))
    info = bridge["linkinfo"]["info_data"]
    return {
        "address": bridge["address"],
        "stp_state": info["stp_state"],
        "forward_delay": info["forward_delay"],
    }


def test_two_namespaces_on_one_network_reach_each_other_only(fabric: Fabric) -> None:
    network, other_network = str(uuid.uuid4()), str(uuid.uuid4())
    a, b = new_port(network, mtu=1400), new_port(network, mtu=1400)
    a_ns = host(fabric, "a", a, "10.242.0.11/24")
    b_ns = host(fabric, "b", b, "10.242.0.12/24")
    # Same subnet, other network: not reachable.
    c_ns = host(fabric, "c", new_port(other_network), "10.242.0.13/24")
    assert ping(a_ns, "10.242.0.12")
    assert ping(b_ns, "10.242.0.11")
    assert not ping(a_ns, "10.242.0.13")
    assert not ping(c_ns, "10.242.0.12")

    inner = link(a_ns, "eth0")
    assert inner is not None
    assert (inner["address"], inner["mtu"], "UP" in inner["flags"]) == (a.mac_address, 1400, True)
    outer = link(fabric.namespace, veth_name(a.port_id))
    assert outer is not None
    assert (outer["master"], outer["mtu"]) == (bridge_name(network), 1400)
    assert veth_name(a.port_id) == "v" + a.port_id.replace("-", "")[:11]
    assert bridge_name(network) == "b" + network.replace("-", "")[:11]
    details = bridge_details(fabric, network)
    assert (details["stp_state"], details["forward_delay"]) == (0, 0)
    # The bridge keeps its MAC whatever ports come and go.
    fabric.unplug(a.port_id)
    host(fabric, "d", new_port(network), "10.242.0.14/24")
    assert bridge_details(fabric, network)["address"] == details["address"]


def test_plugging_again_repairs_what_is_missing(fabric: Fabric) -> None:
    network = str(uuid.uuid4())
    a, b = new_port(network), new_port(network)
    a_ns = host(fabric, "a", a, "10.242.0.11/24")
    b_ns = host(fabric, "b", b, "10.242.0.12/24")
    fabric.plug(a, a_ns, "eth0")  # nothing to do
    assert ping(a_ns, "10.242.0.12")

    ip_batch(b_ns, ["link del eth0"])
    ip_batch(fabric.namespace, [f"link set {veth_name(a.port_id)} nomaster"])
    assert not ping(a_ns, "10.242.0.12")
    host(fabric, "b", b, "10.242.0.12/24")
    assert not ping(a_ns, "10.242.0.12")  # a is still off the bridge
    fabric.plug(dataclasses.replace(a, mtu=1300), a_ns, "eth0")
    assert ping(a_ns, "10.242.0.12")
    inner, outer = link(a_ns, "eth0"), link(fabric.namespace, veth_name(a.port_id))
    assert inner is not None and outer is not None
    assert (inner["mtu"], outer["mtu"], inner["address"]) == (1300, 1300, a.mac_address)


def test_a_port_lives_in_one_place(fabric: Fabric) -> None:
    network = str(uuid.uuid4())
    a, b = new_port(network), new_port(network)
    a_ns = host(fabric, "a", a, "10.242.0.11/24")
    b_ns = host(fabric, "b", b, "10.242.0.12/24")
    elsewhere = host(fabric, "e", b, "10.242.0.12/24")
    assert link(b_ns, "eth0") is None
    assert ping(a_ns, "10.242.0.12")
    assert ping(elsewhere, "10.242.0.11")
    # Another port plugged under the same name takes the place.
    host(fabric, "e", a, "10.242.0.11/24")
    assert link(a_ns, "eth0") is None
    moved = link(elsewhere, "eth0")
    assert moved is not None and moved["address"] == a.mac_address
    assert link(fabric.namespace, veth_name(b.port_id)) is None


def test_plugging_into_a_missing_namespace_fails(fabric: Fabric) -> None:
    port = new_port(str(uuid.uuid4()))
    missing = f"{fabric.prefix}-hnone"
    with pytest.raises(NamespaceError, match=f"namespace {missing} does not exist"):
        fabric.plug(port, missing, "eth0")
    assert not namespace_exists(missing)


def test_unplug_removes_both_ends_and_is_idempotent(fabric: Fabric) -> None:
    network = str(uuid.uuid4())
    a, b = new_port(network), new_port(network)
    a_ns = host(fabric, "a", a, "10.242.0.11/24")
    b_ns = host(fabric, "b", b, "10.242.0.12/24")
    assert ping(a_ns, "10.242.0.12")
    fabric.unplug(b.port_id)
    assert link(fabric.namespace, veth_name(b.port_id)) is None
    assert link(b_ns, "eth0") is None
    assert not ping(a_ns, "10.242.0.12")
    fabric.unplug(b.port_id)


def test_a_recreated_namespace_is_reached_at_once(fabric: Fabric) -> None:
    network = str(uuid.uuid4())
    a, b = new_port(network), new_port(network)
    a_ns = host(fabric, "a", a, "10.242.0.11/24")
    b_ns = host(fabric, "b", b, "10.242.0.12/24")
    assert ping(a_ns, "10.242.0.12")
    delete_namespace(b_ns)
    assert host(fabric, "b", b, "10.242.0.12/24") == b_ns
    # a still holds b's MAC from before (a new MAC would be unreachable for seconds).
    (neighbour,) = ip_json(a_ns, "neigh", "show", "10.242.0.12")
    assert (neighbour["lladdr"], neighbour["state"]) == (b.mac_address, ["REACHABLE"])
    assert ping(a_ns, "10.242.0.12")


def test_controller_namespace(fabric: Fabric) -> None:
    network = str(uuid.uuid4())
    controller = new_port(network)
    namespace = fabric.attach_controller(controller, "10.242.0.2/24")
    assert namespace == f"{fabric.prefix}-ctl"
    mgmt = link(namespace, "mgmt0")
    assert mgmt is not None and "UP" in mgmt["flags"]
    assert mgmt["address"] == controller.mac_address
    assert global_addresses(namespace, "mgmt0") == {"10.242.0.2/24"}
    assert fabric.attach_controller(controller, "10.242.0.3/24") == namespace
    assert global_addresses(namespace, "mgmt0") == {"10.242.0.3/24"}
    amphora = host(fabric, "a", new_port(network), "10.242.0.11/24")
    assert ping(amphora, "10.242.0.3")
    assert not ping(amphora, "10.242.0.2")


def test_destroy_removes_its_site_only(fabric: Fabric) -> None:
    neighbour = Fabric(f"{fabric.prefix}x")
    try:
        neighbour.ensure()
        network = str(uuid.uuid4())
        host(fabric, "a", new_port(network), "10.242.0.11/24")
        fabric.attach_controller(new_port(network), "10.242.0.2/24")
        create_namespace(f"{fabric.prefix}-a{secrets.token_hex(6)}")
        host(neighbour, "a", new_port(network), "10.242.0.11/24")
        fabric.destroy()
        assert [name for name in list_namespaces() if name.startswith(f"{fabric.prefix}-")] == []
        assert {f"{neighbour.prefix}-fab", f"{neighbour.prefix}-ha"} <= set(list_namespaces())
        fabric.destroy()
    finally:
        neighbour.destroy()


def test_a_prefix_with_a_dash_is_refused() -> None:
    with pytest.raises(ValueError, match="only letters, digits and underscores"):
        Fabric("ostia-2")
