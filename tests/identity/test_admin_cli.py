"""``ostia admin …`` on the configured database: bootstrap, projects, users, roles, keys."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from ostia.cli import main
from ostia.identity.service import key_repository
from tests.identity.keystone import V3, Cloud

AdminCli = Callable[..., str]


@pytest.fixture
def admin_cli(
    cloud: Cloud, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> AdminCli:
    """Runs ``ostia admin ARGS…`` against the cloud's database; returns what it printed."""
    monkeypatch.setenv("OSTIA_DATABASE__URL", cloud.db.url)
    monkeypatch.setenv("OSTIA_DATA_DIR", str(cloud.settings.data_dir))

    def run(*args: str) -> str:
        capsys.readouterr()
        main(["admin", *args])
        return capsys.readouterr().out

    return run


def ids(output: str) -> dict[str, str]:
    """``kind name: id`` lines."""
    found = {}
    for line in output.splitlines():
        label, _, rest = line.partition(": ")
        found[label] = rest.split()[0]
    return found


def test_bootstrap_is_idempotent(cloud: Cloud, admin_cli: AdminCli) -> None:
    first = ids(admin_cli("bootstrap", "--password", "s3cret-admin"))
    assert first["project admin"] == cloud.boot.project_id
    assert first["user admin"] == cloud.boot.user_id
    assert first["roles"].startswith("admin,")
    again = admin_cli("bootstrap", "--password", "s3cret-admin")
    assert ids(again) == first
    assert "load-balancer_quota_admin" in again and "service" in again
    roles = cloud.call("GET", f"{V3}/roles", cloud.token()).json()["roles"]
    assert len(roles) == 9
    assignments = cloud.call("GET", f"{V3}/role_assignments", cloud.token()).json()
    assert len(assignments["role_assignments"]) == 1

    # Bootstrap again is the way back in: a new password, the admin enabled again.
    admin_token = cloud.token()
    patch = {"user": {"enabled": False}}
    cloud.call("PATCH", f"{V3}/users/{cloud.boot.user_id}", admin_token, json=patch)
    assert cloud.login().status_code == 401
    admin_cli("bootstrap", "--password", "new-password")
    assert cloud.login().status_code == 401
    assert cloud.login(password="new-password").status_code == 201


def test_project_user_role(cloud: Cloud, admin_cli: AdminCli) -> None:
    project_id = ids(admin_cli("project", "create", "demo", "--description", "Demo"))[
        "project demo"
    ]
    user_id = ids(admin_cli("user", "create", "alice", "--password", "pw", "--project", "demo"))[
        "user alice"
    ]
    # No role yet: no token for the project.
    assert cloud.login("alice", "pw", "demo").status_code == 401
    assert admin_cli("role", "add", "--user", "alice", "--project", "demo", "member") == (
        "user alice has role member on project demo\n"
    )
    token = cloud.login("alice", "pw", "demo").json()["token"]
    assert (token["user"]["id"], token["project"]["id"]) == (user_id, project_id)
    assert sorted(role["name"] for role in token["roles"]) == ["member", "reader"]
    # Ids work as well as names, and adding a role twice changes nothing.
    admin_cli("role", "add", "--user", user_id, "--project", project_id, "member")
    shown = cloud.call("GET", f"{V3}/users/{user_id}", cloud.token()).json()["user"]
    assert shown["default_project_id"] == project_id


def test_errors(cloud: Cloud, admin_cli: AdminCli) -> None:
    admin_cli("project", "create", "demo")
    with pytest.raises(SystemExit) as exit_info:
        admin_cli("project", "create", "demo")
    assert exit_info.value.code == (
        "ostia: Conflict occurred attempting to store project - "
        "Duplicate entry found with name demo at domain ID default."
    )
    with pytest.raises(SystemExit) as exit_info:
        admin_cli("role", "add", "--user", "nobody", "--project", "demo", "member")
    assert exit_info.value.code == "ostia: Could not find user: nobody."
    with pytest.raises(SystemExit) as exit_info:
        admin_cli("user", "create", "bob", "--password", "pw", "--project", "nowhere")
    assert exit_info.value.code == "ostia: Could not find project: nowhere."


def test_refuses_an_old_schema(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OSTIA_DATABASE__URL", f"sqlite:///{tmp_path / 'empty.sqlite'}")
    with pytest.raises(SystemExit) as exit_info:
        main(["admin", "project", "create", "demo"])
    assert "run 'ostia db upgrade' first" in str(exit_info.value.code)


def test_fernet_rotate(cloud: Cloud, admin_cli: AdminCli) -> None:
    token = cloud.token()
    assert admin_cli("fernet", "rotate") == "Fernet keys rotated: key 2 is the primary key\n"
    path = key_repository(cloud.settings)
    assert sorted(p.name for p in path.iterdir()) == ["0", "1", "2"]
    assert cloud.check(cloud.token(), token) == 200
