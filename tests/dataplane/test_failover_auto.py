"""Amphorae that die are replaced, on real amphorae with real heartbeats: a SINGLE amphora killed
(traffic through the VIP resumes), an ACTIVE_STANDBY MASTER killed (the VIP keeps serving, the
pair is whole again), an amphora's namespace deleted behind Ostia's back, an operator's
failover and configuration push on one amphora, the circuit breaker, and a controller killed
in the middle of a failover. What the tests check is what the API shows: the old amphora
goes (404), a new one of its role is ALLOCATED, the load balancer goes PENDING_UPDATE and
back to ACTIVE. SQLite only: the watch's queries are tested on every database in
tests/integration/test_failover_watch.py."""

from __future__ import annotations

import contextlib
import os
import signal
import time
import uuid
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from ostia.config import Settings
from ostia.db.models import AmphoraHealth
from ostia.drivers.compute import NetnsCompute
from ostia.drivers.netns import delete_namespace, list_namespaces, namespace_pids
from tests.dataplane.conftest import Site
from tests.dataplane.hosts import Traffic, http_get, wait_for
from tests.dataplane.lbs import LBS, amphorae, create_lb, member, namespace, settle, subnets
from tests.dataplane.test_amphorae import holds, reloads
from tests.dataplane.test_resilience import agents, api_site, controllers, start_controller
from tests.helpers import Api, expect
from tests.integration.test_crash_resume import ControllerProcess

pytestmark = pytest.mark.parametrize("database", ["sqlite"], indirect=True)

__all__ = ["api_site", "controllers"]  # fixtures of test_resilience used here

AMPHORAE = "/v2/octavia/amphorae"
HEARTBEAT_TIMEOUT = 3.0
# Detection (timeout + a pass), a new amphora built (a loaded machine: generous).
REPLACED_WITHIN = 60.0


@pytest.fixture
def quick_health(settings: Settings) -> None:
    """Heartbeats every second (the default), an amphora silent for 3 s is failed over."""
    settings.health.heartbeat_timeout = HEARTBEAT_TIMEOUT


@pytest.fixture
def active_standby(settings: Settings) -> None:
    settings.controller.loadbalancer_topology = "ACTIVE_STANDBY"


def kill_everything(amphora_namespace: str) -> None:
    """SIGKILL its agent, HAProxy and keepalived (a crash: nothing cleans up)."""
    for pid in namespace_pids(amphora_namespace):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


def heard(site: Site, amphora_ids: list[str]) -> bool:
    with site.db.read() as session:
        found = session.scalars(
            select(AmphoraHealth.amphora_id).where(AmphoraHealth.amphora_id.in_(amphora_ids))
        ).all()
    return set(found) == set(amphora_ids)


def api_amphorae(api: Api, lb_id: str) -> list[dict[str, Any]]:
    found = expect(api.get(f"{AMPHORAE}?loadbalancer_id={lb_id}&sort=vrrp_priority:desc"), 200)
    return list(found["amphorae"])


def lb_status(api: Api, lb_id: str) -> str:
    return str(expect(api.get(f"{LBS}/{lb_id}"), 200)["loadbalancer"]["provisioning_status"])


def replaced(site: Site, lb_id: str, old: set[str], count: int) -> list[dict[str, Any]] | None:
    """The load balancer's amphorae once it is ACTIVE on ``count`` ALLOCATED amphorae none of
    which is in ``old``."""
    if lb_status(site.api, lb_id) != "ACTIVE":
        return None
    found = api_amphorae(site.api, lb_id)
    if len(found) == count and all(a["status"] == "ALLOCATED" for a in found):
        if not {a["id"] for a in found} & old:
            return found
    return None


def await_replacement(
    site: Site, lb_id: str, old: set[str], count: int
) -> tuple[list[dict[str, Any]], set[str]]:
    """Wait for the replacement, noting the load balancer statuses seen meanwhile."""
    seen: set[str] = set()

    def done() -> list[dict[str, Any]] | None:
        seen.add(lb_status(site.api, lb_id))
        return replaced(site, lb_id, old, count)

    found = wait_for(done, REPLACED_WITHIN, what=f"amphorae {old} to be replaced")
    return found, seen


def single_lb(site: Site) -> tuple[str, str, str]:
    """A SINGLE load balancer of one member whose amphora's heartbeats arrive:
    (lb id, client namespace, VIP)."""
    api = site.api
    vip_subnet, member_subnet = subnets(api)
    client, _ = site.hosts.add("client", vip_subnet)
    m1 = site.hosts.member("m1", member_subnet)
    lb_id = create_lb(api, vip_subnet, [member(m1, member_subnet, name="m1")])
    vip = settle(site, lb_id)["vip_address"]
    wait_for(lambda: heard(site, [a.id for a in amphorae(site, lb_id)]), what="heartbeats")
    return lb_id, client, vip


