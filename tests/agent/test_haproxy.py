"""HAProxy under the agent: upload (validated), start, traffic through the VIP to members in
other namespaces, refused configurations, hitless reloads, crash restarts, runtime changes,
stop and delete — with Octavia's routes, codes and bodies."""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import threading
import time
import uuid

from ostia.agent import info
from ostia.agent.haproxy import socket_command
from tests.agent.lab import (
    LISTENER_ID,
    POOL_ID,
    VIP_ADDRESS,
    AgentProcess,
    Lab,
    haproxy_config,
    http_get,
    plug,
    serve,
    vip_mac,
    wait_for,
)

CLIENT = "10.241.1.50/24"


def _client(net: Lab) -> str:
    return net.host("client", "vip", CLIENT, "fa:16:3e:01:01:50")


def test_upload_start_and_serve_through_the_vip(net: Lab) -> None:
    net.member("m1", "10.241.2.21", "fa:16:3e:02:02:21")
    client = _client(net)
    agent = net.amphora("a1", 1)
    lb_id = str(uuid.uuid4())
    serve(agent, 1, {"m1": "10.241.2.21"}, lb_id)

    assert http_get(client, VIP_ADDRESS, 80) == (200, "m1")
    assert http_get(client, VIP_ADDRESS, 80, "/version") == (200, "v1")

    status, headers, text = agent.client.request("GET", f"/1.0/loadbalancer/{lb_id}/haproxy")
    assert status == 200 and text.decode() == haproxy_config(agent, {"m1": "10.241.2.21"})
    assert headers["ETag"] == hashlib.md5(text).hexdigest()
    assert agent.client.call("GET", "/1.0/listeners") == (
        200,
        [{"status": "ACTIVE", "uuid": LISTENER_ID, "type": "HTTP"}],
    )
    status, details = agent.client.call("GET", "/1.0/details")
    assert status == 200
    assert details["haproxy_count"] == 1 and details["listeners"] == [LISTENER_ID]
    assert details["max_connections"] == info.max_connections(info.fd_limit())
    assert details["hostname"] == f"amphora-{agent.amphora_id}"
    assert details["haproxy_version"].startswith("2.")
    assert set(details["networks"]) == {"mgmt0", "vip0", "m0"}
    status, body = agent.client.call("GET", "/1.0/info")
    assert body == {k: details[k] for k in ("hostname", "haproxy_version", "api_version")}

    # keepalived's check script: HAProxy answers on its stats socket, or is not asked to run.
    check = [str(agent.directory / "haproxy-check")]
    assert subprocess.run([*check, str(agent.directory / "haproxy.sock")]).returncode == 0
    assert subprocess.run([*check, str(agent.directory / "nothing.sock")]).returncode == 1
    assert agent.client.call("PUT", f"/1.0/loadbalancer/{lb_id}/stop")[0] == 202
    assert subprocess.run([*check, str(agent.directory / "nothing.sock")]).returncode == 0


def test_invalid_configuration_is_refused_and_the_old_one_keeps_serving(net: Lab) -> None:
    net.member("m1", "10.241.2.21", "fa:16:3e:02:02:21")
    client = _client(net)
    agent = net.amphora("a1", 1)
    lb_id = str(uuid.uuid4())
    serve(agent, 1, {"m1": "10.241.2.21"}, lb_id)
    good = agent.read("haproxy.cfg")

    broken = good.replace("    balance roundrobin\n", "    balance roundrobin\n    frobnicate 3\n")
    status, body = agent.client.call(
        "PUT", f"/1.0/loadbalancer/{agent.amphora_id}/{lb_id}/haproxy", broken
    )
    assert status == 400
    assert body["message"] == "Invalid request"
    assert "unknown keyword 'frobnicate'" in body["details"]

    assert agent.read("haproxy.cfg") == good
    assert agent.client.request("GET", f"/1.0/loadbalancer/{lb_id}/haproxy")[2].decode() == good
    assert agent.client.call("PUT", f"/1.0/loadbalancer/{lb_id}/reload")[0] == 202
    assert http_get(client, VIP_ADDRESS, 80) == (200, "m1")


