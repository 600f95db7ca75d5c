"""The failover watch on every database: which amphorae count as stale, the failover requested
for them (load balancer PENDING_UPDATE, amphorae PENDING_DELETE, in one transaction), busy load
balancers left alone, and the circuit breaker (FAILOVER_STOPPED, nothing failed over, back to
ALLOCATED when heard from again; an operator's failover still works).

Passes are run one at a time here; the noop provider settles what they request.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import update

from ostia.controller.failover_watch import FailoverWatch
from ostia.db.models import Amphora, AmphoraHealth, LoadBalancer, ReconcileState, utcnow
from tests.conftest import Ostia
from tests.helpers import Api, create_lb, expect, wait_for_lb

TIMEOUT = 5.0
LONG_AGO = timedelta(minutes=1)


def add_amphora(
    ostia: Ostia,
    lb_id: str,
    role: str = "STANDALONE",
    status: str = "ALLOCATED",
    heard: datetime | None = None,
    built: datetime | None = None,
) -> str:
    """An amphora row; ``heard``: its last heartbeat (None: no health row); ``built``: when
    its row last changed."""
    amphora_id = str(uuid.uuid4())
    with ostia.db.write() as session:
        at = built or utcnow()
        session.add(
            Amphora(
                id=amphora_id,
                load_balancer_id=lb_id,
                status=status,
                role=role,
                created_at=at,
                updated_at=at,
            )
        )
        if heard is not None:
            session.add(AmphoraHealth(amphora_id=amphora_id, last_update=heard, busy=False))
    return amphora_id


def age(ostia: Ostia, *amphora_ids: str) -> None:
    """As if the rows had not changed for a minute."""
    with ostia.db.write() as session:
        session.execute(
            update(Amphora)
            .where(Amphora.id.in_(amphora_ids))
            .values(updated_at=utcnow() - LONG_AGO)
        )


def statuses(ostia: Ostia) -> dict[str, str]:
    with ostia.db.read() as session:
        return {row.id: row.status for row in session.query(Amphora)}


def lb_status(api: Api, lb_id: str) -> str:
    return str(
        expect(api.get(f"/v2/lbaas/loadbalancers/{lb_id}"), 200)["loadbalancer"][
            "provisioning_status"
        ]
    )


def watch(ostia: Ostia, threshold: int | None = None) -> FailoverWatch:
    return FailoverWatch(ostia.db, ostia.runtime.signal, TIMEOUT, threshold)


def lbs(api: Api, count: int) -> list[dict[str, Any]]:
    return [create_lb(api) for _ in range(count)]


def test_silent_amphorae_are_failed_over_and_busy_ones_are_not(ostia: Ostia, api: Api) -> None:
    now, old = utcnow(), utcnow() - LONG_AGO
    lb1, lb2, lb3, lb4, lb5 = (lb["id"] for lb in lbs(api, 5))
    fresh = add_amphora(ostia, lb1, "MASTER", heard=now, built=old)
    silent = add_amphora(ostia, lb1, "BACKUP", heard=old, built=old)
    never_heard = add_amphora(ostia, lb2, heard=None, built=old)
    just_built = add_amphora(ostia, lb3, "MASTER", heard=None, built=now)
    # Silent, but just repaired: a heartbeat timeout to be heard from again.
    repaired = add_amphora(ostia, lb3, "BACKUP", heard=old, built=now)
    booting = add_amphora(ostia, lb4, status="BOOTING", heard=old, built=old)
    busy_lb = add_amphora(ostia, lb5, heard=old, built=old)
    # lb5 is being changed (and the reconciler does not get round to it during the test).
    with ostia.db.write() as session:
        session.execute(
            update(LoadBalancer)
            .where(LoadBalancer.id == lb5)
            .values(provisioning_status="PENDING_UPDATE")
        )
        session.execute(
            update(ReconcileState)
            .where(ReconcileState.load_balancer_id == lb5)
            .values(retry_at=now + timedelta(hours=1))
        )

    done = watch(ostia).run_pass()
    assert sorted(done.stale) == sorted([silent, never_heard, busy_lb])
    assert sorted(done.failed_over) == sorted([silent, never_heard])
    assert done.stopped == []
    now_status = statuses(ostia)
    assert now_status[silent] == now_status[never_heard] == "PENDING_DELETE"
    for untouched in (fresh, just_built, repaired, busy_lb):
        assert now_status[untouched] == "ALLOCATED"
    assert now_status[booting] == "BOOTING"
    with ostia.db.read() as session:
        assert session.get_one(AmphoraHealth, silent).busy
    # The load balancers went PENDING_UPDATE with it; the (noop) reconciler settles them.
    for lb_id in (lb1, lb2):
        wait_for_lb(api, lb_id)
    assert lb_status(api, lb3) == "ACTIVE"
    assert lb_status(api, lb5) == "PENDING_UPDATE"
    # Already requested: the next pass requests nothing more.
    assert watch(ostia).run_pass().failed_over == []


def test_the_circuit_breaker_stops_mass_failovers(ostia: Ostia, api: Api) -> None:
    old = utcnow() - LONG_AGO
    lb1, lb2, lb3 = (lb["id"] for lb in lbs(api, 3))
    first = add_amphora(ostia, lb1, heard=old, built=old)
    second = add_amphora(ostia, lb2, heard=old, built=old)
    healthy = add_amphora(ostia, lb3, heard=utcnow(), built=old)
    breaker = watch(ostia, threshold=2)

    done = breaker.run_pass()
    assert sorted(done.stopped) == sorted([first, second])
    assert done.failed_over == []
    assert statuses(ostia) == {
        first: "FAILOVER_STOPPED",
        second: "FAILOVER_STOPPED",
        healthy: "ALLOCATED",
    }
    for lb_id in (lb1, lb2):
        assert lb_status(api, lb_id) == "ACTIVE"
    # Still stale: nothing changes, nothing is marked again.
    age(ostia, first, second)
    again = breaker.run_pass()
    assert sorted(again.stale) == sorted([first, second])
    assert (again.stopped, again.failed_over) == ([], [])
    shown = expect(api.get("/v2/octavia/amphorae?status=FAILOVER_STOPPED"), 200)["amphorae"]
    assert sorted(a["id"] for a in shown) == sorted([first, second])

    # One is heard from again: ALLOCATED; the other, alone stale now, is failed over.
    with ostia.db.write() as session:
        session.execute(
            update(AmphoraHealth)
            .where(AmphoraHealth.amphora_id == first)
            .values(last_update=utcnow())
        )
    done = breaker.run_pass()
    assert done.failed_over == [second]
    assert statuses(ostia)[first] == "ALLOCATED"
    assert statuses(ostia)[second] == "PENDING_DELETE"
    wait_for_lb(api, lb2)


def test_the_breaker_counts_amphorae_that_went_silent_together(ostia: Ostia, api: Api) -> None:
    """Amphorae that stopped at once go stale up to a heartbeat interval apart: one silent for
    all but the last interval of the timeout counts for the breaker with the stale one."""
    lb1, lb2 = (lb["id"] for lb in lbs(api, 2))
    built = utcnow() - LONG_AGO
    # Timestamps are stored to the second (or less precisely): margins of a second and more.
    now = datetime.now(UTC).replace(tzinfo=None)
    stale = add_amphora(ostia, lb1, heard=now - timedelta(seconds=TIMEOUT + 1.5), built=built)
    later = add_amphora(ostia, lb2, heard=now - timedelta(seconds=TIMEOUT - 1.5), built=built)
    breaker = FailoverWatch(ostia.db, ostia.runtime.signal, TIMEOUT, 2, heartbeat_interval=2.0)
    done = breaker.run_pass()
    assert done.stale == [stale]
    assert (done.failed_over, sorted(done.stopped)) == ([], sorted([stale, later]))
    assert {lb_status(api, lb_id) for lb_id in (lb1, lb2)} == {"ACTIVE"}
    # Still silent, so not taken for heard from again: the breaker keeps holding both.
    again = breaker.run_pass()
    assert (again.failed_over, again.stopped) == ([], [])
    assert statuses(ostia) == {stale: "FAILOVER_STOPPED", later: "FAILOVER_STOPPED"}


def test_an_operator_fails_over_a_stopped_amphora(ostia: Ostia, api: Api) -> None:
    old = utcnow() - LONG_AGO
    lb1, lb2 = (lb["id"] for lb in lbs(api, 2))
    first = add_amphora(ostia, lb1, heard=old, built=old)
    second = add_amphora(ostia, lb2, heard=old, built=old)
    breaker = watch(ostia, threshold=1)
    assert sorted(breaker.run_pass().stopped) == sorted([first, second])

    expect(api.put(f"/v2/octavia/amphorae/{first}/failover"), 202)
    assert statuses(ostia)[first] == "PENDING_DELETE"
    wait_for_lb(api, lb1)
    # The breaker still holds the other one.
    age(ostia, second)
    done = breaker.run_pass()
    assert (done.stale, done.failed_over) == ([second], [])
    assert statuses(ostia)[second] == "FAILOVER_STOPPED"
