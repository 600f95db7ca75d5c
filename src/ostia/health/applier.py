"""Applying verified heartbeats to the database, in batches: one write transaction for all
that a batch changed.

For each heartbeat of an amphora Ostia runs (status ALLOCATED, or PENDING_UPDATE,
FAILOVER_STOPPED and READY spares, whose liveness matters as much), in order of arrival:

- ``amphora_health.last_update`` is set to now, unless the heartbeat reports fewer or more
  listeners than the load balancer runs (Octavia's rule: such an amphora is not healthy);
- the operating statuses of the load balancer, its listeners, pools and members are derived
  by Octavia's rules (``health.status``), only from ALLOCATED amphorae (the others are
  being changed), and only those that differ from what was read are written;
- the statistics deltas are added to ``listener_statistics`` (active connections replaced),
  for the load balancer's own listeners; a row with nothing new is not written.

Heartbeats of unknown amphorae, or of amphorae in another status, are counted and ignored.

What was read of an amphora and of its load balancer's tree is kept for ``max_age`` seconds
(a load balancer being changed, PENDING_*, is read again at the next batch): heartbeats come
every second from every amphora, the trees change seldom. A status someone else changed
meanwhile is thus corrected at most ``max_age`` later.
"""

from __future__ import annotations

import logging
import random
import time
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, NamedTuple

from sqlalchemy import BindParameter, Connection, bindparam, select, update

from ostia import constants
from ostia.db import upsert
from ostia.db.engine import Database
from ostia.db.models import (
    Amphora,
    AmphoraHealth,
    Listener,
    ListenerStatistics,
    LoadBalancer,
    Member,
    Pool,
)
from ostia.health import status
from ostia.health.status import ListenerState, LoadBalancerState, MemberState, PoolState

LOG = logging.getLogger(__name__)

ALLOCATED = "ALLOCATED"
FAILOVER_STOPPED = "FAILOVER_STOPPED"
READY = "READY"
# Amphorae whose heartbeats count: in service, being changed, held by the circuit breaker,
# or spares (READY: their liveness only, they have no load balancer).
HEARD = (ALLOCATED, constants.PENDING_UPDATE, FAILOVER_STOPPED, READY)
MODELS: dict[str, Any] = {
    status.LOAD_BALANCER: LoadBalancer,
    status.LISTENER: Listener,
    status.POOL: Pool,
    status.MEMBER: Member,
}
# The columns of listener_statistics a heartbeat fills, from its "rx", "tx", "totconns",
# "ereq" (deltas) and "conns" (a gauge).
STATS_COLUMNS = (
    "listener_id",
    "amphora_id",
    "bytes_in",
    "bytes_out",
    "total_connections",
    "request_errors",
    "active_connections",
)
DELTA_COLUMNS, GAUGE_COLUMN = STATS_COLUMNS[2:6], STATS_COLUMNS[6]
# At most this many ids in one IN (...) list.
CHUNK = 500


class Heartbeat(NamedTuple):
    message: dict[str, Any]
    received: float  # time.monotonic() when it arrived


@dataclass
class Outcome:
    """What one batch did."""

    applied: int = 0
    ignored: int = 0  # unknown amphora, or not in service
    mismatched: int = 0  # listener count differs: not recorded as healthy
    writes: int = 0  # operating statuses written
    latencies: list[float] = field(default_factory=list)


@dataclass
class _Known:
    """An amphora as read: its load balancer and status (None: no such amphora)."""

    lb_id: str | None
    status: str | None
    read_at: float


def _chunks(ids: Iterable[str]) -> Iterable[list[str]]:
    items = sorted(set(ids))
    for start in range(0, len(items), CHUNK):
        yield items[start : start + CHUNK]


# The reads, built once; ``ids`` is a list of up to CHUNK ids.
IDS: BindParameter[list[str]] = bindparam("ids", expanding=True)
READ_AMPHORAE = select(Amphora.id, Amphora.load_balancer_id, Amphora.status).where(
    Amphora.id.in_(IDS)
)
READ_GAUGES = select(
    ListenerStatistics.listener_id,
    ListenerStatistics.amphora_id,
    ListenerStatistics.active_connections,
).where(ListenerStatistics.amphora_id.in_(IDS))
READ_LOAD_BALANCERS = select(
    LoadBalancer.id,
    LoadBalancer.operating_status,
    LoadBalancer.provisioning_status,
    LoadBalancer.enabled,
).where(LoadBalancer.id.in_(IDS))
READ_LISTENERS = select(
    Listener.id,
    Listener.load_balancer_id,
    Listener.operating_status,
    Listener.provisioning_status,
    Listener.enabled,
    Listener.protocol,
).where(Listener.load_balancer_id.in_(IDS))
READ_POOLS = select(
    Pool.id, Pool.load_balancer_id, Pool.operating_status, Pool.provisioning_status
).where(Pool.load_balancer_id.in_(IDS))
READ_MEMBERS = (
    select(Member.id, Member.pool_id, Member.operating_status, Member.provisioning_status)
    .join(Pool, Pool.id == Member.pool_id)
    .where(Pool.load_balancer_id.in_(IDS))
)


