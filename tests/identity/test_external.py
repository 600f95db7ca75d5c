"""Validating tokens with an external Keystone (``identity.external_url``), as
keystonemiddleware does: a second Ostia, with its own keys, serves as that Keystone on a
free 127.0.0.1 port."""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
import uvicorn
from starlette.types import ASGIApp, Receive, Scope, Send

from ostia.config import Settings
from ostia.db.engine import Database
from ostia.db.notify import WorkSignal
from ostia.identity.api import install
from ostia.runtime import Runtime
from tests.conftest import empty_tables, make_settings
from tests.helpers import VIP_SUBNET
from tests.identity.keystone import (
    ADMIN_PASSWORD,
    UNAUTHORIZED,
    V3,
    Cloud,
    password_auth,
    start_cloud,
)
from tests.unit.test_cli import free_port

LBS = "/v2/lbaas/loadbalancers"
VALIDATE = ("GET", f"{V3}/auth/tokens")
ISSUE = ("POST", f"{V3}/auth/tokens")


class Counting:
    """Counts the requests the external Keystone gets, by method and path."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.calls: Counter[tuple[str, str]] = Counter()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            self.calls[(scope["method"], scope["path"])] += 1
        await self.app(scope, receive, send)


@dataclass
class Keystone:
    url: str
    calls: Counter[tuple[str, str]]

    def token(self, user: str, password: str, project: str | None) -> str:
        response = httpx.post(
            f"{self.url}{V3}/auth/tokens", json=password_auth(user, password, project)
        )
        assert response.status_code == 201, response.text
        return response.headers["X-Subject-Token"]


@pytest.fixture
def keystone(database: Database, tmp_path: Path) -> Iterator[Keystone]:
    """Another Ostia, on the same database but with its own keys, served on 127.0.0.1."""
    port = free_port()
    settings = make_settings(database, tmp_path / "keystone")
    runtime = Runtime(settings=settings, db=database, signal=WorkSignal(database.backend))
    app = runtime.api()
    install(app)
    counting = Counting(app)
    config = uvicorn.Config(counting, host="127.0.0.1", port=port, log_level="warning")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert time.monotonic() < deadline, "the external Keystone did not start"
        time.sleep(0.01)
    try:
        yield Keystone(url=f"http://127.0.0.1:{port}", calls=counting.calls)
    finally:
        server.should_exit = True
        thread.join(timeout=10)


def use_external(settings: Settings, url: str) -> None:
    settings.api.auth_strategy = "keystone"
    settings.identity.external_url = f"{url}{V3}"
    settings.identity.external_username = "admin"
    settings.identity.external_password = ADMIN_PASSWORD
    settings.identity.external_project_name = "admin"


@pytest.fixture
def cloud_on_keystone(
    database: Database, settings: Settings, keystone: Keystone
) -> Iterator[Cloud]:
    """Ostia in keystone mode validating tokens with the external Keystone."""
    use_external(settings, keystone.url)
    settings.identity.validation_cache_seconds = 0.5
    empty_tables(database)
    yield from start_cloud(database, settings)


def test_tokens_validated_by_the_external_keystone(
    cloud_on_keystone: Cloud, keystone: Keystone
) -> None:
    cloud = cloud_on_keystone
    cloud.user_with_role("alice", "demo", "member")
    alice = keystone.token("alice", "pw", "demo")
    admin = keystone.token("admin", ADMIN_PASSWORD, "admin")

    body = {"loadbalancer": {"name": "lb", "vip_subnet_id": VIP_SUBNET}}
    created = cloud.call("POST", LBS, alice, json=body)
    assert created.status_code == 201, created.text
    assert created.json()["loadbalancer"]["project_id"] == cloud.project("demo")
    assert [lb["name"] for lb in cloud.call("GET", LBS, alice).json()["loadbalancers"]] == ["lb"]
    assert cloud.call("GET", LBS, admin).status_code == 200
    # One validation per token while the answer is cached; one service token.
    assert keystone.calls[VALIDATE] == 2
    assert keystone.calls[ISSUE] == 3

    # Once the answer has expired, the token is validated again.
    time.sleep(0.6)
    assert cloud.call("GET", LBS, alice).status_code == 200
    assert keystone.calls[VALIDATE] == 3


def test_invalid_and_revoked_tokens(cloud_on_keystone: Cloud, keystone: Keystone) -> None:
    cloud = cloud_on_keystone
    www_authenticate = f'Keystone uri="{keystone.url}/identity"'
    for _ in range(2):
        refused = cloud.call("GET", LBS, "not-a-token")
        assert refused.status_code == 401
        assert refused.json() == UNAUTHORIZED
        assert refused.headers["WWW-Authenticate"] == www_authenticate
    # An invalid token is remembered too.
    assert keystone.calls[VALIDATE] == 1

    # A token of Ostia's own identity service, made with other keys, is not the external
    # Keystone's.
    assert cloud.call("GET", LBS, cloud.token()).status_code == 401

    alice = keystone.token("admin", ADMIN_PASSWORD, "admin")
    assert cloud.call("GET", LBS, alice).status_code == 200
    headers = {"X-Auth-Token": alice, "X-Subject-Token": alice}
    assert httpx.delete(f"{keystone.url}{V3}/auth/tokens", headers=headers).status_code == 204
    time.sleep(0.6)
    assert cloud.call("GET", LBS, alice).status_code == 401


def test_service_token_renewed_when_refused(cloud_on_keystone: Cloud, keystone: Keystone) -> None:
    cloud = cloud_on_keystone
    first = keystone.token("admin", ADMIN_PASSWORD, "admin")
    assert cloud.call("GET", LBS, first).status_code == 200
    assert keystone.calls[ISSUE] == 2
    # Revoke every token the admin has: the service token too (it is the admin's here).
    validator = cloud.client.app.state.token_validator
    service_token = validator._service_token[0]
    headers = {"X-Auth-Token": service_token, "X-Subject-Token": service_token}
    assert httpx.delete(f"{keystone.url}{V3}/auth/tokens", headers=headers).status_code == 204
    second = keystone.token("admin", ADMIN_PASSWORD, "admin")
    assert cloud.call("GET", LBS, second).status_code == 200
    assert keystone.calls[ISSUE] == 4


def test_unreachable_keystone(database: Database, settings: Settings) -> None:
    use_external(settings, f"http://127.0.0.1:{free_port()}")
    empty_tables(database)
    for cloud in start_cloud(database, settings):
        response = cloud.call("GET", LBS, "some-token")
        assert response.status_code == 503
        assert response.json() == {
            "error": {
                "code": 503,
                "title": "Service Unavailable",
                "message": "The Keystone service is temporarily unavailable.",
            }
        }