def test_a_first_configuration_haproxy_refuses_fails_its_start_with_the_reason(
    net: Lab,
) -> None:
    """The first configuration is checked by HAProxy's start (nothing runs to keep): the
    start answers 400 with HAProxy's message, as the upload does later."""
    net.member("m1", "10.241.2.21", "fa:16:3e:02:02:21")
    client = _client(net)
    agent = net.amphora("a1", 1)
    lb_id = str(uuid.uuid4())
    plug(agent, 1)
    good = haproxy_config(agent, {"m1": "10.241.2.21"})
    broken = good.replace("    balance roundrobin\n", "    balance roundrobin\n    frobnicate 3\n")
    path = f"/1.0/loadbalancer/{agent.amphora_id}/{lb_id}/haproxy"
    assert agent.client.request("PUT", path, broken)[0] == 202

    status, body = agent.client.call("PUT", f"/1.0/loadbalancer/{lb_id}/reload")
    assert (status, body["message"]) == (400, "Invalid request")
    assert "unknown keyword 'frobnicate'" in body["details"]
    assert agent.read("haproxy.cfg.failed") == broken
    assert not (agent.directory / "haproxy.cfg").exists()
    assert agent.client.call("GET", "/1.0/details")[1]["haproxy_count"] == 0

    assert agent.client.request("PUT", path, good)[0] == 202
    assert agent.client.call("PUT", f"/1.0/loadbalancer/{lb_id}/reload")[0] == 202
    assert http_get(client, VIP_ADDRESS, 80) == (200, "m1")


def test_reload_under_load_fails_no_request(net: Lab) -> None:
    net.member("m1", "10.241.2.21", "fa:16:3e:02:02:21")
    net.member("m2", "10.241.2.22", "fa:16:3e:02:02:22")
    client = _client(net)
    agent = net.amphora("a1", 1)
    lb_id = str(uuid.uuid4())
    members = {"m1": "10.241.2.21", "m2": "10.241.2.22"}
    serve(agent, 1, members, lb_id)

    results: list[object] = []
    stop = threading.Event()

    def load() -> None:
        deadline = time.monotonic() + 30
        while not stop.is_set() and time.monotonic() < deadline and len(results) < 20000:
            try:
                results.append(http_get(client, VIP_ADDRESS, 80, timeout=5)[0])
            except OSError as exc:
                results.append(exc)

    threads = [threading.Thread(target=load) for _ in range(2)]
    for thread in threads:
        thread.start()
    try:
        for version in ("v2", "v3", "v4"):
            time.sleep(0.3)
            config = haproxy_config(agent, members, version)
            path = f"/1.0/loadbalancer/{agent.amphora_id}/{lb_id}/haproxy"
            assert agent.client.request("PUT", path, config)[0] == 202
            status, body = agent.client.call("PUT", f"/1.0/loadbalancer/{lb_id}/reload")
            assert (status, body) == (
                202,
                {"message": "OK", "details": f"Listener {lb_id} reloaded"},
            )
            assert http_get(client, VIP_ADDRESS, 80, "/version") == (200, version)
        time.sleep(0.3)
    finally:
        stop.set()
        for thread in threads:
            thread.join()
    failures = [result for result in results if result != 200]
    assert len(results) > 100 and failures == []


def test_killed_haproxy_is_restarted(net: Lab) -> None:
    net.member("m1", "10.241.2.21", "fa:16:3e:02:02:21")
    client = _client(net)
    agent = net.amphora("a1", 1)
    lb_id = str(uuid.uuid4())
    serve(agent, 1, {"m1": "10.241.2.21"}, lb_id)
    master = agent.pid_of("haproxy.pid")
    assert master is not None

    os.kill(master, signal.SIGKILL)
    wait_for(lambda: agent.pid_of("haproxy.pid") not in (None, master), what="a new HAProxy")
    wait_for(lambda: http_get(client, VIP_ADDRESS, 80) == (200, "m1"), what="traffic again")
    assert f"pid {master} exited unasked" in agent.log()
    assert agent.client.call("GET", "/1.0/details")[1]["haproxy_count"] == 1