def _load_trees(conn: Connection, ids: list[str]) -> dict[str, LoadBalancerState]:
    trees: dict[str, LoadBalancerState] = {}
    chunk = {"ids": ids}
    for lb_id, operating, provisioning, enabled in conn.execute(READ_LOAD_BALANCERS, chunk):
        trees[lb_id] = LoadBalancerState(lb_id, operating, provisioning, enabled)
    for listener_id, lb_id, operating, provisioning, enabled, protocol in conn.execute(
        READ_LISTENERS, chunk
    ):
        deleting = provisioning == constants.PENDING_DELETE
        trees[lb_id].listeners[listener_id] = ListenerState(
            operating,
            enabled=enabled,
            deleting=deleting,
            reported=enabled and not deleting and protocol not in constants.LVS_PROTOCOLS,
        )
    for tree in trees.values():
        tree.reported_listeners = sum(1 for li in tree.listeners.values() if li.reported)
    pools: dict[str, PoolState] = {}
    for pool_id, lb_id, operating, provisioning in conn.execute(READ_POOLS, chunk):
        pool = PoolState(operating, deleting=provisioning == constants.PENDING_DELETE)
        pools[pool_id] = trees[lb_id].pools[pool_id] = pool
    for member_id, pool_id, operating, provisioning in conn.execute(READ_MEMBERS, chunk):
        pools[pool_id].members[member_id] = MemberState(
            operating, deleting=provisioning == constants.PENDING_DELETE
        )
    return trees


