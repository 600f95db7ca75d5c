"""L7 rules through the API (``/l7policies/{id}/rules``): Octavia's rule validation, the
50-rule limit, the parent policy's state, update with the stored rule merged in, delete, the
409 cases, list conventions and project isolation."""

from __future__ import annotations

import re
from typing import Any

import pytest
from sqlalchemy import update

from ostia.config import Settings
from ostia.db.models import L7Policy
from tests.helpers import (
    OTHER_PROJECT,
    PROJECT,
    Api,
    create_l7policy,
    create_l7rule,
    create_lb,
    create_listener,
    expect,
    fault,
    new_id,
    wait_for_lb,
)

PATH_RULE = {"type": "PATH", "compare_type": "STARTS_WITH", "value": "/api"}
INVALID = "Error parsing L7Rule: Invalid L7 Rule: "

# (rule, the faultstring after "Error parsing L7Rule: ")
BAD_RULES = [
    (
        {"type": "PATH", "compare_type": "EQUAL_TO", "value": ""},
        "Invalid L7 Rule: L7 rule type requires a value",
    ),
    (
        {"type": "HEADER", "compare_type": "CONTAINS", "value": "x"},
        "Invalid L7 Rule: L7 rule type requires a key",
    ),
    (
        {"type": "COOKIE", "compare_type": "EQUAL_TO", "key": "bad cookie", "value": "x"},
        "Invalid characters in key",
    ),
    (
        {"type": "HEADER", "compare_type": "EQUAL_TO", "key": "X-A", "value": "a b"},
        "Invalid characters in header value",
    ),
    (
        {"type": "COOKIE", "compare_type": "EQUAL_TO", "key": "sid", "value": "a;b"},
        "Invalid characters in cookie value",
    ),
    (
        {"type": "HOST_NAME", "compare_type": "ENDS_WITH", "value": "a b"},
        "Invalid characters in comparison value",
    ),
    (
        {"type": "FILE_TYPE", "compare_type": "STARTS_WITH", "value": "png"},
        "Invalid L7 Rule: invalid comparison type for rule type",
    ),
    (
        {"type": "FILE_TYPE", "compare_type": "CONTAINS", "value": "png"},
        "Invalid L7 Rule: invalid comparison type for rule type",
    ),
    (
        {"type": "PATH", "compare_type": "REGEX", "value": "bad string\\"},
        "Unable to parse regular expression: bad escape (end of pattern) at position 10",
    ),
    (
        {"type": "SSL_CONN_HAS_CERT", "compare_type": "EQUAL_TO", "key": "k", "value": "true"},
        'Invalid L7 Rule: L7rule type SSL_CONN_HAS_CERT does not use the "key" field.',
    ),
    (
        {"type": "SSL_CONN_HAS_CERT", "compare_type": "EQUAL_TO", "value": "yes"},
        "Invalid L7 Rule: L7rule value yes is not a boolean True string.",
    ),
    (
        {"type": "SSL_CONN_HAS_CERT", "compare_type": "STARTS_WITH", "value": "tRUe"},
        "Invalid L7 Rule: L7rule type SSL_CONN_HAS_CERT only supports the EQUAL_TO compare type.",
    ),
    (
        {"type": "SSL_VERIFY_RESULT", "compare_type": "EQUAL_TO", "key": "k", "value": "0"},
        'Invalid L7 Rule: L7rule type SSL_VERIFY_RESULT does not use the "key" field.',
    ),
    (
        {"type": "SSL_VERIFY_RESULT", "compare_type": "EQUAL_TO", "value": "-1"},
        "Invalid L7 Rule: L7rule type SSL_VERIFY_RESULT needs a int value, which is >= 0",
    ),
    (
        {"type": "SSL_VERIFY_RESULT", "compare_type": "CONTAINS", "value": "0"},
        "Invalid L7 Rule: L7rule type SSL_VERIFY_RESULT only supports the EQUAL_TO compare type.",
    ),
    (
        {"type": "SSL_DN_FIELD", "compare_type": "REGEX", "key": "CN", "value": "(open"},
        "Unable to parse regular expression: missing ), unterminated subpattern at position 0",
    ),
    (
        {"type": "SSL_DN_FIELD", "compare_type": "EQUAL_TO", "value": "x"},
        "Invalid L7 Rule: L7rule type SSL_DN_FIELD needs to specify a key and a value.",
    ),
    (
        {"type": "SSL_DN_FIELD", "compare_type": "EQUAL_TO", "key": "NOT_SUPPORTED", "value": "x"},
        "Invalid L7 Rule: Invalid L7rule distinguished name field.",
    ),
]

