"""Housekeeping on every database: the purge removes DELETED rows past their expiry age and
nothing else, and certificate rotation picks the amphorae due, one controller at a time, never
beside a reconciler run."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select, update

from ostia.config import Settings
from ostia.controller.housekeeping import Housekeeping
from ostia.controller.reconciler import Reconciler
from ostia.db.models import (
    Amphora,
    AmphoraHealth,
    ListenerStatistics,
    LoadBalancer,
    ReconcileState,
    Vip,
    utcnow,
)
from tests.conftest import Ostia
from tests.helpers import Api, create_lb, create_listener, expect, new_id, wait_for_lb

LBS = "/v2/lbaas/loadbalancers"
HOUR = timedelta(hours=1)


def add_amphora(ostia: Ostia, lb_id: str, status: str, **fields: Any) -> str:
    amphora = Amphora(id=new_id(), load_balancer_id=lb_id, status=status, **fields)
    with ostia.db.write() as session:
        session.add(amphora)
    return amphora.id


def backdate(ostia: Ostia, model: Any, row_id: str, when: datetime) -> None:
    with ostia.db.write() as session:
        session.execute(update(model).where(model.id == row_id).values(updated_at=when))


def rows(ostia: Ostia, model: Any) -> list[Any]:
    with ostia.db.read() as session:
        return list(session.scalars(select(model)))


def deleted_lb(api: Api, with_listener: bool = False) -> str:
    lb_id = str(create_lb(api)["id"])
    if with_listener:
        create_listener(api, lb_id)
    assert api.delete(f"{LBS}/{lb_id}?cascade=true").status_code == 204
    wait_for_lb(api, lb_id, "DELETED")
    return lb_id


def test_purge_removes_only_deleted_rows_past_their_age(
    ostia: Ostia, api: Api, settings: Settings
) -> None:
    old_lb, young_lb = deleted_lb(api, with_listener=True), deleted_lb(api)
    live_lb = str(create_lb(api)["id"])
    live_listener = create_listener(api, live_lb)["id"]
    ostia.controller.stop()
    settings.house_keeping.load_balancer_expiry_age = 3600
    settings.house_keeping.amphora_expiry_age = 3600
    long_ago, lately = utcnow() - 2 * HOUR, utcnow() - HOUR / 2
    backdate(ostia, LoadBalancer, old_lb, long_ago)
    # An ACTIVE load balancer unchanged for long is not touched.
    backdate(ostia, LoadBalancer, live_lb, long_ago)

    def amphora(lb_id: str, status: str, updated: datetime) -> str:
        return add_amphora(ostia, lb_id, status, created_at=long_ago, updated_at=updated)

    old_lb_old_amp = amphora(old_lb, "DELETED", long_ago)
    old_lb_young_amp = amphora(old_lb, "DELETED", lately)
    # An amphora goes by its own age, whatever its load balancer's.
    amphora(young_lb, "DELETED", long_ago)
    replaced = amphora(live_lb, "DELETED", long_ago)
    heard_lately = amphora(live_lb, "DELETED", long_ago)
    serving = amphora(live_lb, "ALLOCATED", long_ago)
    gone_listener = new_id()
    with ostia.db.write() as session:
        session.add_all(
            [
                AmphoraHealth(amphora_id=old_lb_old_amp, last_update=long_ago),
                AmphoraHealth(amphora_id=replaced, last_update=long_ago),
                AmphoraHealth(amphora_id=heard_lately, last_update=lately),
                ListenerStatistics(listener_id=gone_listener, amphora_id=old_lb_young_amp),
                ListenerStatistics(listener_id=gone_listener, amphora_id=replaced),
                ListenerStatistics(listener_id=live_listener, amphora_id=replaced, bytes_in=7),
            ]
        )

    housekeeping = Housekeeping(settings, ostia.db, "housekeeping/1", None)
    assert housekeeping.purge() == (1, 3)

    assert {lb.id for lb in rows(ostia, LoadBalancer)} == {young_lb, live_lb}
    assert {vip.load_balancer_id for vip in rows(ostia, Vip)} == {young_lb, live_lb}
    assert {s.load_balancer_id for s in rows(ostia, ReconcileState)} == {young_lb, live_lb}
    amphorae = {a.id: a for a in rows(ostia, Amphora)}
    assert set(amphorae) == {old_lb_young_amp, heard_lately, serving}
    # Detached from its purged load balancer; its own age still counts from when it went.
    assert amphorae[old_lb_young_amp].load_balancer_id is None
    assert amphorae[old_lb_young_amp].updated_at == lately
    assert {h.amphora_id for h in rows(ostia, AmphoraHealth)} == {heard_lately}
    # Only the statistics of the live listener stay.
    assert [(s.listener_id, s.amphora_id, s.bytes_in) for s in rows(ostia, ListenerStatistics)] == [
        (live_listener, replaced, 7)
    ]
    assert expect(api.get(f"{LBS}/{live_lb}"), 200)["loadbalancer"]["provisioning_status"] == (
        "ACTIVE"
    )
    assert api.get(f"{LBS}/{young_lb}").status_code == 404
    assert housekeeping.purge() == (0, 0)


class Rotation:
    """Certificate rotation that runs ``during`` instead of calling an agent; amphorae in
    ``failing`` are refused."""

    def __init__(self, during: Callable[[Amphora], None], failing: set[str]) -> None:
        self.during, self.failing = during, failing
        self.rotated: list[str] = []
        self.expiry = utcnow() + timedelta(days=30)

    def rotate(self, amphora: Amphora) -> datetime:
        self.during(amphora)
        if amphora.id in self.failing:
            raise ConnectionRefusedError(f"agent of {amphora.id} unreachable")
        self.rotated.append(amphora.id)
        return self.expiry


def test_rotation_picks_amphorae_due_under_the_lease(
    ostia: Ostia, api: Api, settings: Settings
) -> None:
    idle, pending, leased, stale = (str(create_lb(api)["id"]) for _ in range(4))
    ostia.controller.stop()
    soon, later = utcnow() + timedelta(days=1), utcnow() + timedelta(days=20)

    def amphora(lb_id: str, status: str = "ALLOCATED", expires: datetime = soon, **f: Any) -> str:
        return add_amphora(ostia, lb_id, status, cert_expiration=expires, **f)

    due, failing = amphora(idle), amphora(idle)
    amphora(idle, expires=later)
    for status in ("BOOTING", "PENDING_UPDATE", "PENDING_DELETE", "DELETED"):
        amphora(idle, status)
    amphora(pending)
    leased_amp = amphora(leased)
    # Left cert_busy by a controller that died while rotating it.
    stale_amp = amphora(stale, cert_busy=True)
    with ostia.db.write() as session:
        session.execute(
            update(LoadBalancer)
            .where(LoadBalancer.id == pending)
            .values(provisioning_status="PENDING_UPDATE")
        )
        session.execute(
            update(ReconcileState)
            .where(ReconcileState.load_balancer_id == leased)
            .values(lease_owner="reconciler/1", lease_expires_at=utcnow() + HOUR)
        )
    reconciler = Reconciler(
        settings.controller.model_copy(update={"instance_id": "reconciler"}),
        ostia.db,
        ostia.runtime.signal,
        ForbiddenProvider(),
    )
    other = Housekeeping(settings, ostia.db, "other/1", None)

    def during(amphora: Amphora) -> None:
        # While one controller rotates, nobody else gets the load balancer.
        assert other.claim(amphora.load_balancer_id or "") == []
        assert amphora.load_balancer_id not in other.expiring()
        assert reconciler.acquire(amphora.load_balancer_id or "") is False
        with ostia.db.read() as session:
            assert session.get_one(Amphora, amphora.id).cert_busy is True

    rotation = Rotation(during, {failing})
    first = Housekeeping(settings, ostia.db, "first/1", rotation)
    assert first.expiring() == {idle: sorted([due, failing]), stale: [stale_amp]}

    assert first.rotate_expiring() == 2
    assert sorted(rotation.rotated) == sorted([due, stale_amp])
    amphorae = {a.id: a for a in rows(ostia, Amphora)}
    for rotated in (due, stale_amp):
        assert amphorae[rotated].cert_expiration == rotation.expiry
    assert amphorae[failing].cert_expiration == soon
    assert not any(a.cert_busy for a in amphorae.values())
    # Leases given back; the refused one is due again at the next pass.
    assert reconciler.acquire(idle) is True
    with ostia.db.write() as session:
        reconciler.release(session, idle)
    assert first.expiring() == {idle: [failing]}

    # The reconciler's lease runs out: the load balancer is due again.
    with ostia.db.write() as session:
        session.execute(
            update(ReconcileState)
            .where(ReconcileState.load_balancer_id == leased)
            .values(lease_expires_at=utcnow() - HOUR)
        )
    assert first.expiring() == {idle: [failing], leased: [leased_amp]}


class ForbiddenProvider:
    """The reconciler here only takes leases: it must never run a provider."""

    def _fail(self, lb: LoadBalancer) -> None:
        raise AssertionError(f"the reconciler ran load balancer {lb.id}")

    apply = failover = delete = _fail
