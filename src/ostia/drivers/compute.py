"""The compute driver: an amphora is a namespace (``<prefix>-a<12 hex of its id>``) with its
management port as ``mgmt0``, a directory of files, and an agent process started inside it.

The agent runs detached (its own session, output to ``agent.log``): it outlives the controller
that started it, and a restarted controller finds it again by looking for it in the namespace.
"""

from __future__ import annotations

import ipaddress
import json
import os
import shutil
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from ostia.drivers.fabric import MGMT_IFNAME, Fabric, PortPlug, assign_address
from ostia.drivers.netns import (
    create_namespace,
    delete_namespace,
    ip_batch,
    ip_json,
    namespace_exists,
    namespace_pids,
    stop_processes,
)

AGENT_MODULE = "ostia.agent"
AGENT_PORT = 9443
# How long an agent may take to listen after it is started, and to stop after SIGTERM (it
# stops its HAProxy and keepalived first).
AGENT_START_TIMEOUT = 30.0
AGENT_STOP_TIMEOUT = 10.0
LOG_TAIL = 2000
TCP_LISTEN = "0A"


class ComputeError(RuntimeError):
    """An amphora's agent did not start; the message has the end of its log."""


@dataclass(frozen=True)
class AgentFiles:
    server_pem: bytes  # certificate + key
    client_ca_pem: bytes


