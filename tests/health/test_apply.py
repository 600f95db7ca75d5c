"""Heartbeats applied to the database, on each kind of database: operating statuses by
Octavia's rules as the API then shows them, only changed values written, statistics summed,
and heartbeats of amphorae Ostia does not run ignored."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import event, select, update

from ostia.db.engine import Database
from ostia.db.models import Amphora, AmphoraHealth, Member
from ostia.health.applier import Applier, Heartbeat, Outcome, apply_batch
from tests.conftest import Ostia
from tests.helpers import (
    Api,
    create_health_monitor,
    create_lb,
    create_listener,
    create_member,
    create_pool,
    expect,
)


def add_amphora(db: Database, lb_id: str | None, status: str = "ALLOCATED") -> str:
    amp_id = str(uuid.uuid4())
    with db.write() as session:
        session.add(Amphora(id=amp_id, load_balancer_id=lb_id, status=status, role="STANDALONE"))
    return amp_id


def beat(amp_id: str, listeners: dict[str, Any], pools: dict[str, Any]) -> Heartbeat:
    message = {"id": amp_id, "seq": 1, "ver": 3, "listeners": listeners, "pools": pools}
    return Heartbeat(message, time.monotonic())


def stats(rx: int = 0, tx: int = 0, conns: int = 0, totconns: int = 0, ereq: int = 0) -> dict:
    return {"rx": rx, "tx": tx, "conns": conns, "totconns": totconns, "ereq": ereq}


@contextmanager
def updates(db: Database) -> Iterator[list[str]]:
    """The UPDATE statements run meanwhile."""
    seen: list[str] = []

    def record(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if statement.lstrip().upper().startswith("UPDATE"):
            seen.append(statement)

    event.listen(db.engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        event.remove(db.engine, "before_cursor_execute", record)


class Tree:
    """A load balancer with one listener, its pool under an HTTP monitor, three members."""

    def __init__(self, api: Api) -> None:
        self.api = api
        self.lb = create_lb(api)["id"]
        self.listener = create_listener(api, self.lb)["id"]
        self.pool = create_pool(api, self.lb, listener_id=self.listener)["id"]
        create_health_monitor(api, self.lb, self.pool)
        self.members = [
            create_member(api, self.lb, self.pool, address=f"203.0.113.{n}")["id"]
            for n in (1, 2, 3)
        ]

    def heartbeat(self, amp_id: str, members: list[str], **counters: int) -> Heartbeat:
        return beat(
            amp_id,
            {self.listener: {"status": "OPEN", "stats": stats(**counters)}},
            {
                f"{self.pool}:{self.listener}": {
                    "status": "UP",
                    "members": dict(zip(self.members, members, strict=True)),
                }
            },
        )

    def statuses(self) -> dict[str, Any]:
        tree = expect(self.api.get(f"/v2/lbaas/loadbalancers/{self.lb}/status"), 200)
        lb = tree["statuses"]["loadbalancer"]
        (listener,) = lb["listeners"]
        (pool,) = listener["pools"]
        return {
            "lb": lb["operating_status"],
            "listener": listener["operating_status"],
            "pool": pool["operating_status"],
            "members": [
                m["operating_status"]
                for m in sorted(pool["members"], key=lambda m: self.members.index(m["id"]))
            ],
        }


def test_statuses_follow_octavias_rules_and_only_changes_are_written(
    ostia: Ostia, api: Api
) -> None:
    tree = Tree(api)
    amp_id = add_amphora(ostia.db, tree.lb)
    assert tree.statuses() == {
        "lb": "OFFLINE",
        "listener": "OFFLINE",
        "pool": "OFFLINE",
        "members": ["OFFLINE"] * 3,
    }

    with updates(ostia.db) as written:
        outcome = apply_batch(ostia.db, [tree.heartbeat(amp_id, ["UP", "DOWN", "DOWN"])])
    assert (outcome.applied, outcome.writes) == (1, 6)
    assert tree.statuses() == {
        "lb": "DEGRADED",
        "listener": "ONLINE",
        "pool": "DEGRADED",
        "members": ["ONLINE", "ERROR", "ERROR"],
    }
    # One statement per table and new status, not one per object.
    assert len(written) == 5

    with updates(ostia.db) as written:
        outcome = apply_batch(ostia.db, [tree.heartbeat(amp_id, ["UP", "DOWN", "DOWN"])])
    assert (outcome.applied, outcome.writes, written) == (1, 0, [])

    apply_batch(ostia.db, [tree.heartbeat(amp_id, ["UP 1/2", "DRAIN", "no check"])])
    assert tree.statuses() == {
        "lb": "ONLINE",
        "listener": "ONLINE",
        "pool": "ONLINE",
        "members": ["ONLINE", "DRAINING", "NO_MONITOR"],
    }
    # RESTARTING leaves the status as it was.
    apply_batch(ostia.db, [tree.heartbeat(amp_id, ["UP", "DOWN 1/2", "RESTARTING"])])
    assert tree.statuses()["members"] == ["ONLINE", "ERROR", "NO_MONITOR"]
    # A disabled member (MAINT) is OFFLINE, and so is a member the heartbeat does not name,
    # unless it is unmonitored.
    lost = tree.heartbeat(amp_id, ["MAINT", "UP", "UP"])
    del lost.message["pools"][f"{tree.pool}:{tree.listener}"]["members"][tree.members[1]]
    del lost.message["pools"][f"{tree.pool}:{tree.listener}"]["members"][tree.members[2]]
    apply_batch(ostia.db, [lost])
    assert tree.statuses()["members"] == ["OFFLINE", "OFFLINE", "NO_MONITOR"]

    # The backend has no working server: the pool and the load balancer are in ERROR.
    down = tree.heartbeat(amp_id, ["DOWN", "DOWN", "DOWN"])
    down.message["pools"][f"{tree.pool}:{tree.listener}"]["status"] = "DOWN"
    apply_batch(ostia.db, [down])
    assert tree.statuses() == {
        "lb": "ERROR",
        "listener": "ONLINE",
        "pool": "ERROR",
        "members": ["ERROR", "ERROR", "ERROR"],
    }
    # Within one batch, the last heartbeat wins; what it leaves as it was is not written.
    with updates(ostia.db) as written:
        outcome = apply_batch(
            ostia.db,
            [tree.heartbeat(amp_id, ["UP", "UP", "UP"]), down],
        )
    assert (outcome.applied, outcome.writes, written) == (2, 0, [])


def test_a_listener_the_amphora_does_not_run_is_in_error(ostia: Ostia, api: Api) -> None:
    tree = Tree(api)
    other = create_listener(api, tree.lb, protocol_port=81)["id"]
    amp_id = add_amphora(ostia.db, tree.lb)
    heartbeat = tree.heartbeat(amp_id, ["UP", "UP", "UP"])
    # As many listeners as expected, but not the second one: HAProxy runs another frontend.
    heartbeat.message["listeners"]["stray"] = {"status": "OPEN", "stats": stats()}
    apply_batch(ostia.db, [heartbeat])

    def listener_status(listener_id: str) -> str:
        return expect(api.get(f"/v2/lbaas/listeners/{listener_id}"), 200)["listener"][
            "operating_status"
        ]

    assert (listener_status(tree.listener), listener_status(other)) == ("ONLINE", "ERROR")


def test_statistics_accumulate_per_listener_and_amphora(ostia: Ostia, api: Api) -> None:
    tree = Tree(api)
    first, second = add_amphora(ostia.db, tree.lb), add_amphora(ostia.db, tree.lb)
    members = ["UP", "UP", "UP"]
    apply_batch(
        ostia.db,
        [
            tree.heartbeat(first, members, rx=100, tx=1000, conns=3, totconns=5, ereq=1),
            tree.heartbeat(second, members, rx=7, tx=70, conns=1, totconns=1),
        ],
    )
    apply_batch(ostia.db, [tree.heartbeat(first, members, rx=50, tx=500, conns=2, totconns=4)])
    expected = {
        "bytes_in": 157,
        "bytes_out": 1570,
        "active_connections": 3,  # a gauge: the last figure of each amphora
        "total_connections": 10,
        "request_errors": 1,
    }
    assert expect(api.get(f"/v2/lbaas/listeners/{tree.listener}/stats"), 200) == {"stats": expected}
    assert expect(api.get(f"/v2/lbaas/loadbalancers/{tree.lb}/stats"), 200) == {"stats": expected}
    amphora_stats = expect(api.get(f"/v2/octavia/amphorae/{first}/stats"), 200)
    assert amphora_stats == {
        "amphora_stats": [
            {
                "active_connections": 2,
                "bytes_in": 150,
                "bytes_out": 1500,
                "id": first,
                "listener_id": tree.listener,
                "loadbalancer_id": tree.lb,
                "request_errors": 1,
                "total_connections": 9,
            }
        ]
    }
    # Nothing new: nothing written.
    with updates(ostia.db) as written:
        apply_batch(ostia.db, [tree.heartbeat(first, members, conns=2)])
    assert written == []


def test_amphora_stats_are_for_admins_and_404_without_figures(ostia: Ostia, api: Api) -> None:
    tree = Tree(api)
    amp_id = add_amphora(ostia.db, tree.lb)
    path = f"/v2/octavia/amphorae/{amp_id}/stats"
    member = api.as_user(api.headers["X-Project-Id"], "member")
    assert expect(member.get(path), 403)["faultstring"].startswith("Policy does not allow")
    assert expect(api.get(path), 404)["faultstring"] == f"Amphora stats for {amp_id} not found."
    unknown = str(uuid.uuid4())
    assert (
        expect(api.get(f"/v2/octavia/amphorae/{unknown}/stats"), 404)["faultstring"]
        == f"Amphora {unknown} not found."
    )


def test_heartbeats_of_amphorae_ostia_does_not_run_are_ignored(ostia: Ostia, api: Api) -> None:
    tree = Tree(api)
    booting = add_amphora(ostia.db, tree.lb, status="BOOTING")
    running = add_amphora(ostia.db, tree.lb)
    members = ["UP", "UP", "UP"]
    mismatched = beat(running, {}, {})  # runs no listener where one is expected
    outcome: Outcome = apply_batch(
        ostia.db,
        [
            tree.heartbeat(str(uuid.uuid4()), members, rx=5),
            tree.heartbeat(booting, members, rx=5),
            mismatched,
        ],
    )
    assert (outcome.applied, outcome.ignored, outcome.mismatched) == (0, 2, 1)
    assert tree.statuses()["members"] == ["OFFLINE"] * 3
    assert (
        expect(api.get(f"/v2/lbaas/loadbalancers/{tree.lb}/stats"), 200)["stats"]["bytes_in"] == 0
    )
    with ostia.db.read() as session:
        assert session.scalars(select(AmphoraHealth)).all() == []

    apply_batch(ostia.db, [tree.heartbeat(running, members)])
    with ostia.db.read() as session:
        (health,) = session.scalars(select(AmphoraHealth)).all()
    assert (health.amphora_id, health.busy) == (running, False)


def test_what_the_applier_keeps_is_read_again_after_max_age(ostia: Ostia, api: Api) -> None:
    """A status changed behind the health manager's back, and a member added meanwhile, are
    right again once what it read is older than ``max_age``."""
    tree = Tree(api)
    amp_id = add_amphora(ostia.db, tree.lb)
    applier = Applier(ostia.db, max_age=0.5)
    seq = iter(range(1, 100))

    def heartbeat(statuses: list[str]) -> Heartbeat:
        hb = tree.heartbeat(amp_id, statuses)
        hb.message["seq"] = next(seq)
        return hb

    applier.apply([heartbeat(["UP", "UP", "UP"])])
    assert tree.statuses()["members"] == ["ONLINE"] * 3
    with ostia.db.write() as session:
        session.execute(
            update(Member).where(Member.id == tree.members[0]).values(operating_status="OFFLINE")
        )
    added = create_member(api, tree.lb, tree.pool, address="203.0.113.4")["id"]
    tree.members.append(added)
    time.sleep(0.5)
    applier.apply([heartbeat(["UP", "UP", "UP", "DOWN"])])
    assert tree.statuses()["members"] == ["ONLINE", "ONLINE", "ONLINE", "ERROR"]
