"""What authentication costs: token issue and validation, and the overhead of tokens and
policy on an API request.

Starts two ``ostia up`` servers on SQLite (noop data plane): one with
``auth_strategy = noauth`` (identity from headers, policy still applied) as the baseline, one
with ``keystone`` (Fernet tokens from Ostia's identity service). Prints p50/p99 of:

- token issue by password (scrypt makes this slow on purpose) and by token (rescoping),
- token validation (``GET /identity/v3/auth/tokens``),
- ``GET /v2/lbaas/loadbalancers/{id}`` and a list of 20 in both servers, and the difference
  (the goal: at most 2 ms at p50).

    .venv/bin/python bench/auth.py [--samples 300]
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).parent))
from api import free_port, percentile  # noqa: E402

LBS = "/v2/lbaas/loadbalancers"


@contextmanager
def server(data_dir: Path, auth: str) -> Iterator[str]:
    port = free_port()
    env = {
        **os.environ,
        "OSTIA_DATA_DIR": str(data_dir),
        "OSTIA_API__BIND_PORT": str(port),
        "OSTIA_API__AUTH_STRATEGY": auth,
        "OSTIA_NETWORKING__MODE": "noop",
    }
    log = (data_dir / "server.log").open("wb")
    process = subprocess.Popen(
        [sys.executable, "-m", "ostia.cli", "up"], env=env, stdout=log, stderr=log
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                httpx.get(base + "/", timeout=1)
                break
            except httpx.TransportError:
                if process.poll() is not None or time.monotonic() > deadline:
                    raise SystemExit(f"Ostia did not start; see {data_dir}/server.log") from None
                time.sleep(0.1)
        yield base
    finally:
        process.terminate()
        process.wait(timeout=30)
        log.close()


def sample(call: Callable[[], httpx.Response], count: int, expect: int) -> list[float]:
    samples = []
    for _ in range(count):
        began = time.perf_counter()
        response = call()
        samples.append(time.perf_counter() - began)
        if response.status_code != expect:
            raise SystemExit(f"unexpected {response.status_code}: {response.text[:300]}")
    return samples


def line(name: str, samples: list[float]) -> tuple[float, float]:
    p50, p99 = statistics.median(samples), percentile(samples, 99)
    print(f"  {name:<44} p50 {p50 * 1000:8.2f} ms   p99 {p99 * 1000:8.2f} ms", flush=True)
    return p50, p99


def fill(client: httpx.Client) -> str:
    body = {"loadbalancer": {"vip_subnet_id": "3d6f1a52-9b0e-4c1e-8f3d-0a9b8c7d6e5f"}}
    ids = [client.post(LBS, json=body).json()["loadbalancer"]["id"] for _ in range(20)]
    while client.get(LBS, params={"provisioning_status": "PENDING_CREATE"}).json()["loadbalancers"]:
        time.sleep(0.01)
    return ids[0]


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--samples", type=int, default=300)
    n = parser.parse_args().samples
    with tempfile.TemporaryDirectory() as plain_dir, tempfile.TemporaryDirectory() as auth_dir:
        with server(Path(plain_dir), "noauth") as plain, server(Path(auth_dir), "keystone") as auth:
            print("noauth (baseline):", flush=True)
            client = httpx.Client(base_url=plain, headers={"X-Project-Id": "bench"}, timeout=30)
            lb_id = fill(client)
            show_plain, _ = line("show", sample(lambda: client.get(f"{LBS}/{lb_id}"), n, 200))
            list_plain, _ = line("list of 20", sample(lambda: client.get(LBS), n, 200))

            print("keystone (tokens):", flush=True)
            password = re.search(r"password: (\S+)", (Path(auth_dir) / "clouds.yaml").read_text())
            assert password is not None
            login = {
                "auth": {
                    "identity": {
                        "methods": ["password"],
                        "password": {
                            "user": {
                                "name": "admin",
                                "domain": {"name": "Default"},
                                "password": password.group(1),
                            }
                        },
                    },
                    "scope": {"project": {"name": "admin", "domain": {"name": "Default"}}},
                }
            }
            tokens = "/identity/v3/auth/tokens"
            keystone = httpx.Client(base_url=auth, timeout=30)
            issued = sample(lambda: keystone.post(tokens, json=login), max(10, n // 10), 201)
            line("token issue (password, scrypt)", issued)
            token = keystone.post(tokens, json=login).headers["X-Subject-Token"]
            rescope = {
                "auth": {
                    "identity": {"methods": ["token"], "token": {"id": token}},
                    "scope": {"project": {"name": "admin", "domain": {"name": "Default"}}},
                }
            }
            line(
                "token issue (token method)",
                sample(lambda: keystone.post(tokens, json=rescope), n, 201),
            )
            keystone.headers["X-Auth-Token"] = token
            validate = {"X-Subject-Token": token}
            line(
                "token validation (GET auth/tokens)",
                sample(lambda: keystone.get(tokens, headers=validate), n, 200),
            )
            lb_id = fill(keystone)
            show_auth, _ = line("show", sample(lambda: keystone.get(f"{LBS}/{lb_id}"), n, 200))
            list_auth, _ = line("list of 20", sample(lambda: keystone.get(LBS), n, 200))
            show_delta = (show_auth - show_plain) * 1000
            list_delta = (list_auth - list_plain) * 1000
            print(
                f"overhead of tokens and policy at p50: show {show_delta:+.2f} ms, "
                f"list {list_delta:+.2f} ms (goal: at most 2 ms)",
                flush=True,
            )


if __name__ == "__main__":
    main()
