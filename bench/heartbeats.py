"""How many heartbeats one health-manager process verifies and applies per second.

One health manager (Ostia's, in this process: one thread receiving, checking and applying in
batches) listens on 127.0.0.1; a separate sender process plays ``--amphorae`` amphorae (rows
created first in a fresh database: one load balancer each with a listener, a pool and two
members), each sending signed version-3 heartbeats with a growing sequence number and traffic
deltas; one member changes state every fifty heartbeats of its amphora, so operating statuses
are written too. The sender sends at ``--rate`` per second (0: as fast as it can, which on a
small machine takes CPU from the health manager) for ``--seconds``.

It prints heartbeats verified and applied per second, what was dropped (lost before the
socket because the health manager was behind, invalid, replayed, not applied), the health
manager's CPU time per heartbeat, and the p50/p99 latency from a datagram's arrival to the
commit of its batch. Baseline in the same run: decode + verify alone (no database), on the
same kind of datagrams; the ratio says what the database work costs. Goal (issue 5):
>= 10,000 applied per second with 1,000 amphorae.

    .venv/bin/python bench/heartbeats.py [--seconds 10] [--amphorae 1000] [--rate 15000]
        [--backend sqlite postgresql mariadb]
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import secrets
import socket
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, insert, text

from api import percentile
from ostia.agent import heartbeat
from ostia.db import migrate
from ostia.db.engine import Database
from ostia.db.models import Amphora, Listener, LoadBalancer, Member, Pool
from ostia.health.manager import HealthManager
from ostia.health.receiver import Verifier

GOAL = 10_000
POSTGRES_ADMIN_URL = os.environ.get(
    "OSTIA_TEST_POSTGRES", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
)
MARIADB_ADMIN_URL = os.environ.get("OSTIA_TEST_MARIADB", "mysql+pymysql://root@127.0.0.1:3306/")


@dataclass(frozen=True)
class Fleet:
    """What each simulated amphora reports: (amphora, listener, backend, member, member)."""

    amphorae: list[tuple[str, str, str, str, str]]


def new_id() -> str:
    return str(uuid.uuid4())


def populate(db: Database, count: int) -> Fleet:
    lbs, listeners, pools, members, amps = [], [], [], [], []
    fleet = []
    common = {"provisioning_status": "ACTIVE", "operating_status": "OFFLINE", "enabled": True}
    for _ in range(count):
        lb, listener, pool, m1, m2, amp = (new_id() for _ in range(6))
        lbs.append({"id": lb, "topology": "SINGLE", "tags": [], **common})
        listeners.append(
            {"id": listener, "load_balancer_id": lb, "protocol": "HTTP", "protocol_port": 80}
            | {"default_pool_id": None, "tags": [], **common}
        )
        pools.append(
            {"id": pool, "load_balancer_id": lb, "protocol": "HTTP"}
            | {"lb_algorithm": "ROUND_ROBIN", "tags": [], **common}
        )
        for n, member in enumerate((m1, m2)):
            members.append(
                {"id": member, "pool_id": pool, "ip_address": f"10.0.0.{n + 1}"}
                | {"protocol_port": 80, "tags": [], **common}
            )
        amps.append({"id": amp, "load_balancer_id": lb, "status": "ALLOCATED"})
        fleet.append((amp, listener, f"{pool}:{listener}", m1, m2))
    with db.write() as session:
        for model, rows in (
            (LoadBalancer, lbs),
            (Listener, listeners),
            (Pool, pools),
            (Member, members),
            (Amphora, amps),
        ):
            session.execute(insert(model), rows)
    return Fleet(fleet)


def message(amphora: tuple[str, str, str, str, str], seq: int) -> dict[str, Any]:
    amp, listener, backend, m1, m2 = amphora
    stats = {"rx": 300, "tx": 2000, "conns": seq % 7, "totconns": 2, "ereq": 0}
    return {
        "id": amp,
        "seq": seq,
        "ver": heartbeat.VERSION,
        "ts": time.time(),
        "listeners": {listener: {"status": "OPEN", "stats": stats}},
        "pools": {
            backend: {
                "status": "UP",
                "members": {m1: "UP", m2: "DOWN" if (seq // 50) % 2 else "UP"},
            }
        },
    }


def send(port: int, key: bytes, fleet: Fleet, seconds: float, rate: float, sent: Any) -> None:
    """The sender process: round robin over the fleet, paced at ``rate`` (0: unpaced)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    count, began = 0, time.monotonic()
    seqs = [0] * len(fleet.amphorae)
    while (elapsed := time.monotonic() - began) < seconds:
        if rate and count > elapsed * rate:
            time.sleep(0.001)
            continue
        index = count % len(fleet.amphorae)
        seqs[index] += 1
        sock.sendto(
            heartbeat.encode(message(fleet.amphorae[index], seqs[index]), key), ("127.0.0.1", port)
        )
        count += 1
    sent.value = count


