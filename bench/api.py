"""API latency and provisioning speed, against Octavia's published figures.

Starts ``ostia up`` (a real server process, noop data plane) on SQLite and on PostgreSQL
(and, on PostgreSQL, also the API and the controller as separate processes),
fills it with 1,000 load balancers (each with a listener, a pool and two members), then
measures over HTTP with one keep-alive client:

- create: the POST answer of a plain load balancer create,
- show, list of 100, list of 1,000, status tree,
- create -> ACTIVE: from the POST answer until a client polling every 2 ms sees ACTIVE,
- 100 load balancers created back to back -> all ACTIVE.

Octavia 19's figures on a machine like this one (noop drivers; from the issue) are the
baseline: the script prints each Ostia figure with the ratio Octavia / Ostia (higher is
better; the goal is at least 5).

    .venv/bin/python bench/api.py [--backends sqlite,postgresql] [--quick]
"""

from __future__ import annotations

import argparse
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
from sqlalchemy import create_engine, text

POSTGRES_ADMIN_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
HEADERS = {"X-Project-Id": "bench", "X-User-Id": "bench"}
VIP_SUBNET = "3d6f1a52-9b0e-4c1e-8f3d-0a9b8c7d6e5f"
LBS = "/v2/lbaas/loadbalancers"

# Octavia 19 API, noop drivers, on a 2-core machine (seconds).
OCTAVIA = {
    "create (POST answer) p50": 0.061,
    "show p50": 0.023,
    "list 100 p50": 0.069,
    "list 100 p99": 0.295,
    "create -> ACTIVE p50": 0.680,
    "100 back to back -> all ACTIVE": 52.8 * 100 / 90,
}