def test_runtime_changes_apply_without_reload(net: Lab) -> None:
    net.member("m1", "10.241.2.21", "fa:16:3e:02:02:21")
    net.member("m2", "10.241.2.22", "fa:16:3e:02:02:22")
    client = _client(net)
    agent = net.amphora("a1", 1)
    lb_id = str(uuid.uuid4())
    serve(agent, 1, {"m1": "10.241.2.21", "m2": "10.241.2.22"}, lb_id)
    backend = f"{POOL_ID}:{LISTENER_ID}"
    wait_for(
        lambda: {http_get(client, VIP_ADDRESS, 80)[1] for _ in range(4)} == {"m1", "m2"},
        what="both members up",
    )
    master = agent.pid_of("haproxy.pid")

    commands = [f"set server {backend}/m1 state maint", f"set server {backend}/m2 weight 10"]
    status, body = agent.client.call("PUT", f"/1.0/loadbalancer/{lb_id}/runtime", commands)
    assert (status, body) == (200, {"message": "OK", "details": "2 command(s) applied"})
    assert {http_get(client, VIP_ADDRESS, 80)[1] for _ in range(6)} == {"m2"}
    assert agent.pid_of("haproxy.pid") == master

    status, body = agent.client.call(
        "PUT", f"/1.0/loadbalancer/{lb_id}/runtime", [f"set server {backend}/m9 state ready"]
    )
    assert status == 400 and body["details"].endswith("No such server.")
    status, body = agent.client.call(
        "PUT", f"/1.0/loadbalancer/{lb_id}/runtime", ["shutdown sessions server x/y"]
    )
    assert status == 400 and body["message"] == "Invalid request"


def test_stop_then_delete(net: Lab) -> None:
    net.member("m1", "10.241.2.21", "fa:16:3e:02:02:21")
    client = _client(net)
    agent = net.amphora("a1", 1)
    lb_id = str(uuid.uuid4())
    serve(agent, 1, {"m1": "10.241.2.21"}, lb_id)

    status, body = agent.client.call("PUT", f"/1.0/loadbalancer/{lb_id}/stop")
    assert (status, body) == (202, {"message": "OK", "details": f"Listener {lb_id} stoped"})
    try:
        http_get(client, VIP_ADDRESS, 80, timeout=2)
        raise AssertionError("HAProxy still answers")
    except ConnectionRefusedError:
        pass
    assert agent.client.call("GET", "/1.0/details")[1]["haproxy_count"] == 0

    status, body = agent.client.call("PUT", f"/1.0/loadbalancer/{lb_id}/reload")
    assert status == 202 and body["details"].endswith(f"haproxy daemon for {lb_id} started")
    assert http_get(client, VIP_ADDRESS, 80) == (200, "m1")

    cert = f"/1.0/loadbalancer/{lb_id}/certificates/{LISTENER_ID}.pem"
    assert agent.client.call("PUT", cert, b"PEM")[0] == 200
    assert agent.client.call("DELETE", f"/1.0/listeners/{lb_id}") == (200, {"message": "OK"})
    assert not (agent.directory / "haproxy.cfg").exists()
    assert not (agent.directory / "certs").exists()
    assert agent.client.call("GET", f"/1.0/loadbalancer/{lb_id}/haproxy") == (
        404,
        {"message": "Loadbalancer Not Found", "details": f"No loadbalancer with UUID: {lb_id}"},
    )
    assert agent.client.call("DELETE", f"/1.0/listeners/{lb_id}") == (200, {"message": "OK"})
    assert agent.client.call("GET", "/1.0/listeners") == (200, [])


def test_maxconn_within_max_connections_starts_and_beyond_fails(net: Lab) -> None:
    agent = net.amphora("a1", 1)
    lb_id = str(uuid.uuid4())
    maximum = agent.client.call("GET", "/1.0/details")[1]["max_connections"]
    path = f"/1.0/loadbalancer/{agent.amphora_id}/{lb_id}/haproxy"
    too_many = haproxy_config(agent, {"m1": "10.241.2.21"}, maxconn=maximum * 2)
    assert agent.client.request("PUT", path, too_many)[0] == 202  # haproxy -c does not see it
    status, body = agent.client.call("PUT", f"/1.0/loadbalancer/{lb_id}/start")
    assert (status, body["message"]) == (500, "Error starting haproxy")
    assert "Cannot raise FD limit" in body["details"]

    fitting = haproxy_config(agent, {"m1": "10.241.2.21"}, maxconn=maximum)
    assert agent.client.request("PUT", path, fitting)[0] == 202
    assert agent.client.call("PUT", f"/1.0/loadbalancer/{lb_id}/start")[0] == 202


