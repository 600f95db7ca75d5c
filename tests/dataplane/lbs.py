"""Load balancers of the data plane tests, through the Octavia API, and their amphorae as the
database holds them."""

from __future__ import annotations

import csv
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select

from ostia.agent.haproxy import socket_command
from ostia.db.models import Amphora, ReconcileState
from tests.dataplane.conftest import Site
from tests.dataplane.hosts import MEMBER_CIDR, MEMBER_PORT, VIP_CIDR, wait_for
from tests.helpers import Api, expect
from tests.network.neutron import create_network, create_subnet

LBS = "/v2/lbaas/loadbalancers"


def subnets(api: Api) -> tuple[dict[str, Any], dict[str, Any]]:
    """A VIP subnet and a member subnet, each on its own network."""
    vip = create_subnet(api, create_network(api, name="vip-net")["id"], VIP_CIDR)
    member = create_subnet(api, create_network(api, name="member-net")["id"], MEMBER_CIDR)
    return vip, member


# An HTTP monitor checking every second; a member is DOWN after two failed checks.
MONITOR = {
    "type": "HTTP",
    "delay": 1,
    "timeout": 1,
    "max_retries": 2,
    "max_retries_down": 2,
    "url_path": "/",
    "expected_codes": "200",
}


@dataclass(frozen=True)
class MonitoredLb:
    lb_id: str
    client: str  # the client host's namespace
    vip: str
    amphora: Amphora


def monitored_lb(site: Site) -> MonitoredLb:
    """A SINGLE load balancer over members m1 and m2 (named so) with ``MONITOR``, and a client
    on the VIP network, once ACTIVE."""
    api = site.api
    vip_subnet, member_subnet = subnets(api)
    client, _ = site.hosts.add("client", vip_subnet)
    m1, m2 = (site.hosts.member(name, member_subnet) for name in ("m1", "m2"))
    lb_id = create_lb(
        api,
        vip_subnet,
        [member(m1, member_subnet, name="m1"), member(m2, member_subnet, name="m2")],
        pool={"healthmonitor": MONITOR},
    )
    vip = settle(site, lb_id)["vip_address"]
    (amphora,) = amphorae(site, lb_id)
    return MonitoredLb(lb_id, client, vip, amphora)


def create_lb(
    api: Api,
    vip_subnet: dict[str, Any],
    members: list[dict[str, Any]],
    pool: dict[str, Any] | None = None,
    listener: dict[str, Any] | None = None,
) -> str:
    """A load balancer with an HTTP listener on port 80 and a ROUND_ROBIN pool, in one call;
    ``pool`` and ``listener`` add or replace fields of those two."""
    default_pool: dict[str, Any] = {"name": "p1", "protocol": "HTTP", "members": members}
    default_pool |= {"lb_algorithm": "ROUND_ROBIN", **(pool or {})}
    body: dict[str, Any] = {"name": "l1", "protocol": "HTTP", "protocol_port": 80}
    body |= {"default_pool": default_pool, **(listener or {})}
    lb = {"name": "lb1", "vip_subnet_id": vip_subnet["id"], "listeners": [body]}
    return str(expect(api.post(LBS, {"loadbalancer": lb}), 201)["loadbalancer"]["id"])


def member(address: str, subnet: dict[str, Any], **fields: Any) -> dict[str, Any]:
    return {"address": address, "protocol_port": MEMBER_PORT, "subnet_id": subnet["id"], **fields}


def settle(site: Site, lb_id: str, status: str = "ACTIVE") -> dict[str, Any]:
    """Wait until the load balancer reaches ``status`` (a deleted one answers 404); fail at
    once, with the controller's last error, if it goes to ERROR."""

    def error() -> str | None:
        with site.db.read() as session:
            state = session.get(ReconcileState, lb_id)
            return state.last_error if state else None

    def reached() -> dict[str, Any] | None:
        response = site.api.get(f"{LBS}/{lb_id}")
        if response.status_code == 404 and status == "DELETED":
            return {"provisioning_status": "DELETED"}
        lb = expect(response, 200)["loadbalancer"]
        assert lb["provisioning_status"] != "ERROR", error()
        return dict(lb) if lb["provisioning_status"] == status else None

    try:
        return dict(wait_for(reached, what=f"load balancer {lb_id} to be {status}"))
    except AssertionError as exc:
        raise AssertionError(f"{exc}; controller's last error: {error()}") from None


def amphorae(site: Site, lb_id: str, live: bool = True) -> list[Amphora]:
    """The load balancer's amphorae (live ones: not DELETED), MASTER first."""
    stmt = select(Amphora).where(Amphora.load_balancer_id == lb_id)
    if live:
        stmt = stmt.where(Amphora.status != "DELETED")
    with site.db.read() as session:
        return sorted(session.scalars(stmt), key=lambda a: -(a.vrrp_priority or 0))


def namespace(amphora: Amphora) -> str:
    """The amphora's namespace (its compute id)."""
    assert amphora.compute_id, amphora.id
    return amphora.compute_id


def server_states(site: Site, amphora: Amphora) -> dict[str, str]:
    """The status HAProxy's statistics give each server (member id → UP, DOWN, MAINT…)."""
    stats = socket_command(site.amphora_dir / amphora.id / "haproxy.sock", "show stat")
    rows = csv.DictReader(stats.removeprefix("# ").splitlines())
    return {
        row["svname"]: row["status"] for row in rows if row["svname"] not in ("FRONTEND", "BACKEND")
    }