GOOD_RULES = [
    {"type": "HOST_NAME", "compare_type": "EQUAL_TO", "value": "www.example.com"},
    {"type": "PATH", "compare_type": "REGEX", "value": "^/images/.*$"},
    {"type": "FILE_TYPE", "compare_type": "EQUAL_TO", "value": "jpg"},
    {"type": "HEADER", "compare_type": "EQUAL_TO", "key": "X-Env", "value": '"a b"'},
    {"type": "COOKIE", "compare_type": "CONTAINS", "key": "sid", "value": "abc/def"},
    {"type": "SSL_CONN_HAS_CERT", "compare_type": "EQUAL_TO", "value": "tRuE"},
    {"type": "SSL_VERIFY_RESULT", "compare_type": "EQUAL_TO", "value": "0"},
    {"type": "SSL_DN_FIELD", "compare_type": "STARTS_WITH", "key": "st-1", "value": "ST-FIELD1"},
]


def rules_path(policy_id: str) -> str:
    return f"/v2/lbaas/l7policies/{policy_id}/rules"


def post(api: Api, policy_id: str, **fields: Any) -> Any:
    return api.post(rules_path(policy_id), {"rule": {**PATH_RULE, **fields}})


def put(api: Api, policy_id: str, rule_id: str, **fields: Any) -> Any:
    return api.put(f"{rules_path(policy_id)}/{rule_id}", {"rule": fields})


def status(api: Api, path: str, key: str) -> str:
    return str(expect(api.get(path), 200)[key]["provisioning_status"])


@pytest.fixture
def tree(api: Api) -> dict[str, Any]:
    """An ACTIVE load balancer with an HTTP listener and a REJECT policy."""
    lb = create_lb(api)
    listener = create_listener(api, lb["id"])
    policy = create_l7policy(api, lb["id"], listener["id"])
    return {"lb": lb["id"], "listener": listener["id"], "policy": policy["id"]}