def percentile(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    index = min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))
    return ordered[index]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def postgres_database() -> Iterator[str]:
    name = f"ostia_bench_{uuid.uuid4().hex[:8]}"
    admin = create_engine(POSTGRES_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield admin.url.set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@contextmanager
def ostia_server(database_url: str, data_dir: Path, split: bool) -> Iterator[str]:
    """``ostia up`` (API and controller in one process), or with ``split`` the API and the
    controller as two processes, as Octavia runs its API and worker."""
    port = free_port()
    env = {
        **os.environ,
        "OSTIA_DATA_DIR": str(data_dir),
        "OSTIA_DATABASE__URL": database_url,
        "OSTIA_API__BIND_PORT": str(port),
        "OSTIA_API__PAGINATION_MAX_LIMIT": "1000",
    }
    log = (data_dir / "server.log").open("wb")

    def start(*command: str) -> subprocess.Popen[bytes]:
        return subprocess.Popen(
            [sys.executable, "-m", "ostia.cli", *command], env=env, stdout=log, stderr=log
        )

    if split:
        subprocess.run([sys.executable, "-m", "ostia.cli", "db", "upgrade"], env=env, check=True)
        processes = [start("api"), start("controller")]
    else:
        processes = [start("up")]
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                httpx.get(base + "/", timeout=1)
                break
            except httpx.TransportError:
                if any(p.poll() is not None for p in processes) or time.monotonic() > deadline:
                    raise SystemExit(
                        f"Ostia did not start; see {data_dir / 'server.log'}"
                    ) from None
                time.sleep(0.1)
        yield base
    finally:
        for process in processes:
            process.terminate()
            process.wait(timeout=30)
        log.close()


def tree_body(i: int) -> dict[str, object]:
    return {
        "loadbalancer": {
            "name": f"lb-{i}",
            "vip_subnet_id": VIP_SUBNET,
            "listeners": [
                {"protocol": "HTTP", "protocol_port": 80, "default_pool": {"name": "pool"}}
            ],
            "pools": [
                {
                    "name": "pool",
                    "protocol": "HTTP",
                    "lb_algorithm": "ROUND_ROBIN",
                    "members": [
                        {"address": "203.0.113.1", "protocol_port": 80},
                        {"address": "203.0.113.2", "protocol_port": 80},
                    ],
                }
            ],
        }
    }


def timed(call: Callable[[], httpx.Response], count: int, expect: int = 200) -> list[float]:
    samples = []
    for _ in range(count):
        began = time.perf_counter()
        response = call()
        samples.append(time.perf_counter() - began)
        if response.status_code != expect:
            raise SystemExit(f"unexpected {response.status_code}: {response.text[:300]}")
    return samples


def wait_all_active(client: httpx.Client) -> None:
    """Until no load balancer is being created any more."""
    while True:
        page = client.get(LBS, params={"provisioning_status": "PENDING_CREATE", "limit": 1})
        if not page.json()["loadbalancers"]:
            return
        time.sleep(0.005)


def measure(base: str, fill: int, quick: bool) -> dict[str, float]:
    n = 50 if quick else 300
    client = httpx.Client(base_url=base, headers=HEADERS, timeout=60)
    print(f"  filling with {fill} load balancers (listener, pool, 2 members each) ...", flush=True)
    ids = []
    for i in range(fill):
        ids.append(client.post(LBS, json=tree_body(i)).json()["loadbalancer"]["id"])
        if (i + 1) % 250 == 0:
            print(f"    {i + 1}/{fill}", flush=True)
    wait_all_active(client)
    results: dict[str, float] = {}

    def record(name: str, samples: list[float]) -> None:
        results[f"{name} p50"] = statistics.median(samples)
        results[f"{name} p99"] = percentile(samples, 99)

    print("  measuring requests ...", flush=True)
    plain = {"loadbalancer": {"vip_subnet_id": VIP_SUBNET}}
    record("create (POST answer)", timed(lambda: client.post(LBS, json=plain), n, expect=201))
    wait_all_active(client)
    record("show", timed(lambda: client.get(f"{LBS}/{ids[len(ids) // 2]}"), n))
    record("list 100", timed(lambda: client.get(LBS, params={"limit": 100}), n))
    record("list 1000", timed(lambda: client.get(LBS, params={"limit": 1000}), max(10, n // 10)))
    record("status tree", timed(lambda: client.get(f"{LBS}/{ids[len(ids) // 3]}/status"), n))

    print("  measuring create -> ACTIVE ...", flush=True)
    to_active = []
    for _ in range(n // 5):
        lb_id = client.post(LBS, json=plain).json()["loadbalancer"]["id"]
        answered = time.perf_counter()
        while (
            client.get(f"{LBS}/{lb_id}").json()["loadbalancer"]["provisioning_status"] != "ACTIVE"
        ):
            time.sleep(0.002)
        to_active.append(time.perf_counter() - answered)
    record("create -> ACTIVE", to_active)

    print("  measuring 100 back to back ...", flush=True)
    began = time.perf_counter()
    for _ in range(100):
        client.post(LBS, json=plain)
    wait_all_active(client)
    results["100 back to back -> all ACTIVE"] = time.perf_counter() - began
    client.close()
    return results


def report(backend: str, results: dict[str, float]) -> None:
    print(f"\n{backend}: {'measure':<34} {'Ostia':>10} {'Octavia':>10} {'ratio':>7}")
    for name, value in results.items():
        baseline = OCTAVIA.get(name)
        ratio = f"{baseline / value:6.1f}x" if baseline else ""
        octavia = f"{baseline * 1000:8.1f}ms" if baseline else ""
        print(f"{'':{len(backend) + 2}}{name:<34} {value * 1000:8.2f}ms {octavia:>10} {ratio:>7}")


BACKENDS = ("sqlite", "postgresql", "postgresql-split")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument(
        "--backends",
        default=",".join(BACKENDS),
        help="sqlite and postgresql run `ostia up`; postgresql-split runs `ostia api` and "
        "`ostia controller` as two processes",
    )
    parser.add_argument("--quick", action="store_true", help="fewer samples, 200 load balancers")
    args = parser.parse_args()
    fill = 200 if args.quick else 1000
    for backend in args.backends.split(","):
        if backend not in BACKENDS:
            raise SystemExit(f"unknown backend {backend}; choose from {', '.join(BACKENDS)}")
        print(f"== {backend}", flush=True)
        with tempfile.TemporaryDirectory(prefix="ostia-bench-") as scratch:
            data_dir = Path(scratch)
            split = backend.endswith("-split")
            if backend == "sqlite":
                with ostia_server(
                    f"sqlite:///{data_dir / 'ostia.sqlite'}", data_dir, split
                ) as base:
                    report(backend, measure(base, fill, args.quick))
            else:
                with postgres_database() as url, ostia_server(url, data_dir, split) as base:
                    report(backend, measure(base, fill, args.quick))


if __name__ == "__main__":
    main()
