"""The spare amphora pool (Octavia's ``[house_keeping] spare_amphora_pool_size``, INVENTORY
§6; Octavia has since removed it): amphorae booted in advance, so that a create configures one
instead of booting it.

A spare is a real amphora: its namespace, its management port, its agent with its server
certificate, sending heartbeats. Its row is ``BOOTING`` while it boots, then ``READY``, with
no load balancer and no role. A load balancer's amphorae are claimed from the READY spares,
oldest first (``amphora_store.claim_spare``, a compare-and-set, so two controllers never claim
the same one); the claim gives the row its load balancer and role and makes it ``BOOTING``,
and the provider then tells the agent the topology and configures it as usual.

The pool is refilled by a thread of the controller, never in a create's path: every
``spare_check_interval`` and at once after this controller claimed a spare or the failover
watch found a dead one. Each pass

1. removes the spares marked ``PENDING_DELETE``: silent ones (the failover watch marks READY
   spares whose heartbeats stopped, instead of failing them over) and those the admin API
   deleted;
2. removes the spares ``BOOTING`` for longer than ``BOOT_TIMEOUT`` (their controller died
   while booting them) and the READY spares beyond the pool's size (several controllers
   refilling at once, or a smaller size configured), newest first;
3. boots spares, one at a time, until READY and booting spares make the pool's size. Each
   boot waits (up to ``YIELD_AT_MOST``) while this controller builds, changes or deletes load
   balancers: a boot takes a core for a few hundred milliseconds, which the claim that woke
   the pool needs more.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Sequence
from datetime import timedelta
from typing import Protocol

from sqlalchemy import Select, func, select, update

from ostia.controller.amphora_store import BOOTING, PENDING_DELETE, READY
from ostia.db.amphora_requests import drop_spares
from ostia.db.engine import Database
from ostia.db.models import Amphora, utcnow

LOG = logging.getLogger(__name__)

# A spare still BOOTING after this long was left by a controller that died booting it (a
# boot takes at most the agent's start timeout, 30 s).
BOOT_TIMEOUT = 120.0
# How long a boot waits for the controller's load balancer work to end, and how often it looks.
YIELD_AT_MOST = 10.0
YIELD_POLL = 0.02


class SpareBooter(Protocol):
    """What the pool needs of the data plane (the amphora provider)."""

    def boot_spare(self) -> str: ...

    def busy(self) -> bool: ...

    def remove_spares(self, rows: Sequence[Amphora]) -> None: ...


def _spares() -> Select[Amphora]:
    return select(Amphora).where(Amphora.load_balancer_id.is_(None))


class SparePool:
    def __init__(self, db: Database, booter: SpareBooter, size: int, interval: float) -> None:
        self.db = db
        self.booter = booter
        self.size = size
        self.interval = interval
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._stop.clear()
        self._thread = threading.Thread(target=self._loop, name="spare-pool", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None

    def wake(self) -> None:
        """Refill now (a spare was claimed or lost)."""
        self._wake.set()

    def _loop(self) -> None:
        while not self._stop.is_set():
            self._wake.clear()
            try:
                self.run_pass()
            except Exception:
                LOG.exception("spare pool: pass failed; trying again in %g s", self.interval)
            self._wake.wait(self.interval)

    # -- one pass --------------------------------------------------------------------------

    def run_pass(self) -> int:
        """Remove dead, stuck and surplus spares, boot the missing ones; how many booted."""
        self._remove_unwanted()
        booted = 0
        while not self._stop.is_set() and self._count() < self.size:
            self._yield_to_builds()
            if self._stop.is_set():
                break
            self.booter.boot_spare()
            booted += 1
        return booted

    def _yield_to_builds(self) -> None:
        deadline = time.monotonic() + YIELD_AT_MOST
        while self.booter.busy() and time.monotonic() < deadline:
            if self._stop.wait(YIELD_POLL):
                return

    def _count(self) -> int:
        stmt = select(func.count()).select_from(
            _spares().where(Amphora.status.in_((READY, BOOTING))).subquery()
        )
        with self.db.read() as session:
            return int(session.scalar(stmt) or 0)

    def _remove_unwanted(self) -> None:
        stuck_since = utcnow() - timedelta(seconds=BOOT_TIMEOUT)
        with self.db.write() as session:
            ready = list(
                session.scalars(
                    _spares()
                    .where(Amphora.status == READY)
                    .order_by(Amphora.created_at.desc(), Amphora.id.desc())
                )
            )
            surplus = [row.id for row in ready[: max(0, len(ready) - self.size)]]
            if surplus:
                drop_spares(session, surplus)
            session.execute(
                update(Amphora)
                .where(
                    Amphora.load_balancer_id.is_(None),
                    Amphora.status == BOOTING,
                    Amphora.created_at < stuck_since,
                )
                .values(status=PENDING_DELETE)
            )
        with self.db.read() as session:
            doomed = list(session.scalars(_spares().where(Amphora.status == PENDING_DELETE)))
        if doomed:
            LOG.info("spare pool: removing %s", ", ".join(row.id for row in doomed))
            self.booter.remove_spares(doomed)