def _write(path: Path, data: bytes, mode: int) -> None:
    """Replace ``path`` atomically by a file of this mode (whatever the umask)."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    try:
        os.fchmod(fd, mode)
        with os.fdopen(fd, "wb") as file:
            file.write(data)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    os.replace(tmp, path)


def _command_line(pid: int) -> list[str]:
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return []
    return raw.decode(errors="replace").split("\0")


def _listening(pid: int, host: str, port: int) -> bool:
    """Whether the namespace of process ``pid`` has a TCP socket listening on host:port
    (read from /proc/<pid>/net, whose words are in host byte order)."""
    address = ipaddress.ip_address(host)
    table = "tcp6" if address.version == 6 else "tcp"
    try:
        lines = Path(f"/proc/{pid}/net/{table}").read_text().splitlines()[1:]
    except OSError:
        return False
    for line in lines:
        local, state = line.split()[1], line.split()[3]
        hex_address, _, hex_port = local.partition(":")
        raw = bytes.fromhex(hex_address)
        packed = b"".join(raw[i : i + 4][::-1] for i in range(0, len(raw), 4))
        if state == TCP_LISTEN and int(hex_port, 16) == port and packed == address.packed:
            return True
    return False


def _log_tail(path: Path) -> str:
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return "(no log)"
    return text[-LOG_TAIL:].strip() or "(empty log)"


class NetnsCompute:
    """Amphorae as namespaces with an agent each, plugged into ``fabric``."""

    def __init__(
        self, prefix: str, amphora_dir: Path, fabric: Fabric, python: str = sys.executable
    ) -> None:
        self.prefix = prefix
        # Absolute: the agent runs in its directory and the path finds it in `ps`.
        self.amphora_dir = amphora_dir.resolve()
        self.fabric = fabric
        self.python = python

    def namespace(self, amphora_id: str) -> str:
        return f"{self.prefix}-a{amphora_id.replace('-', '').lower()[:12]}"

    def directory(self, amphora_id: str) -> Path:
        return self.amphora_dir / amphora_id

    def _config_path(self, amphora_id: str) -> Path:
        return self.directory(amphora_id) / "agent.json"

    def agent_pid(self, amphora_id: str) -> int | None:
        """The agent process of this amphora, if one runs in its namespace."""
        config = str(self._config_path(amphora_id))
        for pid in namespace_pids(self.namespace(amphora_id)):
            args = _command_line(pid)
            if AGENT_MODULE in args and config in args:
                return pid
        return None

    def boot(
        self,
        amphora_id: str,
        management: PortPlug,
        management_address_cidr: str,
        agent: dict[str, object],
        files: AgentFiles,
    ) -> str:
        """Build the amphora (or repair it) and start its agent unless it runs; returns once
        the agent listens. The compute id is the namespace's name."""
        namespace = self.namespace(amphora_id)
        create_namespace(namespace)
        self.fabric.plug(management, namespace, MGMT_IFNAME)
        assign_address(namespace, MGMT_IFNAME, management_address_cidr)
        bind_host = str(ipaddress.ip_interface(management_address_cidr).ip)
        config = {**agent, "amphora_id": amphora_id, "bind_host": bind_host}
        self._write_files(amphora_id, config, files)
        if self.agent_pid(amphora_id) is None:
            port = config.get("bind_port", AGENT_PORT)
            self._start_agent(amphora_id, bind_host, port if isinstance(port, int) else AGENT_PORT)
        return namespace

    def _write_files(self, amphora_id: str, config: dict[str, object], files: AgentFiles) -> None:
        directory = self.directory(amphora_id)
        # 0755: HAProxy's workers (user nobody) reach the scripts the agent installs here.
        for path in (self.amphora_dir, directory):
            path.mkdir(mode=0o755, parents=True, exist_ok=True)
        directory.chmod(0o755)
        _write(directory / "server.pem", files.server_pem, 0o600)
        _write(directory / "client_ca.pem", files.client_ca_pem, 0o600)
        agent_json = json.dumps(config, indent=2, sort_keys=True).encode()
        _write(self._config_path(amphora_id), agent_json, 0o600)

    def _start_agent(self, amphora_id: str, host: str, port: int) -> None:
        namespace, directory = self.namespace(amphora_id), self.directory(amphora_id)
        log_path = directory / "agent.log"
        with open(log_path, "ab") as log:
            process = subprocess.Popen(
                ["ip", "netns", "exec", namespace, self.python, "-m", AGENT_MODULE]
                + ["--config", str(self._config_path(amphora_id))],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=directory,
                start_new_session=True,
                close_fds=True,
            )
        # Reap it when it exits while we live; after our exit, init does.
        threading.Thread(target=process.wait, name=f"reap-{namespace}", daemon=True).start()
        deadline = time.monotonic() + AGENT_START_TIMEOUT
        while not _listening(process.pid, host, port):
            code = process.poll()
            if code is not None:
                raise ComputeError(
                    f"the agent of amphora {amphora_id} exited with code {code}: "
                    f"{_log_tail(log_path)}"
                )
            if time.monotonic() > deadline:
                stop_processes([process.pid])
                raise ComputeError(
                    f"the agent of amphora {amphora_id} did not listen on {host}:{port} within "
                    f"{AGENT_START_TIMEOUT:g} s: {_log_tail(log_path)}"
                )
            time.sleep(0.02)

    def status(self, amphora_id: str) -> str:
        """ACTIVE (its agent runs), SHUTOFF (its namespace, no agent) or MISSING."""
        if not namespace_exists(self.namespace(amphora_id)):
            return "MISSING"
        return "ACTIVE" if self.agent_pid(amphora_id) is not None else "SHUTOFF"

    def delete(self, amphora_id: str) -> None:
        """Stop the agent (it stops HAProxy and keepalived), kill what is left, remove the
        namespace with its ports' veths, and the directory."""
        namespace = self.namespace(amphora_id)
        if namespace_exists(namespace):
            pid = self.agent_pid(amphora_id)
            if pid is not None:
                stop_processes([pid], AGENT_STOP_TIMEOUT)
            # Deleting each veth removes its fabric side now, not when the kernel gets round
            # to dismantling the namespace: a port plugged again at once finds its name free.
            veths = [link["ifname"] for link in ip_json(namespace, "link", "show", "type", "veth")]
            ip_batch(namespace, [f"link del {name}" for name in veths])
            delete_namespace(namespace)
        directory = self.directory(amphora_id)
        if directory.exists():
            shutil.rmtree(directory)
