"""The agent process: its pid and log files, SIGTERM stopping its children, a restarted agent
bringing back what the controller had started, configuration errors at start."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from pathlib import Path

from tests.agent.lab import (
    VIP_ADDRESS,
    Lab,
    holds_vip,
    http_get,
    serve,
    start_keepalived,
    wait_for,
)


def _alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[-1].split()[0] != "Z"


def test_sigterm_stops_haproxy_and_keepalived(net: Lab) -> None:
    net.member("m1", "10.241.2.21", "fa:16:3e:02:02:21")
    agent = net.amphora("a1", 1, topology="ACTIVE_STANDBY")
    serve(agent, 1, {"m1": "10.241.2.21"}, str(uuid.uuid4()))
    start_keepalived(agent, 1, [2], 100)  # a peer that never answers
    wait_for(lambda: holds_vip(net, agent), what="the VIP")
    children = [agent.pid_of(name) for name in ("haproxy.pid", "keepalived.pid", "vrrp.pid")]
    assert all(children)

    assert agent.stop() == 0
    assert not any(_alive(pid) for pid in children if pid)
    assert not holds_vip(net, agent)
    assert not (agent.directory / "agent.pid").exists()
    assert agent.log().rstrip().endswith("stopped")


def test_restarted_agent_brings_back_what_ran(net: Lab) -> None:
    net.member("m1", "10.241.2.21", "fa:16:3e:02:02:21")
    agent = net.amphora("a1", 1, topology="ACTIVE_STANDBY")
    lb_id = str(uuid.uuid4())
    serve(agent, 1, {"m1": "10.241.2.21"}, lb_id)
    start_keepalived(agent, 1, [2], 100)  # a peer that never answers
    agent.stop()

    again = net.start_agent(net.ns("a1"), agent.amphora_id, agent.directory, "10.241.0.11")
    status, details = again.client.call("GET", "/1.0/details")
    assert details["haproxy_count"] == 1
    wait_for(lambda: holds_vip(net, again), what="the VIP again")
    assert again.client.request("GET", f"/1.0/loadbalancer/{lb_id}/haproxy")[0] == 200


def test_agent_killed_leaves_haproxy_serving_until_a_new_agent_takes_over(net: Lab) -> None:
    net.member("m1", "10.241.2.21", "fa:16:3e:02:02:21")
    client = net.host("client", "vip", "10.241.1.50/24", "fa:16:3e:01:01:50")
    agent = net.amphora("a1", 1)
    serve(agent, 1, {"m1": "10.241.2.21"}, str(uuid.uuid4()))
    master = agent.pid_of("haproxy.pid")
    assert master

    agent.process.kill()
    agent.process.wait(10)
    assert http_get(client, VIP_ADDRESS, 80) == (200, "m1")

    again = net.start_agent(net.ns("a1"), agent.amphora_id, agent.directory, "10.241.0.11")
    assert not _alive(master)
    assert again.pid_of("haproxy.pid") not in (None, master)
    assert http_get(client, VIP_ADDRESS, 80) == (200, "m1")
    assert f"stopping leftover pid {master}" in again.log()


def test_second_agent_for_one_directory_is_refused(net: Lab) -> None:
    agent = net.amphora("a1", 1)
    second = subprocess.run(
        [sys.executable, "-m", "ostia.agent", "--config", str(agent.directory / "agent.json")],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert second.returncode == 1
    assert "another agent runs for" in second.stderr
    assert agent.pid_of("agent.pid") == agent.process.pid


def test_bad_configuration_stops_the_agent_at_once(tmp_path: Path) -> None:
    config = tmp_path / "agent.json"
    config.write_text(json.dumps({"amphora_id": "x", "bind_host": "127.0.0.1", "colour": 1}))
    result = subprocess.run(
        [sys.executable, "-m", "ostia.agent", "--config", str(config)],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 2
    assert "unknown option(s): colour" in result.stderr
    assert os.listdir(tmp_path) == ["agent.json"]  # no pid file, no log
