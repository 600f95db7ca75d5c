"""Namespaces: idempotent creation with their sysctls, deletion that stops the processes
inside first, ``ip`` errors that say what failed, and entering a namespace from one thread."""

from __future__ import annotations

import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from ostia.drivers.fabric import Fabric
from ostia.drivers.netns import (
    NamespaceError,
    create_namespace,
    delete_namespace,
    inside,
    ip_batch,
    namespace_exists,
    namespace_pids,
)
from tests.drivers.site import in_namespace, link, wait_for

IGNORE_SIGTERM = """
import pathlib, signal, sys, time
signal.signal(signal.SIGTERM, signal.SIG_IGN)
pathlib.Path(sys.argv[1]).write_text("ready")
time.sleep(600)
"""


def start_in(namespace: str, *command: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        ["ip", "netns", "exec", namespace, *command],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )


def test_create_is_idempotent_with_lo_up_and_nonlocal_bind(fabric: Fabric) -> None:
    namespace = f"{fabric.prefix}-hone"
    root_value = Path("/proc/sys/net/ipv4/ip_nonlocal_bind").read_text()
    create_namespace(namespace)
    create_namespace(namespace)
    assert namespace_exists(namespace)
    lo = link(namespace, "lo")
    assert lo is not None and "UP" in lo["flags"]
    sysctls = ["net.ipv4.ip_nonlocal_bind", "net.ipv6.ip_nonlocal_bind"]
    assert in_namespace(namespace, "sysctl", "-n", *sysctls).split() == ["1", "1"]
    assert Path("/proc/sys/net/ipv4/ip_nonlocal_bind").read_text() == root_value


def test_delete_stops_the_processes_inside_then_removes_it(fabric: Fabric, tmp_path: Path) -> None:
    namespace = f"{fabric.prefix}-hone"
    create_namespace(namespace)
    polite = start_in(namespace, "sleep", "600")
    ready = tmp_path / "ready"
    stubborn = start_in(namespace, sys.executable, "-c", IGNORE_SIGTERM, str(ready))
    try:
        wait_for(ready.exists)
        assert set(namespace_pids(namespace)) == {polite.pid, stubborn.pid}
        started = time.monotonic()
        delete_namespace(namespace, grace=0.5)
        assert time.monotonic() - started < 5
        assert not namespace_exists(namespace)
        assert polite.wait(5) == -15
        assert stubborn.wait(5) == -9
        delete_namespace(namespace)
        assert namespace_pids(namespace) == []
    finally:
        for process in (polite, stubborn):
            if process.poll() is None:
                process.kill()
                process.wait(5)


def test_ip_failures_say_what_failed(fabric: Fabric) -> None:
    namespace = f"{fabric.prefix}-hone"
    create_namespace(namespace)
    with pytest.raises(NamespaceError) as failure:
        ip_batch(namespace, ["link set lo up", "link set nosuch0 up"])
    assert f"ip -n {namespace} [link set lo up; link set nosuch0 up]" in str(failure.value)
    assert 'Cannot find device "nosuch0"' in str(failure.value)
    missing = f"{fabric.prefix}-hnone"
    with pytest.raises(NamespaceError, match=f'Cannot open network namespace "{missing}"'):
        ip_batch(missing, ["link show"])


def test_inside_moves_only_this_thread_for_the_block(fabric: Fabric) -> None:
    namespace = f"{fabric.prefix}-hone"
    create_namespace(namespace)
    root_interfaces = socket.if_nameindex()
    entered, looked = threading.Event(), threading.Event()
    seen_by_other_thread: list[list[tuple[int, str]]] = []

    def look() -> None:
        entered.wait(10)
        seen_by_other_thread.append(socket.if_nameindex())
        looked.set()

    other = threading.Thread(target=look)
    other.start()
    with inside(namespace):
        entered.set()
        assert looked.wait(10)
        assert socket.if_nameindex() == [(1, "lo")]
        listener = socket.create_server(("127.0.0.1", 0))
    other.join()
    with listener:
        assert socket.if_nameindex() == root_interfaces
        assert seen_by_other_thread == [root_interfaces]
        # The listener stays in the namespace: a client made there reaches it.
        with inside(namespace):
            client = socket.socket()
        with client:
            client.settimeout(5)
            client.connect(listener.getsockname())


def test_inside_a_missing_namespace_fails_and_creates_nothing(fabric: Fabric) -> None:
    missing = f"{fabric.prefix}-hnone"
    with pytest.raises(NamespaceError, match=f"namespace {missing} does not exist"):
        with inside(missing):
            pass
    assert not namespace_exists(missing)