class TestCreate:
    def test_create_goes_through_pending(self, api: Api, ostia: Any, tree: dict[str, Any]) -> None:
        ostia.controller.stop()
        rule = expect(post(api, tree["policy"], tags=["t"], invert=True), 201)["rule"]
        expected = {
            **PATH_RULE,
            "key": None,
            "invert": True,
            "admin_state_up": True,
            "project_id": PROJECT,
            "tenant_id": PROJECT,
            "tags": ["t"],
            "provisioning_status": "PENDING_CREATE",
            "operating_status": "OFFLINE",
        }
        assert {k: rule[k] for k in expected} == expected
        assert status(api, f"/v2/lbaas/l7policies/{tree['policy']}", "l7policy") == "PENDING_UPDATE"
        assert (
            status(api, f"/v2/lbaas/listeners/{tree['listener']}", "listener") == "PENDING_UPDATE"
        )
        assert (
            status(api, f"/v2/lbaas/loadbalancers/{tree['lb']}", "loadbalancer") == "PENDING_UPDATE"
        )
        message = fault(post(api, tree["policy"]), 409)
        assert message == f"L7Policy {tree['policy']} is immutable and cannot be updated."
        ostia.controller.start()
        wait_for_lb(api, tree["lb"])
        active = expect(api.get(f"{rules_path(tree['policy'])}/{rule['id']}"), 200)["rule"]
        assert (active["provisioning_status"], active["operating_status"]) == ("ACTIVE", "ONLINE")
        policy = expect(api.get(f"/v2/lbaas/l7policies/{tree['policy']}"), 200)["l7policy"]
        assert policy["rules"] == [{"id": rule["id"]}]
        disabled = create_l7rule(api, tree["lb"], tree["policy"], admin_state_up=False)
        assert disabled["operating_status"] == "OFFLINE"

    def test_valid_rules(self, api: Api, tree: dict[str, Any]) -> None:
        for body in GOOD_RULES:
            rule = create_l7rule(api, tree["lb"], tree["policy"], **body)
            assert {k: rule[k] for k in body} == body

    def test_invalid_rules(self, api: Api, tree: dict[str, Any]) -> None:
        for body, message in BAD_RULES:
            response = api.post(rules_path(tree["policy"]), {"rule": body})
            assert fault(response, 400) == f"Error parsing L7Rule: {message}", body
        assert expect(api.get(rules_path(tree["policy"])), 200)["rules"] == []

    def test_schema_errors(self, api: Api, tree: dict[str, Any]) -> None:
        assert fault(post(api, tree["policy"], type="URL"), 400).startswith(
            "Invalid input for field/attribute type."
        )
        assert fault(post(api, tree["policy"], value="a\nb"), 400).startswith(
            "Invalid input for field/attribute value."
        )
        message = fault(api.post(rules_path(tree["policy"]), {"rule": {"type": "PATH"}}), 400)
        assert message.startswith("Invalid input for field/attribute")

    def test_unknown_policy(self, api: Api) -> None:
        missing = new_id()
        assert fault(post(api, missing), 404) == f"L7Policy {missing} not found."
        assert fault(api.get(rules_path(missing)), 404) == f"L7Policy {missing} not found."

    def test_policy_in_error_refuses_rules(
        self, api: Api, ostia: Any, tree: dict[str, Any]
    ) -> None:
        with ostia.db.write() as session:
            session.execute(update(L7Policy).values(provisioning_status="ERROR"))
        message = fault(post(api, tree["policy"]), 409)
        assert message == f"L7Policy {tree['policy']} is immutable and cannot be updated."

    def test_pending_load_balancer(self, api: Api, ostia: Any, tree: dict[str, Any]) -> None:
        ostia.controller.stop()
        expect(api.put(f"/v2/lbaas/listeners/{tree['listener']}", {"listener": {"name": "x"}}), 200)
        message = fault(post(api, tree["policy"]), 409)
        assert message == f"Load Balancer {tree['lb']} is immutable and cannot be updated."
        ostia.controller.start()
        wait_for_lb(api, tree["lb"])

    def test_fifty_rules_per_policy(self, api: Api, tree: dict[str, Any]) -> None:
        full = create_l7policy(api, tree["lb"], tree["listener"], rules=[PATH_RULE] * 50)
        assert len(full["rules"]) == 50
        message = fault(post(api, full["id"]), 409)
        assert message == f"Too many rules on L7 policy {full['id']}"
        response = api.post(
            "/v2/lbaas/l7policies",
            {
                "l7policy": {
                    "listener_id": tree["listener"],
                    "action": "REJECT",
                    "rules": [PATH_RULE] * 51,
                }
            },
        )
        assert re.fullmatch(r"Too many rules on L7 policy [0-9a-f-]{36}", fault(response, 409))

    def test_quota(self, settings: Settings, request: pytest.FixtureRequest) -> None:
        settings.quotas.default_l7rule_quota = 1
        api: Api = request.getfixturevalue("api")
        tree: dict[str, Any] = request.getfixturevalue("tree")
        create_l7rule(api, tree["lb"], tree["policy"])
        message = fault(post(api, tree["policy"]), 403)
        assert message == "Quota has been met for resources: L7 Rule"


