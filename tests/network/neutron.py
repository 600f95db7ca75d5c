"""Helpers for the network API: creating objects, and reading Neutron's error bodies."""

from __future__ import annotations

import ipaddress
from typing import Any

import httpx

from tests.helpers import Api, expect

BASE = "/network/v2.0"


def error(response: httpx.Response, status: int, kind: str) -> str:
    """The message of a Neutron error of this type, after checking its shape."""
    body = expect(response, status)
    assert set(body) == {"NeutronError"}, body
    fault = body["NeutronError"]
    assert set(fault) == {"type", "message", "detail"}, fault
    assert fault["type"] == kind, fault
    return str(fault["message"])


def create_network(api: Api, **fields: Any) -> dict[str, Any]:
    body = {"name": "net", **fields}
    return dict(expect(api.post(f"{BASE}/networks", {"network": body}), 201)["network"])


def create_subnet(api: Api, network_id: str, cidr: str, **fields: Any) -> dict[str, Any]:
    version = ipaddress.ip_network(cidr, strict=False).version
    body = {"network_id": network_id, "cidr": cidr, "ip_version": version, **fields}
    return dict(expect(api.post(f"{BASE}/subnets", {"subnet": body}), 201)["subnet"])


def create_port(api: Api, network_id: str, **fields: Any) -> dict[str, Any]:
    body = {"network_id": network_id, **fields}
    return dict(expect(api.post(f"{BASE}/ports", {"port": body}), 201)["port"])


def addresses(port: dict[str, Any]) -> list[str]:
    return [fixed["ip_address"] for fixed in port["fixed_ips"]]
