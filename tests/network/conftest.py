"""Fixtures for the network service: clients of its API as several identities, and Ostia
in ``managed`` networking."""

from __future__ import annotations

import pytest

from ostia.config import Settings
from tests.conftest import Ostia
from tests.helpers import Api


@pytest.fixture
def managed(settings: Settings) -> Settings:
    """Settings with Ostia's own networks behind the load balancers."""
    settings.networking.mode = "managed"
    return settings


@pytest.fixture
def neutron(ostia: Ostia) -> Api:
    """A cloud admin (noauth, no roles) of project ``helpers.PROJECT``, on an Ostia that
    serves ``/network``."""
    return Api(ostia.client)