def baseline(fleet: Fleet, key: bytes, count: int) -> float:
    """Decode + verify per second, no database."""
    datagrams = [
        heartbeat.encode(message(fleet.amphorae[i % len(fleet.amphorae)], i + 1), key)
        for i in range(count)
    ]
    verifier = Verifier(key, replay_window=60.0)
    began = time.perf_counter()
    for datagram in datagrams:
        verifier.check(datagram, time.monotonic(), time.time())
    rate = count / (time.perf_counter() - began)
    assert verifier.counters.verified == count
    return rate


@contextmanager
def database(backend: str) -> Iterator[str]:
    if backend == "sqlite":
        with tempfile.TemporaryDirectory(prefix="ostia-hb-") as directory:
            yield f"sqlite:///{Path(directory) / 'ostia.sqlite'}"
        return
    admin_url = POSTGRES_ADMIN_URL if backend == "postgresql" else MARIADB_ADMIN_URL
    name = f"ostia_bench_{secrets.token_hex(4)}"
    quote = '"' if backend == "postgresql" else "`"
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f"CREATE DATABASE {quote}{name}{quote}"))
    try:
        yield admin.url.set(database=name).render_as_string(hide_password=False)
    finally:
        force = " WITH (FORCE)" if backend == "postgresql" else ""
        with admin.connect() as conn:
            conn.execute(text(f"DROP DATABASE IF EXISTS {quote}{name}{quote}{force}"))
        admin.dispose()


def run(backend: str, args: argparse.Namespace) -> None:
    key = secrets.token_hex(32)
    with database(backend) as url:
        migrate.upgrade(url)
        db = Database(url)
        fleet = populate(db, args.amphorae)
        verify_rate = baseline(fleet, key.encode(), 20_000)
        manager = HealthManager(db, key, "127.0.0.1", 0, replay_window=60.0)
        manager.start()
        context = multiprocessing.get_context("spawn")
        sent = context.Value("q", 0)
        sender = context.Process(
            target=send,
            args=(manager.port, key.encode(), fleet, args.seconds, args.rate, sent),
        )
        sender.start()
        while manager.verifier.counters.received == 0 and sender.is_alive():
            time.sleep(0.001)
        began = time.monotonic()  # the sender's start-up is not counted
        cpu_began = time.process_time()
        sender.join()
        # Then until everything verified has been applied (bounded).
        deadline = time.monotonic() + 30
        totals = manager.totals
        while time.monotonic() < deadline:
            done = totals.applied + totals.ignored + totals.mismatched
            if done >= manager.verifier.counters.verified:
                break
            time.sleep(0.01)
        elapsed = time.monotonic() - began
        cpu = time.process_time() - cpu_began
        manager.stop()
        db.dispose()
    counters = manager.verifier.counters
    latencies = list(manager.latencies)
    applied_rate = totals.applied / elapsed
    offered = sent.value / args.seconds
    print(f"{backend}: {args.amphorae} amphorae, {elapsed:.1f} s, offered {offered:,.0f}/s")
    print(f"  verified  {counters.verified / elapsed:>9,.0f}/s")
    verdict = "met" if applied_rate >= GOAL else "NOT met"
    print(f"  applied   {applied_rate:>9,.0f}/s   (goal >= {GOAL:,}: {verdict})")
    print(
        f"  dropped   {sent.value - counters.received:,} before the socket, "
        f"{counters.invalid} invalid, {counters.replayed} replayed, "
        f"{counters.verified - totals.applied} verified but not applied, "
        f"{totals.failed_batches} failed batches"
    )
    print(f"  statuses written {totals.writes:,}")
    # The machine may be shared: what one core would do at this CPU cost per heartbeat.
    per_heartbeat = cpu / max(1, totals.applied) * 1e6
    print(
        f"  health manager CPU {cpu:.1f} s in {elapsed:.1f} s: {per_heartbeat:.0f} µs a "
        f"heartbeat, {totals.applied / cpu:,.0f}/s per CPU second"
    )
    if latencies:
        print(
            f"  apply latency p50 {percentile(latencies, 50) * 1000:.1f} ms, "
            f"p99 {percentile(latencies, 99) * 1000:.1f} ms"
        )
    ratio = applied_rate / verify_rate
    print(f"  baseline: decode + verify only {verify_rate:,.0f}/s; applied/baseline {ratio:.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--amphorae", type=int, default=1000)
    parser.add_argument(
        "--rate", type=float, default=15000.0, help="heartbeats a second sent (0: at most)"
    )
    parser.add_argument(
        "--backend", nargs="+", default=["sqlite"], choices=("sqlite", "postgresql", "mariadb")
    )
    args = parser.parse_args()
    for backend in args.backend:
        run(backend, args)


if __name__ == "__main__":
    main()
