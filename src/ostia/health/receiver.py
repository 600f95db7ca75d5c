"""Receiving heartbeats: every datagram is checked (HMAC under the heartbeat key, then a
replay check) before anything of it is used; what fails is counted and dropped.

A replay is a message whose sequence number is not greater than the last one seen from the
same amphora (the agents' numbers grow across their restarts), or one sent longer ago than
``replay_window`` seconds (which also covers the receiver's own restart, after which it has
seen no numbers yet).
"""

from __future__ import annotations

import logging
import socket
import time
from dataclasses import dataclass

import orjson

from ostia.agent import heartbeat
from ostia.health.applier import Heartbeat

LOG = logging.getLogger(__name__)


@dataclass
class Counters:
    received: int = 0
    verified: int = 0
    invalid: int = 0  # bad HMAC, or not a heartbeat
    replayed: int = 0


class Verifier:
    """Turns datagrams into heartbeats, or counts why not."""

    def __init__(self, key: bytes, replay_window: float) -> None:
        self.key = key
        self.replay_window = replay_window
        self.counters = Counters()
        self._last_seq: dict[str, int] = {}

    def check(self, datagram: bytes, received: float, now: float) -> Heartbeat | None:
        """``received`` is the monotonic clock, ``now`` the wall clock, at arrival."""
        self.counters.received += 1
        try:
            message = heartbeat.decode(datagram, self.key, orjson.loads)
        except heartbeat.InvalidHeartbeat as exc:
            self.counters.invalid += 1
            LOG.debug("heartbeat dropped: %s", exc)
            return None
        amp_id, seq, sent = message["id"], message["seq"], message.get("ts")
        fresh = isinstance(sent, int | float) and abs(now - sent) <= self.replay_window
        if not fresh or seq <= self._last_seq.get(amp_id, -1):
            self.counters.replayed += 1
            LOG.debug("heartbeat of amphora %s dropped as a replay (seq %s)", amp_id, seq)
            return None
        self._last_seq[amp_id] = seq
        self.counters.verified += 1
        return Heartbeat(message, received)


def drain(sock: socket.socket, verifier: Verifier, into: list[Heartbeat], limit: int) -> int:
    """Take the datagrams waiting on the non-blocking ``sock`` (at most ``limit``), adding
    the verified heartbeats to ``into``; how many datagrams there were."""
    count = 0
    while count < limit:
        try:
            datagram = sock.recv(heartbeat.MAX_SIZE)
        except BlockingIOError:
            break
        count += 1
        hb = verifier.check(datagram, time.monotonic(), time.time())
        if hb is not None:
            into.append(hb)
    return count
