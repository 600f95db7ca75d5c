"""``/identity/v3`` projects, users, roles, domains, grants and role assignments, called the
way the openstack CLI calls them (find by id, then by name; create; grant), with Keystone's
default policy."""

from __future__ import annotations

from tests.identity.keystone import UNAUTHORIZED, V3, Cloud, keystone_error

BASE = "http://127.0.0.1:19876/identity/v3"


def test_project_list_create_show_update_delete(cloud: Cloud) -> None:
    admin = cloud.token()
    created = cloud.call(
        "POST",
        f"{V3}/projects",
        admin,
        json={"project": {"name": "demo", "description": "Demo", "enabled": True}},
    )
    assert created.status_code == 201, created.text
    project = created.json()["project"]
    assert len(project["id"]) == 32
    assert project == {
        "id": project["id"],
        "name": "demo",
        "domain_id": "default",
        "description": "Demo",
        "enabled": True,
        "is_domain": False,
        "parent_id": "default",
        "tags": [],
        "options": {},
        "links": {"self": f"{BASE}/projects/{project['id']}"},
    }
    listed = cloud.call("GET", f"{V3}/projects", admin).json()
    assert [p["name"] for p in listed["projects"]] == ["admin", "demo"]
    assert listed["links"] == {"self": f"{BASE}/projects", "previous": None, "next": None}
    by_name = cloud.call("GET", f"{V3}/projects?name=demo", admin).json()["projects"]
    assert [p["id"] for p in by_name] == [project["id"]]
    assert cloud.call("GET", f"{V3}/projects?name=none", admin).json()["projects"] == []
    assert cloud.call("GET", f"{V3}/projects/{project['id']}", admin).json() == {"project": project}

    duplicate = cloud.call("POST", f"{V3}/projects", admin, json={"project": {"name": "demo"}})
    assert keystone_error(duplicate, 409) == (
        "Conflict occurred attempting to store project - "
        "Duplicate entry found with name demo at domain ID default."
    )
    patch = {"project": {"name": "demo2", "enabled": False}}
    updated = cloud.call("PATCH", f"{V3}/projects/{project['id']}", admin, json=patch).json()
    assert (updated["project"]["name"], updated["project"]["enabled"]) == ("demo2", False)
    disabled = cloud.call("GET", f"{V3}/projects?enabled=false", admin).json()["projects"]
    assert [p["name"] for p in disabled] == ["demo2"]

    assert cloud.call("DELETE", f"{V3}/projects/{project['id']}", admin).status_code == 204
    missing = cloud.call("GET", f"{V3}/projects/{project['id']}", admin)
    assert keystone_error(missing, 404) == f"Could not find project: {project['id']}."


def test_project_find_by_name_as_the_cli(cloud: Cloud) -> None:
    """openstacksdk's find: GET by id, 404, then list filtered by name."""
    admin = cloud.token()
    missing = cloud.call("GET", f"{V3}/projects/admin", admin)
    assert keystone_error(missing, 404) == "Could not find project: admin."
    (found,) = cloud.call("GET", f"{V3}/projects?name=admin", admin).json()["projects"]
    assert found["id"] == cloud.boot.project_id


def test_invalid_project_bodies(cloud: Cloud) -> None:
    admin = cloud.token()
    no_name = cloud.call("POST", f"{V3}/projects", admin, json={"project": {}})
    assert (
        keystone_error(no_name, 400)
        == "Invalid input for field 'name': None is not of type 'string'"
    )
    bad_enabled = {"project": {"name": "x", "enabled": "yes"}}
    response = cloud.call("POST", f"{V3}/projects", admin, json=bad_enabled)
    assert (
        keystone_error(response, 400)
        == "Invalid input for field 'enabled': 'yes' is not of type 'boolean'"
    )
    response = cloud.call("POST", f"{V3}/projects", admin, json={"name": "x"})
    assert keystone_error(response, 400).startswith("Expecting to find project in request body.")
    other_domain = {"project": {"name": "x", "domain_id": "elsewhere"}}
    response = cloud.call("POST", f"{V3}/projects", admin, json=other_domain)
    assert keystone_error(response, 404) == "Could not find domain: elsewhere."


