"""Version discovery and ``/identity/v3/auth``: tokens by password and by token, scoping,
validation, revocation, expiry, key rotation, the caller's projects and catalog."""

from __future__ import annotations

import time
from datetime import datetime
from pathlib import Path

from ostia.identity.keys import KeyRepository
from ostia.identity.service import key_repository
from tests.identity.keystone import UNAUTHORIZED, V3, Cloud, keystone_error, password_auth


def test_version_discovery(cloud: Cloud) -> None:
    response = cloud.client.get("/identity")
    assert response.status_code == 300
    (version,) = response.json()["versions"]["values"]
    assert version["id"] == "v3.14"
    assert version["status"] == "stable"
    assert version["links"] == [{"rel": "self", "href": "http://127.0.0.1:19876/identity/v3/"}]
    assert response.headers["Location"] == "http://127.0.0.1:19876/identity/v3/"

    response = cloud.client.get("/identity/v3")
    assert response.status_code == 200
    assert response.json() == {"version": version}


def test_password_by_names_scoped_by_project_name(cloud: Cloud) -> None:
    response = cloud.login()
    assert response.status_code == 201, response.text
    assert response.headers["X-Subject-Token"]
    token = response.json()["token"]
    assert token["methods"] == ["password"]
    assert token["user"] == {
        "domain": {"id": "default", "name": "Default"},
        "id": cloud.boot.user_id,
        "name": "admin",
        "password_expires_at": None,
    }
    assert token["project"] == {
        "domain": {"id": "default", "name": "Default"},
        "id": cloud.boot.project_id,
        "name": "admin",
    }
    assert token["is_domain"] is False
    # The admin role and the roles it implies.
    assert sorted(role["name"] for role in token["roles"]) == ["admin", "member", "reader"]
    assert len(token["audit_ids"]) == 1 and len(token["audit_ids"][0]) == 22
    issued = datetime.fromisoformat(token["issued_at"].replace("Z", "+00:00"))
    expires = datetime.fromisoformat(token["expires_at"].replace("Z", "+00:00"))
    assert (expires - issued).total_seconds() == cloud.settings.identity.token_expiration


def test_catalog_in_the_token(cloud: Cloud) -> None:
    catalog = cloud.login().json()["token"]["catalog"]
    urls = {
        (service["type"], endpoint["interface"]): endpoint["url"]
        for service in catalog
        for endpoint in service["endpoints"]
    }
    assert urls[("identity", "public")] == "http://127.0.0.1:19876/identity"
    assert urls[("load-balancer", "public")] == "http://127.0.0.1:19876"
    assert urls[("network", "internal")] == "http://127.0.0.1:19876/network"
    assert {service["type"] for service in catalog} == {"identity", "load-balancer", "network"}
    regions = {endpoint["region"] for service in catalog for endpoint in service["endpoints"]}
    assert regions == {"RegionOne"}
    assert "catalog" not in cloud.login(params={"nocatalog": ""}).json()["token"]


def test_catalog_from_the_bind_address(cloud: Cloud) -> None:
    cloud.settings.identity.public_url = ""
    cloud.settings.api.bind_port = 9999
    cloud.settings.identity.region = "There"
    (identity,) = [s for s in cloud.login().json()["token"]["catalog"] if s["type"] == "identity"]
    assert {e["url"] for e in identity["endpoints"]} == {"http://127.0.0.1:9999/identity"}
    assert {e["region_id"] for e in identity["endpoints"]} == {"There"}


def test_password_by_user_id_scoped_by_project_id(cloud: Cloud) -> None:
    body = {
        "auth": {
            "identity": {
                "methods": ["password"],
                "password": {"user": {"id": cloud.boot.user_id, "password": "s3cret-admin"}},
            },
            "scope": {"project": {"id": cloud.boot.project_id}},
        }
    }
    response = cloud.client.post(f"{V3}/auth/tokens", json=body)
    assert response.status_code == 201, response.text
    assert response.json()["token"]["project"]["id"] == cloud.boot.project_id


def test_domain_by_id(cloud: Cloud) -> None:
    body = password_auth("admin", "s3cret-admin", "admin", domain={"id": "default"})
    assert cloud.client.post(f"{V3}/auth/tokens", json=body).status_code == 201


def test_unscoped_and_default_project(cloud: Cloud) -> None:
    unscoped = cloud.login(project=None)
    assert unscoped.status_code == 201
    token = unscoped.json()["token"]
    assert "project" not in token and "roles" not in token and "catalog" not in token

    # A user whose default project has a role for them gets a token for it without a scope.
    cloud.user_with_role("alice", "demo", "member")
    scoped = cloud.login("alice", "pw", None).json()["token"]
    assert scoped["project"]["name"] == "demo"
    assert sorted(r["name"] for r in scoped["roles"]) == ["member", "reader"]

    explicit = password_auth("alice", "pw", None)
    explicit["auth"]["scope"] = "unscoped"
    token = cloud.client.post(f"{V3}/auth/tokens", json=explicit).json()["token"]
    assert "project" not in token


