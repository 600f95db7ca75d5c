"""Fixtures for the identity tests: the identity tables, and an Ostia in ``keystone`` mode
with its admin bootstrapped."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from ostia.config import Settings
from ostia.db.engine import Database
from tests.conftest import empty_tables
from tests.identity.keystone import Cloud, start_cloud


@pytest.fixture
def cloud(database: Database, settings: Settings) -> Iterator[Cloud]:
    """Ostia in keystone mode, bootstrapped: an admin user with the admin role on the admin
    project."""
    settings.api.auth_strategy = "keystone"
    settings.identity.public_url = "http://127.0.0.1:19876"
    empty_tables(database)
    yield from start_cloud(database, settings)
