"""The health manager's heartbeat side: one thread that receives heartbeats on the management
network, checks them, and applies what arrived within ``BATCH_WINDOW`` in one transaction.

One thread, not a receiver and an applier: two busy threads would hand the interpreter's lock
back and forth at every datagram, which costs more than the work. While a batch is written,
new datagrams wait in the socket's buffer.

The socket is made in the controller's namespace (``<prefix>-ctl``), where the controller's
management address lives, and bound to that address: the root namespace never sees it.
"""

from __future__ import annotations

import collections
import logging
import select
import socket
import threading
import time
from dataclasses import dataclass

from ostia.db.engine import Database
from ostia.drivers.netns import inside
from ostia.health.applier import Applier, Heartbeat, Outcome
from ostia.health.receiver import Verifier, drain

LOG = logging.getLogger(__name__)

# At most this many heartbeats in one transaction.
MAX_BATCH = 5000
# A batch gathers what arrives within this time of its first heartbeat: one transaction
# for many heartbeats, against a delay far below the heartbeat interval.
BATCH_WINDOW = 0.05
# How often an idle loop looks whether it should stop.
STOP_CHECK = 0.2
# Room for the datagrams arriving while a batch is written.
RECEIVE_BUFFER = 8 * 1024 * 1024
# Apply latencies kept, for the bench and for logs.
LATENCY_SAMPLES = 100_000
# How often dropped heartbeats (bad HMAC, replays) are reported in the log, at most.
DROP_REPORT_INTERVAL = 60.0


@dataclass
class Totals:
    applied: int = 0
    ignored: int = 0
    mismatched: int = 0
    writes: int = 0
    failed_batches: int = 0


def bind_socket(address: str, port: int, namespace: str | None) -> socket.socket:
    """A non-blocking UDP socket on address:port, made in ``namespace``."""
    family = socket.AF_INET6 if ":" in address else socket.AF_INET
    if namespace is None:
        sock = socket.socket(family, socket.SOCK_DGRAM)
    else:
        with inside(namespace):
            sock = socket.socket(family, socket.SOCK_DGRAM)
    try:
        # Capped by net.core.rmem_max.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, RECEIVE_BUFFER)
        # Controllers of one site on one machine share the address: the kernel gives each
        # amphora's heartbeats to one of them.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        sock.bind((address, port))
        sock.setblocking(False)
    except OSError:
        sock.close()
        raise
    return sock


class HealthManager:
    def __init__(
        self,
        db: Database,
        key: str,
        address: str,
        port: int,
        *,
        namespace: str | None = None,
        replay_window: float = 30.0,
    ) -> None:
        self.applier = Applier(db)
        self.address, self.port, self.namespace = address, port, namespace
        self.verifier = Verifier(key.encode(), replay_window)
        self.totals = Totals()
        self.latencies: collections.deque[float] = collections.deque(maxlen=LATENCY_SAMPLES)
        self._stop = threading.Event()
        self._sock: socket.socket | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._sock = bind_socket(self.address, self.port, self.namespace)
        self.port = self._sock.getsockname()[1]  # when asked for any port
        self._stop.clear()
        self._thread = threading.Thread(
            target=self._run, args=(self._sock,), name="health-manager", daemon=True
        )
        self._thread.start()
        LOG.info("health manager: heartbeats on %s:%d", self.address, self.port)

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        if self._sock is not None:
            self._sock.close()

    def _run(self, sock: socket.socket) -> None:
        poller = select.poll()
        poller.register(sock, select.POLLIN)
        batch: list[Heartbeat] = []
        reported, report_at = (0, 0), time.monotonic() + DROP_REPORT_INTERVAL
        while not self._stop.is_set():
            if time.monotonic() >= report_at:
                reported = self._report_drops(reported)
                report_at = time.monotonic() + DROP_REPORT_INTERVAL
            wait = STOP_CHECK
            if batch:
                wait = max(0.0, batch[0].received + BATCH_WINDOW - time.monotonic())
            if wait > 0 and poller.poll(wait * 1000):
                try:
                    drain(sock, self.verifier, batch, MAX_BATCH - len(batch))
                except OSError as exc:
                    LOG.error("heartbeat socket failed: %s", exc)
                    return
            if batch and (
                len(batch) >= MAX_BATCH or time.monotonic() >= batch[0].received + BATCH_WINDOW
            ):
                self._apply(batch)
                batch = []
        if batch:
            self._apply(batch)

    def _report_drops(self, before: tuple[int, int]) -> tuple[int, int]:
        counters = self.verifier.counters
        now = (counters.invalid, counters.replayed)
        if now != before:
            LOG.warning(
                "heartbeats dropped in the last %g s: %d with a bad signature or form, %d replayed",
                DROP_REPORT_INTERVAL,
                now[0] - before[0],
                now[1] - before[1],
            )
        return now

    def _apply(self, batch: list[Heartbeat]) -> None:
        try:
            self._record(self.applier.apply(batch))
        except Exception:
            self.totals.failed_batches += 1
            LOG.exception("applying %d heartbeats failed", len(batch))

    def _record(self, outcome: Outcome) -> None:
        self.totals.applied += outcome.applied
        self.totals.ignored += outcome.ignored
        self.totals.mismatched += outcome.mismatched
        self.totals.writes += outcome.writes
        self.latencies.extend(outcome.latencies)
