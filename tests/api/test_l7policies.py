"""L7 policies through the API: actions and their redirect arguments, redirect codes,
redirect pools, 1-based positions, the listener protocol rules, update and delete, the 409
cases, list conventions and project isolation."""

from __future__ import annotations

from typing import Any

import pytest

from ostia.config import Settings
from tests.helpers import (
    OTHER_PROJECT,
    PROJECT,
    Api,
    create_l7policy,
    create_lb,
    create_listener,
    create_pool,
    expect,
    fault,
    new_id,
    wait_for_lb,
)

POLICIES = "/v2/lbaas/l7policies"
URL = "http://www.example.com"


def post(api: Api, listener_id: str, **fields: Any) -> Any:
    return api.post(
        POLICIES, {"l7policy": {"listener_id": listener_id, "action": "REJECT", **fields}}
    )


def put(api: Api, policy_id: str, **fields: Any) -> Any:
    return api.put(f"{POLICIES}/{policy_id}", {"l7policy": fields})


def show(api: Api, kind: str, object_id: str) -> dict[str, Any]:
    key = {"loadbalancers": "loadbalancer", "listeners": "listener", "l7policies": "l7policy"}
    return dict(expect(api.get(f"/v2/lbaas/{kind}/{object_id}"), 200)[key[kind]])


def positions(api: Api, listener_id: str) -> list[tuple[str, int]]:
    """The listener's policies in its order, with their positions."""
    ids = [p["id"] for p in show(api, "listeners", listener_id)["l7policies"]]
    return [(i, show(api, "l7policies", i)["position"]) for i in ids]


def names(api: Api, query: str = "") -> list[str]:
    return [p["name"] for p in expect(api.get(f"{POLICIES}{query}"), 200)["l7policies"]]


@pytest.fixture
def tree(api: Api) -> dict[str, Any]:
    """An ACTIVE load balancer with an HTTP listener and an HTTP pool."""
    lb = create_lb(api)
    listener = create_listener(api, lb["id"])
    pool = create_pool(api, lb["id"])
    return {"lb": lb["id"], "listener": listener["id"], "pool": pool["id"]}


