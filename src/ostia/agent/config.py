"""The agent's configuration (``agent.json``) and the files of its directory.

Everything the agent reads or writes lives in the directory of ``agent.json``. Unknown keys are
refused so that a typo in the controller's rendering fails loudly.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

TOPOLOGIES = ("SINGLE", "ACTIVE_STANDBY")
TLS_VERSIONS = ("TLSv1.2", "TLSv1.3")


class ConfigError(ValueError):
    pass


@dataclass(frozen=True)
class AgentConfig:
    directory: Path
    amphora_id: str
    # The management address the agent listens on ([haproxy_amphora] bind_host/bind_port).
    bind_host: str
    bind_port: int = 9443
    # With ACTIVE_STANDBY keepalived owns the VIP and its source routing; the agent does not
    # configure them ([controller_worker] loadbalancer_topology).
    topology: str = "SINGLE"
    haproxy_cmd: str = "haproxy"
    keepalived_cmd: str = "keepalived"
    ip_cmd: str = "ip"
    agent_tls_protocol: str = "TLSv1.2"
    agent_request_read_timeout: float = 180.0
    # Delay before restarting a child that exited unasked: doubles from min to max.
    restart_delay_min: float = 0.1
    restart_delay_max: float = 5.0
    # How long HAProxy or keepalived may take to start or reload.
    process_ready_timeout: float = 10.0
    # Heartbeats ([health_manager] in Octavia): sent every interval to each "ip:port" of the
    # list, signed with the key; none when the list is empty.
    heartbeat_key: str = ""
    heartbeat_interval: float = 1.0
    controller_ip_port_list: tuple[str, ...] = ()

    def file(self, name: str) -> Path:
        return self.directory / name

    @property
    def server_cert(self) -> Path:
        return self.file("server.pem")

    @property
    def client_ca(self) -> Path:
        return self.file("client_ca.pem")

    @property
    def log_file(self) -> Path:
        return self.file("agent.log")

    @property
    def pid_file(self) -> Path:
        return self.file("agent.pid")

    @property
    def state_file(self) -> Path:
        return self.file("state.json")

    @property
    def certs_dir(self) -> Path:
        """TLS certificates of listeners and pools: ``certs/<name>.pem``."""
        return self.file("certs")


def parse_destination(entry: str) -> tuple[str, int]:
    """An entry of ``controller_ip_port_list``: ``ip:port`` or ``[ipv6]:port``."""
    host, _, port = entry.rpartition(":")
    try:
        address = ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        raise ConfigError(f"{entry!r} is not ip:port") from None
    if not port.isdigit() or not 0 < int(port) < 65536:
        raise ConfigError(f"{entry!r} is not ip:port")
    return str(address), int(port)


def _fields() -> dict[str, dataclasses.Field[Any]]:
    return {f.name: f for f in dataclasses.fields(AgentConfig) if f.name != "directory"}


def parse(data: bytes, directory: Path) -> AgentConfig:
    """Validate the JSON text of an ``agent.json`` kept in ``directory``."""
    try:
        raw = json.loads(data)
    except ValueError as exc:
        raise ConfigError(f"agent.json is not JSON: {exc}") from exc
    if not isinstance(raw, dict):
        raise ConfigError("agent.json must hold an object")
    fields = _fields()
    unknown = sorted(set(raw) - set(fields))
    if unknown:
        raise ConfigError(f"unknown option(s): {', '.join(unknown)}")
    values: dict[str, Any] = {}
    for name, value in raw.items():
        kind = fields[name].type
        if kind == "str" and not isinstance(value, str):
            raise ConfigError(f"{name} must be a string")
        if kind == "int" and (isinstance(value, bool) or not isinstance(value, int)):
            raise ConfigError(f"{name} must be an integer")
        if kind == "float":
            if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
                raise ConfigError(f"{name} must be a positive number")
            value = float(value)
        if kind == "tuple[str, ...]":
            if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
                raise ConfigError(f"{name} must be a list of strings")
            value = tuple(value)
        values[name] = value
    for required in ("amphora_id", "bind_host"):
        if not values.get(required):
            raise ConfigError(f"{required} is required")
    config = AgentConfig(directory=directory, **values)
    if config.topology not in TOPOLOGIES:
        raise ConfigError(f"topology must be one of {', '.join(TOPOLOGIES)}")
    if config.agent_tls_protocol not in TLS_VERSIONS:
        raise ConfigError(f"agent_tls_protocol must be one of {', '.join(TLS_VERSIONS)}")
    for entry in config.controller_ip_port_list:
        parse_destination(entry)
    return config


def load(path: Path) -> AgentConfig:
    path = path.resolve()
    return parse(path.read_bytes(), path.parent)