class TestUpdate:
    def test_update_goes_through_pending(self, api: Api, ostia: Any, tree: dict[str, Any]) -> None:
        rule = create_l7rule(api, tree["lb"], tree["policy"], tags=["old"], invert=True)
        ostia.controller.stop()
        updated = expect(
            put(api, tree["policy"], rule["id"], value="/images", tags=["new"], invert=None), 200
        )["rule"]
        assert (updated["value"], updated["tags"], updated["invert"]) == ("/images", ["new"], False)
        assert updated["provisioning_status"] == "PENDING_UPDATE"
        assert status(api, f"/v2/lbaas/l7policies/{tree['policy']}", "l7policy") == "PENDING_UPDATE"
        assert (
            status(api, f"/v2/lbaas/listeners/{tree['listener']}", "listener") == "PENDING_UPDATE"
        )
        assert (
            status(api, f"/v2/lbaas/loadbalancers/{tree['lb']}", "loadbalancer") == "PENDING_UPDATE"
        )
        ostia.controller.start()
        wait_for_lb(api, tree["lb"])
        settled = expect(api.get(f"{rules_path(tree['policy'])}/{rule['id']}"), 200)["rule"]
        assert settled["provisioning_status"] == "ACTIVE"

    def test_stored_rule_is_merged_in(self, api: Api, tree: dict[str, Any]) -> None:
        rule = create_l7rule(api, tree["lb"], tree["policy"])
        message = fault(put(api, tree["policy"], rule["id"], type="HEADER"), 400)
        assert message == f"{INVALID}L7 rule type requires a key"
        message = fault(
            put(api, tree["policy"], rule["id"], compare_type="REGEX", value="bad string\\"), 400
        )
        assert message.startswith("Error parsing L7Rule: Unable to parse regular expression:")
        message = fault(put(api, tree["policy"], rule["id"], value=None), 400)
        assert message == f"{INVALID}L7 rule type requires a value"
        header = expect(put(api, tree["policy"], rule["id"], type="HEADER", key="X-Env"), 200)[
            "rule"
        ]
        assert (header["type"], header["key"], header["value"]) == ("HEADER", "X-Env", "/api")
        wait_for_lb(api, tree["lb"])
        host = expect(
            put(api, tree["policy"], rule["id"], type="HOST_NAME", value="example.com"), 200
        )
        assert host["rule"]["key"] is None
        wait_for_lb(api, tree["lb"])
        for body, message in BAD_RULES[9:]:
            assert (
                fault(put(api, tree["policy"], rule["id"], **body), 400)
                == f"Error parsing L7Rule: {message}"
            )
        ssl = expect(
            put(
                api,
                tree["policy"],
                rule["id"],
                type="SSL_VERIFY_RESULT",
                compare_type="EQUAL_TO",
                value="0",
            ),
            200,
        )
        assert (ssl["rule"]["type"], ssl["rule"]["key"]) == ("SSL_VERIFY_RESULT", None)

    def test_missing_objects(self, api: Api, tree: dict[str, Any]) -> None:
        rule = create_l7rule(api, tree["lb"], tree["policy"])
        other = create_l7policy(api, tree["lb"], tree["listener"])
        for method in ("GET", "PUT", "DELETE"):
            response = api.request(
                method, f"{rules_path(other['id'])}/{rule['id']}", json={"rule": {}}
            )
            assert fault(response, 404) == f"L7 Rule {rule['id']} not found."
            missing = new_id()
            response = api.request(method, f"{rules_path(missing)}/{rule['id']}", json={"rule": {}})
            assert fault(response, 404) == f"L7Policy {missing} not found."


class TestDelete:
    def test_delete_goes_through_pending(self, api: Api, ostia: Any, tree: dict[str, Any]) -> None:
        rule = create_l7rule(api, tree["lb"], tree["policy"])
        path = f"{rules_path(tree['policy'])}/{rule['id']}"
        ostia.controller.stop()
        assert api.delete(path).status_code == 204
        assert status(api, path, "rule") == "PENDING_DELETE"
        assert status(api, f"/v2/lbaas/l7policies/{tree['policy']}", "l7policy") == "PENDING_UPDATE"
        assert (
            fault(api.delete(path), 409)
            == f"L7Policy {tree['policy']} is immutable and cannot be updated."
        )
        ostia.controller.start()
        wait_for_lb(api, tree["lb"])
        assert fault(api.get(path), 404) == f"L7 Rule {rule['id']} not found."
        assert expect(api.get(rules_path(tree["policy"])), 200)["rules"] == []

    def test_policy_delete_takes_its_rules(
        self, api: Api, ostia: Any, tree: dict[str, Any]
    ) -> None:
        rule = create_l7rule(api, tree["lb"], tree["policy"])
        assert api.delete(f"/v2/lbaas/l7policies/{tree['policy']}").status_code == 204
        wait_for_lb(api, tree["lb"])
        fault(api.get(f"{rules_path(tree['policy'])}/{rule['id']}"), 404)


