"""Claiming spare amphorae, on every database: the oldest READY spares first, one per role,
given the load balancer, the role and its VRRP priority; two transactions claiming at once
never get the same spare; the failover watch marks silent spares for removal instead of
failing them over; a pool pass removes surplus, stuck and dropped spares and boots the
missing ones (a booter of rows only).

The noop provider settles the load balancers; the spare rows are written here.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import update

from ostia.controller.amphora_store import AmphoraStore, claim_spare
from ostia.controller.failover_watch import FailoverWatch
from ostia.controller.spares import SparePool
from ostia.db.models import Amphora, AmphoraHealth, LoadBalancer, utcnow
from tests.conftest import Ostia
from tests.helpers import Api, create_lb


def add_spare(
    ostia: Ostia, created: datetime, status: str = "READY", heard: datetime | None = None
) -> str:
    amphora_id = str(uuid.uuid4())
    with ostia.db.write() as session:
        session.add(Amphora(id=amphora_id, status=status, created_at=created, updated_at=created))
        if heard is not None:
            session.add(AmphoraHealth(amphora_id=amphora_id, last_update=heard, busy=False))
    return amphora_id


def load_lb(ostia: Ostia, lb_id: str) -> LoadBalancer:
    with ostia.db.read() as session:
        lb = session.get_one(LoadBalancer, lb_id)
        assert lb.vip is not None
        return lb


def rows(ostia: Ostia) -> dict[str, Amphora]:
    with ostia.db.read() as session:
        return {row.id: row for row in session.query(Amphora)}


def test_load_balancers_claim_the_oldest_ready_spares(ostia: Ostia, api: Api) -> None:
    now = utcnow()
    oldest = add_spare(ostia, now - timedelta(minutes=3))
    older = add_spare(ostia, now - timedelta(minutes=2))
    newest = add_spare(ostia, now - timedelta(minutes=1))
    booting = add_spare(ostia, now - timedelta(minutes=4), status="BOOTING")
    dropped = add_spare(ostia, now - timedelta(minutes=4), status="PENDING_DELETE")
    ostia.settings.controller.loadbalancer_topology = "ACTIVE_STANDBY"
    pair = load_lb(ostia, create_lb(api)["id"])
    ostia.settings.controller.loadbalancer_topology = "SINGLE"
    single = load_lb(ostia, create_lb(api)["id"])
    another = load_lb(ostia, create_lb(api)["id"])
    claims: list[str] = []
    store = AmphoraStore(ostia.db, str(uuid.uuid4()), "service")
    store.on_claim = lambda: claims.append("claimed")

    master, backup = store.ensure_amphorae(pair)
    assert (master.id, master.role, master.vrrp_priority) == (oldest, "MASTER", 100)
    assert (backup.id, backup.role, backup.vrrp_priority) == (older, "BACKUP", 90)
    assert master.load_balancer_id == backup.load_balancer_id == pair.id
    assert master.status == backup.status == "BOOTING"
    assert master.ha_ip == str(pair.vip.ip_address)
    assert claims == ["claimed"]
    # Claimed already: the same amphorae again, nothing more claimed.
    assert [a.id for a in store.ensure_amphorae(pair)] == [oldest, older]
    assert [a.id for a in store.ensure_amphorae(single)] == [newest]
    # No spare left (BOOTING and PENDING_DELETE ones are not claimed): a new amphora.
    (built,) = store.ensure_amphorae(another)
    assert built.id not in (oldest, older, newest, booting, dropped)
    assert claims == ["claimed", "claimed"]
    found = rows(ostia)
    assert found[booting].status == "BOOTING" and found[booting].load_balancer_id is None
    assert found[dropped].status == "PENDING_DELETE"


def test_two_claimers_never_get_the_same_spare(ostia: Ostia, api: Api) -> None:
    spares = [add_spare(ostia, utcnow() - timedelta(minutes=m)) for m in (2, 1)]
    first_lb, second_lb = (create_lb(api)["id"] for _ in range(2))
    first_claimed = threading.Event()
    got: dict[str, Any] = {}

    def second() -> None:
        first_claimed.wait(5)
        # The first transaction holds its spare, uncommitted: this one must wait for it, then
        # find it taken.
        with ostia.db.write() as session:
            got["second"] = claim_spare(session, {"load_balancer_id": second_lb, "status": "X"})

    thread = threading.Thread(target=second)
    thread.start()
    with ostia.db.write() as session:
        got["first"] = claim_spare(session, {"load_balancer_id": first_lb, "status": "X"})
        first_claimed.set()
        thread.join(0.5)
    thread.join(30)
    assert not thread.is_alive()
    assert got["first"] == spares[0]
    assert got["second"] == spares[1]
    found = rows(ostia)
    assert found[spares[0]].load_balancer_id == first_lb
    assert found[spares[1]].load_balancer_id == second_lb
    with ostia.db.write() as session:
        assert claim_spare(session, {"load_balancer_id": first_lb}) is None


def test_silent_spares_are_removed_not_failed_over(ostia: Ostia, api: Api) -> None:
    old = utcnow() - timedelta(minutes=1)
    silent = add_spare(ostia, old, heard=old)
    never_heard = add_spare(ostia, old)
    alive = add_spare(ostia, old, heard=utcnow())
    lost: list[str] = []
    watch = FailoverWatch(ostia.db, ostia.runtime.signal, 5.0, None)
    watch.on_spares_lost = lambda: lost.append("lost")

    done = watch.run_pass()
    assert sorted(done.spares_lost) == sorted([silent, never_heard])
    assert done.failed_over == []
    assert lost == ["lost"]
    found = rows(ostia)
    assert found[silent].status == found[never_heard].status == "PENDING_DELETE"
    assert found[alive].status == "READY"
    assert watch.run_pass().spares_lost == []


class FakeBooter:
    """Spares as rows only: what the pool boots and removes."""

    def __init__(self, ostia: Ostia) -> None:
        self.ostia = ostia
        self.booted: list[str] = []
        self.removed: list[str] = []

    def boot_spare(self) -> str:
        amphora_id = add_spare(self.ostia, utcnow())
        self.booted.append(amphora_id)
        return amphora_id

    def busy(self) -> bool:
        return False

    def remove_spares(self, rows: Sequence[Amphora]) -> None:
        self.removed.extend(row.id for row in rows)
        with self.ostia.db.write() as session:
            session.execute(
                update(Amphora).where(Amphora.id.in_([r.id for r in rows])).values(status="DELETED")
            )


def test_the_pool_removes_surplus_stuck_and_dropped_spares_and_boots_the_missing(
    ostia: Ostia, api: Api
) -> None:
    now = utcnow()
    kept = [add_spare(ostia, now - timedelta(minutes=m)) for m in (3, 2)]
    surplus = add_spare(ostia, now - timedelta(minutes=1))
    stuck = add_spare(ostia, now - timedelta(minutes=10), status="BOOTING")
    dropped = add_spare(ostia, now - timedelta(minutes=1), status="PENDING_DELETE")
    booter = FakeBooter(ostia)
    pool = SparePool(ostia.db, booter, size=2, interval=30.0)

    assert pool.run_pass() == 0
    assert sorted(booter.removed) == sorted([surplus, stuck, dropped])
    found = rows(ostia)
    assert [found[i].status for i in kept] == ["READY", "READY"]

    # One claimed: the next pass boots one.
    lb_id = create_lb(api)["id"]
    with ostia.db.write() as session:
        assert claim_spare(session, {"load_balancer_id": lb_id, "status": "BOOTING"}) == kept[0]
    assert pool.run_pass() == 1
    assert len(booter.removed) == 3
    assert rows(ostia)[booter.booted[0]].status == "READY"
