"""Fixtures of the agent's tests: each test gets its own namespaces (``oa<random>-…``), removed
even when it fails. They need root, ``ip``, HAProxy and keepalived."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.agent.lab import Lab, lab


@pytest.fixture
def net(tmp_path: Path) -> Iterator[Lab]:
    if os.geteuid() != 0:
        pytest.skip("network namespaces need root")
    for program in ("ip", "haproxy", "keepalived"):
        if shutil.which(program) is None:
            pytest.skip(f"{program} is not installed")
    with lab(tmp_path) as the_lab:
        yield the_lab