class TestCreate:
    def test_reject_goes_through_pending(self, api: Api, ostia: Any, tree: dict[str, Any]) -> None:
        ostia.controller.stop()
        policy = expect(post(api, tree["listener"], name="deny", tags=["t"]), 201)["l7policy"]
        expected = {
            "name": "deny",
            "description": "",
            "action": "REJECT",
            "listener_id": tree["listener"],
            "position": 1,
            "redirect_pool_id": None,
            "redirect_url": None,
            "redirect_prefix": None,
            "redirect_http_code": None,
            "admin_state_up": True,
            "project_id": PROJECT,
            "tenant_id": PROJECT,
            "rules": [],
            "tags": ["t"],
            "provisioning_status": "PENDING_CREATE",
            "operating_status": "OFFLINE",
        }
        assert {k: policy[k] for k in expected} == expected
        assert show(api, "listeners", tree["listener"])["provisioning_status"] == "PENDING_UPDATE"
        assert show(api, "loadbalancers", tree["lb"])["provisioning_status"] == "PENDING_UPDATE"
        message = fault(post(api, tree["listener"]), 409)
        assert message == f"Load Balancer {tree['lb']} is immutable and cannot be updated."
        ostia.controller.start()
        wait_for_lb(api, tree["lb"])
        active = show(api, "l7policies", policy["id"])
        assert (active["provisioning_status"], active["operating_status"]) == ("ACTIVE", "ONLINE")
        assert show(api, "listeners", tree["listener"])["l7policies"] == [{"id": policy["id"]}]
        disabled = create_l7policy(api, tree["lb"], tree["listener"], admin_state_up=False)
        assert disabled["operating_status"] == "OFFLINE"

    def test_redirects_and_their_codes(self, api: Api, tree: dict[str, Any]) -> None:
        listener = tree["listener"]
        to_url = create_l7policy(
            api, tree["lb"], listener, action="REDIRECT_TO_URL", redirect_url=URL
        )
        assert (to_url["redirect_url"], to_url["redirect_http_code"]) == (URL, 302)
        prefix = create_l7policy(
            api,
            tree["lb"],
            listener,
            action="REDIRECT_PREFIX",
            redirect_prefix="https://example.com",
            redirect_http_code=301,
        )
        assert (prefix["redirect_prefix"], prefix["redirect_http_code"]) == (
            "https://example.com",
            301,
        )
        to_pool = create_l7policy(
            api,
            tree["lb"],
            listener,
            action="REDIRECT_TO_POOL",
            redirect_pool_id=tree["pool"],
            redirect_http_code=308,
        )
        assert to_pool["redirect_pool_id"] == tree["pool"]
        assert to_pool["redirect_http_code"] is None and to_pool["redirect_url"] is None
        # A redirect target given with another action wins, as in Octavia.
        implied = create_l7policy(
            api,
            tree["lb"],
            listener,
            action="REDIRECT_PREFIX",
            redirect_prefix=URL,
            redirect_url=URL,
        )
        assert (implied["action"], implied["redirect_prefix"]) == ("REDIRECT_TO_URL", None)
        reject = create_l7policy(
            api, tree["lb"], listener, redirect_url=URL, redirect_pool_id=tree["pool"]
        )
        assert (reject["action"], reject["redirect_url"], reject["redirect_pool_id"]) == (
            "REJECT",
            None,
            None,
        )

    def test_redirect_arguments(self, api: Api, tree: dict[str, Any]) -> None:
        listener = tree["listener"]
        cases = [
            ({"action": "REDIRECT_TO_URL"}, "redirect_url must not be None"),
            ({"action": "REDIRECT_TO_POOL"}, "redirect_pool_id or redirect_pool must not be None"),
            ({"action": "REDIRECT_PREFIX"}, "redirect_prefix must not be None"),
            (
                {
                    "action": "REDIRECT_TO_POOL",
                    "redirect_pool_id": tree["pool"],
                    "redirect_prefix": URL,
                },
                "Cannot specify redirect_pool_id and redirect_url or redirect_prefix at the same time",
            ),
        ]
        for fields, detail in cases:
            assert (
                fault(post(api, listener, **fields), 400)
                == f"Invalid L7 Policy arguments: {detail}"
            )
        for field in ("redirect_url", "redirect_prefix"):
            for bad in (
                "bad url",
                "www.example.com",
                "ftp://example.com",
                "http://",
                "http://a.b/x\ny",
            ):
                message = fault(post(api, listener, action="REDIRECT_TO_URL", **{field: bad}), 400)
                assert message == (
                    f"Invalid input for field/attribute {field}. Value: '{bad}'. "
                    "Value must be a valid URL string"
                )
        for code in (1, "", "HTTPCODE", 300):
            message = fault(
                post(
                    api,
                    listener,
                    action="REDIRECT_TO_URL",
                    redirect_url=URL,
                    redirect_http_code=code,
                ),
                400,
            )
            assert message.startswith("Invalid input for field/attribute redirect_http_code.")
        message = fault(post(api, listener, redirect_pool={"name": "p"}), 400)
        assert message == "Unknown attribute for argument l7policy: redirect_pool"
        assert names(api) == []

    def test_redirect_pool_rules(self, api: Api, tree: dict[str, Any]) -> None:
        listener = tree["listener"]
        unknown = new_id()
        message = fault(
            post(api, listener, action="REDIRECT_TO_POOL", redirect_pool_id=unknown), 404
        )
        assert message == f"Pool {unknown} not found."
        other_lb = create_lb(api)
        foreign = create_pool(api, other_lb["id"])
        message = fault(
            post(api, listener, action="REDIRECT_TO_POOL", redirect_pool_id=foreign["id"]), 404
        )
        assert message == f"Pool {foreign['id']} not found."
        tcp = create_pool(api, tree["lb"], protocol="TCP")
        message = fault(
            post(api, listener, action="REDIRECT_TO_POOL", redirect_pool_id=tcp["id"]), 400
        )
        assert message == (
            "Validation failure: The pool protocol 'TCP' is invalid while the listener "
            "protocol is 'HTTP'."
        )
        assert show(api, "loadbalancers", tree["lb"])["provisioning_status"] == "ACTIVE"

    def test_listener_protocols(self, api: Api, tree: dict[str, Any]) -> None:
        unknown = new_id()
        assert fault(post(api, unknown), 404) == f"Listener {unknown} not found."
        prometheus = create_listener(api, tree["lb"], protocol="PROMETHEUS", protocol_port=9100)
        message = fault(post(api, prometheus["id"]), 400)
        assert message == "Protocol PROMETHEUS listeners cannot have child objects."
        for protocol, port in (("TCP", 81), ("HTTPS", 443), ("UDP", 53), ("SCTP", 54)):
            listener = create_listener(api, tree["lb"], protocol=protocol, protocol_port=port)
            message = fault(post(api, listener["id"]), 501)
            assert message == (
                "Provider 'octavia' does not support a requested option: "
                f"{protocol} protocol listeners do not support L7 policies"
            )
        tls = create_listener(
            api,
            tree["lb"],
            protocol="TERMINATED_HTTPS",
            protocol_port=8443,
            default_tls_container_ref="c",
        )
        create_l7policy(api, tree["lb"], tls["id"])
        assert [p["listener_id"] for p in expect(api.get(POLICIES), 200)["l7policies"]] == [
            tls["id"]
        ]
        assert show(api, "loadbalancers", tree["lb"])["provisioning_status"] == "ACTIVE"

    def test_provider_name_in_refusal(self, api: Api) -> None:
        lb = create_lb(api, provider="amphora")
        listener = create_listener(api, lb["id"], protocol="TCP")
        message = fault(post(api, listener["id"]), 501)
        assert message.startswith("Provider 'amphora' does not support a requested option:")

    def test_rules_with_the_policy(self, api: Api, tree: dict[str, Any]) -> None:
        rules = [
            {"type": "PATH", "compare_type": "STARTS_WITH", "value": "/api"},
            {"type": "HEADER", "compare_type": "EQUAL_TO", "key": "X-Env", "value": "prod"},
        ]
        policy = create_l7policy(api, tree["lb"], tree["listener"], rules=rules)
        assert len(policy["rules"]) == 2
        bad = [{"type": "HEADER", "compare_type": "EQUAL_TO", "value": "x"}]
        message = fault(post(api, tree["listener"], rules=bad), 400)
        assert message == "Error parsing L7Rule: Invalid L7 Rule: L7 rule type requires a key"

    def test_quota(self, settings: Settings, request: pytest.FixtureRequest) -> None:
        settings.quotas.default_l7policy_quota = 1
        api: Api = request.getfixturevalue("api")
        lb = create_lb(api)
        listener = create_listener(api, lb["id"])
        create_l7policy(api, lb["id"], listener["id"])
        message = fault(post(api, listener["id"]), 403)
        assert message == "Quota has been met for resources: L7 Policy"


