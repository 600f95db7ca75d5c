"""Health monitors through the API: create (one per pool, type per pool protocol), HTTP-only
attributes and their defaults, update with null meaning default, delete (members back to
NO_MONITOR), statuses, lists and project isolation."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import update

from ostia.config import Settings
from ostia.db.models import Pool
from tests.helpers import (
    OTHER_PROJECT,
    PROJECT,
    Api,
    create_health_monitor,
    create_lb,
    create_listener,
    create_member,
    create_pool,
    expect,
    fault,
    new_id,
    wait_for_lb,
)

HMS = "/v2/lbaas/healthmonitors"
FORBIDDEN = "Policy does not allow this request to be performed."


def post_hm(api: Api, pool_id: str, **fields: Any) -> Any:
    body = {"pool_id": pool_id, "type": "HTTP", "delay": 5, "timeout": 3, "max_retries": 2}
    return api.post(HMS, {"healthmonitor": {**body, **fields}})


def put_hm(api: Api, hm_id: str, **fields: Any) -> Any:
    return api.put(f"{HMS}/{hm_id}", {"healthmonitor": fields})


def status(api: Api, path: str, key: str) -> str:
    return str(expect(api.get(path), 200)[key]["provisioning_status"])


def tree(api: Api, protocol: str = "HTTP") -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
    lb = create_lb(api)
    listener = create_listener(api, lb["id"], protocol=protocol, protocol_port=80)
    pool = create_pool(api, lb["id"], listener_id=listener["id"], protocol=protocol)
    return lb, listener, pool


class TestCreate:
    def test_create_goes_through_pending(self, api: Api, ostia: Any) -> None:
        lb, listener, pool = tree(api)
        ostia.controller.stop()
        hm = expect(post_hm(api, pool["id"]), 201)["healthmonitor"]
        assert (hm["provisioning_status"], hm["operating_status"]) == ("PENDING_CREATE", "OFFLINE")
        assert hm["pools"] == [{"id": pool["id"]}]
        assert (hm["http_method"], hm["url_path"], hm["expected_codes"]) == ("GET", "/", "200")
        assert (hm["delay"], hm["timeout"], hm["max_retries"]) == (5, 3, 2)
        assert hm["max_retries_down"] == 3
        assert hm["http_version"] is None and hm["domain_name"] is None
        assert hm["name"] == "" and hm["admin_state_up"] is True and hm["tags"] == []
        assert hm["project_id"] == PROJECT == hm["tenant_id"]
        assert status(api, f"/v2/lbaas/pools/{pool['id']}", "pool") == "PENDING_UPDATE"
        assert status(api, f"/v2/lbaas/listeners/{listener['id']}", "listener") == "PENDING_UPDATE"
        assert status(api, f"/v2/lbaas/loadbalancers/{lb['id']}", "loadbalancer") == (
            "PENDING_UPDATE"
        )
        ostia.controller.start()
        wait_for_lb(api, lb["id"])
        settled = expect(api.get(f"{HMS}/{hm['id']}"), 200)["healthmonitor"]
        assert (settled["provisioning_status"], settled["operating_status"]) == ("ACTIVE", "ONLINE")
        assert (
            expect(api.get(f"/v2/lbaas/pools/{pool['id']}"), 200)["pool"]["healthmonitor_id"]
            == hm["id"]
        )

    def test_given_fields(self, api: Api) -> None:
        lb, _, pool = tree(api)
        hm = expect(
            post_hm(
                api,
                pool["id"],
                type="HTTPS",
                name="check",
                admin_state_up=False,
                max_retries_down=5,
                http_method="HEAD",
                url_path="/health?full=1",
                expected_codes="200-204",
                http_version=1.1,
                domain_name="example.com",
                tags=["t"],
                project_id=OTHER_PROJECT,
            ),
            201,
        )["healthmonitor"]
        assert (hm["type"], hm["name"], hm["admin_state_up"]) == ("HTTPS", "check", False)
        assert (hm["http_method"], hm["url_path"]) == ("HEAD", "/health?full=1")
        assert (hm["expected_codes"], hm["max_retries_down"]) == ("200-204", 5)
        assert (hm["http_version"], hm["domain_name"]) == (1.1, "example.com")
        assert hm["tags"] == ["t"] and hm["project_id"] == PROJECT
        wait_for_lb(api, lb["id"])
        settled = expect(api.get(f"{HMS}/{hm['id']}"), 200)["healthmonitor"]
        assert settled["operating_status"] == "OFFLINE"  # disabled

    def test_non_http_types_have_no_http_attributes(self, api: Api) -> None:
        lb, _, pool = tree(api)
        for name, value in (("http_method", "GET"), ("url_path", "/"), ("expected_codes", "200")):
            message = fault(post_hm(api, pool["id"], type="TCP", **{name: value}), 400)
            assert message == f"{name} is not a valid option for health monitors of type TCP"
        hm = expect(post_hm(api, pool["id"], type="TCP"), 201)["healthmonitor"]
        assert (hm["http_method"], hm["url_path"], hm["expected_codes"]) == (None, None, None)

    def test_one_per_pool(self, api: Api) -> None:
        lb, _, pool = tree(api)
        create_health_monitor(api, lb["id"], pool["id"])
        message = fault(post_hm(api, pool["id"]), 409)
        assert message == "This pool already has a health monitor"

    def test_pool_must_be_active(self, api: Api, ostia: Any) -> None:
        _, _, pool = tree(api)
        with ostia.db.write() as session:
            session.execute(
                update(Pool).where(Pool.id == pool["id"]).values(provisioning_status="ERROR")
            )
        message = fault(post_hm(api, pool["id"]), 409)
        assert message == f"Pool {pool['id']} is immutable and cannot be updated."

    def test_unknown_pool(self, api: Api) -> None:
        missing = new_id()
        assert fault(post_hm(api, missing), 404) == f"Pool {missing} not found."

    def test_types_follow_the_pool_protocol(self, api: Api) -> None:
        _, _, http_pool = tree(api)
        for monitor_type in ("UDP-CONNECT", "SCTP"):
            message = fault(post_hm(api, http_pool["id"], type=monitor_type), 400)
            assert message == (
                f"Validation failure: The {monitor_type} type is only supported for pools of "
                "type UDP/SCTP."
            )
        _, _, udp_pool = tree(api, "UDP")
        for monitor_type in ("TLS-HELLO", "PING", "HTTPS"):
            message = fault(post_hm(api, udp_pool["id"], type=monitor_type), 400)
            assert message == (
                "Validation failure: The associated pool protocol is UDP, so only a "
                "UDP-CONNECT/SCTP/TCP/HTTP health monitor is supported."
            )
        message = fault(post_hm(api, udp_pool["id"], type="UDP-CONNECT", delay=2), 400)
        assert message == (
            "Validation failure: The request delay value 2 should be larger than 3 for "
            "UDP-CONNECT health monitor type."
        )
        hm = expect(post_hm(api, udp_pool["id"], type="UDP-CONNECT", delay=3), 201)
        assert hm["healthmonitor"]["http_method"] is None

    def test_udp_connect_minimum_delay_is_configurable(
        self, settings: Settings, request: pytest.FixtureRequest
    ) -> None:
        settings.api.udp_connect_min_interval_health_monitor = 0
        api: Api = request.getfixturevalue("api")
        _, _, pool = tree(api, "UDP")
        expect(post_hm(api, pool["id"], type="UDP-CONNECT", delay=1), 201)

    def test_ping_can_be_disabled(self, settings: Settings, request: pytest.FixtureRequest) -> None:
        settings.api.allow_ping_health_monitors = False
        api: Api = request.getfixturevalue("api")
        _, _, pool = tree(api)
        message = fault(post_hm(api, pool["id"], type="PING"), 400)
        assert message == "The selected type is not allowed in this deployment: PING"

    def test_url_path(self, api: Api) -> None:
        _, _, pool = tree(api)
        for bad in ("https://openstack.org", "health", "//host/health", "/two words"):
            message = fault(post_hm(api, pool["id"], url_path=bad), 400)
            assert message == (
                f"Invalid input for field/attribute url_path. Value: '{bad}'. "
                "Value must be a valid URL Path string"
            )
        fault(post_hm(api, new_id(), url_path="x"), 400)  # checked with the body, before the pool

    def test_domain_name_needs_http_1_1(self, api: Api) -> None:
        _, _, pool = tree(api)
        message = fault(post_hm(api, pool["id"], domain_name="example.com"), 400)
        assert message == (
            "Validation failure: 'http_version' must be specified when 'domain_name' is provided."
        )
        message = fault(post_hm(api, pool["id"], domain_name="example.com", http_version=1.0), 400)
        assert message == (
            "http_version 1.0 is not a valid option for health monitors HTTP 1.1 domain name "
            "health check"
        )
        fault(post_hm(api, pool["id"], domain_name="bad_name!", http_version=1.1), 400)
        expect(post_hm(api, pool["id"], http_version=1.0), 201)

    def test_bad_bodies(self, api: Api) -> None:
        _, _, pool = tree(api)
        for fields in (
            {"type": "SMTP"},
            {"max_retries": 11},
            {"max_retries_down": 0},
            {"delay": -1},
            {"http_method": "FETCH"},
            {"expected_codes": "abc"},
            {"http_version": 2.0},
        ):
            fault(post_hm(api, pool["id"], **fields), 400)
        message = fault(
            api.post(HMS, {"healthmonitor": {"pool_id": pool["id"], "type": "TCP"}}), 400
        )
        assert message == (
            "Invalid input for field/attribute delay. Value: 'None'. Mandatory field missing."
        )
        assert expect(api.get(HMS), 200)["healthmonitors"] == []

    def test_quota(self, settings: Settings, request: pytest.FixtureRequest) -> None:
        settings.quotas.default_health_monitor_quota = 0
        api: Api = request.getfixturevalue("api")
        _, _, pool = tree(api)
        message = fault(post_hm(api, pool["id"]), 403)
        assert message == "Quota has been met for resources: Health Monitor"


class TestUpdate:
    def test_update_goes_through_pending(self, api: Api, ostia: Any) -> None:
        lb, listener, pool = tree(api)
        hm = create_health_monitor(api, lb["id"], pool["id"])
        ostia.controller.stop()
        updated = expect(
            put_hm(
                api,
                hm["id"],
                name="n",
                delay=10,
                timeout=7,
                max_retries=4,
                max_retries_down=6,
                http_method="POST",
                url_path="/ping",
                expected_codes="202",
                admin_state_up=False,
                tags=["t"],
                http_version=1.1,
                domain_name="example.org",
            ),
            200,
        )["healthmonitor"]
        assert updated["provisioning_status"] == "PENDING_UPDATE"
        assert (updated["delay"], updated["timeout"], updated["max_retries"]) == (10, 7, 4)
        assert (updated["max_retries_down"], updated["http_method"]) == (6, "POST")
        assert (updated["url_path"], updated["expected_codes"]) == ("/ping", "202")
        assert (updated["admin_state_up"], updated["tags"], updated["name"]) == (False, ["t"], "n")
        assert (updated["http_version"], updated["domain_name"]) == (1.1, "example.org")
        assert status(api, f"/v2/lbaas/pools/{pool['id']}", "pool") == "PENDING_UPDATE"
        assert status(api, f"/v2/lbaas/listeners/{listener['id']}", "listener") == "PENDING_UPDATE"
        assert fault(put_hm(api, hm["id"], name="x"), 409) == (
            f"Pool {pool['id']} is immutable and cannot be updated."
        )
        ostia.controller.start()
        wait_for_lb(api, lb["id"])
        settled = expect(api.get(f"{HMS}/{hm['id']}"), 200)["healthmonitor"]
        assert (settled["provisioning_status"], settled["operating_status"]) == (
            "ACTIVE",
            "OFFLINE",
        )

    def test_null_means_default(self, api: Api) -> None:
        lb, _, pool = tree(api)
        hm = create_health_monitor(
            api,
            lb["id"],
            pool["id"],
            name="n",
            http_method="HEAD",
            url_path="/x",
            expected_codes="204",
            max_retries_down=7,
            http_version=1.1,
            domain_name="example.com",
            tags=["kept"],
        )
        nulls = {
            name: None
            for name in (
                "name",
                "http_method",
                "url_path",
                "expected_codes",
                "max_retries_down",
                "http_version",
                "domain_name",
                "tags",
            )
        }
        updated = expect(put_hm(api, hm["id"], **nulls), 200)["healthmonitor"]
        assert updated["name"] == ""
        assert (updated["http_method"], updated["url_path"]) == ("GET", "/")
        assert (updated["expected_codes"], updated["max_retries_down"]) == ("200", 3)
        assert updated["http_version"] is None and updated["domain_name"] is None
        assert updated["tags"] == ["kept"]

    def test_update_validation(self, api: Api) -> None:
        lb, _, pool = tree(api)
        hm = create_health_monitor(api, lb["id"], pool["id"])
        for name in ("delay", "timeout", "max_retries"):
            message = fault(put_hm(api, hm["id"], **{name: None}), 400)
            assert message == f"None is not a valid option for {name}"
        message = fault(put_hm(api, hm["id"], domain_name="example.com"), 400)
        assert message == (
            "Validation failure: 'http_version' must be specified when 'domain_name' is provided."
        )
        message = fault(put_hm(api, hm["id"], domain_name="example.com", http_version=1.0), 400)
        assert message.startswith("http_version 1.0 is not a valid option")
        message = fault(put_hm(api, hm["id"], url_path="http://x/"), 400)
        assert message.endswith("Value must be a valid URL Path string")
        for name, value in (("type", "TCP"), ("pool_id", pool["id"])):
            message = fault(put_hm(api, hm["id"], **{name: value}), 400)
            assert message == f"Unknown attribute for argument healthmonitor: {name}"
        assert status(api, f"{HMS}/{hm['id']}", "healthmonitor") == "ACTIVE"

    def test_non_http_and_udp_rules(self, api: Api) -> None:
        lb, _, pool = tree(api, "UDP")
        hm = create_health_monitor(api, lb["id"], pool["id"], type="UDP-CONNECT", delay=5)
        message = fault(put_hm(api, hm["id"], http_method=None), 400)
        assert (
            message == "http_method is not a valid option for health monitors of type UDP-CONNECT"
        )
        message = fault(put_hm(api, hm["id"], delay=1), 400)
        assert message == (
            "Validation failure: The request delay value 1 should be larger than 3 for "
            "UDP-CONNECT health monitor type."
        )
        assert expect(put_hm(api, hm["id"], delay=4), 200)["healthmonitor"]["delay"] == 4


class TestDelete:
    def test_delete_sets_members_back_to_no_monitor(self, api: Api, ostia: Any) -> None:
        lb, listener, pool = tree(api)
        hm = create_health_monitor(api, lb["id"], pool["id"])
        member = create_member(api, lb["id"], pool["id"])
        assert member["operating_status"] == "OFFLINE"
        ostia.controller.stop()
        response = api.delete(f"{HMS}/{hm['id']}")
        assert response.status_code == 204 and response.content == b""
        assert status(api, f"{HMS}/{hm['id']}", "healthmonitor") == "PENDING_DELETE"
        assert status(api, f"/v2/lbaas/pools/{pool['id']}", "pool") == "PENDING_UPDATE"
        assert status(api, f"/v2/lbaas/listeners/{listener['id']}", "listener") == "PENDING_UPDATE"
        ostia.controller.start()
        wait_for_lb(api, lb["id"])
        assert fault(api.get(f"{HMS}/{hm['id']}"), 404) == f"Health Monitor {hm['id']} not found."
        member_path = f"/v2/lbaas/pools/{pool['id']}/members/{member['id']}"
        assert expect(api.get(member_path), 200)["member"]["operating_status"] == "NO_MONITOR"
        assert (
            expect(api.get(f"/v2/lbaas/pools/{pool['id']}"), 200)["pool"]["healthmonitor_id"]
            is None
        )

    def test_unknown_monitor(self, api: Api) -> None:
        missing = new_id()
        for response in (
            api.get(f"{HMS}/{missing}"),
            put_hm(api, missing, name="x"),
            api.delete(f"{HMS}/{missing}"),
        ):
            assert fault(response, 404) == f"Health Monitor {missing} not found."


class TestList:
    def test_filters_sorting_pagination_fields(self, api: Api) -> None:
        lb = create_lb(api)
        pools = [create_pool(api, lb["id"], name=f"p{i}") for i in range(3)]
        create_health_monitor(api, lb["id"], pools[0]["id"], name="a", type="TCP", delay=1)
        create_health_monitor(api, lb["id"], pools[1]["id"], name="b", max_retries=9)
        create_health_monitor(api, lb["id"], pools[2]["id"], name="c", type="PING", delay=1)

        def names(**params: Any) -> list[str]:
            items = expect(api.get(HMS, params={"sort": "name", **params}), 200)["healthmonitors"]
            return [hm["name"] for hm in items]

        assert names() == ["a", "b", "c"]
        assert names(type="TCP") == ["a"]
        assert names(delay=1) == ["a", "c"]
        assert names(max_retries=9) == ["b"]
        assert names(pool_id=pools[2]["id"]) == ["c"]
        assert names(http_method="GET") == ["b"]
        assert names(sort="max_retries:desc,name")[0] == "b"
        page = expect(api.get(HMS, params={"sort": "name", "limit": 2}), 200)
        assert [hm["name"] for hm in page["healthmonitors"]] == ["a", "b"]
        assert [link["rel"] for link in page["healthmonitors_links"]] == ["next"]
        fields = expect(api.get(HMS, params={"fields": "name", "sort": "name"}), 200)
        assert fields["healthmonitors"] == [{"name": n} for n in ("a", "b", "c")]
        one = page["healthmonitors"][0]
        shown = expect(api.get(f"{HMS}/{one['id']}", params={"fields": ["id", "type"]}), 200)
        assert shown == {"healthmonitor": {"id": one["id"], "type": "TCP"}}
        fault(api.get(HMS, params={"color": "blue"}), 400)


class TestProjects:
    def test_isolation(self, api: Api) -> None:
        lb, _, pool = tree(api)
        hm = create_health_monitor(api, lb["id"], pool["id"])
        other = api.as_user(OTHER_PROJECT, "member")
        path = f"{HMS}/{hm['id']}"
        assert fault(other.get(path), 403) == FORBIDDEN
        assert fault(other.put(path, {"healthmonitor": {"name": "x"}}), 403) == FORBIDDEN
        assert fault(other.delete(path), 403) == FORBIDDEN
        assert fault(post_hm(other, pool["id"]), 403) == FORBIDDEN
        assert expect(other.get(HMS), 200)["healthmonitors"] == []
        their_lb = create_lb(other)
        their_pool = create_pool(other, their_lb["id"])
        theirs = create_health_monitor(other, their_lb["id"], their_pool["id"])
        listed = expect(other.get(HMS), 200)["healthmonitors"]
        assert [item["id"] for item in listed] == [theirs["id"]]
        assert len(expect(api.get(HMS), 200)["healthmonitors"]) == 2

    def test_reader_is_read_only(self, api: Api) -> None:
        lb, _, pool = tree(api)
        hm = create_health_monitor(api, lb["id"], pool["id"])
        reader = api.as_user(PROJECT, "reader")
        path = f"{HMS}/{hm['id']}"
        assert expect(reader.get(path), 200)["healthmonitor"]["id"] == hm["id"]
        assert len(expect(reader.get(HMS), 200)["healthmonitors"]) == 1
        fault(reader.put(path, {"healthmonitor": {"name": "x"}}), 403)
        fault(reader.delete(path), 403)
        assert status(api, path, "healthmonitor") == "ACTIVE"
