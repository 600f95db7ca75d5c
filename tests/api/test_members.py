"""Members through the API: create, show, update, delete under their pool, the batch update,
Octavia's rules (reserved addresses, duplicates, SR-IOV, address families), statuses, lists
and project isolation."""

from __future__ import annotations

import json
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

LBS = "/v2/lbaas/loadbalancers"
FORBIDDEN = "Policy does not allow this request to be performed."


def members_path(pool_id: str) -> str:
    return f"/v2/lbaas/pools/{pool_id}/members"


def post_member(api: Api, pool_id: str, **fields: Any) -> Any:
    body = {"address": "203.0.113.10", "protocol_port": 80, **fields}
    return api.post(members_path(pool_id), {"member": body})


def members_of(api: Api, pool_id: str) -> dict[tuple[str, int], dict[str, Any]]:
    members = expect(api.get(members_path(pool_id)), 200)["members"]
    return {(m["address"], m["protocol_port"]): m for m in members}


def status(api: Api, path: str, key: str) -> str:
    return str(expect(api.get(path), 200)[key]["provisioning_status"])


def tree(api: Api) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
    lb = create_lb(api)
    listener = create_listener(api, lb["id"])
    pool = create_pool(api, lb["id"], listener_id=listener["id"])
    return lb, listener, pool


