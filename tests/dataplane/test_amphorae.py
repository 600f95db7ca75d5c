"""Load balancers on real amphorae, through the Octavia API: traffic from a client through the
VIP to member hosts, member changes followed without a failed request, nothing left after a
delete, and an ACTIVE_STANDBY pair that keeps serving when its MASTER dies, then fails over."""

from __future__ import annotations

import contextlib
import http.client
import ipaddress
import os
import signal
from itertools import pairwise
from pathlib import Path
from typing import Any

import pytest

from ostia.agent.haproxy import parse_show_proc, socket_command
from ostia.controller.management import SERVICE_PROJECT_ID
from ostia.db.models import Amphora
from ostia.drivers.fabric import links, veth_name
from ostia.drivers.netns import delete_namespace, ip_json, list_namespaces, namespace_pids
from tests.dataplane.conftest import Site
from tests.dataplane.hosts import MANAGEMENT_CIDR, VIP_CIDR, Traffic, http_get, wait_for
from tests.dataplane.lbs import LBS, amphorae, create_lb, member, namespace, settle, subnets
from tests.helpers import Api, expect


def holds(amphora: Amphora, address: str) -> bool:
    found = ip_json(namespace(amphora), "address", "show", "dev", "vip0")
    return any(info["local"] == address for link in found for info in link["addr_info"])


def reloads(site: Site, amphora: Amphora) -> int:
    """How many times the amphora's HAProxy was reloaded (its master CLI's ``show proc``)."""
    status = parse_show_proc(
        socket_command(site.amphora_dir / amphora.id / "master.sock", "show proc")
    )
    assert status is not None
    return status.reloads


def pool_members(api: Api, lb_id: str) -> dict[str, dict[str, Any]]:
    """The members of the load balancer's (one) pool by name."""
    (pool,) = expect(api.get(f"/v2/lbaas/pools?loadbalancer_id={lb_id}"), 200)["pools"]
    found = expect(api.get(f"/v2/lbaas/pools/{pool['id']}/members"), 200)["members"]
    return {m["name"]: {**m, "pool_id": pool["id"]} for m in found}


def in_range(address: str | None, cidr: str) -> bool:
    return address is not None and ipaddress.ip_address(address) in ipaddress.ip_network(cidr)


def processes_mentioning(text: str) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if text.encode() in (entry / "cmdline").read_bytes():
                    found.append(int(entry.name))
            except OSError:
                continue
    return found


def test_single_amphora_balances_follows_member_changes_and_leaves_nothing(site: Site) -> None:
    api = site.api
    vip_subnet, member_subnet = subnets(api)
    client, _ = site.hosts.add("client", vip_subnet)
    m1, m2, m3 = (site.hosts.member(name, member_subnet) for name in ("m1", "m2", "m3"))
    lb_id = create_lb(
        api,
        vip_subnet,
        [member(m1, member_subnet, name="m1"), member(m2, member_subnet, name="m2")],
    )
    lb = settle(site, lb_id)
    vip = lb["vip_address"]

    (amphora,) = amphorae(site, lb_id)
    assert (amphora.role, amphora.status, amphora.vrrp_priority) == (
        "STANDALONE",
        "ALLOCATED",
        None,
    )
    assert (amphora.ha_ip, amphora.ha_port_id) == (vip, lb["vip_port_id"])
    assert in_range(amphora.lb_network_ip, MANAGEMENT_CIDR) and in_range(amphora.vrrp_ip, VIP_CIDR)
    assert (amphora.vrrp_interface, amphora.vrrp_id) == ("vip0", 1)
    assert amphora.cert_expiration is not None
    (mgmt_net,) = expect(api.get("/network/v2.0/networks?name=lb-mgmt-net"), 200)["networks"]
    assert mgmt_net["project_id"] == SERVICE_PROJECT_ID
    assert [
        s["cidr"]
        for s in expect(api.get(f"/network/v2.0/subnets?network_id={mgmt_net['id']}"), 200)[
            "subnets"
        ]
    ] == [MANAGEMENT_CIDR]
    vrrp_port = expect(api.get(f"/network/v2.0/ports/{amphora.vrrp_port_id}"), 200)["port"]
    assert vrrp_port["name"] == f"octavia-lb-vrrp-{amphora.id}"
    assert vrrp_port["fixed_ips"] == [
        {"subnet_id": vip_subnet["id"], "ip_address": amphora.vrrp_ip}
    ]
    assert vrrp_port["allowed_address_pairs"] == [
        {"ip_address": vip, "mac_address": vrrp_port["mac_address"]}
    ]

    bodies = [http_get(client, vip, 80) for _ in range(6)]
    assert set(bodies) == {"m1", "m2"} and all(a != b for a, b in pairwise(bodies)), bodies

    with Traffic(client, vip, 80) as traffic:
        traffic.next_bodies(5)
        pool_id = pool_members(api, lb_id)["m1"]["pool_id"]
        added = member(m3, member_subnet, name="m3")
        expect(api.post(f"/v2/lbaas/pools/{pool_id}/members", {"member": added}), 201)
        settle(site, lb_id)
        assert set(traffic.next_bodies(9)) == {"m1", "m2", "m3"}
        after_add = reloads(site, amphora)

        members = pool_members(api, lb_id)
        disable = {"member": {"admin_state_up": False}}
        expect(api.put(f"/v2/lbaas/pools/{pool_id}/members/{members['m1']['id']}", disable), 200)
        settle(site, lb_id)
        assert set(traffic.next_bodies(10)) == {"m2", "m3"}

        weight = {"member": {"weight": 0}}
        expect(api.put(f"/v2/lbaas/pools/{pool_id}/members/{members['m2']['id']}", weight), 200)
        settle(site, lb_id)
        assert traffic.next_bodies(10) == ["m3"] * 10
    assert traffic.failures() == [], traffic.failures()[:3]
    # Weight and admin state went through HAProxy's runtime API: no reload.
    assert reloads(site, amphora) == after_add

    expect(api.delete(f"{LBS}/{lb_id}?cascade=true"), 204)
    settle(site, lb_id, "DELETED")
    assert [a.status for a in amphorae(site, lb_id, live=False)] == ["DELETED"]
    assert not [n for n in list_namespaces() if n.startswith(f"{site.fabric.prefix}-a")]
    assert processes_mentioning(amphora.id) == []
    assert list(site.amphora_dir.iterdir()) == []
    ports = expect(api.get("/network/v2.0/ports"), 200)["ports"]
    assert sorted(p["name"] for p in ports) == [
        "host-client",
        "host-m1",
        "host-m2",
        "host-m3",
        "ostia-controller",
    ]
    veths = {name for name, link in links(site.fabric.namespace).items() if name.startswith("v")}
    assert veths == {veth_name(p["id"]) for p in ports}