class TestPositions:
    def test_insert_move_and_delete_keep_1_to_n(self, api: Api, tree: dict[str, Any]) -> None:
        lb, listener = tree["lb"], tree["listener"]
        a = create_l7policy(api, lb, listener, name="a")
        b = create_l7policy(api, lb, listener, name="b")
        assert (a["position"], b["position"]) == (1, 2)
        c = create_l7policy(api, lb, listener, name="c", position=1)
        d = create_l7policy(api, lb, listener, name="d", position=2147483647)
        e = create_l7policy(api, lb, listener, name="e", position=3)
        order = [c["id"], a["id"], e["id"], b["id"], d["id"]]
        assert positions(api, listener) == [(i, n) for n, i in enumerate(order, start=1)]

        moved = expect(put(api, c["id"], position=4), 200)["l7policy"]
        assert moved["position"] == 4
        wait_for_lb(api, lb)
        order = [a["id"], e["id"], b["id"], c["id"], d["id"]]
        assert positions(api, listener) == [(i, n) for n, i in enumerate(order, start=1)]
        expect(put(api, a["id"], position=99), 200)
        wait_for_lb(api, lb)
        order = [e["id"], b["id"], c["id"], d["id"], a["id"]]
        assert positions(api, listener) == [(i, n) for n, i in enumerate(order, start=1)]

        assert api.delete(f"{POLICIES}/{b['id']}").status_code == 204
        wait_for_lb(api, lb)
        order = [e["id"], c["id"], d["id"], a["id"]]
        assert positions(api, listener) == [(i, n) for n, i in enumerate(order, start=1)]
        assert names(api, "?sort=position") == ["e", "c", "d", "a"]

    def test_position_must_be_positive(self, api: Api, tree: dict[str, Any]) -> None:
        message = fault(post(api, tree["listener"], position=0), 400)
        assert message.startswith("Invalid input for field/attribute position.")


