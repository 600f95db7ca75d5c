"""Request conventions every Octavia client relies on: version document, path aliases, JSON
only, and a 4xx in Octavia's error format (never a 500) for every kind of bad input."""

from __future__ import annotations

import pytest

from ostia.config import Settings
from tests.helpers import VIP_SUBNET, Api, create_lb, expect, fault

LBS = "/v2/lbaas/loadbalancers"


def test_version_document(api: Api) -> None:
    versions = expect(api.get("/"), 200)["versions"]
    assert versions[0]["id"] == "v2.0" and versions[-1]["id"] == "v2.30"
    assert [v["status"] for v in versions].count("CURRENT") == 1
    assert versions[-1]["status"] == "CURRENT"
    assert versions[0]["links"] == [{"href": "http://testserver/v2", "rel": "self"}]
    assert expect(api.get("/v2"), 200) == "v2"


@pytest.mark.parametrize(
    "path",
    [
        "/v2/lbaas/loadbalancers",
        "/v2.0/lbaas/loadbalancers",
        "/v2/loadbalancers",
        "/v2.0/loadbalancers",
        "/v2/lbaas/loadbalancers.json",
    ],
)
def test_path_aliases(api: Api, path: str) -> None:
    lb = create_lb(api, name="alias")
    listed = expect(api.get(path), 200)["loadbalancers"]
    assert [x["id"] for x in listed] == [lb["id"]]


def test_links_keep_the_path_the_client_used(api: Api) -> None:
    create_lb(api)
    create_lb(api)
    page = expect(api.get("/v2.0/lbaas/loadbalancers", params={"limit": 1}), 200)
    assert page["loadbalancers_links"][0]["href"].startswith(
        "http://testserver/v2.0/lbaas/loadbalancers?"
    )


def test_only_json_is_served(api: Api) -> None:
    response = api.get(LBS, headers={"Accept": "application/xml"})
    assert response.status_code == 406
    assert response.json()["errors"][0]["status"] == 406
    assert api.get(LBS, headers={"Accept": "application/json"}).status_code == 200
    assert api.get(LBS, headers={"Accept": "*/*"}).status_code == 200


def test_malformed_json(api: Api) -> None:
    response = api.post(
        LBS, content=b'{"loadbalancer": {', headers={"Content-Type": "application/json"}
    )
    assert fault(response, 400).startswith("Invalid JSON body")


def test_missing_wrapper(api: Api) -> None:
    assert fault(api.post(LBS, {}), 400) == 'Missing argument: "loadbalancer"'
    assert (
        fault(api.post(LBS, {"vip_subnet_id": VIP_SUBNET}), 400)
        == 'Missing argument: "loadbalancer"'
    )


def test_unknown_attribute(api: Api) -> None:
    body = {"loadbalancer": {"vip_subnet_id": VIP_SUBNET, "colour": "red"}}
    assert fault(api.post(LBS, body), 400) == "Unknown attribute for argument loadbalancer: colour"


def test_wrong_types_name_the_field(api: Api) -> None:
    cases = {
        "name": 42,
        "admin_state_up": "maybe",
        "vip_subnet_id": "not-a-uuid",
        "vip_address": "300.1.1.1",
        "tags": "one",
    }
    for field, value in cases.items():
        body = {"loadbalancer": {"vip_subnet_id": VIP_SUBNET, field: value}}
        message = fault(api.post(LBS, body), 400)
        assert message.startswith(f"Invalid input for field/attribute {field}."), message
    long_name = {"loadbalancer": {"vip_subnet_id": VIP_SUBNET, "name": "x" * 256}}
    assert "at most 255 characters" in fault(api.post(LBS, long_name), 400)
    assert "Value should be UUID format" in fault(
        api.post(LBS, {"loadbalancer": {"vip_subnet_id": "abc"}}), 400
    )
    assert expect(api.get(LBS), 200)["loadbalancers"] == []


def test_body_must_be_an_object(api: Api) -> None:
    fault(api.post(LBS, [1, 2]), 400)
    fault(api.post(LBS, {"loadbalancer": "x"}), 400)


def test_oversize_body(settings: Settings, request: pytest.FixtureRequest) -> None:
    settings.api.max_request_body_size = 1024
    api: Api = request.getfixturevalue("api")
    body = {
        "loadbalancer": {
            "vip_subnet_id": VIP_SUBNET,
            "description": "x" * 200,
            "tags": ["t" * 200] * 5,
        }
    }
    message = fault(api.post(LBS, body), 413)
    assert "max_request_body_size (1024)" in message
    assert expect(api.get(LBS), 200)["loadbalancers"] == []


def test_unknown_path_and_method(api: Api) -> None:
    fault(api.get("/v2/lbaas/nothing"), 404)
    fault(api.request("PATCH", LBS), 405)


def test_openapi_schema(api: Api) -> None:
    schema = expect(api.get("/openapi.json"), 200)
    assert "/v2/lbaas/loadbalancers" in schema["paths"]
    assert "post" in schema["paths"]["/v2/lbaas/loadbalancers"]


def test_every_answer_carries_a_request_id(api: Api) -> None:
    ids = {api.get(path).headers.get("x-openstack-request-id") for path in ("/", LBS, LBS, "/v2/x")}
    assert None not in ids and len(ids) == 4
    assert all(request_id.startswith("req-") for request_id in ids if request_id)