def pair_lb(site: Site) -> tuple[str, str, str]:
    """An ACTIVE_STANDBY load balancer of two members, both amphorae heard from."""
    api = site.api
    vip_subnet, member_subnet = subnets(api)
    client, _ = site.hosts.add("client", vip_subnet)
    m1, m2 = (site.hosts.member(name, member_subnet) for name in ("m1", "m2"))
    lb_id = create_lb(api, vip_subnet, [member(m1, member_subnet), member(m2, member_subnet)])
    vip = settle(site, lb_id)["vip_address"]
    wait_for(lambda: heard(site, [a.id for a in amphorae(site, lb_id)]), what="heartbeats")
    return lb_id, client, vip


def outage(traffic: Traffic, since: float) -> float:
    """Seconds from ``since`` to the first answer after the last failed request."""
    failures = [a for a in traffic.answers if a.body is None and a.at >= since]
    if not failures:
        return 0.0
    back = [a for a in traffic.answers if a.body is not None and a.at > failures[-1].at]
    assert back, "traffic never came back"
    return back[0].at - since


def test_a_killed_single_amphora_is_replaced_and_traffic_resumes(
    quick_health: None, site: Site
) -> None:
    lb_id, client, vip = single_lb(site)
    (old,) = amphorae(site, lb_id)

    with Traffic(client, vip, 80) as traffic:
        traffic.next_bodies(5)
        killed = time.monotonic()
        kill_everything(namespace(old))
        (new,), seen = await_replacement(site, lb_id, {old.id}, 1)
        restored = time.monotonic() - killed
        assert traffic.next_bodies(10) == ["m1"] * 10
    back = outage(traffic, killed)
    print(
        f"SINGLE amphora killed: traffic back after {back:.2f} s; LB ACTIVE after {restored:.2f} s"
    )
    assert "PENDING_UPDATE" in seen
    assert (new["role"], new["status"], new["ha_ip"]) == ("STANDALONE", "ALLOCATED", vip)
    assert new["vrrp_port_id"] != old.vrrp_port_id
    assert expect(site.api.get(f"{AMPHORAE}/{old.id}"), 404)
    assert namespace(old) not in list_namespaces()
    assert not (site.amphora_dir / old.id).exists()


def test_a_killed_master_is_replaced_while_the_backup_serves(
    quick_health: None, active_standby: None, site: Site
) -> None:
    lb_id, client, vip = pair_lb(site)
    master, backup = amphorae(site, lb_id)
    assert holds(master, vip)

    with Traffic(client, vip, 80) as traffic:
        traffic.next_bodies(5)
        killed = time.monotonic()
        kill_everything(namespace(master))
        wait_for(lambda: holds(backup, vip), what="the BACKUP to take the VIP")
        takeover = outage(traffic, killed)
        found, seen = await_replacement(site, lb_id, {master.id}, 2)
        restored = time.monotonic() - killed
        assert None not in traffic.next_bodies(10)
    print(f"MASTER killed: takeover {takeover:.2f} s, redundancy restored after {restored:.2f} s")
    # Only the takeover failed requests: none while the replacement was built.
    failures = traffic.failures()
    if failures:
        assert failures[-1].at - failures[0].at < 2.0, failures
    assert "PENDING_UPDATE" in seen
    # The survivor is not touched but for its keepalived peer; the new one has the dead
    # one's role and waits as standby (nopreempt).
    new_master, survivor = found
    assert (new_master["role"], survivor["role"]) == ("MASTER", "BACKUP")
    assert survivor["id"] == backup.id
    rows = {a.id: a for a in amphorae(site, lb_id)}
    assert holds(rows[backup.id], vip) and not holds(rows[new_master["id"]], vip)
    assert expect(site.api.get(f"{AMPHORAE}/{master.id}"), 404)
    peer_config = (site.amphora_dir / backup.id / "keepalived.conf").read_text()
    assert str(rows[new_master["id"]].vrrp_ip) in peer_config
    assert str(master.vrrp_ip) not in peer_config
    assert {http_get(client, vip, 80) for _ in range(4)} == {"m1", "m2"}


def test_an_amphora_namespace_deleted_behind_ostias_back_is_repaired(
    quick_health: None, site: Site
) -> None:
    lb_id, client, vip = single_lb(site)
    (old,) = amphorae(site, lb_id)
    delete_namespace(namespace(old))
    (new,), seen = await_replacement(site, lb_id, {old.id}, 1)
    assert "PENDING_UPDATE" in seen
    assert namespace(amphorae(site, lb_id)[0]) in list_namespaces()
    (only,) = api_amphorae(site.api, lb_id)
    assert only["id"] == new["id"]
    assert http_get(client, vip, 80) == "m1"


