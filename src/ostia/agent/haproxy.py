"""The amphora's HAProxy: one combined configuration (one load balancer per amphora), run in
master-worker mode as the agent's child, reloaded through the master CLI socket.

Files in the agent's directory: ``haproxy.cfg`` (the running configuration),
``haproxy.cfg.new`` while a new one is validated (``haproxy.cfg.failed`` keeps the last one
refused), ``haproxy.pid`` (the master), ``master.sock`` (master CLI) and ``haproxy.state``
(``show servers state`` saved before each reload, for a ``server-state-file`` directive).
"""

from __future__ import annotations

import ipaddress
import logging
import os
import re
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from ostia.agent import files
from ostia.agent.config import AgentConfig
from ostia.agent.interfaces import IpAddress
from ostia.agent.process import Child, InvalidConfig, StartError, kill_leftover

log = logging.getLogger(__name__)

SOCKET_TIMEOUT = 5.0
STATS_SOCKET = re.compile(r"^\s*stats\s+socket\s+(\S+)", re.MULTILINE)
SHOW_PROC_MASTER = re.compile(r"^\d+\s+master\s+(\d+)\s+\[failed:\s*(\d+)\]", re.MULTILINE)
# The runtime commands the controller may pass through: weight, drain, enable/disable.
RUNTIME_COMMAND = re.compile(
    r"^set server [A-Za-z0-9_.:-]+/[A-Za-z0-9_.:-]+"
    r" (?:weight (?:25[0-6]|2[0-4]\d|1?\d?\d)|state (?:ready|drain|maint))$"
)


class CommandFailed(Exception):
    """A command on an HAProxy socket failed; the message says how."""


def socket_command(path: Path, command: str) -> str:
    """Send one command on an HAProxy CLI socket and return its whole answer."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(SOCKET_TIMEOUT)
        sock.connect(str(path))
        sock.sendall(command.encode() + b"\n")
        sock.shutdown(socket.SHUT_WR)  # the CLI answers, then closes
        chunks = []
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    return b"".join(chunks).decode("utf-8", "replace")


@dataclass(frozen=True)
class ProcStatus:
    """What the master CLI's ``show proc`` says."""

    reloads: int
    failed: int
    workers: int


def parse_show_proc(text: str) -> ProcStatus | None:
    match = SHOW_PROC_MASTER.search(text)
    if match is None:
        return None
    section, workers = "", 0
    for line in text.splitlines():
        if line.startswith("#"):
            section = line
        elif section == "# workers" and line.split()[1:2] == ["worker"]:
            workers += 1
    return ProcStatus(int(match.group(1)), int(match.group(2)), workers)


def listeners(config_text: str) -> list[dict[str, str]]:
    """The listeners (frontends) of a configuration, as Octavia's ``GET /1.0/listeners``."""
    found: list[dict[str, str]] = []
    default_mode, section, current = "tcp", "", None
    for raw in config_text.splitlines():
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        words = line.split()
        if not raw[0].isspace():
            section, current = words[0], None
            if section == "frontend" and len(words) > 1:
                current = {"status": "ACTIVE", "uuid": words[1], "type": ""}
                found.append(current)
            continue
        if words[0] == "mode" and len(words) > 1:
            if section == "defaults":
                default_mode = words[1]
            elif current is not None:
                current["type"] = words[1].upper()
        elif current is not None and words[0] == "bind" and "crt-list" in words[2:4]:
            current["type"] = "TERMINATED_HTTPS"
    for listener in found:
        listener["type"] = listener["type"] or default_mode.upper()
    return found


def bind_addresses(config_text: str) -> list[IpAddress]:
    """The addresses the configuration's ``bind`` lines name (``<address>:<port>``)."""
    found = []
    for line in config_text.splitlines():
        words = line.split()
        if words[:1] == ["bind"] and len(words) > 1:
            for endpoint in words[1].split(","):
                try:
                    found.append(ipaddress.ip_address(endpoint.rpartition(":")[0].strip("[]")))
                except ValueError:
                    pass
    return found