def test_bad_credentials_are_refused_alike(cloud: Cloud) -> None:
    cloud.user_with_role("alice", "demo", "member")
    cloud.project("elsewhere")
    domain_scoped = password_auth("admin", "s3cret-admin", None)
    domain_scoped["auth"]["scope"] = {"domain": {"id": "default"}}
    for attempt in (
        cloud.login(password="wrong"),
        cloud.login(user="nobody"),
        cloud.login(project="nowhere"),
        # alice has no role on this project
        cloud.login("alice", "pw", "elsewhere"),
        # no role can be given on a domain
        cloud.client.post(f"{V3}/auth/tokens", json=domain_scoped),
    ):
        assert attempt.status_code == 401, attempt.text
        assert attempt.json() == UNAUTHORIZED
        www_authenticate = 'Keystone uri="http://127.0.0.1:19876/identity/v3"'
        assert attempt.headers["WWW-Authenticate"] == www_authenticate
        assert "X-Subject-Token" not in attempt.headers


def test_disabled_user_and_project(cloud: Cloud) -> None:
    user_id = cloud.user_with_role("alice", "demo", "member")
    admin = cloud.token()
    token = cloud.token("alice", "pw", "demo")
    patch = {"user": {"enabled": False}}
    assert cloud.call("PATCH", f"{V3}/users/{user_id}", admin, json=patch).status_code == 200
    assert cloud.login("alice", "pw", "demo").status_code == 401
    headers = {"X-Subject-Token": token}
    keystone_error(cloud.call("GET", f"{V3}/auth/tokens", admin, headers=headers), 404)

    patch = {"user": {"enabled": True}}
    assert cloud.call("PATCH", f"{V3}/users/{user_id}", admin, json=patch).status_code == 200
    project_id = cloud.project("demo")
    patch = {"project": {"enabled": False}}
    assert cloud.call("PATCH", f"{V3}/projects/{project_id}", admin, json=patch).status_code == 200
    assert cloud.login("alice", "pw", "demo").status_code == 401


def test_malformed_requests(cloud: Cloud) -> None:
    post = cloud.client.post
    message = keystone_error(post(f"{V3}/auth/tokens", json={"auth": {}}), 400)
    assert message == "Invalid input for field 'auth': 'identity' is a required property"
    body = {"auth": {"identity": {"methods": ["password"]}}}
    message = keystone_error(post(f"{V3}/auth/tokens", json=body), 400)
    assert message.startswith("Expecting to find password in identity.")
    body = {"auth": {"identity": {"methods": ["totp"], "totp": {}}}}
    message = keystone_error(post(f"{V3}/auth/tokens", json=body), 401)
    assert message == "Attempted to authenticate with an unsupported method."
    response = post(f"{V3}/auth/tokens", content=b"{", headers={"Content-Type": "application/json"})
    assert keystone_error(response, 400) == "Malformed request body"
    user_without_domain = password_auth("admin", "s3cret-admin", None)
    del user_without_domain["auth"]["identity"]["password"]["user"]["domain"]
    message = keystone_error(post(f"{V3}/auth/tokens", json=user_without_domain), 400)
    assert message.startswith("Expecting to find domain in user.")


def test_token_method_rescopes(cloud: Cloud) -> None:
    unscoped = cloud.login(project=None)
    first = unscoped.json()["token"]
    body = {
        "auth": {
            "identity": {
                "methods": ["token"],
                "token": {"id": unscoped.headers["X-Subject-Token"]},
            },
            "scope": {"project": {"name": "admin", "domain": {"name": "Default"}}},
        }
    }
    response = cloud.client.post(f"{V3}/auth/tokens", json=body)
    assert response.status_code == 201, response.text
    token = response.json()["token"]
    assert token["methods"] == ["token", "password"]
    assert token["project"]["id"] == cloud.boot.project_id
    assert token["audit_ids"][1] == first["audit_ids"][0]
    assert token["expires_at"] == first["expires_at"]

    # As Keystone: an unknown token is not found, rather than refused.
    body["auth"]["identity"]["token"]["id"] = "not-a-token"
    response = cloud.client.post(f"{V3}/auth/tokens", json=body)
    assert keystone_error(response, 404) == "Could not find token: not-a-token."


