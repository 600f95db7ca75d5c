"""The failover watch: amphorae silent for longer than the heartbeat timeout are replaced.

Every ``interval`` it looks for stale amphorae: ALLOCATED (or FAILOVER_STOPPED, or READY
spares) ones whose last heartbeat (``amphora_health.last_update``, written by the health
manager) is older than ``heartbeat_timeout``, or that have sent none at all, and whose row has
not changed for that long either: an amphora being built is not ALLOCATED yet, and one just
built (or repaired, or marked) has a heartbeat timeout to be heard from. Stale spares count
towards the circuit breaker's threshold.

- Circuit breaker (Octavia's ``failover_threshold``): when that many or more are silent at
  once (stale, or silent for all but the last heartbeat interval of the timeout: amphorae
  that stopped together go stale up to one interval apart, and would otherwise be counted
  in different passes), something bigger than an amphora is wrong (the management network,
  the health manager): they are marked FAILOVER_STOPPED and none is failed over. An
  operator's failover call still replaces them; one heard from again goes back to ALLOCATED.
- Otherwise each load balancer with stale amphorae that is ACTIVE or ERROR goes
  PENDING_UPDATE and its stale amphorae PENDING_DELETE, in one transaction (the same request
  as the amphora failover API's): the reconciler builds their replacements. A busy load
  balancer is left to the next pass.
- A stale spare (READY, no load balancer) has nothing to fail over: it is marked
  PENDING_DELETE (unless claimed meanwhile) and ``on_spares_lost`` is called; the spare pool
  removes it and boots another.

Nothing here touches the data plane. The first pass waits one heartbeat timeout after the
start, as Octavia's does, so that a restarted controller hears its amphorae first.
"""

from __future__ import annotations

import logging
import threading
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from sqlalchemy import and_, func, or_, select, update

from ostia import constants
from ostia.db.amphora_requests import (
    ALLOCATED,
    FAILOVER_STOPPED,
    READY,
    REPLACEABLE,
    drop_spares,
    request_replacement,
)
from ostia.db.engine import Database
from ostia.db.models import Amphora, AmphoraHealth, LoadBalancer
from ostia.db.notify import WorkSignal

LOG = logging.getLogger(__name__)


@dataclass
class Pass:
    """What one pass saw and did (amphora ids)."""

    stale: list[str] = field(default_factory=list)
    stopped: list[str] = field(default_factory=list)
    failed_over: list[str] = field(default_factory=list)
    spares_lost: list[str] = field(default_factory=list)


class _Busy(Exception):
    """The load balancer or its amphorae changed meanwhile: this request is dropped."""


def _now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


