"""Failures on real amphorae: a configuration HAProxy refuses leaves the old one serving, and a
controller killed with SIGKILL while an amphora boots leaves nothing behind that a restarted
controller does not complete. SQLite only (the data plane does not depend on the database;
the reconciler's crash guarantees are tested on every database in tests/integration)."""

from __future__ import annotations

import secrets
import shutil
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from ostia.config import Settings
from ostia.db.engine import Database
from ostia.db.notify import WorkSignal
from ostia.drivers.compute import AGENT_MODULE, NetnsCompute
from ostia.drivers.fabric import Fabric
from ostia.drivers.netns import list_namespaces, namespace_pids
from ostia.runtime import Runtime
from tests.conftest import empty_tables
from tests.dataplane.conftest import Site, require_dataplane
from tests.dataplane.hosts import MANAGEMENT_CIDR, Hosts, Traffic, http_get, wait_for
from tests.dataplane.lbs import LBS, amphorae, create_lb, member, namespace, settle, subnets
from tests.helpers import Api, expect
from tests.integration.test_crash_resume import ControllerProcess

pytestmark = pytest.mark.parametrize("database", ["sqlite"], indirect=True)

REFUSED_CIPHERS = "NOSUCHCIPHER"


def test_a_configuration_haproxy_refuses_leaves_the_old_one_serving(site: Site) -> None:
    api = site.api
    vip_subnet, member_subnet = subnets(api)
    client, _ = site.hosts.add("client", vip_subnet)
    m1, m2 = (site.hosts.member(name, member_subnet) for name in ("m1", "m2"))
    lb_id = create_lb(api, vip_subnet, [member(m1, member_subnet), member(m2, member_subnet)])
    vip = settle(site, lb_id)["vip_address"]
    (pool,) = expect(api.get(f"/v2/lbaas/pools?loadbalancer_id={lb_id}"), 200)["pools"]
    pool_url = f"/v2/lbaas/pools/{pool['id']}"

    with Traffic(client, vip, 80) as traffic:
        traffic.next_bodies(4)
        # The API takes any cipher string of valid characters; HAProxy knows no such cipher.
        refused = {"pool": {"tls_enabled": True, "tls_ciphers": REFUSED_CIPHERS}}
        expect(api.put(pool_url, refused), 200)
        # The pool's failure unlocks its load balancer, as in Octavia.
        lb = settle(site, lb_id)
        # Plain HTTP to the members still: the old configuration serves.
        assert set(traffic.next_bodies(6)) == {"m1", "m2"}
    assert traffic.failures() == [], traffic.failures()[:3]
    assert expect(api.get(pool_url), 200)["pool"]["provisioning_status"] == "ERROR"
    assert f"unable to set SSL cipher list to '{REFUSED_CIPHERS}'" in lb["fault"], lb["fault"]

    # A change HAProxy takes clears the fault.
    expect(api.put(pool_url, {"pool": {"tls_enabled": False}}), 200)
    assert settle(site, lb_id)["fault"] is None
    assert expect(api.get(pool_url), 200)["pool"]["provisioning_status"] == "ACTIVE"
    assert {http_get(client, vip, 80) for _ in range(4)} == {"m1", "m2"}


@pytest.fixture
def api_site(database: Database, settings: Settings) -> Iterator[Site]:
    """A site whose API runs here and whose controllers are processes the test starts."""
    require_dataplane()
    settings.networking.mode = "managed"
    settings.controller.provider = "amphora"
    settings.controller.loadbalancer_topology = "ACTIVE_STANDBY"
    settings.dataplane.prefix = f"dp{secrets.token_hex(4)}"
    settings.dataplane.management_cidr = MANAGEMENT_CIDR
    amphora_dir = Path(tempfile.mkdtemp(prefix="ostia-amp-"))
    settings.dataplane.amphora_dir = str(amphora_dir)
    empty_tables(database)
    runtime = Runtime(settings=settings, db=database, signal=WorkSignal(database.backend))
    fabric = Fabric(settings.dataplane.prefix)
    hosts: Hosts | None = None
    try:
        with TestClient(runtime.api(), raise_server_exceptions=False) as client:
            api = Api(client)
            hosts = Hosts(fabric, api)
            yield Site(settings, database, api, fabric, hosts)
    finally:
        if hosts is not None:
            hosts.close()
        fabric.destroy()
        shutil.rmtree(amphora_dir)


