"""Fixtures of the data plane tests: an Ostia whose controller drives real amphorae (network
namespaces, agents, HAProxy, keepalived) under a random site prefix, so tests run in parallel
and never meet a running Ostia. Everything of the site is removed even when a test fails:
the controller stops first, then every namespace of the prefix goes with its processes.

They need root, ``ip``, HAProxy, keepalived and socat (keepalived's HAProxy check).
"""

from __future__ import annotations

import os
import secrets
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from ostia.config import Settings
from ostia.db.engine import Database
from ostia.db.notify import WorkSignal
from ostia.drivers.fabric import Fabric
from ostia.network.hostnet import UnsafeNetwork, check_disjoint
from ostia.runtime import Controller, Runtime
from tests.conftest import empty_tables
from tests.dataplane.hosts import MANAGEMENT_CIDR, RANGE, Hosts
from tests.helpers import Api


def require_dataplane() -> None:
    if os.geteuid() != 0:
        pytest.skip("amphorae are network namespaces: root is needed")
    for program in ("ip", "haproxy", "keepalived", "socat"):
        if shutil.which(program) is None:
            pytest.skip(f"{program} is not installed")
    try:
        check_disjoint(RANGE, "the data plane tests' range")
    except UnsafeNetwork as exc:
        pytest.skip(str(exc))


@dataclass
class Site:
    settings: Settings
    db: Database
    api: Api
    fabric: Fabric
    hosts: Hosts

    @property
    def amphora_dir(self) -> Path:
        return Path(self.settings.dataplane.amphora_dir)


@pytest.fixture
def settings(settings: Settings) -> Settings:
    """An amphora is failed over after 15 s of silence here, not the default 3 s: on a machine
    as loaded as a parallel test run, a test that is not about failover must not meet one.
    Tests about failover set their own timeout."""
    settings.health.heartbeat_timeout = 15.0
    return settings


@pytest.fixture
def site(database: Database, settings: Settings) -> Iterator[Site]:
    """A cloud admin's API on an Ostia with the amphora provider; ``settings`` may still be
    changed by the test where the API reads them per request (the topology)."""
    require_dataplane()
    prefix = f"dp{secrets.token_hex(4)}"
    settings.controller.provider = "amphora"
    settings.networking.mode = "managed"
    settings.dataplane.prefix = prefix
    settings.dataplane.management_cidr = MANAGEMENT_CIDR
    # HAProxy takes socket paths of at most 97 characters: not under pytest's tmp_path.
    amphora_dir = Path(tempfile.mkdtemp(prefix="ostia-amp-"))
    settings.dataplane.amphora_dir = str(amphora_dir)
    empty_tables(database)
    runtime = Runtime(settings=settings, db=database, signal=WorkSignal(database.backend))
    fabric = Fabric(prefix)
    controller: Controller | None = None
    hosts: Hosts | None = None
    try:
        controller = runtime.controller()
        controller.start()
        with TestClient(runtime.api(), raise_server_exceptions=False) as client:
            api = Api(client)
            hosts = Hosts(fabric, api)
            yield Site(settings, database, api, fabric, hosts)
    finally:
        if controller is not None:
            controller.stop()
        if hosts is not None:
            hosts.close()
        fabric.destroy()
        shutil.rmtree(amphora_dir)