class TestCreate:
    def test_create_goes_through_pending(self, api: Api, ostia: Any) -> None:
        lb, listener, pool = tree(api)
        ostia.controller.stop()
        member = expect(post_member(api, pool["id"]), 201)["member"]
        assert member["provisioning_status"] == "PENDING_CREATE"
        assert member["operating_status"] == "NO_MONITOR"
        assert status(api, f"{LBS}/{lb['id']}", "loadbalancer") == "PENDING_UPDATE"
        assert status(api, f"/v2/lbaas/listeners/{listener['id']}", "listener") == "PENDING_UPDATE"
        assert status(api, f"/v2/lbaas/pools/{pool['id']}", "pool") == "PENDING_UPDATE"
        ostia.controller.start()
        wait_for_lb(api, lb["id"])
        assert status(api, f"/v2/lbaas/listeners/{listener['id']}", "listener") == "ACTIVE"
        settled = expect(api.get(f"/v2/lbaas/pools/{pool['id']}"), 200)["pool"]
        assert settled["provisioning_status"] == "ACTIVE"
        assert settled["members"] == [{"id": member["id"]}]
        shown = expect(api.get(f"{members_path(pool['id'])}/{member['id']}"), 200)["member"]
        assert shown["provisioning_status"] == "ACTIVE"
        assert shown["operating_status"] == "NO_MONITOR"

    def test_defaults_and_given_fields(self, api: Api) -> None:
        lb, _, pool = tree(api)
        member = expect(post_member(api, pool["id"]), 201)["member"]
        assert member["name"] == "" and member["admin_state_up"] is True
        assert (member["weight"], member["backup"]) == (1, False)
        assert member["subnet_id"] is None and member["tags"] == []
        assert member["monitor_address"] is None and member["monitor_port"] is None
        assert member["vnic_type"] == "normal"
        assert member["project_id"] == PROJECT == member["tenant_id"]
        wait_for_lb(api, lb["id"])
        subnet = new_id()
        member = expect(
            post_member(
                api,
                pool["id"],
                address="2001:db8:0::5",
                protocol_port=8080,
                name="web",
                admin_state_up=False,
                weight=0,
                backup=True,
                subnet_id=subnet,
                monitor_address="192.0.2.9",
                monitor_port=9000,
                tags=["x"],
                project_id=OTHER_PROJECT,
            ),
            201,
        )["member"]
        assert member["address"] == "2001:db8::5"
        assert (member["name"], member["admin_state_up"]) == ("web", False)
        assert (member["weight"], member["backup"]) == (0, True)
        assert member["subnet_id"] == subnet and member["tags"] == ["x"]
        assert (member["monitor_address"], member["monitor_port"]) == ("192.0.2.9", 9000)
        assert member["project_id"] == PROJECT

    def test_pool_with_a_monitor_starts_members_offline(self, api: Api) -> None:
        lb, _, pool = tree(api)
        create_health_monitor(api, lb["id"], pool["id"])
        member = create_member(api, lb["id"], pool["id"])
        assert member["operating_status"] == "OFFLINE"

    def test_reserved_addresses(self, settings: Settings, request: pytest.FixtureRequest) -> None:
        settings.networking.reserved_ips = ["169.254.169.254", "fd00::1"]
        api: Api = request.getfixturevalue("api")
        _, _, pool = tree(api)
        message = fault(post_member(api, pool["id"], address="169.254.169.254"), 400)
        assert message == "169.254.169.254 is not a valid option for member address"
        message = fault(post_member(api, pool["id"], address="fd00:0::1"), 400)
        assert message == (
            "FD00:0000:0000:0000:0000:0000:0000:0001 is not a valid option for member address"
        )
        fault(post_member(api, pool["id"], address="not-an-ip"), 400)
        fault(post_member(api, pool["id"], protocol_port=0), 400)
        fault(post_member(api, pool["id"], weight=257), 400)
        assert members_of(api, pool["id"]) == {}

    def test_duplicate(self, api: Api) -> None:
        lb, _, pool = tree(api)
        create_member(api, lb["id"], pool["id"])
        message = fault(post_member(api, pool["id"]), 409)
        assert message == (
            "Another member on this pool is already using ip 203.0.113.10 on protocol_port 80"
        )
        expect(post_member(api, pool["id"], protocol_port=81), 201)

    def test_sriov_needs_a_flavor_that_allows_it(self, api: Api) -> None:
        _, _, pool = tree(api)
        message = fault(post_member(api, pool["id"], request_sriov=True), 400)
        assert message == "The load balancer flavor does not allow SR-IOV member ports."
        profile = expect(
            api.post(
                "/v2/lbaas/flavorprofiles",
                {
                    "flavorprofile": {
                        "name": "sriov",
                        "provider_name": "amphora",
                        "flavor_data": json.dumps({"allow_member_sriov": True}),
                    }
                },
            ),
            201,
        )["flavorprofile"]
        flavor = expect(
            api.post(
                "/v2/lbaas/flavors",
                {"flavor": {"name": "sriov", "flavor_profile_id": profile["id"]}},
            ),
            201,
        )["flavor"]
        lb = create_lb(api, flavor_id=flavor["id"], provider="amphora")
        sriov_pool = create_pool(api, lb["id"])
        member = expect(post_member(api, sriov_pool["id"], request_sriov=True), 201)["member"]
        assert member["vnic_type"] == "direct"

    def test_pool_in_error(self, api: Api, ostia: Any) -> None:
        _, _, pool = tree(api)
        with ostia.db.write() as session:
            session.execute(
                update(Pool).where(Pool.id == pool["id"]).values(provisioning_status="ERROR")
            )
        message = fault(post_member(api, pool["id"]), 409)
        assert message == f"Pool {pool['id']} is immutable and cannot be updated."

    def test_quota(self, settings: Settings, request: pytest.FixtureRequest) -> None:
        settings.quotas.default_member_quota = 1
        api: Api = request.getfixturevalue("api")
        lb, _, pool = tree(api)
        create_member(api, lb["id"], pool["id"])
        message = fault(post_member(api, pool["id"], protocol_port=81), 403)
        assert message == "Quota has been met for resources: Member"

    def test_udp_members_follow_the_vip_address_family(self, api: Api) -> None:
        lb = create_lb(api)
        listener = create_listener(api, lb["id"], protocol="UDP", protocol_port=53)
        pool = create_pool(api, lb["id"], listener_id=listener["id"], protocol="UDP")
        message = fault(post_member(api, pool["id"], address="2001:db8::1"), 501)
        assert message == (
            "Provider 'octavia' does not support a requested option: This provider doesn't "
            "support mixing IPv4 and IPv6 addresses for its VIP and members in UDP load "
            "balancers."
        )
        expect(post_member(api, pool["id"], address="203.0.113.7"), 201)

    def test_unknown_pool(self, api: Api) -> None:
        missing = new_id()
        assert fault(post_member(api, missing), 404) == f"Pool {missing} not found."
        assert fault(api.get(members_path(missing)), 404) == f"Pool {missing} not found."