@pytest.fixture
def controllers(api_site: Site) -> Iterator[list[ControllerProcess]]:
    """``ostia controller`` processes of the site (stopped by PID before the site goes)."""
    started: list[ControllerProcess] = []
    yield started
    for process in started:
        process.stop()


def start_controller(site: Site, instance: str, log: Path, **env: str) -> ControllerProcess:
    """An ``ostia controller`` process of the site; ``env`` adds settings (``OSTIA_…``)."""
    settings = site.settings
    env = {
        **env,
        "OSTIA_DATA_DIR": str(settings.data_dir),
        "OSTIA_NETWORKING__MODE": "managed",
        "OSTIA_CONTROLLER__PROVIDER": "amphora",
        "OSTIA_CONTROLLER__RETRY_INITIAL_DELAY": "0.05",
        "OSTIA_DATAPLANE__PREFIX": settings.dataplane.prefix,
        "OSTIA_DATAPLANE__MANAGEMENT_CIDR": settings.dataplane.management_cidr,
        "OSTIA_DATAPLANE__AMPHORA_DIR": settings.dataplane.amphora_dir,
    }
    return ControllerProcess(site.db, log, instance, **env)


def agents(amphora_namespace: str) -> list[int]:
    """The agent processes running in an amphora's namespace."""
    found = []
    for pid in namespace_pids(amphora_namespace):
        try:
            command = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if AGENT_MODULE.encode() in command:
            found.append(pid)
    return found


def test_controller_killed_while_an_amphora_boots_then_restarted(
    api_site: Site, controllers: list[ControllerProcess], tmp_path: Path
) -> None:
    site, api = api_site, api_site.api
    log = tmp_path / "controller.log"
    instance = f"dp-{uuid.uuid4().hex[:8]}"
    controllers.append(start_controller(site, instance, log))
    vip_subnet, member_subnet = subnets(api)
    client, _ = site.hosts.add("client", vip_subnet)
    m1 = site.hosts.member("m1", member_subnet)
    lb_id = create_lb(api, vip_subnet, [member(m1, member_subnet)])
    compute = NetnsCompute(site.settings.dataplane.prefix, site.amphora_dir, site.fabric)

    def booting() -> bool:
        return any(agents(compute.namespace(row.id)) for row in amphorae(site, lb_id))

    try:
        wait_for(booting, what="an amphora's agent to start")
    except AssertionError:
        raise AssertionError(f"no amphora booted; controller log:\n{log.read_text()}") from None
    controllers[0].kill()
    lb = expect(api.get(f"{LBS}/{lb_id}"), 200)["loadbalancer"]
    assert lb["provisioning_status"] == "PENDING_CREATE"
    left = amphorae(site, lb_id)
    # Killed between starting an agent and recording that amphora's boot.
    assert [a.compute_id for a in left].count(None) >= 1, [a.compute_id for a in left]

    controllers.append(start_controller(site, instance, log))
    try:
        vip = settle(site, lb_id)["vip_address"]
    except AssertionError as exc:
        raise AssertionError(f"{exc}; controller log:\n{log.read_text()}") from None

    rows = amphorae(site, lb_id, live=False)
    assert [(a.role, a.status) for a in rows] == [("MASTER", "ALLOCATED"), ("BACKUP", "ALLOCATED")]
    # The rows the killed run wrote are the ones completed: no amphora was built twice.
    assert {a.id for a in left} <= {a.id for a in rows}
    for amphora in rows:
        assert amphora.compute_id == compute.namespace(amphora.id), amphora.id
        assert amphora.cert_expiration is not None, amphora.id
        # The agent the killed run started was taken over, not doubled.
        assert len(agents(namespace(amphora))) == 1, amphora.id
    prefix = site.settings.dataplane.prefix
    assert sorted(n for n in list_namespaces() if n.startswith(f"{prefix}-a")) == sorted(
        namespace(a) for a in rows
    )
    assert sorted(p.name for p in site.amphora_dir.iterdir()) == sorted(a.id for a in rows)
    assert {http_get(client, vip, 80) for _ in range(3)} == {"m1"}
    assert "reclaiming leases of stopped controller runs" in log.read_text()
