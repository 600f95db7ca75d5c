"""Network namespaces: creating and deleting them, running ``ip`` inside them, and entering
them from one thread.

Commands go to ``ip -n <namespace> -batch -`` (one process per batch, the fastest way measured),
so nothing is ever configured in the root namespace by accident. Every wait is bounded.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from pyroute2.netns import setns  # type: ignore[import-untyped]

NETNS_DIR = Path("/run/netns")
IP_TIMEOUT = 30.0
# How long processes get to exit after SIGTERM, then after SIGKILL.
STOP_GRACE = 5.0
KILL_WAIT = 5.0
NONLOCAL_BIND = {"net/ipv4/ip_nonlocal_bind": "1", "net/ipv6/ip_nonlocal_bind": "1"}


class NamespaceError(RuntimeError):
    """An ``ip`` command failed, or a namespace is missing; the message has ip's output."""


def _check_name(name: str) -> None:
    if not name or "/" in name or name.startswith(".") or any(c.isspace() for c in name):
        raise ValueError(f"invalid namespace name {name!r}")


def _run(args: list[str], stdin: str | None = None, what: str | None = None) -> str:
    what = what or " ".join(args)
    try:
        result = subprocess.run(
            args, input=stdin, capture_output=True, text=True, timeout=IP_TIMEOUT, check=False
        )
    except subprocess.TimeoutExpired:
        raise NamespaceError(f"{what}: no answer after {IP_TIMEOUT:g} s") from None
    except OSError as exc:
        raise NamespaceError(f"{what}: {exc}") from exc
    if result.returncode != 0:
        output = (result.stderr.strip() or result.stdout.strip()).replace("\n", "; ")
        raise NamespaceError(f"{what} failed (exit {result.returncode}): {output}")
    return result.stdout


def ip_batch(namespace: str | None, lines: list[str]) -> None:
    """Run ``ip`` commands (without the leading ``ip``) in ``namespace`` (None: the root
    namespace, for ``netns`` commands only); it stops at the first failing line."""
    if not lines:
        return
    args = ["ip", "-batch", "-"] if namespace is None else ["ip", "-n", namespace, "-batch", "-"]
    where = "ip" if namespace is None else f"ip -n {namespace}"
    _run(args, "\n".join(lines) + "\n", f"{where} [{'; '.join(lines)}]")


def ip_json(namespace: str, *args: str) -> list[dict[str, Any]]:
    """The JSON answer of ``ip -n <namespace> -j <args>``."""
    output = _run(["ip", "-n", namespace, "-j", *args])
    result: list[dict[str, Any]] = json.loads(output) if output.strip() else []
    return result


def list_namespaces() -> list[str]:
    try:
        return sorted(os.listdir(NETNS_DIR))
    except FileNotFoundError:
        return []


def namespace_exists(name: str) -> bool:
    _check_name(name)
    return (NETNS_DIR / name).exists()


def write_sysctls(namespace: str, values: dict[str, str]) -> None:
    """Set ``net/...`` sysctls (paths under /proc/sys) of one namespace only."""
    with inside(namespace):
        for key, value in values.items():
            Path("/proc/sys", key).write_text(value)


def create_namespace(name: str) -> None:
    """Create ``name`` unless it exists, with ``lo`` up and non-local binds allowed (a backup
    amphora's HAProxy binds the VIP it does not hold yet). Repairs an existing one."""
    if not namespace_exists(name):
        try:
            _run(["ip", "netns", "add", name])
        except NamespaceError:
            if not namespace_exists(name):  # else another caller created it meanwhile
                raise
    ip_batch(name, ["link set lo up"])
    write_sysctls(name, NONLOCAL_BIND)


def namespace_pids(name: str) -> list[int]:
    """The processes in namespace ``name`` (none when it does not exist)."""
    if not namespace_exists(name):
        return []
    return [int(pid) for pid in _run(["ip", "netns", "pids", name]).split()]


def _alive(pid: int) -> bool:
    """Whether ``pid`` still runs (a zombie does not)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rpartition(")")[2].split()[0] != "Z"


def _signal(pids: Iterable[int], signum: int) -> None:
    for pid in pids:
        try:
            os.kill(pid, signum)
        except ProcessLookupError:
            pass


def _wait_gone(pids: list[int], timeout: float) -> list[int]:
    """Wait until none of ``pids`` runs; the ones still running after ``timeout``."""
    deadline = time.monotonic() + timeout
    running = [pid for pid in pids if _alive(pid)]
    while running and time.monotonic() < deadline:
        time.sleep(0.02)
        running = [pid for pid in running if _alive(pid)]
    return running


def stop_processes(pids: list[int], grace: float = STOP_GRACE) -> None:
    """SIGTERM, at most ``grace`` seconds to exit, then SIGKILL (and a bounded wait)."""
    _signal(pids, signal.SIGTERM)
    stubborn = _wait_gone(pids, grace)
    if stubborn:
        _signal(stubborn, signal.SIGKILL)
        left = _wait_gone(stubborn, KILL_WAIT)
        if left:
            raise NamespaceError(f"processes {left} survived SIGKILL for {KILL_WAIT:g} s")


def delete_namespaces(names: Iterable[str], grace: float = STOP_GRACE) -> None:
    """Stop every process in these namespaces (see ``stop_processes``), then delete them.
    A namespace survives ``ip netns del`` while a process holds it, hence the order."""
    existing = [name for name in names if namespace_exists(name)]
    if not existing:
        return
    stop_processes([pid for name in existing for pid in namespace_pids(name)], grace)
    # Children forked while their parents were stopping.
    late = [pid for name in existing for pid in namespace_pids(name)]
    if late:
        stop_processes(late, 0)
    for name in existing:
        try:
            _run(["ip", "netns", "del", name])
        except NamespaceError:
            if namespace_exists(name):  # else another caller deleted it meanwhile
                raise


def delete_namespace(name: str, grace: float = STOP_GRACE) -> None:
    delete_namespaces([name], grace)


@contextmanager
def inside(namespace: str) -> Iterator[None]:
    """Move the calling thread into ``namespace`` until the block ends; sockets created in
    the block belong to the namespace for their whole life, whichever thread uses them (and so
    do threads and processes started in the block).

    Unlike pyroute2's ``pushns``, this keeps no process-wide stack (so threads may use it at
    once) and never creates a missing namespace.
    """
    _check_name(namespace)
    try:
        target = os.open(NETNS_DIR / namespace, os.O_RDONLY | os.O_CLOEXEC)
    except FileNotFoundError:
        raise NamespaceError(f"namespace {namespace} does not exist") from None
    try:
        home = os.open("/proc/thread-self/ns/net", os.O_RDONLY | os.O_CLOEXEC)
        try:
            setns(target)
            try:
                yield
            finally:
                setns(home)
        finally:
            os.close(home)
    finally:
        os.close(target)
