"""What the amphora provider needs before the controller starts: managed networking, root, a
management network range this machine does not use, and a short enough amphorae' directory;
and the management network it keeps in Ostia's network service."""

from __future__ import annotations

import ipaddress
import secrets

import pytest
from sqlalchemy import select

from ostia.config import Settings
from ostia.controller.management import (
    SERVICE_PROJECT_ID,
    ManagementNetworkError,
    ensure_management_network,
)
from ostia.controller.provider import ProviderUnavailable
from ostia.db.engine import Database
from ostia.drivers.netns import list_namespaces
from ostia.network.hostnet import host_networks
from ostia.network.models import Network
from ostia.runtime import make_provider
from tests.conftest import empty_tables
from tests.dataplane.conftest import require_dataplane
from tests.dataplane.hosts import MANAGEMENT_CIDR


@pytest.fixture
def amphora_settings(database: Database, settings: Settings) -> Settings:
    empty_tables(database)
    settings.controller.provider = "amphora"
    settings.networking.mode = "managed"
    settings.dataplane.prefix = f"dp{secrets.token_hex(4)}"
    # Short enough for HAProxy's sockets; never created, as every test here is refused.
    settings.dataplane.amphora_dir = "/nonexistent/ostia-amphorae"
    return settings


def test_noop_networking_is_refused(database: Database, amphora_settings: Settings) -> None:
    amphora_settings.networking.mode = "noop"
    with pytest.raises(ProviderUnavailable) as refused:
        make_provider(amphora_settings, database)
    assert str(refused.value) == (
        'the amphora provider ([controller] provider = "amphora") needs Ostia\'s own networks: '
        'set [networking] mode = "managed"'
    )


def test_a_management_range_of_this_machine_is_refused(
    database: Database, amphora_settings: Settings
) -> None:
    require_dataplane()
    kind, used = next((k, n) for k, n in host_networks() if n.version == 4)
    cidr = str(used.supernet(new_prefix=min(used.prefixlen, 24)))
    amphora_settings.dataplane.management_cidr = cidr
    with pytest.raises(ProviderUnavailable) as refused:
        make_provider(amphora_settings, database)
    message = str(refused.value)
    assert message.startswith(f"the management network ([dataplane] management_cidr) {cidr} ")
    assert " overlaps this machine's " in message and message.endswith(": choose another range")
    prefix = amphora_settings.dataplane.prefix
    assert not [name for name in list_namespaces() if name.startswith(f"{prefix}-")]
    with database.read() as session:
        assert session.scalars(select(Network)).all() == []


def test_a_too_long_amphorae_directory_is_refused(
    database: Database, amphora_settings: Settings
) -> None:
    require_dataplane()
    amphora_settings.dataplane.amphora_dir = "/tmp/" + "a" * 60
    with pytest.raises(ProviderUnavailable) as refused:
        make_provider(amphora_settings, database)
    assert str(refused.value) == (
        f"the amphorae' directory /tmp/{'a' * 60} is too long: HAProxy's sockets in it would "
        "have 115-character paths, more than the 97 HAProxy takes; set a shorter "
        "[dataplane] amphora_dir"
    )


def test_the_management_network_is_created_once_and_keeps_its_range(database: Database) -> None:
    empty_tables(database)
    first = ensure_management_network(database, MANAGEMENT_CIDR)
    assert first.subnet.cidr == MANAGEMENT_CIDR and first.subnet.gateway_ip is None
    address = first.controller.first.ip_address
    assert ipaddress.ip_address(address) in ipaddress.ip_network(MANAGEMENT_CIDR)
    assert ensure_management_network(database, MANAGEMENT_CIDR) == first
    with database.read() as session:
        (network,) = session.scalars(select(Network)).all()
        assert (network.name, network.project_id) == ("lb-mgmt-net", SERVICE_PROJECT_ID)

    with pytest.raises(ManagementNetworkError) as refused:
        ensure_management_network(database, "10.243.8.0/24")
    assert str(refused.value) == (
        f"lb-mgmt-net ({first.network_id}) has the subnet(s) {MANAGEMENT_CIDR}, not "
        "10.243.8.0/24 as [dataplane] management_cidr says: change the setting back, or delete "
        "the network and its ports once no amphora uses them"
    )
