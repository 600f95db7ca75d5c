"""Test helpers: a bootstrapped Ostia in keystone mode, and Keystone calls as clients make
them."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
from fastapi.testclient import TestClient
from sqlalchemy import select

from ostia.config import Settings
from ostia.db.engine import Database
from ostia.db.notify import WorkSignal
from ostia.identity import admin, store
from ostia.identity.api import install
from ostia.identity.models import Project
from ostia.runtime import Runtime

ADMIN_PASSWORD = "s3cret-admin"
V3 = "/identity/v3"
UNAUTHORIZED = {
    "error": {
        "code": 401,
        "title": "Unauthorized",
        "message": "The request you have made requires authentication.",
    }
}


@dataclass
class Cloud:
    client: TestClient
    settings: Settings
    db: Database
    boot: admin.Bootstrapped

    def login(
        self,
        user: str = "admin",
        password: str = ADMIN_PASSWORD,
        project: str | None = "admin",
        **kwargs: Any,
    ) -> httpx.Response:
        """``POST /v3/auth/tokens`` with names in the default domain, as the CLI does."""
        auth = password_auth(user, password, project)
        return self.client.post(f"{V3}/auth/tokens", json=auth, **kwargs)

    def token(
        self, user: str = "admin", password: str = ADMIN_PASSWORD, project: str = "admin"
    ) -> str:
        response = self.login(user, password, project)
        assert response.status_code == 201, response.text
        return response.headers["X-Subject-Token"]

    def call(self, method: str, path: str, token: str, **kwargs: Any) -> httpx.Response:
        headers = {"X-Auth-Token": token, **kwargs.pop("headers", {})}
        return self.client.request(method, path, headers=headers, **kwargs)

    def check(self, caller: str, subject: str) -> int:
        """The status of ``HEAD /v3/auth/tokens`` for ``subject``, called with ``caller``."""
        headers = {"X-Subject-Token": subject}
        return self.call("HEAD", f"{V3}/auth/tokens", caller, headers=headers).status_code

    def project(self, name: str) -> str:
        """The id of the project, created if missing."""
        with self.db.write() as session:
            found = session.scalar(select(Project).where(Project.name == name))
            return found.id if found else store.create_project(session, name).id

    def user_with_role(self, name: str, project: str, role: str, password: str = "pw") -> str:
        """A new user with ``role`` on ``project`` (created if missing); returns its id."""
        self.project(project)
        user = admin.create_user(self.db, name, password, project)
        admin.add_role(self.db, name, project, role)
        return user.id


def start_cloud(database: Database, settings: Settings) -> Iterator[Cloud]:
    """Bootstrap the identity, then serve Ostia with these settings."""
    boot = admin.bootstrap(database, ADMIN_PASSWORD)
    runtime = Runtime(settings=settings, db=database, signal=WorkSignal(database.backend))
    app = runtime.api()
    install(app)
    with TestClient(app, raise_server_exceptions=False) as client:
        yield Cloud(client=client, settings=settings, db=database, boot=boot)


def password_auth(
    user: str, password: str, project: str | None, *, domain: dict[str, str] | None = None
) -> dict[str, Any]:
    domain = domain or {"name": "Default"}
    body: dict[str, Any] = {
        "auth": {
            "identity": {
                "methods": ["password"],
                "password": {"user": {"name": user, "domain": domain, "password": password}},
            }
        }
    }
    if project is not None:
        body["auth"]["scope"] = {"project": {"name": project, "domain": domain}}
    return body


def keystone_error(response: httpx.Response, status: int) -> str:
    """The message of a Keystone error, after checking its status and shape."""
    assert response.status_code == status, f"{response.status_code}: {response.text}"
    error = response.json()["error"]
    assert set(error) == {"code", "title", "message"}
    assert error["code"] == status
    return str(error["message"])
