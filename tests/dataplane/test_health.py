"""An HTTP health monitor on real amphorae: a member whose server stops is taken out without a
failed request, and put back when it serves again. (The API's operating statuses come with
the amphorae' heartbeats; here HAProxy's own statistics say what it decided.) SQLite only."""

from __future__ import annotations

import pytest

from tests.dataplane.conftest import Site
from tests.dataplane.hosts import Traffic, wait_for
from tests.dataplane.lbs import monitored_lb, server_states
from tests.helpers import expect

pytestmark = pytest.mark.parametrize("database", ["sqlite"], indirect=True)


def test_a_dead_member_is_skipped_then_used_again_when_it_returns(site: Site) -> None:
    api = site.api
    lb = monitored_lb(site)
    lb_id, client, vip, amphora = lb.lb_id, lb.client, lb.vip, lb.amphora
    (pool,) = expect(api.get(f"/v2/lbaas/pools?loadbalancer_id={lb_id}"), 200)["pools"]
    assert pool["healthmonitor_id"] is not None
    ids = {
        m["name"]: m["id"]
        for m in expect(api.get(f"/v2/lbaas/pools/{pool['id']}/members"), 200)["members"]
    }

    def states() -> dict[str, str]:
        found = server_states(site, amphora)
        return {name: found[member_id] for name, member_id in ids.items()}

    wait_for(lambda: states() == {"m1": "UP", "m2": "UP"}, what="both members UP")
    with Traffic(client, vip, 80) as traffic:
        assert set(traffic.next_bodies(6)) == {"m1", "m2"}

        site.hosts.stop("m1")
        wait_for(lambda: states()["m1"] == "DOWN", what="HAProxy to mark m1 DOWN")
        assert traffic.next_bodies(10) == ["m2"] * 10

        site.hosts.start("m1")
        wait_for(lambda: states()["m1"] == "UP", what="HAProxy to mark m1 UP again")
        assert set(traffic.next_bodies(6)) == {"m1", "m2"}
    assert traffic.failures() == [], traffic.failures()[:3]
