"""keepalived under the agent: two amphorae in ACTIVE_STANDBY share the VIP by VRRP; it moves
when the owner's keepalived stops, crashes (leaving no stale VIP behind) or when the owner's
HAProxy cannot be restarted."""

from __future__ import annotations

import os
import signal
import uuid
from pathlib import Path

from tests.agent.lab import (
    VIP_ADDRESS,
    AgentProcess,
    Lab,
    holds_vip,
    http_get,
    serve,
    start_keepalived,
    wait_for,
)

MEMBERS = {"m1": "10.241.2.21"}


def _pair(net: Lab, check: bool = True, **options: object) -> tuple[str, list[AgentProcess]]:
    """Two amphorae serving one load balancer, keepalived running on both (``check``: with
    its HAProxy check script); returns the client namespace and the amphorae, the VIP owner
    first."""
    net.member("m1", "10.241.2.21", "fa:16:3e:02:02:21")
    client = net.host("client", "vip", "10.241.1.50/24", "fa:16:3e:01:01:50")
    lb_id = str(uuid.uuid4())
    amphorae = []
    for index, peer, priority in ((1, 2, 100), (2, 1, 90)):
        agent = net.amphora(f"a{index}", index, topology="ACTIVE_STANDBY", **options)
        serve(agent, index, MEMBERS, lb_id)
        start_keepalived(agent, index, [peer], priority, check)
        amphorae.append(agent)

    def owners() -> list[AgentProcess]:
        found = [agent for agent in amphorae if holds_vip(net, agent)]
        return found if len(found) == 1 else []

    owner = wait_for(owners, what="one VIP owner")[0]
    other = amphorae[1] if owner is amphorae[0] else amphorae[0]
    assert http_get(client, VIP_ADDRESS, 80) == (200, "m1")
    return client, [owner, other]


def _moved_to(net: Lab, client: str, owner: AgentProcess, other: AgentProcess) -> None:
    wait_for(lambda: holds_vip(net, other) and not holds_vip(net, owner), what="the VIP to move")
    wait_for(lambda: http_get(client, VIP_ADDRESS, 80, timeout=1) == (200, "m1"), what="traffic")


def test_vip_moves_when_the_owner_stops_keepalived(net: Lab) -> None:
    client, (owner, other) = _pair(net)
    assert owner.client.call("GET", f"/1.0/interface/{VIP_ADDRESS}")[1]["interface"] == "vip0"

    status, body = owner.client.call("PUT", "/1.0/vrrp/stop")
    assert (status, body) == (202, {"message": "OK", "details": "keepalived stoped"})
    _moved_to(net, client, owner, other)
    assert owner.client.call("GET", f"/1.0/interface/{VIP_ADDRESS}")[0] == 404
    assert other.client.call("GET", f"/1.0/interface/{VIP_ADDRESS}")[1]["interface"] == "vip0"


def test_invalid_keepalived_configuration_is_refused(net: Lab) -> None:
    agent = net.amphora("a1", 1, topology="ACTIVE_STANDBY")
    broken = "vrrp_instance lb {\n    interface nosuch0\n    virtual_router_id 51\n}\n"
    status, body = agent.client.call("PUT", "/1.0/vrrp/upload", broken)
    assert status == 400 and body["message"] == "Invalid request"
    assert "nosuch0" in body["details"]
    assert not (agent.directory / "keepalived.conf").exists()
    assert agent.client.call("PUT", "/1.0/vrrp/start") == (
        500,
        {"message": "Failed to start keepalived", "details": "No configuration uploaded"},
    )
    assert agent.client.call("PUT", "/1.0/vrrp/restart") == (
        400,
        {"message": "Invalid Request", "details": "Unknown action: restart"},
    )


def test_crashed_keepalived_leaves_no_stale_vip(net: Lab) -> None:
    client, (owner, other) = _pair(net)
    parent, vrrp = owner.pid_of("keepalived.pid"), owner.pid_of("vrrp.pid")
    assert parent and vrrp

    os.kill(vrrp, signal.SIGKILL)
    os.kill(parent, signal.SIGKILL)
    _moved_to(net, client, owner, other)
    assert f"after keepalived's crash: ip address del {VIP_ADDRESS}/32 dev vip0" in owner.log()
    # keepalived runs again on the old owner, as the backup (nopreempt).
    wait_for(lambda: owner.pid_of("vrrp.pid") not in (None, vrrp), what="keepalived again")
    assert holds_vip(net, other) and not holds_vip(net, owner)


def test_haproxy_that_cannot_restart_hands_the_vip_over(net: Lab, tmp_path: Path) -> None:
    wrapper = tmp_path / "haproxy-wrapper"
    wrapper.write_text(
        "#!/bin/sh\n"
        "[ -e broken ] && { echo 'haproxy: broken on purpose' >&2; exit 1; }\n"
        'exec haproxy "$@"\n'
    )
    wrapper.chmod(0o755)
    # Without keepalived's own check of HAProxy: only the agent moves the VIP.
    client, (owner, other) = _pair(
        net, check=False, haproxy_cmd=str(wrapper), restart_delay_min=0.1, restart_delay_max=0.5
    )
    (owner.directory / "broken").touch()
    master = owner.pid_of("haproxy.pid")
    assert master

    os.kill(master, signal.SIGKILL)
    _moved_to(net, client, owner, other)
    log = owner.log()
    assert "HAProxy cannot run: stopping keepalived so that the VIP moves" in log
    wait_for(lambda: owner.pid_of("vrrp.pid") is None, what="keepalived to stop")

    # Once HAProxy can run again, keepalived comes back as the backup.
    (owner.directory / "broken").unlink()
    wait_for(lambda: owner.pid_of("vrrp.pid") is not None, what="keepalived again")
    assert "HAProxy runs again: starting keepalived" in owner.log()
    assert owner.client.call("GET", "/1.0/details")[1]["haproxy_count"] == 1
    assert holds_vip(net, other) and not holds_vip(net, owner)