class TestOneMember:
    def test_member_of_another_pool_is_not_found(self, api: Api) -> None:
        lb, _, pool = tree(api)
        other_pool = create_pool(api, lb["id"])
        member = create_member(api, lb["id"], pool["id"])
        wrong = f"{members_path(other_pool['id'])}/{member['id']}"
        not_found = f"Member {member['id']} not found."
        assert fault(api.get(wrong), 404) == not_found
        assert fault(api.put(wrong, {"member": {"name": "x"}}), 404) == not_found
        assert fault(api.delete(wrong), 404) == not_found
        missing = f"{members_path(pool['id'])}/{new_id()}"
        fault(api.get(missing), 404)
        right = f"{members_path(pool['id'])}/{member['id']}"
        assert expect(api.get(right, params={"fields": "address"}), 200) == {
            "member": {"address": "203.0.113.10"}
        }

    def test_update_goes_through_pending(self, api: Api, ostia: Any) -> None:
        lb, listener, pool = tree(api)
        member = create_member(api, lb["id"], pool["id"])
        path = f"{members_path(pool['id'])}/{member['id']}"
        ostia.controller.stop()
        updated = expect(
            api.put(
                path,
                {
                    "member": {
                        "name": "m",
                        "admin_state_up": False,
                        "weight": 7,
                        "backup": True,
                        "monitor_address": "192.0.2.1",
                        "monitor_port": 8080,
                        "tags": ["t"],
                    }
                },
            ),
            200,
        )["member"]
        assert updated["provisioning_status"] == "PENDING_UPDATE"
        assert (updated["name"], updated["admin_state_up"]) == ("m", False)
        assert (updated["weight"], updated["backup"]) == (7, True)
        assert (updated["monitor_address"], updated["monitor_port"]) == ("192.0.2.1", 8080)
        assert updated["tags"] == ["t"]
        assert status(api, f"/v2/lbaas/pools/{pool['id']}", "pool") == "PENDING_UPDATE"
        assert status(api, f"/v2/lbaas/listeners/{listener['id']}", "listener") == "PENDING_UPDATE"
        assert status(api, f"{LBS}/{lb['id']}", "loadbalancer") == "PENDING_UPDATE"
        # The pool is checked before the load balancer, as Octavia does.
        assert fault(api.put(path, {"member": {"name": "n"}}), 409) == (
            f"Pool {pool['id']} is immutable and cannot be updated."
        )
        ostia.controller.start()
        wait_for_lb(api, lb["id"])
        assert status(api, path, "member") == "ACTIVE"

    def test_null_means_default(self, api: Api) -> None:
        lb, _, pool = tree(api)
        member = create_member(
            api,
            lb["id"],
            pool["id"],
            name="m",
            weight=10,
            backup=True,
            monitor_address="192.0.2.2",
            monitor_port=8888,
            tags=["kept"],
        )
        path = f"{members_path(pool['id'])}/{member['id']}"
        nulls = {
            "name": None,
            "weight": None,
            "backup": None,
            "monitor_address": None,
            "monitor_port": None,
            "tags": None,
        }
        updated = expect(api.put(path, {"member": nulls}), 200)["member"]
        assert updated["name"] == "" and updated["weight"] == 1 and updated["backup"] is False
        assert updated["monitor_address"] is None and updated["monitor_port"] is None
        assert updated["tags"] == ["kept"]

    def test_immutable_fields(self, api: Api) -> None:
        lb, _, pool = tree(api)
        member = create_member(api, lb["id"], pool["id"])
        path = f"{members_path(pool['id'])}/{member['id']}"
        for name, value in (
            ("address", "203.0.113.99"),
            ("protocol_port", 81),
            ("subnet_id", new_id()),
            ("request_sriov", True),
        ):
            message = fault(api.put(path, {"member": {name: value}}), 400)
            assert message == f"Unknown attribute for argument member: {name}"

    def test_delete_goes_through_pending(self, api: Api, ostia: Any) -> None:
        lb, _, pool = tree(api)
        member = create_member(api, lb["id"], pool["id"])
        path = f"{members_path(pool['id'])}/{member['id']}"
        ostia.controller.stop()
        response = api.delete(path)
        assert response.status_code == 204 and response.content == b""
        assert status(api, path, "member") == "PENDING_DELETE"
        assert status(api, f"/v2/lbaas/pools/{pool['id']}", "pool") == "PENDING_UPDATE"
        ostia.controller.start()
        wait_for_lb(api, lb["id"])
        assert fault(api.get(path), 404) == f"Member {member['id']} not found."


