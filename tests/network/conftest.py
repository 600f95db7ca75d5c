"""Fixtures for the network service: clients of its API as several identities, and Ostia
in ``managed`` networking."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import create_engine

from ostia.config import Settings
from ostia.db import migrate
from ostia.db.engine import normalize_url
from ostia.db.models import Base
from ostia.network.api import install
from tests.conftest import Ostia
from tests.helpers import Api

# TEMPORARY, until migration 0002 creates the new tables (networks, and those of the other
# work of this round): create every table the migrations do not, in every test database.
_upgrade = migrate.upgrade


def _upgrade_and_create_new_tables(url: str, revision: str = "head") -> None:
    _upgrade(url, revision)
    engine = create_engine(normalize_url(url))
    Base.metadata.create_all(engine)
    engine.dispose()


migrate.upgrade = _upgrade_and_create_new_tables


@pytest.fixture
def managed(settings: Settings) -> Settings:
    """Settings with Ostia's own networks behind the load balancers."""
    settings.networking.mode = "managed"
    return settings


@pytest.fixture
def neutron(ostia: Ostia) -> Api:
    """A cloud admin (noauth, no roles) of project ``helpers.PROJECT``, on an Ostia that
    serves ``/network``."""
    app: Any = ostia.client.app
    # TEMPORARY, until ostia.api.app installs the network service itself.
    if not any(getattr(route, "path", None) == "/network" for route in app.routes):
        install(app)
    return Api(ostia.client)