def test_validate_check_and_revoke(cloud: Cloud) -> None:
    cloud.user_with_role("alice", "demo", "member")
    cloud.user_with_role("bob", "demo", "member")
    admin = cloud.token()
    alice = cloud.token("alice", "pw", "demo")
    bob = cloud.token("bob", "pw", "demo")

    shown = cloud.call("GET", f"{V3}/auth/tokens", admin, headers={"X-Subject-Token": alice})
    assert shown.status_code == 200
    assert shown.headers["X-Subject-Token"] == alice
    assert shown.json()["token"]["user"]["name"] == "alice"
    assert "catalog" in shown.json()["token"]
    own = cloud.call(
        "GET", f"{V3}/auth/tokens?nocatalog", alice, headers={"X-Subject-Token": alice}
    )
    assert own.status_code == 200 and "catalog" not in own.json()["token"]
    other = cloud.call("GET", f"{V3}/auth/tokens", alice, headers={"X-Subject-Token": bob})
    forbidden = "You are not authorized to perform the requested action: identity:validate_token."
    assert keystone_error(other, 403) == forbidden
    assert cloud.check(alice, alice) == 200

    missing = cloud.client.get(f"{V3}/auth/tokens", headers={"X-Subject-Token": alice})
    assert missing.json() == UNAUTHORIZED
    bogus = cloud.call("GET", f"{V3}/auth/tokens", admin, headers={"X-Subject-Token": "bogus"})
    assert keystone_error(bogus, 404) == "Could not find token: bogus."

    revoked = cloud.call("DELETE", f"{V3}/auth/tokens", alice, headers={"X-Subject-Token": alice})
    assert revoked.status_code == 204
    gone = cloud.call("GET", f"{V3}/auth/tokens", admin, headers={"X-Subject-Token": alice})
    assert keystone_error(gone, 404) == f"Could not find token: {alice}."
    assert cloud.call("GET", f"{V3}/auth/projects", alice).json() == UNAUTHORIZED
    # The other tokens are not revoked with it.
    again = cloud.token("alice", "pw", "demo")
    assert cloud.check(again, again) == 200
    assert cloud.check(admin, bob) == 200


def test_removing_the_last_role_invalidates_the_token(cloud: Cloud) -> None:
    user_id = cloud.user_with_role("alice", "demo", "member")
    alice = cloud.token("alice", "pw", "demo")
    admin = cloud.token()
    project_id = cloud.project("demo")
    role_id = cloud.boot.role_ids["member"]
    grant = f"{V3}/projects/{project_id}/users/{user_id}/roles/{role_id}"
    assert cloud.check(admin, alice) == 200
    assert cloud.call("DELETE", grant, admin).status_code == 204
    assert cloud.check(admin, alice) == 404


def test_expiry(cloud: Cloud) -> None:
    cloud.settings.identity.token_expiration = 2
    token = cloud.token()
    assert cloud.check(token, token) == 200
    time.sleep(2.1)
    # Refused as the caller's token, not found as the subject.
    assert cloud.check(token, token) == 401
    cloud.settings.identity.token_expiration = 3600
    assert cloud.check(cloud.token(), token) == 404


def test_key_repository_and_rotation(cloud: Cloud) -> None:
    old = cloud.token()
    path = key_repository(cloud.settings)
    assert path == Path(cloud.settings.data_dir) / "fernet-keys"
    assert path.stat().st_mode & 0o777 == 0o700
    assert sorted(p.name for p in path.iterdir()) == ["0", "1"]
    assert {p.stat().st_mode & 0o777 for p in path.iterdir()} == {0o600}

    def valid(token: str) -> bool:
        # The caller's token is made with the primary key of the moment.
        return cloud.check(cloud.token(), token) == 200

    # As keystone-manage fernet_rotate does, from another process.
    assert KeyRepository(path).rotate() == 2
    assert valid(old)
    # With three active keys, a token outlives one rotation, not two.
    assert KeyRepository(path).rotate() == 3
    assert sorted(p.name for p in path.iterdir()) == ["0", "2", "3"]
    assert not valid(old)


def test_auth_projects_and_catalog(cloud: Cloud) -> None:
    cloud.user_with_role("alice", "demo", "member")
    cloud.project("other")
    alice = cloud.token("alice", "pw", "demo")
    projects = cloud.call("GET", f"{V3}/auth/projects", alice).json()
    assert [p["name"] for p in projects["projects"]] == ["demo"]
    assert projects["links"]["self"] == "http://127.0.0.1:19876/identity/v3/auth/projects"

    catalog = cloud.call("GET", f"{V3}/auth/catalog", alice).json()["catalog"]
    assert {s["type"] for s in catalog} == {"identity", "load-balancer", "network"}
    unscoped = cloud.login(project=None)  # admin has no default project
    unscoped_token = cloud.call("GET", f"{V3}/auth/catalog", unscoped.headers["X-Subject-Token"])
    assert keystone_error(unscoped_token, 403) == (
        "A project-scoped token is required to produce a service catalog."
    )
    assert cloud.call("GET", f"{V3}/auth/domains", alice).json()["domains"] == []
