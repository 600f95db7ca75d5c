"""Housekeeping rotates the amphorae' server certificates under load: each agent shows a new
certificate, its expiry moves forward in the database, and nothing of the data path moves: no
failover, the same agent, HAProxy and keepalived processes, not one failed request. SQLite only
(the database side is tested on every database in tests/integration/test_housekeeping.py)."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pytest
from cryptography import x509

from ostia.amphora.client import AgentClient, ClientCredentials
from ostia.certificates.ca import LocalCA
from ostia.config import Settings
from ostia.db.engine import Database
from ostia.db.models import Amphora
from tests.conftest import make_settings
from tests.dataplane.conftest import Site
from tests.dataplane.hosts import Traffic, wait_for
from tests.dataplane.lbs import amphorae, create_lb, member, settle, subnets

pytestmark = pytest.mark.parametrize("database", ["sqlite"], indirect=True)

# Certificates valid 40 s, renewed when 30 s or less are left: every amphora gets a new one
# about 10 s after its last, well before the old one runs out on a slow machine.
VALIDITY = 40
BUFFER = 30
PROCESSES = ("agent.pid", "haproxy.pid", "keepalived.pid")
NEVER = datetime.min


@pytest.fixture
def settings(database: Database, tmp_path: Path) -> Settings:
    settings = make_settings(database, tmp_path)
    settings.certificates.cert_validity_time = VALIDITY
    settings.house_keeping.cert_expiry_buffer = BUFFER
    settings.house_keeping.cert_interval = 0.5
    settings.controller.loadbalancer_topology = "ACTIVE_STANDBY"
    return settings


def pids(site: Site, amphora: Amphora) -> dict[str, str]:
    directory = site.amphora_dir / amphora.id
    return {name: (directory / name).read_text().split()[0] for name in PROCESSES}


def test_certificates_rotate_under_load_without_a_failed_request(site: Site) -> None:
    api = site.api
    vip_subnet, member_subnet = subnets(api)
    client, _ = site.hosts.add("client", vip_subnet)
    m1, m2 = (site.hosts.member(name, member_subnet) for name in ("m1", "m2"))
    lb_id = create_lb(api, vip_subnet, [member(m1, member_subnet), member(m2, member_subnet)])
    vip = settle(site, lb_id)["vip_address"]
    credentials = ClientCredentials(LocalCA.load_or_create(site.settings.data_dir / "ca"))

    def agent(amphora: Amphora) -> AgentClient:
        assert amphora.lb_network_ip
        namespace = site.fabric.controller_namespace
        return AgentClient(
            amphora.id, amphora.lb_network_ip, tls=credentials.context, namespace=namespace
        )

    def shown(amphora: Amphora) -> x509.Certificate:
        return x509.load_der_x509_certificate(agent(amphora).server_certificate())

    before = amphorae(site, lb_id)
    assert [(a.role, a.status) for a in before] == [
        ("MASTER", "ALLOCATED"),
        ("BACKUP", "ALLOCATED"),
    ]
    first = {a.id: shown(a) for a in before}
    for amphora in before:
        assert first[amphora.id].not_valid_after_utc.replace(tzinfo=None) == (
            amphora.cert_expiration
        )
    processes = {a.id: pids(site, a) for a in before}

    initial = {a.id: a.cert_expiration for a in before}

    def rotated() -> bool:
        rows = amphorae(site, lb_id)
        assert {a.id for a in rows} == set(initial), "the amphorae were replaced"
        return all((a.cert_expiration or NEVER) > (initial[a.id] or NEVER) for a in rows)

    with Traffic(client, vip, 80) as traffic:
        traffic.next_bodies(5)
        wait_for(rotated, timeout=90, what="both amphorae to get a new certificate")
        # No more rotations, so that what the agents show and the database say can be
        # compared: the controller reads the buffer at each pass.
        site.settings.house_keeping.cert_expiry_buffer = 0
        assert None not in traffic.next_bodies(20)

    def agree() -> list[Amphora] | None:
        rows = amphorae(site, lb_id)
        expiries = [shown(a).not_valid_after_utc.replace(tzinfo=None) for a in rows]
        return rows if expiries == [a.cert_expiration for a in rows] else None

    after = wait_for(agree, what="the agents to show the certificates the database records")
    assert traffic.failures() == [], traffic.failures()[:3]
    assert len(traffic.answers) > 100, len(traffic.answers)
    # No failover: the same amphorae, nothing new or deleted, the same processes.
    assert [(a.id, a.role, a.status) for a in after] == [
        (a.id, a.role, "ALLOCATED") for a in before
    ]
    assert [a.id for a in amphorae(site, lb_id, live=False)] == [a.id for a in before]
    for old, new in zip(before, after, strict=True):
        assert new.cert_expiration is not None and old.cert_expiration is not None
        assert new.cert_expiration > old.cert_expiration
        assert shown(new).serial_number != first[old.id].serial_number
        assert not new.cert_busy
        assert pids(site, new) == processes[old.id]
    settle(site, lb_id)