class TestList:
    def test_filters_sorting_pagination_fields(self, api: Api) -> None:
        lb, _, pool = tree(api)
        other_pool = create_pool(api, lb["id"])
        create_member(api, lb["id"], other_pool["id"], address="203.0.113.99")
        for last, weight in ((1, 5), (2, 5), (3, 9)):
            create_member(api, lb["id"], pool["id"], address=f"203.0.113.{last}", weight=weight)
        path = members_path(pool["id"])

        def addresses(**params: Any) -> list[str]:
            members = expect(api.get(path, params={"sort": "address", **params}), 200)["members"]
            return [m["address"] for m in members]

        assert addresses() == ["203.0.113.1", "203.0.113.2", "203.0.113.3"]
        assert addresses(weight=5) == ["203.0.113.1", "203.0.113.2"]
        assert addresses(address="203.0.113.3") == ["203.0.113.3"]
        assert addresses(protocol_port=81) == []
        assert addresses(sort="address:desc")[0] == "203.0.113.3"
        page = expect(api.get(path, params={"sort": "address", "limit": 2}), 200)
        assert len(page["members"]) == 2
        assert [link["rel"] for link in page["members_links"]] == ["next"]
        marker = page["members"][1]["id"]
        rest = expect(api.get(path, params={"sort": "address", "limit": 2, "marker": marker}), 200)
        assert [m["address"] for m in rest["members"]] == ["203.0.113.3"]
        fields = expect(api.get(path, params={"fields": "id,weight"}), 200)["members"]
        assert all(set(m) == {"id", "weight"} for m in fields)
        fault(api.get(path, params={"color": "blue"}), 400)


class TestProjects:
    def test_isolation(self, api: Api) -> None:
        lb, _, pool = tree(api)
        member = create_member(api, lb["id"], pool["id"])
        path = f"{members_path(pool['id'])}/{member['id']}"
        other = api.as_user(OTHER_PROJECT, "member")
        assert fault(other.get(path), 403) == FORBIDDEN
        assert fault(other.put(path, {"member": {"name": "x"}}), 403) == FORBIDDEN
        assert fault(other.delete(path), 403) == FORBIDDEN
        assert fault(other.get(members_path(pool["id"])), 403) == FORBIDDEN
        assert fault(post_member(other, pool["id"], protocol_port=81), 403) == FORBIDDEN
        batch = {"members": [{"address": "203.0.113.10", "protocol_port": 80}]}
        assert fault(other.put(members_path(pool["id"]), batch), 403) == FORBIDDEN
        their_lb = create_lb(other)
        their_pool = create_pool(other, their_lb["id"])
        theirs = create_member(other, their_lb["id"], their_pool["id"])
        listed = expect(other.get(members_path(their_pool["id"])), 200)["members"]
        assert [m["id"] for m in listed] == [theirs["id"]]
        service = api.as_user(OTHER_PROJECT, "service")
        assert len(expect(service.get(members_path(pool["id"])), 200)["members"]) == 1

    def test_reader_is_read_only(self, api: Api) -> None:
        lb, _, pool = tree(api)
        member = create_member(api, lb["id"], pool["id"])
        path = f"{members_path(pool['id'])}/{member['id']}"
        reader = api.as_user(PROJECT, "reader")
        assert expect(reader.get(path), 200)["member"]["id"] == member["id"]
        assert len(expect(reader.get(members_path(pool["id"])), 200)["members"]) == 1
        fault(post_member(reader, pool["id"], protocol_port=81), 403)
        fault(reader.put(path, {"member": {"name": "x"}}), 403)
        fault(reader.delete(path), 403)
        fault(reader.put(members_path(pool["id"]), {"members": []}), 403)
        assert len(members_of(api, pool["id"])) == 1


