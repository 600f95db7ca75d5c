"""Changes to a running load balancer under traffic: a member deleted, the pool's algorithm
changed, listeners added and deleted beside a listener that keeps serving, each without a
failed request. The data plane is the same whatever the database: these run on SQLite only."""

from __future__ import annotations

from typing import Any

import pytest

from tests.dataplane.conftest import Site
from tests.dataplane.hosts import Traffic, http_get
from tests.dataplane.lbs import LBS, create_lb, member, settle, subnets
from tests.helpers import expect

pytestmark = pytest.mark.parametrize("database", ["sqlite"], indirect=True)


def test_member_delete_and_algorithm_changes_keep_every_request(site: Site) -> None:
    api = site.api
    vip_subnet, member_subnet = subnets(api)
    client, _ = site.hosts.add("client", vip_subnet)
    other_client, _ = site.hosts.add("client2", vip_subnet)
    addresses = {name: site.hosts.member(name, member_subnet) for name in ("m1", "m2", "m3")}
    lb_id = create_lb(
        api, vip_subnet, [member(address, member_subnet) for address in addresses.values()]
    )
    vip = settle(site, lb_id)["vip_address"]
    (pool,) = expect(api.get(f"/v2/lbaas/pools?loadbalancer_id={lb_id}"), 200)["pools"]
    members = expect(api.get(f"/v2/lbaas/pools/{pool['id']}/members"), 200)["members"]
    m3 = next(m for m in members if m["address"] == addresses["m3"])

    with Traffic(client, vip, 80) as traffic:
        assert set(traffic.next_bodies(9)) == {"m1", "m2", "m3"}
        expect(api.delete(f"/v2/lbaas/pools/{pool['id']}/members/{m3['id']}"), 204)
        settle(site, lb_id)
        assert set(traffic.next_bodies(10)) == {"m1", "m2"}

        source_ip = {"pool": {"lb_algorithm": "SOURCE_IP"}}
        expect(api.put(f"/v2/lbaas/pools/{pool['id']}", source_ip), 200)
        settle(site, lb_id)
        # One client address, one member, connection after connection.
        assert len(set(traffic.next_bodies(10))) == 1
        assert len({http_get(other_client, vip, 80) for _ in range(10)}) == 1

        least = {"pool": {"lb_algorithm": "LEAST_CONNECTIONS"}}
        expect(api.put(f"/v2/lbaas/pools/{pool['id']}", least), 200)
        settle(site, lb_id)
        assert set(traffic.next_bodies(10)) == {"m1", "m2"}
    assert traffic.failures() == [], traffic.failures()[:3]
    assert len(traffic.answers) >= 40
    found = expect(api.get(f"/v2/lbaas/pools/{pool['id']}"), 200)["pool"]
    assert (found["lb_algorithm"], found["provisioning_status"]) == ("LEAST_CONNECTIONS", "ACTIVE")
    assert len(found["members"]) == 2


def add_listener(
    site: Site, lb_id: str, protocol: str, port: int, member_body: dict[str, Any]
) -> str:
    """A listener with a pool of one member, added to a running load balancer as a client
    does it (the API takes no children with a listener); its id, once the load balancer is
    ACTIVE again."""
    api = site.api
    body = {"loadbalancer_id": lb_id, "protocol": protocol, "protocol_port": port}
    listener = expect(api.post("/v2/lbaas/listeners", {"listener": body}), 201)["listener"]
    settle(site, lb_id)
    body = {"listener_id": listener["id"], "protocol": protocol, "lb_algorithm": "ROUND_ROBIN"}
    pool = expect(api.post("/v2/lbaas/pools", {"pool": body}), 201)["pool"]
    settle(site, lb_id)
    expect(api.post(f"/v2/lbaas/pools/{pool['id']}/members", {"member": member_body}), 201)
    settle(site, lb_id)
    return str(listener["id"])


def test_listeners_added_and_deleted_beside_one_that_keeps_serving(site: Site) -> None:
    api = site.api
    vip_subnet, member_subnet = subnets(api)
    client, _ = site.hosts.add("client", vip_subnet)
    m1, m2 = (site.hosts.member(name, member_subnet) for name in ("m1", "m2"))
    lb_id = create_lb(api, vip_subnet, [member(m1, member_subnet)])
    vip = settle(site, lb_id)["vip_address"]

    with Traffic(client, vip, 80) as traffic:
        traffic.next_bodies(5)
        added = {}
        for protocol, port in (("TCP", 81), ("HTTP", 8081)):
            added[port] = add_listener(site, lb_id, protocol, port, member(m2, member_subnet))
            assert http_get(client, vip, port) == "m2"
        assert set(traffic.next_bodies(5)) == {"m1"}

        for port, listener_id in added.items():
            expect(api.delete(f"/v2/lbaas/listeners/{listener_id}"), 204)
            settle(site, lb_id)
            with pytest.raises(ConnectionRefusedError):
                http_get(client, vip, port)
        assert set(traffic.next_bodies(5)) == {"m1"}
    assert traffic.failures() == [], traffic.failures()[:3]

    listeners = expect(api.get(f"/v2/lbaas/listeners?loadbalancer_id={lb_id}"), 200)["listeners"]
    assert [(li["protocol"], li["protocol_port"]) for li in listeners] == [("HTTP", 80)]
    lb = expect(api.get(f"{LBS}/{lb_id}"), 200)["loadbalancer"]
    assert lb["provisioning_status"] == "ACTIVE"
