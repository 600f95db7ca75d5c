"""The heartbeat sender: every ``heartbeat_interval`` seconds, what HAProxy's stats socket says
of the listeners (FRONTEND rows), pools (BACKEND rows) and members (server rows), with the
traffic counters as deltas since the last heartbeat, sent over UDP to every health manager of
``controller_ip_port_list`` (INVENTORY §5.1).

The counters last sent are kept in ``stats_counters.json``, so a restarted agent does not
report HAProxy's totals a second time. A counter lower than last time (HAProxy reloaded) is
reported whole. The sequence number starts at the agent's start time in milliseconds: it
grows across agent restarts, so the receiver may drop every message whose number is not
greater than the last one it saw.
"""

from __future__ import annotations

import csv
import io
import json
import logging
import socket
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ostia.agent import files, heartbeat
from ostia.agent.config import parse_destination
from ostia.agent.haproxy import socket_command

log = logging.getLogger(__name__)

# Message key → HAProxy `show stat` column; all but `conns` are sent as deltas.
COUNTERS = {"rx": "bin", "tx": "bout", "totconns": "stot", "ereq": "ereq"}
GAUGES = {"conns": "scur"}


def parse_show_stat(text: str) -> list[dict[str, str]]:
    """The rows of HAProxy's ``show stat`` CSV, by column name."""
    text = text.lstrip()
    if not text.startswith("# "):
        return []
    return list(csv.DictReader(io.StringIO(text[2:])))


def _number(value: str | None) -> int:
    try:
        return int(value or 0)
    except ValueError:
        return 0


def statuses(rows: list[dict[str, str]]) -> tuple[dict[str, Any], dict[str, Any]]:
    """The message's ``listeners`` (status and absolute counters) and ``pools``."""
    listeners: dict[str, Any] = {}
    pools: dict[str, Any] = {}
    for row in rows:
        name, kind, status = row.get("pxname", ""), row.get("svname", ""), row.get("status", "")
        if kind == "FRONTEND":
            counters = {key: _number(row.get(col)) for key, col in (COUNTERS | GAUGES).items()}
            listeners[name] = {"status": status, "stats": counters}
        elif kind == "BACKEND":
            pools.setdefault(name, {"members": {}})["status"] = status
        else:
            pools.setdefault(name, {"members": {}})["members"][kind] = status
    return listeners, pools


class Deltas:
    """Counters since the last heartbeat, per listener, persisted in ``path``."""

    def __init__(self, path: Path) -> None:
        self.path = path
        try:
            self.last: dict[str, dict[str, int]] = json.loads(path.read_text())
        except (OSError, ValueError):
            self.last = {}

    def apply(self, listeners: dict[str, Any]) -> None:
        """Replace the listeners' absolute counters by deltas, and remember them."""
        current: dict[str, dict[str, int]] = {}
        for listener_id, listener in listeners.items():
            stats = listener["stats"]
            before = self.last.get(listener_id, {})
            current[listener_id] = {key: stats[key] for key in COUNTERS}
            for key in COUNTERS:
                previous = before.get(key, 0)
                stats[key] = stats[key] - previous if stats[key] >= previous else stats[key]
        if current != self.last:
            self.last = current
            files.write(self.path, json.dumps(current).encode())


class HeartbeatSender:
    """A daemon thread sending this amphora's heartbeats.

    ``stats_socket`` gives the path of HAProxy's stats socket, or None when HAProxy does
    not run; ``silent`` says when to send nothing (keepalived should run and does not: the
    health manager must see this amphora die, as Octavia's sender does).
    """

    def __init__(
        self,
        amphora_id: str,
        key: str,
        interval: float,
        destinations: list[str],
        counters_file: Path,
        stats_socket: Callable[[], Path | None],
        silent: Callable[[], bool],
    ) -> None:
        self.amphora_id = amphora_id
        self.key = key.encode()
        self.interval = interval
        self.destinations = [parse_destination(entry) for entry in destinations]
        self.deltas = Deltas(counters_file)
        self.stats_socket = stats_socket
        self.silent = silent
        self.seq = int(time.time() * 1000)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._sockets: dict[int, socket.socket] = {}

    def message(self) -> dict[str, Any]:
        rows: list[dict[str, str]] = []
        path = self.stats_socket()
        if path is not None:
            try:
                rows = parse_show_stat(socket_command(path, "show stat"))
            except OSError as exc:
                log.warning("heartbeat: HAProxy's stats socket does not answer: %s", exc)
        listeners, pools = statuses(rows)
        self.deltas.apply(listeners)
        self.seq += 1
        return {
            "id": self.amphora_id,
            "seq": self.seq,
            "ver": heartbeat.VERSION,
            "ts": time.time(),
            "listeners": listeners,
            "pools": pools,
        }

    def send(self) -> None:
        if self.silent():
            return
        datagram = heartbeat.encode(self.message(), self.key)
        for host, port in self.destinations:
            family = socket.AF_INET6 if ":" in host else socket.AF_INET
            sock = self._sockets.get(family)
            if sock is None:
                sock = self._sockets[family] = socket.socket(family, socket.SOCK_DGRAM)
            try:
                sock.sendto(datagram, (host, port))
            except OSError as exc:
                log.warning("heartbeat to %s:%d not sent: %s", host, port, exc)

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="heartbeat", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        for sock in self._sockets.values():
            sock.close()

    def _run(self) -> None:
        while not self._stop.is_set():
            began = time.monotonic()
            try:
                self.send()
            except Exception:
                log.exception("heartbeat failed")
            self._stop.wait(max(0.0, self.interval - (time.monotonic() - began)))
