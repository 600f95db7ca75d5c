"""The Octavia API with ``auth_strategy = "keystone"``: tokens instead of identity headers,
keystonemiddleware's refusals, project isolation by the token's project and roles."""

from __future__ import annotations

from typing import Any

from tests.helpers import VIP_SUBNET
from tests.identity.keystone import UNAUTHORIZED, V3, Cloud

LBS = "/v2/lbaas/loadbalancers"
WWW_AUTHENTICATE = 'Keystone uri="http://127.0.0.1:19876/identity"'


def create_lb(cloud: Cloud, token: str, name: str) -> dict[str, Any]:
    body = {"loadbalancer": {"name": name, "vip_subnet_id": VIP_SUBNET}}
    response = cloud.call("POST", LBS, token, json=body)
    assert response.status_code == 201, response.text
    return dict(response.json()["loadbalancer"])


def names(cloud: Cloud, token: str) -> list[str]:
    response = cloud.call("GET", LBS, token)
    assert response.status_code == 200, response.text
    return sorted(lb["name"] for lb in response.json()["loadbalancers"])


def test_without_a_valid_token(cloud: Cloud) -> None:
    identity_headers = {"X-Project-Id": "p", "X-Roles": "admin"}
    for response in (
        cloud.client.get(LBS),
        cloud.client.get(LBS, headers=identity_headers),
        cloud.call("GET", LBS, "not-a-token"),
        cloud.call("POST", LBS, "", json={"loadbalancer": {"vip_subnet_id": VIP_SUBNET}}),
    ):
        assert response.status_code == 401
        assert response.json() == UNAUTHORIZED
        assert response.headers["WWW-Authenticate"] == WWW_AUTHENTICATE
    # The version document and the identity endpoint stay open.
    assert cloud.client.get("/").status_code == 200
    assert cloud.client.get("/identity/v3").status_code == 200


def test_each_project_sees_its_own(cloud: Cloud) -> None:
    cloud.user_with_role("alice", "demo", "member")
    cloud.user_with_role("bob", "other", "member")
    cloud.user_with_role("carol", "demo", "reader")
    alice = cloud.token("alice", "pw", "demo")
    bob = cloud.token("bob", "pw", "other")
    carol = cloud.token("carol", "pw", "demo")
    admin = cloud.token()

    mine = create_lb(cloud, alice, "alice-lb")
    assert mine["project_id"] == cloud.project("demo")
    theirs = create_lb(cloud, bob, "bob-lb")
    assert theirs["project_id"] == cloud.project("other")

    assert names(cloud, alice) == ["alice-lb"]
    assert names(cloud, bob) == ["bob-lb"]
    assert names(cloud, carol) == ["alice-lb"]
    assert names(cloud, admin) == ["alice-lb", "bob-lb"]
    assert cloud.call("GET", f"{LBS}/{theirs['id']}", alice).status_code == 403
    assert cloud.call("GET", f"{LBS}/{theirs['id']}", admin).status_code == 200
    # A reader reads but does not write.
    body = {"loadbalancer": {"vip_subnet_id": VIP_SUBNET}}
    assert cloud.call("POST", LBS, carol, json=body).status_code == 403


def test_a_revoked_token_is_refused_at_once(cloud: Cloud) -> None:
    cloud.user_with_role("alice", "demo", "member")
    alice = cloud.token("alice", "pw", "demo")
    assert cloud.call("GET", LBS, alice).status_code == 200
    revoke = cloud.call("DELETE", f"{V3}/auth/tokens", alice, headers={"X-Subject-Token": alice})
    assert revoke.status_code == 204
    refused = cloud.call("GET", LBS, alice)
    assert refused.status_code == 401
    assert refused.json() == UNAUTHORIZED


def test_an_unscoped_token_sees_nothing(cloud: Cloud) -> None:
    unscoped = cloud.login(project=None).headers["X-Subject-Token"]
    response = cloud.call("GET", LBS, unscoped)
    assert response.status_code == 403
