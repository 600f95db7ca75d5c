"""Test helpers: an API client with Ostia's identity headers, and object builders that wait
for the load balancer to settle, as a real client does."""

from __future__ import annotations

import time
import uuid
from typing import Any

import httpx
from fastapi.testclient import TestClient

PROJECT = "8d7f5ac5b24e4a4a9a5c3c1b2e6f0a01"
OTHER_PROJECT = "0b6f3a8e9c2d4e5f8a7b6c5d4e3f2a10"
VIP_SUBNET = "5a7c0ad2-5d1d-4e0a-9d6e-3c3f9bbf6e71"
MEMBER_SUBNET = "1b2c3d4e-5f60-4a7b-8c9d-0e1f2a3b4c5d"
WAIT_SECONDS = 20.0


class Api:
    """Calls the v2 API as one identity. Without roles it is a cloud admin (noauth)."""

    def __init__(self, client: TestClient, project_id: str = PROJECT, roles: str | None = None):
        self.client = client
        self.headers = {"X-Project-Id": project_id, "X-User-Id": "tester"}
        if roles is not None:
            self.headers["X-Roles"] = roles

    def as_user(self, project_id: str, roles: str) -> Api:
        return Api(self.client, project_id, roles)

    def request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        headers = {**self.headers, **kwargs.pop("headers", {})}
        return self.client.request(method, path, headers=headers, **kwargs)

    def get(self, path: str, **kwargs: Any) -> httpx.Response:
        return self.request("GET", path, **kwargs)

    def post(self, path: str, json: Any = None, **kwargs: Any) -> httpx.Response:
        return self.request("POST", path, json=json, **kwargs)

    def put(self, path: str, json: Any = None, **kwargs: Any) -> httpx.Response:
        return self.request("PUT", path, json=json, **kwargs)

    def delete(self, path: str, **kwargs: Any) -> httpx.Response:
        return self.request("DELETE", path, **kwargs)


def expect(response: httpx.Response, status: int) -> Any:
    """The JSON body, after checking the status (the body is shown when it differs)."""
    assert response.status_code == status, f"{response.status_code}: {response.text}"
    return response.json() if response.content else None


def fault(response: httpx.Response, status: int) -> str:
    """The faultstring of an Octavia-style error, after checking its shape."""
    body = expect(response, status)
    assert set(body) == {"faultcode", "faultstring", "debuginfo"}, body
    assert body["faultcode"] == ("Client" if status < 500 else "Server")
    return str(body["faultstring"])


def wait_for_lb(api: Api, lb_id: str, status: str = "ACTIVE") -> dict[str, Any]:
    """Poll until the load balancer reaches ``status`` (404 counts as DELETED)."""
    deadline = time.monotonic() + WAIT_SECONDS
    last: Any = None
    while time.monotonic() < deadline:
        response = api.get(f"/v2/lbaas/loadbalancers/{lb_id}")
        if response.status_code == 404 and status == "DELETED":
            return {}
        last = response.json()
        if response.status_code == 200 and last["loadbalancer"]["provisioning_status"] == status:
            return dict(last["loadbalancer"])
        time.sleep(0.01)
    raise AssertionError(f"load balancer {lb_id} did not reach {status}: {last}")


def new_id() -> str:
    return str(uuid.uuid4())


def create_lb(api: Api, wait: bool = True, **fields: Any) -> dict[str, Any]:
    body = {"vip_subnet_id": VIP_SUBNET, **fields}
    lb = expect(api.post("/v2/lbaas/loadbalancers", {"loadbalancer": body}), 201)["loadbalancer"]
    return wait_for_lb(api, lb["id"]) if wait else dict(lb)


def _create_child(
    api: Api, path: str, key: str, body: dict[str, Any], lb_id: str
) -> dict[str, Any]:
    created = expect(api.post(path, {key: body}), 201)[key]
    wait_for_lb(api, lb_id)
    return dict(expect(api.get(f"{path}/{created['id']}"), 200)[key])


def create_listener(api: Api, lb_id: str, **fields: Any) -> dict[str, Any]:
    body = {"loadbalancer_id": lb_id, "protocol": "HTTP", "protocol_port": 80, **fields}
    return _create_child(api, "/v2/lbaas/listeners", "listener", body, lb_id)


def create_pool(api: Api, lb_id: str, **fields: Any) -> dict[str, Any]:
    body = {"protocol": "HTTP", "lb_algorithm": "ROUND_ROBIN", **fields}
    if "listener_id" not in body:
        body.setdefault("loadbalancer_id", lb_id)
    return _create_child(api, "/v2/lbaas/pools", "pool", body, lb_id)


def create_member(api: Api, lb_id: str, pool_id: str, **fields: Any) -> dict[str, Any]:
    body = {"address": "203.0.113.10", "protocol_port": 80, **fields}
    return _create_child(api, f"/v2/lbaas/pools/{pool_id}/members", "member", body, lb_id)


def create_health_monitor(api: Api, lb_id: str, pool_id: str, **fields: Any) -> dict[str, Any]:
    body = {
        "pool_id": pool_id,
        "type": "HTTP",
        "delay": 5,
        "timeout": 5,
        "max_retries": 3,
        **fields,
    }
    return _create_child(api, "/v2/lbaas/healthmonitors", "healthmonitor", body, lb_id)


def create_l7policy(api: Api, lb_id: str, listener_id: str, **fields: Any) -> dict[str, Any]:
    body = {"listener_id": listener_id, "action": "REJECT", **fields}
    return _create_child(api, "/v2/lbaas/l7policies", "l7policy", body, lb_id)


def create_l7rule(api: Api, lb_id: str, l7policy_id: str, **fields: Any) -> dict[str, Any]:
    body = {"type": "PATH", "compare_type": "STARTS_WITH", "value": "/api", **fields}
    return _create_child(api, f"/v2/lbaas/l7policies/{l7policy_id}/rules", "rule", body, lb_id)