def test_users(cloud: Cloud) -> None:
    admin = cloud.token()
    project_id = cloud.project("demo")
    body = {
        "user": {
            "name": "alice",
            "password": "pw",
            "default_project_id": project_id,
            "enabled": True,
            "email": "alice@example.org",
            "description": "Alice",
        }
    }
    created = cloud.call("POST", f"{V3}/users", admin, json=body)
    assert created.status_code == 201, created.text
    user = created.json()["user"]
    assert user == {
        "id": user["id"],
        "name": "alice",
        "domain_id": "default",
        "enabled": True,
        "default_project_id": project_id,
        "email": "alice@example.org",
        "description": "Alice",
        "password_expires_at": None,
        "options": {},
        "links": {"self": f"{BASE}/users/{user['id']}"},
    }
    listed = cloud.call("GET", f"{V3}/users", admin)
    assert "scrypt" not in listed.text
    assert all("password" not in u for u in listed.json()["users"])
    (found,) = cloud.call("GET", f"{V3}/users?name=alice", admin).json()["users"]
    assert found == user
    duplicate = cloud.call("POST", f"{V3}/users", admin, json={"user": {"name": "alice"}})
    assert keystone_error(duplicate, 409).endswith(
        "Duplicate entry found with name alice at domain ID default."
    )

    # alice has no role yet: she cannot get a token for the project.
    assert cloud.login("alice", "pw", "demo").status_code == 401
    patch = {"user": {"password": "new"}}
    assert cloud.call("PATCH", f"{V3}/users/{user['id']}", admin, json=patch).status_code == 200
    assert cloud.login("alice", "new", None).status_code == 201
    assert cloud.login("alice", "pw", None).status_code == 401

    assert cloud.call("DELETE", f"{V3}/users/{user['id']}", admin).status_code == 204
    missing = cloud.call("GET", f"{V3}/users/{user['id']}", admin)
    assert keystone_error(missing, 404) == f"Could not find user: {user['id']}."


def test_a_user_reads_itself_and_its_projects(cloud: Cloud) -> None:
    alice_id = cloud.user_with_role("alice", "demo", "member")
    bob_id = cloud.user_with_role("bob", "demo", "member")
    alice = cloud.token("alice", "pw", "demo")
    assert cloud.call("GET", f"{V3}/users/{alice_id}", alice).json()["user"]["name"] == "alice"
    other = cloud.call("GET", f"{V3}/users/{bob_id}", alice)
    assert (
        keystone_error(other, 403)
        == "You are not authorized to perform the requested action: identity:get_user."
    )
    projects = cloud.call("GET", f"{V3}/users/{alice_id}/projects", alice).json()["projects"]
    assert [p["name"] for p in projects] == ["demo"]
    demo = cloud.call("GET", f"{V3}/projects/{cloud.project('demo')}", alice)
    assert demo.json()["project"]["name"] == "demo"
    admin_project = cloud.call("GET", f"{V3}/projects/{cloud.boot.project_id}", alice)
    assert keystone_error(admin_project, 403).endswith("identity:get_project.")


def test_admin_calls_refuse_others(cloud: Cloud) -> None:
    cloud.user_with_role("alice", "demo", "member")
    alice = cloud.token("alice", "pw", "demo")
    project_id = cloud.project("demo")
    for method, path, action, body in (
        ("GET", "/projects", "list_projects", None),
        ("POST", "/projects", "create_project", {"project": {"name": "x"}}),
        ("PATCH", f"/projects/{project_id}", "update_project", {"project": {"name": "x"}}),
        ("DELETE", f"/projects/{project_id}", "delete_project", None),
        ("GET", "/users", "list_users", None),
        ("POST", "/users", "create_user", {"user": {"name": "x"}}),
        ("GET", "/roles", "list_roles", None),
        ("POST", "/roles", "create_role", {"role": {"name": "x"}}),
        ("GET", "/domains", "list_domains", None),
        ("GET", "/role_assignments", "list_role_assignments", None),
    ):
        response = cloud.call(method, f"{V3}{path}", alice, json=body)
        message = keystone_error(response, 403)
        assert (
            message == f"You are not authorized to perform the requested action: identity:{action}."
        )
    assert cloud.client.get(f"{V3}/projects").json() == UNAUTHORIZED
    assert cloud.call("GET", f"{V3}/projects", "garbage").json() == UNAUTHORIZED


def test_roles_and_domains(cloud: Cloud) -> None:
    admin = cloud.token()
    roles = cloud.call("GET", f"{V3}/roles", admin).json()["roles"]
    assert {r["name"] for r in roles} == set(cloud.boot.role_ids)
    (member,) = cloud.call("GET", f"{V3}/roles?name=member", admin).json()["roles"]
    assert member == {
        "id": cloud.boot.role_ids["member"],
        "name": "member",
        "domain_id": None,
        "description": None,
        "options": {},
        "links": {"self": f"{BASE}/roles/{member['id']}"},
    }
    assert cloud.call("GET", f"{V3}/roles/{member['id']}", admin).json() == {"role": member}
    assert (
        keystone_error(cloud.call("GET", f"{V3}/roles/member", admin), 404)
        == "Could not find role: member."
    )
    created = cloud.call("POST", f"{V3}/roles", admin, json={"role": {"name": "auditor"}})
    assert created.status_code == 201
    role_id = created.json()["role"]["id"]
    duplicate = cloud.call("POST", f"{V3}/roles", admin, json={"role": {"name": "auditor"}})
    assert keystone_error(duplicate, 409) == (
        "Conflict occurred attempting to store role - Duplicate entry found with name auditor."
    )
    assert cloud.call("DELETE", f"{V3}/roles/{role_id}", admin).status_code == 204

    (domain,) = cloud.call("GET", f"{V3}/domains?name=Default", admin).json()["domains"]
    assert (domain["id"], domain["name"], domain["enabled"]) == ("default", "Default", True)
    assert cloud.call("GET", f"{V3}/domains?name=Other", admin).json()["domains"] == []
    assert cloud.call("GET", f"{V3}/domains/default", admin).json() == {"domain": domain}
    assert (
        keystone_error(cloud.call("GET", f"{V3}/domains/Default", admin), 404)
        == "Could not find domain: Default."
    )
    cloud.user_with_role("alice", "demo", "member")
    alice = cloud.token("alice", "pw", "demo")
    assert cloud.call("GET", f"{V3}/domains/default", alice).status_code == 200