def test_an_operator_pushes_configuration_to_and_fails_over_one_amphora(
    quick_health: None, active_standby: None, site: Site
) -> None:
    api = site.api
    lb_id, client, vip = pair_lb(site)
    master, backup = amphorae(site, lb_id)

    with Traffic(client, vip, 80) as traffic:
        traffic.next_bodies(5)
        before = reloads(site, master)
        expect(api.put(f"{AMPHORAE}/{master.id}/config"), 202)
        assert lb_status(api, lb_id) == "PENDING_UPDATE"
        settle(site, lb_id)
        assert reloads(site, master) == before + 1
        assert [a["status"] for a in api_amphorae(api, lb_id)] == ["ALLOCATED", "ALLOCATED"]

        expect(api.put(f"{AMPHORAE}/{backup.id}/failover"), 202)
        assert expect(api.get(f"{AMPHORAE}/{backup.id}"), 200)["amphora"]["status"] == (
            "PENDING_DELETE"
        )
        found, _ = await_replacement(site, lb_id, {backup.id}, 2)
        assert set(traffic.next_bodies(6)) == {"m1", "m2"}
    # The standby replaced, the MASTER kept the VIP throughout.
    assert traffic.failures() == [], traffic.failures()[:3]
    assert [a["role"] for a in found] == ["MASTER", "BACKUP"]
    assert found[0]["id"] == master.id
    assert holds(master, vip)
    assert expect(api.get(f"{AMPHORAE}/{backup.id}"), 404)


@pytest.fixture
def breaker(settings: Settings) -> None:
    """Failovers stop when two amphorae are stale at once."""
    settings.health.failover_threshold = 2


def test_the_circuit_breaker_stops_a_mass_failover(
    quick_health: None, active_standby: None, breaker: None, site: Site
) -> None:
    api = site.api
    lb_id, client, vip = pair_lb(site)
    master, backup = amphorae(site, lb_id)
    for amphora in (master, backup):
        kill_everything(namespace(amphora))

    def stopped() -> bool:
        return [a["status"] for a in api_amphorae(api, lb_id)] == ["FAILOVER_STOPPED"] * 2

    wait_for(stopped, REPLACED_WITHIN, what="both amphorae to be FAILOVER_STOPPED")
    # Nothing is failed over while the breaker holds.
    time.sleep(2 * HEARTBEAT_TIMEOUT)
    assert stopped()
    assert lb_status(api, lb_id) == "ACTIVE"

    # The operator fails one over; the load balancer's other amphora is repaired with it
    # (a change of a load balancer makes all its amphorae run it).
    expect(api.put(f"{AMPHORAE}/{master.id}/failover"), 202)
    found, _ = await_replacement(site, lb_id, {master.id}, 2)
    assert [(a["role"], a["id"] == backup.id) for a in found] == [
        ("MASTER", False),
        ("BACKUP", True),
    ]
    assert expect(api.get(f"{AMPHORAE}/{master.id}"), 404)
    wait_for(lambda: holds_any(site, lb_id, vip), what="an amphora to hold the VIP")
    assert {http_get(client, vip, 80) for _ in range(4)} == {"m1", "m2"}


def holds_any(site: Site, lb_id: str, vip: str) -> bool:
    return any(holds(a, vip) for a in amphorae(site, lb_id))


def controller(site: Site, instance: str, log: Path) -> ControllerProcess:
    """An ``ostia controller`` process of the site, failing amphorae over after 3 s."""
    return start_controller(
        site, instance, log, OSTIA_HEALTH__HEARTBEAT_TIMEOUT=str(HEARTBEAT_TIMEOUT)
    )


def test_a_controller_killed_during_a_failover_completes_it_on_restart(
    api_site: Site, controllers: list[ControllerProcess], tmp_path: Path
) -> None:
    site, api = api_site, api_site.api
    log = tmp_path / "controller.log"
    instance = f"dp-{uuid.uuid4().hex[:8]}"
    controllers.append(controller(site, instance, log))
    try:
        lb_id, client, vip = pair_lb(site)
    except AssertionError:
        raise AssertionError(f"controller log:\n{log.read_text()}") from None
    master, backup = amphorae(site, lb_id)
    compute = NetnsCompute(site.settings.dataplane.prefix, site.amphora_dir, site.fabric)

    kill_everything(namespace(master))

    def replacement_booting() -> bool:
        return any(
            a.id not in (master.id, backup.id) and agents(compute.namespace(a.id))
            for a in amphorae(site, lb_id)
        )

    try:
        wait_for(replacement_booting, REPLACED_WITHIN, what="the replacement's agent to start")
    except AssertionError:
        raise AssertionError(f"no replacement booted; log:\n{log.read_text()}") from None
    controllers[0].kill()
    assert lb_status(api, lb_id) == "PENDING_UPDATE"

    controllers.append(controller(site, instance, log))
    try:
        found, _ = await_replacement(site, lb_id, {master.id}, 2)
    except AssertionError as exc:
        raise AssertionError(f"{exc}; controller log:\n{log.read_text()}") from None
    assert [a["role"] for a in found] == ["MASTER", "BACKUP"]
    rows = amphorae(site, lb_id)
    prefix = site.settings.dataplane.prefix
    assert sorted(n for n in list_namespaces() if n.startswith(f"{prefix}-a")) == sorted(
        namespace(a) for a in rows
    )
    for amphora in rows:
        assert len(agents(namespace(amphora))) == 1, amphora.id
    assert {http_get(client, vip, 80) for _ in range(4)} == {"m1", "m2"}