class TestListing:
    def test_filters_sorting_paging_and_fields(self, api: Api, tree: dict[str, Any]) -> None:
        lb, policy = tree["lb"], tree["policy"]
        a = create_l7rule(api, lb, policy, value="/a", tags=["x"])
        b = create_l7rule(
            api, lb, policy, type="HOST_NAME", compare_type="EQUAL_TO", value="b.example"
        )
        c = create_l7rule(api, lb, policy, value="/c", invert=True, tags=["x", "y"])
        other = create_l7policy(api, lb, tree["listener"], rules=[PATH_RULE])
        path = rules_path(policy)

        def values(query: str) -> list[str]:
            return [r["value"] for r in expect(api.get(f"{path}{query}"), 200)["rules"]]

        assert values("?sort=value") == ["/a", "/c", "b.example"]
        assert values("?type=HOST_NAME") == ["b.example"]
        assert values("?invert=true") == ["/c"]
        assert values("?tags=x&sort=value:desc") == ["/c", "/a"]
        assert values("?not-tags=y&sort_key=value&sort_dir=asc") == ["/a", "b.example"]
        page = expect(api.get(f"{path}?limit=2&sort=value"), 200)
        assert [r["id"] for r in page["rules"]] == [a["id"], c["id"]]
        assert [link["rel"] for link in page["rules_links"]] == ["next"]
        rest = expect(api.get(f"{path}?limit=2&sort=value&marker={c['id']}"), 200)
        assert [r["id"] for r in rest["rules"]] == [b["id"]]
        assert expect(api.get(f"{path}?fields=value&value=/a"), 200)["rules"] == [{"value": "/a"}]
        one = expect(api.get(f"{path}/{a['id']}?fields=id,type"), 200)
        assert one == {"rule": {"id": a["id"], "type": "PATH"}}
        assert len(expect(api.get(rules_path(other["id"])), 200)["rules"]) == 1
        # openstacksdk's l7_rules(policy) repeats the policy as a filter, as Octavia allows.
        assert len(values(f"?l7policy_id={policy}")) == 3
        assert values(f"?l7policy_id={other['id']}") == []


class TestProjects:
    def test_isolation_and_roles(self, api: Api, tree: dict[str, Any]) -> None:
        rule = create_l7rule(api, tree["lb"], tree["policy"])
        path = f"{rules_path(tree['policy'])}/{rule['id']}"
        forbidden = "Policy does not allow this request to be performed."
        stranger = api.as_user(OTHER_PROJECT, "member")
        assert fault(stranger.get(path), 403) == forbidden
        assert fault(stranger.get(rules_path(tree["policy"])), 403) == forbidden
        assert fault(put(stranger, tree["policy"], rule["id"], value="/x"), 403) == forbidden
        assert fault(stranger.delete(path), 403) == forbidden
        assert fault(post(stranger, tree["policy"]), 403) == forbidden
        reader = api.as_user(PROJECT, "reader")
        assert expect(reader.get(path), 200)["rule"]["id"] == rule["id"]
        assert [r["id"] for r in expect(reader.get(rules_path(tree["policy"])), 200)["rules"]] == [
            rule["id"]
        ]
        assert fault(put(reader, tree["policy"], rule["id"], value="/x"), 403) == forbidden
        assert fault(reader.delete(path), 403) == forbidden
        assert fault(post(reader, tree["policy"]), 403) == forbidden
        member = api.as_user(PROJECT, "member")
        assert (
            expect(put(member, tree["policy"], rule["id"], value="/m"), 200)["rule"]["value"]
            == "/m"
        )