class TestBatch:
    def test_create_update_and_delete_in_one_call(self, api: Api, ostia: Any) -> None:
        lb, _, pool = tree(api)
        create_member(api, lb["id"], pool["id"], address="203.0.113.1", weight=5, tags=["k"])
        create_member(api, lb["id"], pool["id"], address="203.0.113.2")
        create_member(api, lb["id"], pool["id"], address="203.0.113.3", monitor_address="192.0.2.3")
        ostia.controller.stop()
        body = {
            "members": [
                {"address": "203.0.113.1", "protocol_port": 80, "name": "one"},
                {"address": "203.0.113.3", "protocol_port": 80, "weight": 3},
                {"address": "203.0.113.4", "protocol_port": 80, "name": "four"},
            ]
        }
        response = api.put(members_path(pool["id"]), body)
        assert response.status_code == 202 and response.content == b""
        members = members_of(api, pool["id"])
        one, two = members[("203.0.113.1", 80)], members[("203.0.113.2", 80)]
        three, four = members[("203.0.113.3", 80)], members[("203.0.113.4", 80)]
        assert one["provisioning_status"] == "PENDING_UPDATE"
        # A batch rewrites updated members from the request, defaults included.
        assert (one["name"], one["weight"], one["tags"]) == ("one", 1, ["k"])
        assert (three["weight"], three["monitor_address"]) == (3, None)
        assert two["provisioning_status"] == "PENDING_DELETE"
        assert four["provisioning_status"] == "PENDING_CREATE" and four["name"] == "four"
        assert status(api, f"{LBS}/{lb['id']}", "loadbalancer") == "PENDING_UPDATE"
        assert status(api, f"/v2/lbaas/pools/{pool['id']}", "pool") == "PENDING_UPDATE"
        ostia.controller.start()
        wait_for_lb(api, lb["id"])
        members = members_of(api, pool["id"])
        assert sorted(members) == [("203.0.113.1", 80), ("203.0.113.3", 80), ("203.0.113.4", 80)]
        assert {m["provisioning_status"] for m in members.values()} == {"ACTIVE"}

    def test_additive_only_leaves_the_others(self, api: Api, ostia: Any) -> None:
        lb, _, pool = tree(api)
        kept = create_member(api, lb["id"], pool["id"], address="203.0.113.1")
        ostia.controller.stop()
        body = {"members": [{"address": "203.0.113.2", "protocol_port": 80}]}
        response = api.put(members_path(pool["id"]), body, params={"additive_only": "True"})
        assert response.status_code == 202
        members = members_of(api, pool["id"])
        assert members[("203.0.113.1", 80)]["provisioning_status"] == "ACTIVE"
        assert members[("203.0.113.1", 80)]["updated_at"] == kept["updated_at"]
        assert members[("203.0.113.2", 80)]["provisioning_status"] == "PENDING_CREATE"
        ostia.controller.start()
        wait_for_lb(api, lb["id"])
        assert len(members_of(api, pool["id"])) == 2

    def test_duplicates_in_the_request(self, api: Api) -> None:
        lb, _, pool = tree(api)
        create_member(api, lb["id"], pool["id"], address="203.0.113.1")
        existing_twice = {
            "members": [
                {"address": "203.0.113.1", "protocol_port": 80, "name": "a"},
                {"address": "203.0.113.1", "protocol_port": 80, "name": "b"},
            ]
        }
        message = fault(api.put(members_path(pool["id"]), existing_twice), 400)
        assert (
            message == "Validation failure: Member must be updated only once in the same request."
        )
        new_twice = {
            "members": [
                {"address": "203.0.113.1", "protocol_port": 80},
                {"address": "203.0.113.5", "protocol_port": 80},
                {"address": "203.0.113.5", "protocol_port": 80},
            ]
        }
        message = fault(api.put(members_path(pool["id"]), new_twice), 409)
        assert message == (
            "Another member on this pool is already using ip 203.0.113.5 on protocol_port 80"
        )
        assert list(members_of(api, pool["id"])) == [("203.0.113.1", 80)]
        assert status(api, f"{LBS}/{lb['id']}", "loadbalancer") == "ACTIVE"

    def test_noop_changes_nothing(self, api: Api) -> None:
        lb, _, pool = tree(api)
        before = expect(api.get(f"{LBS}/{lb['id']}"), 200)["loadbalancer"]
        response = api.put(members_path(pool["id"]), {"members": []})
        assert response.status_code == 202 and response.content == b""
        after = expect(api.get(f"{LBS}/{lb['id']}"), 200)["loadbalancer"]
        assert after["provisioning_status"] == "ACTIVE"
        assert after["updated_at"] == before["updated_at"]
        assert status(api, f"/v2/lbaas/pools/{pool['id']}", "pool") == "ACTIVE"

    def test_validation(self, api: Api, ostia: Any) -> None:
        lb, _, pool = tree(api)
        reserved = {"members": [{"address": "169.254.169.254", "protocol_port": 80}]}
        message = fault(api.put(members_path(pool["id"]), reserved), 400)
        assert message == "169.254.169.254 is not a valid option for member address"
        sriov = {
            "members": [{"address": "203.0.113.1", "protocol_port": 80, "request_sriov": True}]
        }
        message = fault(api.put(members_path(pool["id"]), sriov), 400)
        assert message == "The load balancer flavor does not allow SR-IOV member ports."
        missing = new_id()
        assert fault(api.put(members_path(missing), {"members": []}), 404) == (
            f"Pool {missing} not found."
        )
        ostia.controller.stop()
        create = {"members": [{"address": "203.0.113.1", "protocol_port": 80}]}
        expect(post_member(api, pool["id"], address="203.0.113.9"), 201)
        message = fault(api.put(members_path(pool["id"]), {"members": []}), 409)
        assert message == f"Pool {pool['id']} is immutable and cannot be updated."
        ostia.controller.start()
        wait_for_lb(api, lb["id"])
        assert api.put(members_path(pool["id"]), create).status_code == 202

    def test_quota_counts_the_net_increase(
        self, settings: Settings, request: pytest.FixtureRequest
    ) -> None:
        settings.quotas.default_member_quota = 2
        api: Api = request.getfixturevalue("api")
        lb, _, pool = tree(api)
        create_member(api, lb["id"], pool["id"], address="203.0.113.1")
        create_member(api, lb["id"], pool["id"], address="203.0.113.2")
        replace = {
            "members": [
                {"address": "203.0.113.3", "protocol_port": 80},
                {"address": "203.0.113.4", "protocol_port": 80},
            ]
        }
        assert api.put(members_path(pool["id"]), replace).status_code == 202
        wait_for_lb(api, lb["id"])
        one_more = {"members": [{"address": "203.0.113.5", "protocol_port": 80}]}
        response = api.put(members_path(pool["id"]), one_more, params={"additive_only": "true"})
        assert fault(response, 403) == "Quota has been met for resources: Member"