class TestUpdate:
    def test_update_goes_through_pending(self, api: Api, ostia: Any, tree: dict[str, Any]) -> None:
        policy = create_l7policy(api, tree["lb"], tree["listener"], tags=["old"])
        ostia.controller.stop()
        updated = expect(
            put(
                api,
                policy["id"],
                action="REDIRECT_TO_URL",
                redirect_url=URL,
                tags=["new"],
                name="n",
            ),
            200,
        )["l7policy"]
        assert updated["provisioning_status"] == "PENDING_UPDATE"
        assert (updated["action"], updated["redirect_url"]) == ("REDIRECT_TO_URL", URL)
        assert (updated["redirect_http_code"], updated["tags"], updated["name"]) == (
            302,
            ["new"],
            "n",
        )
        assert show(api, "listeners", tree["listener"])["provisioning_status"] == "PENDING_UPDATE"
        assert show(api, "loadbalancers", tree["lb"])["provisioning_status"] == "PENDING_UPDATE"
        message = fault(put(api, policy["id"], name="x"), 409)
        assert message == f"Load Balancer {tree['lb']} is immutable and cannot be updated."
        ostia.controller.start()
        wait_for_lb(api, tree["lb"])
        assert show(api, "l7policies", policy["id"])["provisioning_status"] == "ACTIVE"

    def test_targets_switch_the_action(self, api: Api, tree: dict[str, Any]) -> None:
        lb = tree["lb"]
        policy = create_l7policy(api, lb, tree["listener"])
        to_pool = expect(put(api, policy["id"], redirect_pool_id=tree["pool"]), 200)["l7policy"]
        assert (to_pool["action"], to_pool["redirect_pool_id"]) == (
            "REDIRECT_TO_POOL",
            tree["pool"],
        )
        wait_for_lb(api, lb)
        to_url = expect(put(api, policy["id"], redirect_url=URL), 200)["l7policy"]
        assert (to_url["action"], to_url["redirect_pool_id"], to_url["redirect_http_code"]) == (
            "REDIRECT_TO_URL",
            None,
            302,
        )
        wait_for_lb(api, lb)
        code = expect(put(api, policy["id"], redirect_http_code=308), 200)["l7policy"]
        assert (code["action"], code["redirect_http_code"]) == ("REDIRECT_TO_URL", 308)
        wait_for_lb(api, lb)
        cleared = expect(put(api, policy["id"], redirect_http_code=None), 200)["l7policy"]
        assert cleared["redirect_http_code"] is None
        wait_for_lb(api, lb)
        prefix = expect(put(api, policy["id"], action="REDIRECT_PREFIX", redirect_prefix=URL), 200)
        assert (prefix["l7policy"]["redirect_url"], prefix["l7policy"]["redirect_http_code"]) == (
            None,
            302,
        )
        wait_for_lb(api, lb)
        reject = expect(put(api, policy["id"], action="REJECT"), 200)["l7policy"]
        assert [
            reject[k]
            for k in ("redirect_url", "redirect_prefix", "redirect_pool_id", "redirect_http_code")
        ] == [None] * 4
        wait_for_lb(api, lb)
        disabled = expect(put(api, policy["id"], admin_state_up=None, description="d"), 200)[
            "l7policy"
        ]
        assert (disabled["admin_state_up"], disabled["description"]) == (False, "d")

    def test_update_errors(self, api: Api, tree: dict[str, Any]) -> None:
        policy = create_l7policy(api, tree["lb"], tree["listener"])
        pid = policy["id"]
        assert fault(put(api, pid), 400) == "Invalid L7 Policy arguments: Invalid update options"
        assert fault(put(api, pid, action=None), 400) == "Invalid L7 Policy action specified: None"
        assert fault(put(api, pid, action="REDIRECT_TO_URL"), 400) == (
            "Invalid L7 Policy arguments: redirect_url must not be None"
        )
        message = fault(put(api, pid, redirect_url="bad-url"), 400)
        assert message.endswith("Value must be a valid URL string")
        unknown = new_id()
        assert fault(put(api, pid, redirect_pool_id=unknown), 404) == f"Pool {unknown} not found."
        foreign = create_pool(api, create_lb(api)["id"])
        message = fault(
            put(api, pid, action="REDIRECT_TO_POOL", redirect_pool_id=foreign["id"]), 404
        )
        assert message == f"Pool {foreign['id']} not found."
        tcp = create_pool(api, tree["lb"], protocol="TCP")
        message = fault(put(api, pid, redirect_pool_id=tcp["id"]), 400)
        assert (
            "The pool protocol 'TCP' is invalid while the listener protocol is 'HTTP'." in message
        )
        assert fault(put(api, pid, listener_id=tree["listener"]), 400) == (
            "Unknown attribute for argument l7policy: listener_id"
        )
        missing = new_id()
        assert fault(put(api, missing, name="x"), 404) == f"L7 Policy {missing} not found."
        assert show(api, "l7policies", pid)["provisioning_status"] == "ACTIVE"