def test_active_standby_survives_its_master_and_fails_over(site: Site) -> None:
    site.settings.controller.loadbalancer_topology = "ACTIVE_STANDBY"
    api = site.api
    vip_subnet, member_subnet = subnets(api)
    client, _ = site.hosts.add("client", vip_subnet)
    m1, m2 = (site.hosts.member(name, member_subnet) for name in ("m1", "m2"))
    lb_id = create_lb(api, vip_subnet, [member(m1, member_subnet), member(m2, member_subnet)])
    vip = settle(site, lb_id)["vip_address"]

    master, backup = amphorae(site, lb_id)
    assert [(a.role, a.vrrp_priority, a.status) for a in (master, backup)] == [
        ("MASTER", 100, "ALLOCATED"),
        ("BACKUP", 90, "ALLOCATED"),
    ]
    assert master.vrrp_ip != backup.vrrp_ip
    assert holds(master, vip) and not holds(backup, vip)
    assert {http_get(client, vip, 80) for _ in range(4)} == {"m1", "m2"}

    with Traffic(client, vip, 80) as traffic:
        traffic.next_bodies(5)
        # Its agent, HAProxy and keepalived (and a check keepalived may be running, which
        # can end on its own meanwhile).
        for pid in namespace_pids(namespace(master)):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        wait_for(lambda: holds(backup, vip), what="the BACKUP to take the VIP")
        assert None not in traffic.next_bodies(20)
    failures = traffic.failures()
    if failures:
        # keepalived's election: three adverts of 0.1 s, give or take a loaded machine.
        assert failures[-1].at - failures[0].at < 2.0, failures

    expect(api.put(f"{LBS}/{lb_id}/failover"), 202)
    settle(site, lb_id)
    new = amphorae(site, lb_id)
    assert [(a.role, a.status) for a in new] == [("MASTER", "ALLOCATED"), ("BACKUP", "ALLOCATED")]
    assert not {a.id for a in new} & {master.id, backup.id}
    old = [a for a in amphorae(site, lb_id, live=False) if a.id in (master.id, backup.id)]
    assert [a.status for a in old] == ["DELETED", "DELETED"]
    prefix = site.fabric.prefix
    assert sorted(n for n in list_namespaces() if n.startswith(f"{prefix}-a")) == sorted(
        namespace(a) for a in new
    )
    assert [holds(a, vip) for a in new].count(True) == 1
    assert {http_get(client, vip, 80) for _ in range(4)} == {"m1", "m2"}


def test_a_lost_amphora_is_rebuilt_by_the_next_change(site: Site) -> None:
    api = site.api
    vip_subnet, member_subnet = subnets(api)
    client, _ = site.hosts.add("client", vip_subnet)
    m1 = site.hosts.member("m1", member_subnet)
    lb_id = create_lb(api, vip_subnet, [member(m1, member_subnet)])
    vip = settle(site, lb_id)["vip_address"]
    (amphora,) = amphorae(site, lb_id)

    delete_namespace(namespace(amphora))  # its agent and HAProxy with it
    with pytest.raises((OSError, http.client.HTTPException)):
        http_get(client, vip, 80, timeout=1)

    (listener,) = expect(api.get(f"/v2/lbaas/listeners?loadbalancer_id={lb_id}"), 200)["listeners"]
    renamed = {"listener": {"name": "renamed"}}
    expect(api.put(f"/v2/lbaas/listeners/{listener['id']}", renamed), 200)
    settle(site, lb_id)
    (again,) = amphorae(site, lb_id)
    assert (again.id, again.status, again.lb_network_ip) == (
        amphora.id,
        "ALLOCATED",
        amphora.lb_network_ip,
    )
    assert namespace(again) in list_namespaces()
    assert http_get(client, vip, 80) == "m1"
