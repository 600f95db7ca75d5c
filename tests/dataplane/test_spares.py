"""The spare amphora pool on real amphorae: the pool fills with READY amphorae that the admin
API lists (no load balancer, no role) and whose heartbeats arrive; a create claims spares
instead of booting (SINGLE and ACTIVE_STANDBY, whose spares are told their topology) and
traffic flows through the VIP; the pool refills; deleting the load balancer leaves the spares
running; a dead spare is removed and replaced; a failed amphora's replacement is a spare. SQLite only: the claims are tested on every
database in tests/integration/test_spare_claims.py."""

from __future__ import annotations

from typing import Any

import pytest

from ostia.config import Settings
from ostia.drivers.netns import list_namespaces
from tests.dataplane.conftest import Site
from tests.dataplane.hosts import http_get, wait_for
from tests.dataplane.lbs import LBS, amphorae, create_lb, member, namespace, settle, subnets
from tests.dataplane.test_failover_auto import (
    AMPHORAE,
    await_replacement,
    heard,
    kill_everything,
)
from tests.helpers import expect

pytestmark = pytest.mark.parametrize("database", ["sqlite"], indirect=True)

POOL = 2
# Boots of the pool on a loaded machine, one after the other: generous.
FILLED_WITHIN = 90.0


@pytest.fixture
def settings(settings: Settings) -> Settings:
    settings.house_keeping.spare_amphora_pool_size = POOL
    settings.health.heartbeat_timeout = 3.0
    return settings


def spares(site: Site) -> list[dict[str, Any]]:
    """The amphorae the admin API lists without a load balancer."""
    found = expect(site.api.get(AMPHORAE), 200)["amphorae"]
    return [a for a in found if a["loadbalancer_id"] is None]


def full_pool(site: Site, without: set[str] = frozenset()) -> dict[str, dict[str, Any]] | None:
    """The spares once the pool holds POOL READY ones, heard from, none of ``without``."""
    found = {a["id"]: a for a in spares(site)}
    if len(found) != POOL or set(found) & without:
        return None
    if any(a["status"] != "READY" for a in found.values()) or not heard(site, list(found)):
        return None
    return found


def await_pool(site: Site, without: set[str] = frozenset()) -> dict[str, dict[str, Any]]:
    return dict(
        wait_for(lambda: full_pool(site, without), FILLED_WITHIN, what="the spare pool to fill")
    )


def serve(site: Site, members: int) -> tuple[str, str, str]:
    """A load balancer of ``members`` members, ACTIVE, each member answering through its
    VIP; (its id, a client's namespace, the VIP)."""
    api = site.api
    vip_subnet, member_subnet = subnets(api)
    client, _ = site.hosts.add("client", vip_subnet)
    names = [f"m{i + 1}" for i in range(members)]
    addresses = [site.hosts.member(name, member_subnet) for name in names]
    lb_id = create_lb(api, vip_subnet, [member(a, member_subnet) for a in addresses])
    vip = settle(site, lb_id)["vip_address"]
    bodies = {http_get(client, vip, 80) for _ in range(2 * members)}
    assert bodies == set(names)
    return lb_id, client, vip


def test_a_create_claims_a_spare_the_pool_refills_and_outlives_the_lb(site: Site) -> None:
    pool = await_pool(site)
    for spare in pool.values():
        assert spare["role"] is None and spare["vrrp_port_id"] is None
        assert spare["lb_network_ip"] and spare["cert_expiration"]
        assert spare["compute_id"] in list_namespaces()

    lb_id, _, _ = serve(site, members=2)
    (amphora,) = amphorae(site, lb_id)
    assert amphora.id in pool
    assert (amphora.role, amphora.status, amphora.vrrp_priority) == (
        "STANDALONE",
        "ALLOCATED",
        None,
    )

    refilled = await_pool(site, without={amphora.id})
    left = set(pool) - {amphora.id}
    assert left <= set(refilled)
    expect(site.api.delete(f"{LBS}/{lb_id}?cascade=true"), 204)
    settle(site, lb_id, "DELETED")
    assert namespace(amphora) not in list_namespaces()
    assert full_pool(site) == refilled
    assert {a["compute_id"] for a in refilled.values()} <= set(list_namespaces())


def test_an_active_standby_pair_is_made_of_spares(site: Site) -> None:
    pool = await_pool(site)
    # The spares were booted for the default topology, SINGLE: the claim tells them.
    site.settings.controller.loadbalancer_topology = "ACTIVE_STANDBY"
    lb_id, _, _ = serve(site, members=2)
    master, backup = amphorae(site, lb_id)
    assert {master.id, backup.id} == set(pool)
    assert (master.role, backup.role) == ("MASTER", "BACKUP")
    for amphora in (master, backup):
        details = site.amphora_dir / amphora.id / "agent.json"
        assert '"topology": "ACTIVE_STANDBY"' in details.read_text()
    await_pool(site, without=set(pool))


def test_a_dead_spare_is_removed_and_replaced(site: Site) -> None:
    pool = await_pool(site)
    dead_id, dead = sorted(pool.items())[0]
    kill_everything(dead["compute_id"])

    refilled = await_pool(site, without={dead_id})
    assert set(pool) - {dead_id} <= set(refilled)
    expect(site.api.get(f"{AMPHORAE}/{dead_id}"), 404)
    assert dead["compute_id"] not in list_namespaces()
    assert not (site.amphora_dir / dead_id).exists()


def test_a_failed_amphora_is_replaced_by_a_spare(site: Site) -> None:
    await_pool(site)
    lb_id, client, vip = serve(site, members=1)
    (old,) = amphorae(site, lb_id)
    pool = await_pool(site, without={old.id})
    kill_everything(namespace(old))

    (new,), _ = await_replacement(site, lb_id, {old.id}, 1)
    assert new["id"] in pool
    assert (new["role"], new["status"]) == ("STANDALONE", "ALLOCATED")
    assert [http_get(client, vip, 80) for _ in range(3)] == ["m1"] * 3
