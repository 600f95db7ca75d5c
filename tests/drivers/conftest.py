"""Fixtures of the drivers' tests: each test gets its own site (a random prefix, so tests run in
parallel and never meet a running Ostia), destroyed even when the test fails. They need root
and ``ip``; addresses come from ``site.RANGE``, checked free on this machine first."""

from __future__ import annotations

import os
import secrets
import shutil
from collections.abc import Iterator

import pytest

from ostia.drivers.fabric import Fabric
from ostia.network.hostnet import UnsafeNetwork, check_disjoint
from tests.drivers.site import RANGE


def require_namespaces() -> None:
    if os.geteuid() != 0:
        pytest.skip("network namespaces need root")
    for program in ("ip", "ping"):
        if shutil.which(program) is None:
            pytest.skip(f"{program} is not installed")
    try:
        check_disjoint(RANGE, "the drivers' test range")
    except UnsafeNetwork as exc:
        pytest.skip(str(exc))


@pytest.fixture
def fabric() -> Iterator[Fabric]:
    require_namespaces()
    site = Fabric(f"od{secrets.token_hex(4)}")
    try:
        site.ensure()
        yield site
    finally:
        site.destroy()
