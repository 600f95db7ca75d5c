"""Heartbeats of real amphorae: the API's operating statuses follow a member's server dying
and coming back (an HTTP monitor checking every second), and the statistics grow with the
traffic sent through the VIP. SQLite only."""

from __future__ import annotations

from typing import Any

import pytest

from tests.dataplane.conftest import Site
from tests.dataplane.hosts import http_get, wait_for
from tests.dataplane.lbs import LBS, monitored_lb
from tests.helpers import expect

pytestmark = pytest.mark.parametrize("database", ["sqlite"], indirect=True)

REQUESTS = 40


def test_statuses_and_statistics_come_from_heartbeats(site: Site) -> None:
    api = site.api
    lb = monitored_lb(site)
    lb_id, client, vip, amphora = lb.lb_id, lb.client, lb.vip, lb.amphora

    def statuses() -> dict[str, Any]:
        tree = expect(api.get(f"{LBS}/{lb_id}/status"), 200)["statuses"]["loadbalancer"]
        (listener,) = tree["listeners"]
        (pool,) = listener["pools"]
        return {
            "lb": tree["operating_status"],
            "listener": listener["operating_status"],
            "pool": pool["operating_status"],
            **{m["name"]: m["operating_status"] for m in pool["members"]},
        }

    healthy = {"lb": "ONLINE", "listener": "ONLINE", "pool": "ONLINE", "m1": "ONLINE"}
    healthy["m2"] = "ONLINE"
    wait_for(lambda: statuses() == healthy, what=f"all ONLINE (last: {statuses()})")

    site.hosts.stop("m1")
    degraded = {**healthy, "lb": "DEGRADED", "pool": "DEGRADED", "m1": "ERROR"}
    wait_for(lambda: statuses() == degraded, what=f"m1 in ERROR (last: {statuses()})")
    site.hosts.start("m1")
    wait_for(lambda: statuses() == healthy, what=f"m1 ONLINE again (last: {statuses()})")

    def stats(path: str) -> dict[str, int]:
        return dict(expect(api.get(path), 200)["stats"])

    (listener_id,) = [
        li["id"] for li in expect(api.get(f"{LBS}/{lb_id}"), 200)["loadbalancer"]["listeners"]
    ]
    before = stats(f"{LBS}/{lb_id}/stats")
    for _ in range(REQUESTS):
        assert http_get(client, vip, 80) in ("m1", "m2")

    def grown() -> dict[str, int] | None:
        now = stats(f"{LBS}/{lb_id}/stats")
        enough = now["total_connections"] >= before["total_connections"] + REQUESTS
        return now if enough else None

    after = wait_for(grown, what="the statistics to count the requests")
    assert after["bytes_in"] > before["bytes_in"] + REQUESTS * 20
    assert after["bytes_out"] > before["bytes_out"] + REQUESTS * 20
    assert after["request_errors"] == before["request_errors"]
    assert stats(f"/v2/lbaas/listeners/{listener_id}/stats") == after
    (per_amphora,) = expect(api.get(f"/v2/octavia/amphorae/{amphora.id}/stats"), 200)[
        "amphora_stats"
    ]
    assert per_amphora["total_connections"] == after["total_connections"]
    assert (per_amphora["listener_id"], per_amphora["loadbalancer_id"]) == (listener_id, lb_id)
