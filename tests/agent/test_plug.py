"""Plugging the VIP and member networks: addresses, routes and source routing inside the
amphora's namespace, found by MAC address, idempotent; Octavia's codes and bodies."""

from __future__ import annotations

from typing import Any

from tests.agent.lab import (
    SUBNETS,
    VIP_ADDRESS,
    VIP_GATEWAY,
    Lab,
    member_mac,
    vip_mac,
)


def _vip_body(**overrides: Any) -> dict[str, Any]:
    return {
        "subnet_cidr": SUBNETS["vip"],
        "gateway": VIP_GATEWAY,
        "mac_address": vip_mac(1),
        "vrrp_ip": "10.241.1.11",
        "host_routes": [{"destination": "10.242.0.0/24", "nexthop": "10.241.1.254"}],
        "mtu": 1450,
        **overrides,
    }


def _routes(net: Lab, ns: str, table: str) -> set[tuple[str, str | None, str | None]]:
    return {
        (route["dst"], route.get("gateway"), route.get("prefsrc"))
        for route in net.query(ns, "route", "show", "table", table)
    }


def _rules(net: Lab, ns: str) -> list[tuple[str, str, int]]:
    return sorted(
        (rule["src"], rule["table"], rule["priority"])
        for rule in net.query(ns, "rule", "show")
        if rule["table"] == "1"
    )


def test_plug_vip_single_configures_vip_and_source_routing(net: Lab) -> None:
    agent = net.amphora("a1", 1)
    ns = net.ns("a1")

    status, body = agent.client.call("POST", f"/1.0/plug/vip/{VIP_ADDRESS}", _vip_body())
    assert (status, body) == (
        202,
        {"message": "OK", "details": f"VIPs plugged on interface vip0: {VIP_ADDRESS}"},
    )
    assert net.addresses(ns, "vip0") == {"10.241.1.11/24", f"{VIP_ADDRESS}/32"}
    assert net.query(ns, "link", "show", "vip0")[0]["mtu"] == 1450
    assert _routes(net, ns, "1") == {
        ("default", VIP_GATEWAY, None),
        ("10.241.1.0/24", None, VIP_ADDRESS),
        ("10.242.0.0/24", "10.241.1.254", None),
    }
    main = _routes(net, ns, "main")
    assert ("default", VIP_GATEWAY, None) in main
    assert ("10.242.0.0/24", "10.241.1.254", None) in main
    expected_rules = [("10.241.1.100", "1", 100), ("10.241.1.11", "1", 100)]
    assert _rules(net, ns) == expected_rules

    # Plugging again changes nothing.
    assert agent.client.call("POST", f"/1.0/plug/vip/{VIP_ADDRESS}", _vip_body())[0] == 202
    assert net.addresses(ns, "vip0") == {"10.241.1.11/24", f"{VIP_ADDRESS}/32"}
    assert _rules(net, ns) == expected_rules

    assert agent.client.call("GET", f"/1.0/interface/{VIP_ADDRESS}") == (
        200,
        {"message": "OK", "interface": "vip0"},
    )


def test_plug_vip_active_standby_leaves_the_vip_to_keepalived(net: Lab) -> None:
    agent = net.amphora("a1", 1, topology="ACTIVE_STANDBY")
    ns = net.ns("a1")
    assert agent.client.call("POST", f"/1.0/plug/vip/{VIP_ADDRESS}", _vip_body())[0] == 202
    assert net.addresses(ns, "vip0") == {"10.241.1.11/24"}
    assert _rules(net, ns) == []
    assert ("default", VIP_GATEWAY, None) in _routes(net, ns, "main")


def test_plug_vip_errors(net: Lab) -> None:
    agent = net.amphora("a1", 1)
    unknown_mac = _vip_body(mac_address="fa:16:3e:99:99:99")
    assert agent.client.call("POST", f"/1.0/plug/vip/{VIP_ADDRESS}", unknown_mac) == (
        404,
        {"details": "No suitable network interface found"},
    )
    assert agent.client.call("POST", f"/1.0/plug/vip/{VIP_ADDRESS}", {"gateway": None}) == (
        400,
        {"error": "400 Bad Request: Invalid subnet information", "http_code": 400},
    )
    status, body = agent.client.call("POST", "/1.0/plug/vip/10.241.1.300", _vip_body())
    assert status == 400 and body["message"].startswith("Invalid VIP: ")
    status, body = agent.client.call(
        "POST", f"/1.0/plug/vip/{VIP_ADDRESS}", _vip_body(vrrp_ip="nope")
    )
    assert status == 400 and body["message"].startswith("Invalid VRRP Address: ")


def test_plug_network_sets_exactly_the_fixed_ips(net: Lab) -> None:
    agent = net.amphora("a1", 1)
    ns = net.ns("a1")
    port = {
        "mac_address": member_mac(1),
        "fixed_ips": [
            {
                "ip_address": "10.241.2.11",
                "subnet_cidr": SUBNETS["member"],
                "host_routes": [{"destination": "10.243.0.0/16", "nexthop": "10.241.2.1"}],
            }
        ],
        "mtu": 1400,
    }
    status, body = agent.client.call("POST", "/1.0/plug/network", port)
    assert (status, body) == (202, {"message": "OK", "details": "Plugged on interface m0"})
    assert net.addresses(ns, "m0") == {"10.241.2.11/24"}
    assert ("10.243.0.0/16", "10.241.2.1", None) in _routes(net, ns, "main")
    assert agent.client.call("GET", "/1.0/interface/10.241.2.11")[1]["interface"] == "m0"

    port["fixed_ips"] = [{"ip_address": "10.241.2.12", "subnet_cidr": SUBNETS["member"]}]
    assert agent.client.call("POST", "/1.0/plug/network", port)[0] == 202
    assert net.addresses(ns, "m0") == {"10.241.2.12/24"}
    assert agent.client.call("GET", "/1.0/interface/10.241.2.11") == (
        404,
        {"message": "Error interface not found for IP address"},
    )
    assert agent.client.call("GET", "/1.0/interface/not-an-ip") == (
        400,
        {"message": "Invalid IP address"},
    )
    bad = {"mac_address": member_mac(1), "fixed_ips": [{"ip_address": "10.241.2.999"}]}
    assert agent.client.call("POST", "/1.0/plug/network", bad) == (
        400,
        {"message": "Invalid network port"},
    )
    assert agent.client.call("POST", "/1.0/plug/network", {"fixed_ips": []}) == (
        400,
        {"error": "400 Bad Request: Invalid port information", "http_code": 400},
    )