class Applier:
    """Applies batches of heartbeats; keeps what it read for ``max_age`` seconds."""

    def __init__(self, db: Database, max_age: float = 5.0) -> None:
        self.db = db
        self.max_age = max_age
        self._amphorae: dict[str, _Known] = {}
        self._trees: dict[str, tuple[LoadBalancerState, float]] = {}
        # What each amphora's last evaluated heartbeat said, to which tree.
        self._last_said: dict[str, tuple[LoadBalancerState, tuple[Any, ...]]] = {}
        # Active connections recorded per (listener, amphora).
        self._gauges: dict[tuple[str, str], int] = {}

    def _stamp(self, now: float) -> float:
        """When a read counts as made: up to half ``max_age`` earlier at random, so that what
        was read together is not all read again together."""
        return now - random.uniform(0, self.max_age / 2)

    @staticmethod
    def _said(lb: LoadBalancerState, message: dict[str, Any]) -> tuple[Any, ...]:
        """What ``evaluate`` depends on besides the tree itself: the tree's version and the
        statuses reported."""
        listeners = {
            key: value.get("status") if isinstance(value, dict) else None
            for key, value in message["listeners"].items()
        }
        return (lb.version, listeners, message["pools"])

    def _read(self, amphora_ids: set[str]) -> None:
        """Read again what is unknown or too old for this batch."""
        now = time.monotonic()
        # An amphora not heard yet (booting) is read again at every batch: it is heard from
        # the first heartbeat after it went into service.
        stale_amphorae = [
            amp_id
            for amp_id in amphora_ids
            if (known := self._amphorae.get(amp_id)) is None
            or known.status not in HEARD
            or now - known.read_at > self.max_age
        ]
        with self.db.read() as session:
            conn = session.connection()
            for ids in _chunks(stale_amphorae):
                found = {
                    amp_id: (lb_id, amp_status)
                    for amp_id, lb_id, amp_status in conn.execute(READ_AMPHORAE, {"ids": ids})
                }
                for amp_id in ids:
                    lb_id, amp_status = found.get(amp_id, (None, None))
                    self._amphorae[amp_id] = _Known(lb_id, amp_status, self._stamp(now))
                for listener_id, amp_id, active in conn.execute(READ_GAUGES, {"ids": ids}):
                    self._gauges[(listener_id, amp_id)] = active
            stale_trees = set()
            for amp_id in amphora_ids:
                known = self._amphorae[amp_id]
                if known.lb_id is None or known.status not in HEARD:
                    continue
                cached = self._trees.get(known.lb_id)
                if (
                    cached is None
                    or now - cached[1] > self.max_age
                    or cached[0].provisioning_status in constants.PENDING_STATUSES
                ):
                    stale_trees.add(known.lb_id)
            for ids in _chunks(stale_trees):
                loaded = _load_trees(conn, ids)
                for lb_id in ids:
                    if lb_id in loaded:
                        self._trees[lb_id] = (loaded[lb_id], self._stamp(now))
                    else:  # deleted meanwhile
                        self._trees.pop(lb_id, None)

    def apply(self, heartbeats: Sequence[Heartbeat]) -> Outcome:
        """Apply ``heartbeats`` (in order of arrival) in one write transaction."""
        outcome = Outcome()
        self._read({hb.message["id"] for hb in heartbeats})
        healthy: set[str] = set()
        deltas: dict[tuple[str, str], list[int]] = {}
        original: dict[tuple[str, str], str] = {}
        latest: dict[tuple[str, str], str] = {}
        for hb in heartbeats:
            amp_id = hb.message["id"]
            known = self._amphorae[amp_id]
            if known.status not in HEARD:
                outcome.ignored += 1
                continue
            cached = self._trees.get(known.lb_id) if known.lb_id else None
            lb = cached[0] if cached else None
            if lb is not None:
                _add_stats(deltas, lb, amp_id, hb.message["listeners"])
            if lb is not None and not status.counts(lb, hb.message):
                outcome.mismatched += 1
                continue
            healthy.add(amp_id)
            outcome.applied += 1
            if lb is not None and known.status == ALLOCATED and not lb.deleting:
                said = self._said(lb, hb.message)
                last = self._last_said.get(amp_id)
                if last is not None and last[0] is lb and last[1] == said:
                    continue  # the same news about the same tree: nothing would change
                changes = status.evaluate(lb, hb.message)
                for key, before in status.apply(lb, changes).items():
                    original.setdefault(key, before)
                self._last_said[amp_id] = (lb, self._said(lb, hb.message) if changes else said)
                for change in changes:
                    latest[(change.kind, change.id)] = change.status
        changed = {key: value for key, value in latest.items() if original[key] != value}
        stats_rows: list[dict[str, Any]] = [
            dict(zip(STATS_COLUMNS, (listener_id, amp_id, *figures), strict=True))
            for (listener_id, amp_id), figures in deltas.items()
            if any(figures[:4]) or self._gauges.get((listener_id, amp_id)) != figures[4]
        ]
        try:
            self._write(healthy, changed, stats_rows)
        except Exception:
            # What is kept may now differ from the database: read everything again.
            self._trees.clear()
            self._gauges.clear()
            raise
        for row in stats_rows:
            self._gauges[(row["listener_id"], row["amphora_id"])] = row[GAUGE_COLUMN]
        done = time.monotonic()
        outcome.writes = len(changed)
        outcome.latencies = [done - hb.received for hb in heartbeats]
        return outcome

    def _write(
        self,
        healthy: set[str],
        changed: dict[tuple[str, str], str],
        stats_rows: list[dict[str, Any]],
    ) -> None:
        now = datetime.now(UTC).replace(tzinfo=None)
        with self.db.write() as session:
            upsert.upsert(
                session,
                AmphoraHealth.__table__,  # type: ignore[arg-type]
                [{"amphora_id": amp_id, "last_update": now, "busy": False} for amp_id in healthy],
                {"last_update": upsert.replace},
            )
            by_status: dict[tuple[str, str], list[str]] = defaultdict(list)
            for (kind, object_id), value in changed.items():
                by_status[(kind, value)].append(object_id)
            for (kind, value), ids in by_status.items():
                model = MODELS[kind]
                for chunk in _chunks(ids):
                    session.execute(
                        update(model).where(model.id.in_(chunk)).values(operating_status=value)
                    )
            merge: dict[str, upsert.Merge] = {column: upsert.add for column in DELTA_COLUMNS}
            merge[GAUGE_COLUMN] = upsert.replace
            upsert.upsert(
                session,
                ListenerStatistics.__table__,  # type: ignore[arg-type]
                stats_rows,
                merge,
            )


def apply_batch(db: Database, heartbeats: Sequence[Heartbeat]) -> Outcome:
    """Apply one batch with nothing kept from before."""
    return Applier(db, max_age=0.0).apply(heartbeats)


def _add_stats(
    deltas: dict[tuple[str, str], list[int]],
    lb: LoadBalancerState,
    amp_id: str,
    listeners: dict[str, Any],
) -> None:
    """Add a heartbeat's figures to ``deltas``: [bytes in, bytes out, total connections,
    request errors, active connections]."""
    for listener_id, reported in listeners.items():
        if listener_id not in lb.listeners:
            continue
        try:
            stats = reported["stats"]
            figures = (stats["rx"], stats["tx"], stats["totconns"], stats["ereq"], stats["conns"])
        except (KeyError, TypeError):
            continue  # not what an agent sends
        if any(type(figure) is not int or figure < 0 for figure in figures):
            continue
        row = deltas.get((listener_id, amp_id))
        if row is None:
            deltas[(listener_id, amp_id)] = list(figures)
        else:
            row[0] += figures[0]
            row[1] += figures[1]
            row[2] += figures[2]
            row[3] += figures[3]
            row[4] = figures[4]
