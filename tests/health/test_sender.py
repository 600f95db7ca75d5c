"""What the agent's heartbeat says, from HAProxy's ``show stat``: statuses as HAProxy words
them, counters as deltas since the previous heartbeat (also across an agent restart and an
HAProxy reload)."""

from __future__ import annotations

import json
import socket
import threading
import time
from pathlib import Path

import pytest

from ostia.agent import heartbeat
from ostia.agent.config import ConfigError, parse, parse_destination
from ostia.agent.sender import Deltas, HeartbeatSender, parse_show_stat, statuses

HEADER = "# pxname,svname,qcur,qmax,scur,smax,slim,stot,bin,bout,dreq,dresp,ereq,econ,status,\n"


def show_stat(bytes_in: int, total: int, member_status: str = "UP") -> str:
    return HEADER + (
        f"l1,FRONTEND,,,3,5,100,{total},{bytes_in},{bytes_in * 2},0,0,1,,OPEN,\n"
        f"p1:l1,m1,0,0,2,3,,{total},{bytes_in},{bytes_in * 2},,0,,0,{member_status},\n"
        "p1:l1,m2,0,0,0,0,,0,0,0,,0,,0,no check,\n"
        f"p1:l1,BACKEND,0,0,2,3,10,{total},{bytes_in},{bytes_in * 2},0,0,,0,UP,\n"
        "\n"
    )


def test_statuses_of_show_stat() -> None:
    listeners, pools = statuses(parse_show_stat(show_stat(100, 7, "DOWN 1/2")))
    assert listeners == {
        "l1": {
            "status": "OPEN",
            "stats": {"rx": 100, "tx": 200, "totconns": 7, "ereq": 1, "conns": 3},
        }
    }
    assert pools == {"p1:l1": {"status": "UP", "members": {"m1": "DOWN 1/2", "m2": "no check"}}}
    assert parse_show_stat("Unknown command\n") == []


def test_deltas_survive_a_restart_and_a_reload(tmp_path: Path) -> None:
    path = tmp_path / "stats_counters.json"

    def deltas_of(text: str, deltas: Deltas) -> dict[str, int]:
        listeners, _ = statuses(parse_show_stat(text))
        deltas.apply(listeners)
        return dict(listeners["l1"]["stats"])

    first = Deltas(path)
    assert deltas_of(show_stat(100, 7), first)["rx"] == 100
    after = deltas_of(show_stat(150, 9), first)
    assert (after["rx"], after["tx"], after["totconns"], after["conns"]) == (50, 100, 2, 3)
    # A new agent goes on from the counters last sent.
    assert deltas_of(show_stat(160, 9), Deltas(path))["rx"] == 10
    # HAProxy reloaded: its counters start again; all of them are new.
    assert deltas_of(show_stat(40, 1), Deltas(path))["rx"] == 40


def answer_once(server: socket.socket, answer: str) -> None:
    """Be HAProxy's stats socket for one command."""
    conn, _ = server.accept()
    with conn:
        conn.recv(100)
        conn.sendall(answer.encode())


def test_sender_sends_signed_heartbeats_to_every_controller(tmp_path: Path) -> None:
    receivers = [socket.socket(socket.AF_INET, socket.SOCK_DGRAM) for _ in range(2)]
    for sock in receivers:
        sock.bind(("127.0.0.1", 0))
        sock.settimeout(5)
    stats = tmp_path / "haproxy.sock"
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(str(stats))
    server.listen()
    server.settimeout(5)
    quiet = [False]
    sender = HeartbeatSender(
        "amp-1",
        "k",
        0.05,
        [f"127.0.0.1:{sock.getsockname()[1]}" for sock in receivers],
        tmp_path / "stats_counters.json",
        stats_socket=lambda: stats,
        silent=lambda: quiet[0],
    )
    try:
        messages = []
        for answer in (show_stat(100, 7), show_stat(130, 8)):
            thread = threading.Thread(target=answer_once, args=(server, answer))
            thread.start()
            sender.send()
            thread.join()
            got = [heartbeat.decode(sock.recv(65536), b"k") for sock in receivers]
            assert got[0] == got[1]
            messages.append(got[0])
        first, second = messages
        assert second["seq"] == first["seq"] + 1 > time.time() * 1000 - 60_000
        assert first["listeners"]["l1"]["stats"]["rx"] == 100
        assert second["listeners"]["l1"]["stats"]["rx"] == 30
        assert second["pools"] == {
            "p1:l1": {"status": "UP", "members": {"m1": "UP", "m2": "no check"}}
        }
        quiet[0] = True  # keepalived should run and does not: nothing is sent
        sender.send()
        receivers[0].settimeout(0.3)
        with pytest.raises(TimeoutError):
            receivers[0].recv(65536)
    finally:
        server.close()
        for sock in receivers:
            sock.close()


def test_agent_json_names_the_health_managers(tmp_path: Path) -> None:
    base = {"amphora_id": "a", "bind_host": "10.0.0.5"}
    config = parse(
        json.dumps(
            base
            | {
                "heartbeat_key": "k",
                "heartbeat_interval": 0.5,
                "controller_ip_port_list": ["10.0.0.1:5555", "[fd00::1]:5555"],
            }
        ).encode(),
        tmp_path,
    )
    assert config.controller_ip_port_list == ("10.0.0.1:5555", "[fd00::1]:5555")
    assert [parse_destination(entry) for entry in config.controller_ip_port_list] == [
        ("10.0.0.1", 5555),
        ("fd00::1", 5555),
    ]
    assert config.heartbeat_interval == 0.5
    for wrong in (["10.0.0.1"], ["host:5555"], ["10.0.0.1:70000"], "10.0.0.1:5555"):
        with pytest.raises(ConfigError):
            parse(json.dumps(base | {"controller_ip_port_list": wrong}).encode(), tmp_path)