class FailoverWatch:
    def __init__(
        self,
        db: Database,
        signal: WorkSignal,
        heartbeat_timeout: float,
        failover_threshold: int | None,
        interval: float = 1.0,
        heartbeat_interval: float = 0.0,
    ) -> None:
        self.db = db
        self.signal = signal
        self.timeout = heartbeat_timeout
        self.threshold = failover_threshold
        self.interval = interval
        self.heartbeat_interval = heartbeat_interval
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        # Called when stale spares were marked PENDING_DELETE (the spare pool's wake-up).
        self.on_spares_lost: Callable[[], None] = lambda: None

    def start(self) -> None:
        self._stop.clear()
        self._thread = threading.Thread(target=self._loop, name="failover-watch", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()

    def _loop(self) -> None:
        if self._stop.wait(self.timeout):
            return
        while not self._stop.is_set():
            try:
                self.run_pass()
            except Exception:
                LOG.exception("failover watch pass failed; retrying")
            self._stop.wait(self.interval)

    # -- one pass ------------------------------------------------------------------------------

    def run_pass(self) -> Pass:
        cutoff = _now() - timedelta(seconds=self.timeout)
        # Silent: heard from last before this (what the circuit breaker counts).
        silent_since = cutoff + timedelta(seconds=self.heartbeat_interval)
        self._revive(silent_since)
        done = Pass(stale=self._stale(cutoff))
        if not done.stale:
            return done
        silent = self._stale(silent_since) if self.threshold is not None else []
        if self.threshold is not None and len(silent) >= self.threshold:
            done.stopped = self._stop_failovers(silent)
            if done.stopped:
                LOG.error(
                    "%d amphorae are silent at once (failover_threshold %d): no failover; "
                    "marked FAILOVER_STOPPED: %s",
                    len(silent),
                    self.threshold,
                    ", ".join(done.stopped),
                )
            return done
        by_lb: dict[str, list[str]] = defaultdict(list)
        spares = []
        with self.db.read() as session:
            for amphora_id, lb_id, status in session.execute(
                select(Amphora.id, Amphora.load_balancer_id, Amphora.status).where(
                    Amphora.id.in_(done.stale)
                )
            ):
                if status == READY:
                    spares.append(amphora_id)
                elif lb_id is not None:
                    by_lb[lb_id].append(amphora_id)
        if spares:
            done.spares_lost = self._drop_spares(spares)
        for lb_id, amphora_ids in sorted(by_lb.items()):
            if self._request_failover(lb_id, amphora_ids):
                LOG.warning(
                    "amphorae %s of load balancer %s are silent for more than %g s: "
                    "failing them over",
                    ", ".join(amphora_ids),
                    lb_id,
                    self.timeout,
                )
                done.failed_over.extend(amphora_ids)
        return done

    def _drop_spares(self, amphora_ids: list[str]) -> list[str]:
        """Stale spares PENDING_DELETE for the spare pool to remove, unless claimed since."""
        with self.db.write() as session:
            dropped = drop_spares(session, amphora_ids)
        if dropped:
            LOG.warning(
                "spare amphorae %s are silent for more than %g s: removing them",
                ", ".join(dropped),
                self.timeout,
            )
            self.on_spares_lost()
        return dropped

    def _revive(self, silent_since: datetime) -> None:
        """FAILOVER_STOPPED amphorae heard from again are ALLOCATED again."""
        heard = (
            select(Amphora.id)
            .join(AmphoraHealth, AmphoraHealth.amphora_id == Amphora.id)
            .where(Amphora.status == FAILOVER_STOPPED, AmphoraHealth.last_update >= silent_since)
        )
        with self.db.read() as session:
            revived = list(session.scalars(heard))
        if not revived:
            return
        with self.db.write() as session:
            session.execute(
                update(Amphora)
                .where(Amphora.id.in_(revived), Amphora.status == FAILOVER_STOPPED)
                .values(status=ALLOCATED)
            )
        LOG.info("amphorae heard from again, failovers possible again: %s", ", ".join(revived))

    def _stale(self, cutoff: datetime) -> list[str]:
        stmt = (
            select(Amphora.id)
            .outerjoin(AmphoraHealth, AmphoraHealth.amphora_id == Amphora.id)
            .where(
                Amphora.status.in_((*REPLACEABLE, READY)),
                func.coalesce(Amphora.updated_at, Amphora.created_at) < cutoff,
                or_(
                    AmphoraHealth.amphora_id.is_(None),
                    and_(AmphoraHealth.last_update < cutoff, AmphoraHealth.busy.isnot(True)),
                ),
            )
            .order_by(Amphora.id)
        )
        with self.db.read() as session:
            return list(session.scalars(stmt))

    def _stop_failovers(self, amphora_ids: list[str]) -> list[str]:
        with self.db.write() as session:
            newly = list(
                session.scalars(
                    select(Amphora.id).where(
                        Amphora.id.in_(amphora_ids), Amphora.status == ALLOCATED
                    )
                )
            )
            if newly:
                session.execute(
                    update(Amphora)
                    .where(Amphora.id.in_(newly), Amphora.status == ALLOCATED)
                    .values(status=FAILOVER_STOPPED)
                )
        return newly

    def _request_failover(self, lb_id: str, amphora_ids: list[str]) -> bool:
        """Load balancer PENDING_UPDATE, its stale amphorae PENDING_DELETE, or nothing."""
        try:
            with self.db.write() as session:
                taken = session.execute(
                    update(LoadBalancer)
                    .where(
                        LoadBalancer.id == lb_id,
                        LoadBalancer.provisioning_status.in_(constants.FAILOVERABLE_STATUSES),
                    )
                    .values(provisioning_status=constants.PENDING_UPDATE)
                )
                if taken.rowcount != 1:  # type: ignore[attr-defined]
                    raise _Busy
                for amphora_id in amphora_ids:
                    amphora = session.get(
                        Amphora, amphora_id, with_for_update=True, populate_existing=True
                    )
                    if amphora is None or amphora.status not in REPLACEABLE:
                        raise _Busy
                    request_replacement(session, amphora)
                self.signal.announce(session)
        except _Busy:
            return False
        self.signal.wake()
        return True
