"""L7 policies on real amphorae: requests sent to another pool by path, rejected, or redirected
to a URL, as the client sees them. SQLite only (the data plane does not depend on it)."""

from __future__ import annotations

from typing import Any

import pytest

from tests.dataplane.conftest import Site
from tests.dataplane.hosts import http_request
from tests.dataplane.lbs import create_lb, member, settle, subnets
from tests.helpers import expect

pytestmark = pytest.mark.parametrize("database", ["sqlite"], indirect=True)

MOVED = "http://www.example.com/moved"


def starts_with(path: str) -> list[dict[str, Any]]:
    return [{"type": "PATH", "compare_type": "STARTS_WITH", "value": path}]


def test_policies_send_to_a_pool_reject_and_redirect(site: Site) -> None:
    api = site.api
    vip_subnet, member_subnet = subnets(api)
    client, _ = site.hosts.add("client", vip_subnet)
    m1, m2 = (site.hosts.member(name, member_subnet) for name in ("m1", "m2"))
    api_pool: dict[str, Any] = {"name": "api", "protocol": "HTTP", "lb_algorithm": "ROUND_ROBIN"}
    api_pool["members"] = [member(m2, member_subnet)]
    policies: list[dict[str, Any]] = [
        {"name": "to-api", "action": "REDIRECT_TO_POOL", "redirect_pool": api_pool},
        {"name": "deny", "action": "REJECT"},
        {"name": "moved", "action": "REDIRECT_TO_URL", "redirect_url": MOVED},
    ]
    for policy, path in zip(policies, ("/api", "/admin", "/old"), strict=True):
        policy["rules"] = starts_with(path)
    lb_id = create_lb(
        api, vip_subnet, [member(m1, member_subnet)], listener={"l7policies": policies}
    )
    vip = settle(site, lb_id)["vip_address"]

    def get(path: str) -> tuple[int, str]:
        reply = http_request(client, vip, 80, path)
        return reply.status, reply.body

    assert get("/api/v1/things") == (200, "m2")
    assert get("/api") == (200, "m2")
    assert get("/") == (200, "m1")
    assert get("/static/api") == (200, "m1")
    status, body = get("/admin/users")
    assert status == 403, body
    redirect = http_request(client, vip, 80, "/old/page")
    assert (redirect.status, redirect.headers["location"]) == (302, MOVED)

    (listener,) = expect(api.get(f"/v2/lbaas/listeners?loadbalancer_id={lb_id}"), 200)["listeners"]
    found = expect(api.get(f"/v2/lbaas/l7policies?listener_id={listener['id']}"), 200)["l7policies"]
    by_name = {p["name"]: p for p in found}
    assert {(p["provisioning_status"], p["operating_status"]) for p in found} == {
        ("ACTIVE", "ONLINE")
    }
    expect(api.delete(f"/v2/lbaas/l7policies/{by_name['to-api']['id']}"), 204)
    settle(site, lb_id)
    assert get("/api/v1/things") == (200, "m1")
    assert get("/admin")[0] == 403