def test_start_announces_the_vip_to_neighbours(net: Lab) -> None:
    """A client still holding another MAC for the VIP (the amphora this one replaces) learns
    the new one from the gratuitous ARP sent at start, as Octavia's agent does."""
    net.member("m1", "10.241.2.21", "fa:16:3e:02:02:21")
    client = _client(net)
    agent = net.amphora("a1", 1)
    net.ip(client, f"neigh replace {VIP_ADDRESS} lladdr fa:16:3e:99:99:99 dev eth0 nud stale")

    serve(agent, 1, {"m1": "10.241.2.21"}, str(uuid.uuid4()))

    def client_knows_vip0() -> bool:
        entries = net.query(client, "neigh", "show", VIP_ADDRESS, "dev", "eth0")
        return bool(entries) and entries[0].get("lladdr") == vip_mac(1)

    wait_for(client_knows_vip0, timeout=3, what="the client's ARP entry to change")
    assert "gratuitous ARP for 10.241.1.100" in agent.log()


def test_local_peer_is_the_amphora(net: Lab) -> None:
    """The controller names the peers of a ``peers`` section by amphora id: HAProxy runs as
    the peer named after its own amphora."""
    agent = net.amphora("a1", 1)
    plug(agent, 1)
    lb_id = str(uuid.uuid4())
    config = haproxy_config(agent, {"m1": "10.241.2.21"}) + (
        f"peers {lb_id}\n"
        f"    peer {agent.amphora_id} 10.241.1.11:1025\n"
        f"    peer {uuid.uuid4()} 10.241.1.12:1025\n"
    )
    path = f"/1.0/loadbalancer/{agent.amphora_id}/{lb_id}/haproxy"
    assert agent.client.request("PUT", path, config)[0] == 202
    assert agent.client.call("PUT", f"/1.0/loadbalancer/{lb_id}/start")[0] == 202
    peers = socket_command(agent.directory / "haproxy.sock", "show peers")
    assert f"id={agent.amphora_id}(local" in peers


def _server_checks(agent: AgentProcess) -> dict[str, tuple[str, str]]:
    """Server name → (status, last check's status), from the stats socket's ``show stat``."""
    csv = socket_command(agent.directory / "haproxy.sock", "show stat").splitlines()
    header = csv[0].lstrip("# ").split(",")
    rows = [dict(zip(header, line.split(","), strict=False)) for line in csv[1:] if line]
    return {
        row["svname"]: (row["status"], row["check_status"])
        for row in rows
        if row["svname"] not in ("FRONTEND", "BACKEND")
    }


def test_ping_check_script_for_ping_health_monitors(net: Lab) -> None:
    net.member("m1", "10.241.2.21", "fa:16:3e:02:02:21")
    agent = net.amphora("a1", 1)
    plug(agent, 1)
    lb_id = str(uuid.uuid4())
    config = haproxy_config(agent, {"m1": "10.241.2.21", "gone": "10.241.2.29"})
    config = config.replace(
        "    maxconn 4000\n", "    maxconn 4000\n    external-check\n    insecure-fork-wanted\n"
    )
    config = config.replace(
        "    balance roundrobin\n",
        "    balance roundrobin\n    option external-check\n"
        f"    external-check command {agent.directory}/ping-check.sh\n",
    ).replace("check inter 1s", "check inter 300ms fall 1 rise 1")
    path = f"/1.0/loadbalancer/{agent.amphora_id}/{lb_id}/haproxy"
    assert agent.client.request("PUT", path, config)[0] == 202
    assert agent.client.call("PUT", f"/1.0/loadbalancer/{lb_id}/start")[0] == 202

    # PROCOK / PROCERR: the external check (the script) succeeded / failed.
    wait_for(
        lambda: _server_checks(agent) == {"m1": ("UP", "PROCOK"), "gone": ("DOWN", "PROCERR")},
        what="m1 UP and the missing member DOWN by ping",
    )
