"""The agent's parsers and derivations, without processes: agent.json, HAProxy's listeners,
bind addresses and ``show proc``, keepalived's virtual addresses, the connection limit."""

from __future__ import annotations

import ipaddress
import json
from pathlib import Path

import pytest

from ostia.agent import info
from ostia.agent.config import ConfigError, parse
from ostia.agent.haproxy import RUNTIME_COMMAND, bind_addresses, listeners, parse_show_proc
from ostia.agent.keepalived import virtual_addresses


def test_config_defaults_and_errors(tmp_path: Path) -> None:
    config = parse(b'{"amphora_id": "a", "bind_host": "10.0.0.5"}', tmp_path)
    assert (config.bind_port, config.topology, config.agent_tls_protocol) == (
        9443,
        "SINGLE",
        "TLSv1.2",
    )
    assert config.server_cert == tmp_path / "server.pem"
    for raw, error in (
        ({"bind_host": "h"}, "amphora_id is required"),
        ({"amphora_id": "a", "bind_host": "h", "bind_port": "1"}, "bind_port must be an integer"),
        ({"amphora_id": "a", "bind_host": "h", "topology": "RING"}, "topology must be one of"),
        ({"amphora_id": "a", "bind_host": "h", "restart_delay_max": 0}, "positive number"),
        ({"amphora_id": "a", "bind_host": "h", "agent_tls_protocol": "SSLv3"}, "TLSv1.2, TLSv1.3"),
    ):
        with pytest.raises(ConfigError, match=error):
            parse(json.dumps(raw).encode(), tmp_path)
    with pytest.raises(ConfigError, match="not JSON"):
        parse(b"{", tmp_path)


def test_listeners_of_a_combined_configuration() -> None:
    config = """global
    stats socket /x/haproxy.sock mode 600 level admin
defaults
    mode http
frontend 1f0c
    mode tcp
    bind 10.0.0.5:443
frontend 2a1d
    bind 10.0.0.5:80
frontend 3b2e
    mode http
    bind 10.0.0.5:8443 ssl crt-list /x/certs/lb/3b2e.pem
backend p:1f0c
    mode tcp
"""
    assert bind_addresses(config) == [ipaddress.ip_address("10.0.0.5")] * 3
    assert listeners(config) == [
        {"status": "ACTIVE", "uuid": "1f0c", "type": "TCP"},
        {"status": "ACTIVE", "uuid": "2a1d", "type": "HTTP"},
        {"status": "ACTIVE", "uuid": "3b2e", "type": "TERMINATED_HTTPS"},
    ]


def test_show_proc() -> None:
    text = """#<PID>          <type>          <reloads>       <uptime>        <version>
6109            master          2 [failed: 1]   0d00h00m03s     2.6.12-1+deb12u4
# workers
6138            worker          0               0d00h00m02s     2.6.12-1+deb12u4
# old workers
6113            worker          1               0d00h00m10s     2.6.12-1+deb12u4
# programs
"""
    status = parse_show_proc(text)
    assert status is not None
    assert (status.reloads, status.failed, status.workers) == (2, 1, 1)
    assert parse_show_proc("Unknown command.\n") is None


def test_keepalived_virtual_addresses() -> None:
    config = """vrrp_instance lb {
    interface vip0
    unicast_src_ip 10.0.1.11
    virtual_ipaddress {
        10.0.1.100
        10.0.1.101/32 dev vip0   # an additional VIP
    }
    virtual_ipaddress_excluded { 2001:db8::5 }
    virtual_routes {
        10.0.1.0/24 dev vip0 src 10.0.1.100 scope link table 1
    }
}
"""
    assert virtual_addresses(config) == {
        ipaddress.ip_address("10.0.1.100"),
        ipaddress.ip_address("10.0.1.101"),
        ipaddress.ip_address("2001:db8::5"),
    }


def test_runtime_commands_allowed() -> None:
    allowed = [
        "set server p:l/m weight 0",
        "set server p:l/m weight 256",
        "set server b/s state drain",
    ]
    refused = [
        "set server p:l/m weight 257",
        "set server p:l/m state stopped",
        "set server b/s weight 1; shutdown sessions server b/s",
        "disable server b/s",
    ]
    assert all(RUNTIME_COMMAND.match(command) for command in allowed)
    assert not any(RUNTIME_COMMAND.match(command) for command in refused)


def test_max_connections_leave_room_for_listeners_and_checks() -> None:
    assert info.max_connections(20000) == 7590
    assert info.max_connections(1000) == 0
    assert info.max_connections(None) == 1_000_000