class TestDelete:
    def test_delete_goes_through_pending(self, api: Api, ostia: Any, tree: dict[str, Any]) -> None:
        policy = create_l7policy(api, tree["lb"], tree["listener"])
        ostia.controller.stop()
        assert api.delete(f"{POLICIES}/{policy['id']}").status_code == 204
        assert show(api, "l7policies", policy["id"])["provisioning_status"] == "PENDING_DELETE"
        assert show(api, "listeners", tree["listener"])["provisioning_status"] == "PENDING_UPDATE"
        assert show(api, "loadbalancers", tree["lb"])["provisioning_status"] == "PENDING_UPDATE"
        fault(api.delete(f"{POLICIES}/{policy['id']}"), 409)
        ostia.controller.start()
        wait_for_lb(api, tree["lb"])
        assert (
            fault(api.get(f"{POLICIES}/{policy['id']}"), 404)
            == f"L7 Policy {policy['id']} not found."
        )
        assert show(api, "listeners", tree["listener"])["l7policies"] == []

    def test_listener_delete_takes_its_policies(self, api: Api, tree: dict[str, Any]) -> None:
        policy = create_l7policy(api, tree["lb"], tree["listener"])
        assert api.delete(f"/v2/lbaas/listeners/{tree['listener']}").status_code == 204
        wait_for_lb(api, tree["lb"])
        fault(api.get(f"{POLICIES}/{policy['id']}"), 404)


class TestListing:
    def test_filters_sorting_paging_and_fields(self, api: Api, tree: dict[str, Any]) -> None:
        lb = tree["lb"]
        other = create_listener(api, lb, protocol_port=81)
        create_l7policy(api, lb, tree["listener"], name="a", tags=["x"])
        create_l7policy(
            api, lb, tree["listener"], name="b", action="REDIRECT_TO_URL", redirect_url=URL
        )
        c = create_l7policy(api, lb, other["id"], name="c", admin_state_up=False, tags=["x", "y"])
        assert names(api, f"?listener_id={tree['listener']}&sort=name") == ["a", "b"]
        assert names(api, "?action=REDIRECT_TO_URL") == ["b"]
        assert names(api, "?admin_state_up=false") == ["c"]
        assert names(api, "?position=1&sort=name:desc") == ["c", "a"]
        assert names(api, "?tags=x&sort=name") == ["a", "c"]
        assert names(api, "?not-tags-any=y&sort_key=name&sort_dir=desc") == ["b", "a"]
        page = expect(api.get(f"{POLICIES}?limit=2&sort=name"), 200)
        assert [p["name"] for p in page["l7policies"]] == ["a", "b"]
        assert [link["rel"] for link in page["l7policies_links"]] == ["next"]
        assert expect(api.get(f"{POLICIES}?fields=name&name=c"), 200)["l7policies"] == [
            {"name": "c"}
        ]
        one = expect(api.get(f"{POLICIES}/{c['id']}?fields=id,position"), 200)
        assert one == {"l7policy": {"id": c["id"], "position": 1}}


class TestProjects:
    def test_isolation_and_roles(self, api: Api, tree: dict[str, Any]) -> None:
        policy = create_l7policy(api, tree["lb"], tree["listener"])
        path = f"{POLICIES}/{policy['id']}"
        forbidden = "Policy does not allow this request to be performed."
        stranger = api.as_user(OTHER_PROJECT, "member")
        assert fault(stranger.get(path), 403) == forbidden
        assert fault(put(stranger, policy["id"], name="x"), 403) == forbidden
        assert fault(stranger.delete(path), 403) == forbidden
        assert fault(post(stranger, tree["listener"]), 403) == forbidden
        assert expect(stranger.get(POLICIES), 200)["l7policies"] == []
        reader = api.as_user(PROJECT, "reader")
        assert show(reader, "l7policies", policy["id"])["id"] == policy["id"]
        assert [p["id"] for p in expect(reader.get(POLICIES), 200)["l7policies"]] == [policy["id"]]
        assert fault(put(reader, policy["id"], name="x"), 403) == forbidden
        assert fault(reader.delete(path), 403) == forbidden
        assert fault(post(reader, tree["listener"]), 403) == forbidden
        member = api.as_user(PROJECT, "member")
        assert expect(put(member, policy["id"], name="mine"), 200)["l7policy"]["name"] == "mine"
