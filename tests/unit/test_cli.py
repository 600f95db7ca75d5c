"""The ``ostia`` command as a person runs it: the demonstration, ``up``, ``db upgrade``."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

from ostia.db import migrate


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def ostia(*args: str) -> list[str]:
    return [sys.executable, "-m", "ostia.cli", *args]


def test_db_upgrade(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'x.sqlite'}"
    result = subprocess.run(
        ostia("db", "upgrade"),
        env={**os.environ, "OSTIA_DATABASE__URL": url},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert "is at the current schema" in result.stdout
    assert migrate.is_current(url)


def test_api_refuses_an_old_schema(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'empty.sqlite'}"
    result = subprocess.run(
        ostia("api"),
        env={**os.environ, "OSTIA_DATABASE__URL": url},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode != 0
    assert "run 'ostia db upgrade' first" in result.stderr


def test_demo_runs_to_the_end(tmp_path: Path) -> None:
    """The README's main command: a real ACTIVE_STANDBY load balancer, traffic through its
    VIP, the MASTER killed, and nothing left afterwards."""
    before = set(
        subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout.split()
    )
    result = subprocess.run(
        ostia("demo", "--port", str(free_port())),
        env={**os.environ, "OSTIA_DATA_DIR": str(tmp_path)},
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    out = result.stdout
    assert "logged in to /identity/v3 as admin" in out
    assert "subnet lb-vip-subnet 10.240.1.0/24" in out
    assert "web server web1 at 192.168.1.14:80" in out
    assert "lb1 is ACTIVE" in out
    answers = re.search(r"6 requests to http://\S+ answered by: (.*)", out)
    assert answers is not None and set(answers.group(1).split()) == {"web1", "web2"}
    after_kill = re.search(r"after the takeover, answered by: (.*)", out)
    assert after_kill is not None and set(after_kill.group(1).split()) == {"web1", "web2"}
    assert "lb1 deleted" in out
    after = set(
        subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout.split()
    )
    assert not {name for name in after - before if name.startswith("demo")}


def test_up_serves_until_stopped(tmp_path: Path) -> None:
    """First start in keystone mode: an admin is made, its credentials written for the
    clients, tokens are required, and the identity endpoint also answers on its own port."""
    port, identity_port = free_port(), free_port()
    process = subprocess.Popen(
        ostia("up", "--port", str(port)),
        env={
            **os.environ,
            "OSTIA_DATA_DIR": str(tmp_path),
            "OSTIA_IDENTITY__PORT": str(identity_port),
        },
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                versions = httpx.get(f"{base}/", timeout=1).json()["versions"]
                break
            except httpx.TransportError:
                assert process.poll() is None and time.monotonic() < deadline
                time.sleep(0.1)
        assert versions[-1]["status"] == "CURRENT"
        assert (tmp_path / "ostia.sqlite").exists()
        clouds = tmp_path / "clouds.yaml"
        assert clouds.stat().st_mode & 0o777 == 0o600
        password = re.search(r"password: (\S+)", clouds.read_text())
        assert password is not None
        assert httpx.get(f"{base}/v2/lbaas/loadbalancers").status_code == 401
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
        token = httpx.post(f"http://127.0.0.1:{identity_port}/identity/v3/auth/tokens", json=login)
        assert token.status_code == 201, token.text
        headers = {"X-Auth-Token": token.headers["X-Subject-Token"]}
        listed = httpx.get(f"{base}/v2/lbaas/loadbalancers", headers=headers)
        assert listed.status_code == 200 and listed.json()["loadbalancers"] == []
    finally:
        process.send_signal(signal.SIGTERM)
        out, _ = process.communicate(timeout=30)
    assert process.returncode == 0, out
    assert f"API: http://127.0.0.1:{port}/" in out
    assert f"credentials are in {clouds}" in out