def test_grants_as_role_add(cloud: Cloud) -> None:
    """``openstack role add --user alice --project demo member``."""
    admin = cloud.token()
    project_id = cloud.project("demo")
    user_id = cloud.call(
        "POST", f"{V3}/users", admin, json={"user": {"name": "alice", "password": "pw"}}
    ).json()["user"]["id"]
    role_id = cloud.boot.role_ids["member"]
    grant = f"{V3}/projects/{project_id}/users/{user_id}/roles/{role_id}"
    assert cloud.call("HEAD", grant, admin).status_code == 404
    assert cloud.call("PUT", grant, admin).status_code == 204
    assert cloud.call("PUT", grant, admin).status_code == 204
    assert cloud.call("HEAD", grant, admin).status_code == 204
    roles = cloud.call("GET", f"{V3}/projects/{project_id}/users/{user_id}/roles", admin).json()
    assert [r["name"] for r in roles["roles"]] == ["member"]
    assert cloud.login("alice", "pw", "demo").status_code == 201

    missing_role = f"{V3}/projects/{project_id}/users/{user_id}/roles/nope"
    assert (
        keystone_error(cloud.call("PUT", missing_role, admin), 404) == "Could not find role: nope."
    )
    assert cloud.call("DELETE", grant, admin).status_code == 204
    message = keystone_error(cloud.call("DELETE", grant, admin), 404)
    assert message == (
        f"Could not find role assignment with role: {role_id}, user or group: {user_id}, "
        f"project, domain, or system: {project_id}."
    )
    assert cloud.login("alice", "pw", "demo").status_code == 401


def test_role_assignments(cloud: Cloud) -> None:
    admin = cloud.token()
    alice_id = cloud.user_with_role("alice", "demo", "admin")
    project_id = cloud.project("demo")
    listed = cloud.call("GET", f"{V3}/role_assignments?scope.project.id={project_id}", admin).json()
    assert listed["role_assignments"] == [
        {
            "scope": {"project": {"id": project_id}},
            "user": {"id": alice_id},
            "role": {"id": cloud.boot.role_ids["admin"]},
            "links": {
                "assignment": f"{BASE}/projects/{project_id}/users/{alice_id}/roles/{cloud.boot.role_ids['admin']}"
            },
        }
    ]
    named = cloud.call(
        "GET", f"{V3}/role_assignments?user.id={alice_id}&include_names=True", admin
    ).json()["role_assignments"]
    assert named[0]["user"] == {
        "id": alice_id,
        "name": "alice",
        "domain": {"id": "default", "name": "Default"},
    }
    assert named[0]["scope"]["project"]["name"] == "demo"
    assert named[0]["role"] == {"id": cloud.boot.role_ids["admin"], "name": "admin"}

    effective = cloud.call(
        "GET", f"{V3}/role_assignments?user.id={alice_id}&effective&include_names", admin
    ).json()["role_assignments"]
    assert sorted(a["role"]["name"] for a in effective) == ["admin", "member", "reader"]
    implied = [a for a in effective if a["role"]["name"] == "reader"][0]
    assert implied["links"]["prior_role"].endswith(
        f"/prior_role/{cloud.boot.role_ids['admin']}/implies/{implied['role']['id']}"
    )

    everyone = cloud.call("GET", f"{V3}/role_assignments", admin).json()["role_assignments"]
    assert len(everyone) == 2
    query = f"role.id={cloud.boot.role_ids['admin']}&scope.project.id={cloud.boot.project_id}"
    by_role = cloud.call("GET", f"{V3}/role_assignments?{query}", admin).json()
    assert [a["user"]["id"] for a in by_role["role_assignments"]] == [cloud.boot.user_id]
    by_group = cloud.call("GET", f"{V3}/role_assignments?group.id=g", admin).json()
    assert by_group["role_assignments"] == []
    both = cloud.call("GET", f"{V3}/role_assignments?scope.project.id=a&scope.domain.id=b", admin)
    assert keystone_error(both, 400) == "Specify a domain or project, not both"
