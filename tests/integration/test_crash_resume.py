"""A controller killed with SIGKILL in the middle of its work: whatever was PENDING is
completed once a controller runs again, at once if it is the same instance, after the lease
expires if it is another one."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from ostia.db.engine import Database
from ostia.db.models import LoadBalancer, ReconcileState
from ostia.db.notify import WorkSignal
from ostia.runtime import Runtime
from tests.conftest import empty_tables, make_settings
from tests.helpers import VIP_SUBNET, Api, expect

DEADLINE = 30.0


class ControllerProcess:
    """``ostia controller`` as a separate process, stopped by its PID only."""

    def __init__(self, database: Database, log: Path, instance_id: str, **env: str) -> None:
        environment = {
            **os.environ,
            "OSTIA_DATABASE__URL": database.url,
            "OSTIA_CONTROLLER__INSTANCE_ID": instance_id,
            "OSTIA_CONTROLLER__POLL_INTERVAL": "0.05",
            **env,
        }
        self.log = log
        with log.open("ab") as out:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "ostia.cli", "controller"],
                env=environment,
                stdout=out,
                stderr=subprocess.STDOUT,
            )

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=10)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.kill()


@pytest.fixture
def processes() -> Iterator[list[ControllerProcess]]:
    started: list[ControllerProcess] = []
    yield started
    for process in started:
        process.stop()


def _wait(predicate, what: str, log: Path) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + DEADLINE
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}; controller log:\n{log.read_text()}")


@pytest.mark.parametrize("same_instance", [True, False], ids=["same-instance", "other-instance"])
def test_sigkill_mid_create_then_restart_completes(
    database: Database, tmp_path: Path, processes: list[ControllerProcess], same_instance: bool
) -> None:
    empty_tables(database)
    settings = make_settings(database, tmp_path)
    runtime = Runtime(settings=settings, db=database, signal=WorkSignal(database.backend))
    api = Api(TestClient(runtime.api()))
    body = {
        "loadbalancer": {
            "vip_subnet_id": VIP_SUBNET,
            "listeners": [{"protocol": "TCP", "protocol_port": 22}],
        }
    }
    ids = [
        expect(api.post("/v2/lbaas/loadbalancers", body), 201)["loadbalancer"]["id"]
        for _ in range(3)
    ]
    log = tmp_path / "controller.log"
    instance = f"crash-{uuid.uuid4().hex[:8]}"

    def leased() -> list[str]:
        with database.read() as session:
            return list(
                session.scalars(
                    select(ReconcileState.lease_owner).where(
                        ReconcileState.lease_owner.is_not(None)
                    )
                )
            )

    def statuses() -> set[str]:
        with database.read() as session:
            return set(
                session.scalars(
                    select(LoadBalancer.provisioning_status).where(LoadBalancer.id.in_(ids))
                )
            )

    slow = ControllerProcess(
        database,
        log,
        instance,
        OSTIA_CONTROLLER__NOOP_STEP_DELAY="60",
        OSTIA_CONTROLLER__LEASE_SECONDS="2",
    )
    processes.append(slow)
    _wait(lambda: len(leased()) == 3, "the controller to lease all three load balancers", log)
    slow.kill()
    assert statuses() == {"PENDING_CREATE"}
    owners = set(leased())
    assert owners == {f"{instance}/{slow.process.pid}"}

    second = ControllerProcess(database, log, instance if same_instance else f"{instance}-b")
    processes.append(second)
    _wait(lambda: statuses() == {"ACTIVE"}, "the restarted controller to finish", log)
    assert leased() == []
    listeners = expect(api.get("/v2/lbaas/listeners"), 200)["listeners"]
    assert {li["provisioning_status"] for li in listeners} == {"ACTIVE"} and len(listeners) == 3
    # The same instance frees its dead run's leases at start; another waits for expiry.
    assert ("reclaiming leases of stopped controller runs" in log.read_text()) is same_instance