class HAProxy:
    def __init__(self, config: AgentConfig, child: Child) -> None:
        self.config = config
        self.child = child
        self.cfg = config.file("haproxy.cfg")
        self.new = config.file("haproxy.cfg.new")
        self.failed = config.file("haproxy.cfg.failed")
        self.pid_file = config.file("haproxy.pid")
        self.master_socket = config.file("master.sock")
        self.state_file = config.file("haproxy.state")
        # The controller names the peers of its ``peers`` section by amphora id.
        self.peer = config.amphora_id
        self._version: str | None = None
        # The configuration in place was not checked (see install).
        self.unchecked = False

    @property
    def running(self) -> bool:
        return self.child.running

    def version(self) -> str:
        """HAProxy's version as its package names it (``2.6.12-1+deb12u4``)."""
        if self._version is None:
            output = self._run("-v")
            match = re.search(r"version (\S+)", output)
            self._version = match.group(1) if match else output.strip()
        return self._version

    def install(self, text: bytes) -> None:
        """Validate a new configuration with ``haproxy -c`` and put it in place.

        The first one (no configuration, nothing running: nothing to keep) is put in place
        unchecked: HAProxy's start checks it anyway, and ``refused`` tells a start that failed
        on it why, sparing a first start the check's time (tens of milliseconds)."""
        files.write(self.new, text)
        self.unchecked = not self.running and not self.cfg.exists()
        if not self.unchecked:
            try:
                self._check(self.new)
            except InvalidConfig:
                os.replace(self.new, self.failed)
                raise
        os.replace(self.new, self.cfg)

    def refused(self) -> str | None:
        """After a failed start: HAProxy's reason if it refuses the unchecked configuration in
        place (then set aside as ``haproxy.cfg.failed``), else None."""
        if not self.unchecked:
            return None
        self.unchecked = False
        try:
            self._check(self.cfg)
        except InvalidConfig as exc:
            os.replace(self.cfg, self.failed)
            return str(exc)
        return None

    def _check(self, path: Path) -> None:
        self._run("-c", "-L", self.peer, "-f", str(path))

    def stats_socket(self) -> Path | None:
        """The admin socket the configuration declares (``stats socket``)."""
        try:
            match = STATS_SOCKET.search(self.cfg.read_text())
        except OSError:
            return None
        return self.config.directory / match.group(1) if match else None

    def listeners(self) -> list[dict[str, str]]:
        try:
            return listeners(self.cfg.read_text())
        except OSError:
            return []

    def bind_addresses(self) -> list[IpAddress]:
        try:
            return bind_addresses(self.cfg.read_text())
        except OSError:
            return []

    def start(self) -> None:
        """Start HAProxy (no-op when running); raises StartError with its output."""
        argv = [
            self.config.haproxy_cmd,
            "-W",
            "-f",
            str(self.cfg),
            "-p",
            str(self.pid_file),
            "-S",
            f"{self.master_socket},mode,600",
            "-L",
            self.peer,
        ]
        self.child.start(argv, self._ready)
        self.unchecked = False  # HAProxy took it

    def stop(self) -> None:
        self.child.stop()

    def reload(self) -> None:
        """Reload through the master CLI; a stopped HAProxy is started instead.

        Waits until the master has loaded the new configuration and forked its new worker;
        the old worker finishes its connections (no connection is dropped).
        """
        if not self.running:
            self.start()
            return
        before = self._status()
        if before is None:
            raise StartError("HAProxy's master socket does not answer")
        self._save_state()
        mark = self.child.output_mark()
        try:
            socket_command(self.master_socket, "reload")
        except OSError as exc:
            raise StartError(f"reload: {exc}") from exc
        deadline = time.monotonic() + self.config.process_ready_timeout
        while time.monotonic() < deadline:
            status = self._status()
            if status is not None and status.failed > before.failed:
                raise StartError(self.child.output_since(mark) or "HAProxy failed to reload")
            if status is not None and status.reloads > before.reloads and status.workers:
                return
            time.sleep(0.02)
        raise StartError(f"HAProxy did not reload within {self.config.process_ready_timeout:g} s")

    def runtime(self, commands: list[str]) -> None:
        """Apply runtime API commands (validated by the caller) on the stats socket."""
        path = self.stats_socket()
        if path is None:
            raise CommandFailed("the configuration declares no stats socket")
        for command in commands:
            try:
                answer = socket_command(path, command).strip()
            except OSError as exc:
                raise CommandFailed(f"{command}: {exc}") from exc
            if answer:
                raise CommandFailed(f"{command}: {answer}")

    def remove_files(self) -> None:
        stats = self.stats_socket()
        for path in (self.cfg, self.failed, self.state_file, stats):
            if path is not None:
                path.unlink(missing_ok=True)

    def stop_leftover(self) -> None:
        """Stop an HAProxy left running by an earlier agent of this directory."""
        kill_leftover(self.pid_file, str(self.cfg))

    def _ready(self) -> bool:
        status = self._status()
        return status is not None and status.workers > 0

    def _status(self) -> ProcStatus | None:
        try:
            return parse_show_proc(socket_command(self.master_socket, "show proc"))
        except OSError:
            return None

    def _save_state(self) -> None:
        path = self.stats_socket()
        if path is None:
            return
        try:
            state = socket_command(path, "show servers state")
        except OSError as exc:
            log.warning("could not save the servers' state: %s", exc)
            return
        self.state_file.write_text(state)

    def _run(self, *args: str) -> str:
        result = subprocess.run(
            [self.config.haproxy_cmd, *args],
            cwd=self.config.directory,
            capture_output=True,
            text=True,
            timeout=60,
        )
        output = result.stdout + result.stderr
        if result.returncode != 0:
            raise InvalidConfig(output.strip())
        return output
