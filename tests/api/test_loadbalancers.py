"""Load balancers through the API: create (plain and fully populated), show, list, update,
delete with and without cascade, status tree, statistics, failover, and the 409 lock."""

from __future__ import annotations

from typing import Any

import pytest

from ostia.config import Settings
from tests.helpers import (
    OTHER_PROJECT,
    PROJECT,
    VIP_SUBNET,
    Api,
    create_l7policy,
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


def full_graph() -> dict[str, Any]:
    """The wizard's example, in one call."""
    return {
        "name": "lb1",
        "vip_subnet_id": VIP_SUBNET,
        "listeners": [
            {
                "name": "Listener-1",
                "protocol": "HTTP",
                "protocol_port": 8080,
                "default_pool": {"name": "Pool-1"},
                "l7policies": [
                    {
                        "action": "REDIRECT_TO_POOL",
                        "redirect_pool": {"name": "api-pool"},
                        "rules": [{"type": "PATH", "compare_type": "STARTS_WITH", "value": "/api"}],
                    }
                ],
            }
        ],
        "pools": [
            {
                "name": "Pool-1",
                "protocol": "HTTP",
                "lb_algorithm": "ROUND_ROBIN",
                "members": [
                    {"address": "203.0.113.14", "protocol_port": 80},
                    {"address": "203.0.113.6", "protocol_port": 80},
                ],
                "healthmonitor": {"type": "PING", "delay": 5, "max_retries": 3, "timeout": 5},
            },
            {"name": "api-pool", "protocol": "HTTP", "lb_algorithm": "LEAST_CONNECTIONS"},
        ],
    }


class TestCreate:
    def test_minimal_create_answers_pending_then_goes_active(self, api: Api) -> None:
        lb = expect(api.post(LBS, {"loadbalancer": {"vip_subnet_id": VIP_SUBNET}}), 201)[
            "loadbalancer"
        ]
        assert lb["provisioning_status"] == "PENDING_CREATE"
        assert lb["operating_status"] == "OFFLINE"
        assert lb["name"] == "" and lb["description"] == ""
        assert lb["admin_state_up"] is True
        assert lb["project_id"] == PROJECT == lb["tenant_id"]
        assert lb["provider"] == "octavia"
        assert lb["vip_subnet_id"] == VIP_SUBNET
        assert lb["vip_address"] and lb["vip_port_id"] and lb["vip_network_id"]
        assert lb["listeners"] == [] and lb["pools"] == []
        assert lb["vip_vnic_type"] == "normal"
        assert lb["created_at"] and lb["updated_at"] is None
        active = wait_for_lb(api, lb["id"])
        assert active["operating_status"] == "OFFLINE"
        assert active["updated_at"] is not None

    def test_create_keeps_given_fields(self, api: Api) -> None:
        net, port = new_id(), new_id()
        lb = create_lb(
            api,
            name="web",
            description="front door",
            admin_state_up=False,
            vip_network_id=net,
            vip_port_id=port,
            vip_address="198.51.100.77",
            tags=["blue", "prod"],
            provider="amphora",
        )
        assert (lb["name"], lb["description"], lb["admin_state_up"]) == ("web", "front door", False)
        assert (lb["vip_network_id"], lb["vip_port_id"]) == (net, port)
        assert lb["vip_address"] == "198.51.100.77"
        assert lb["tags"] == ["blue", "prod"]
        assert lb["provider"] == "amphora"

    def test_admin_state_up_null_means_disabled(self, api: Api) -> None:
        lb = create_lb(api, admin_state_up=None)
        assert lb["admin_state_up"] is False

    def test_tenant_id_is_an_alias_of_project_id(self, api: Api) -> None:
        lb = create_lb(api, tenant_id=OTHER_PROJECT)
        assert lb["project_id"] == OTHER_PROJECT == lb["tenant_id"]

    def test_vip_needs_a_port_network_or_subnet(self, api: Api) -> None:
        message = fault(api.post(LBS, {"loadbalancer": {"name": "x"}}), 400)
        assert message == (
            "Validation failure: VIP must contain one of: vip_port_id, vip_network_id, vip_subnet_id."
        )

    def test_disallowed_vip_option(
        self, settings: Settings, request: pytest.FixtureRequest
    ) -> None:
        settings.networking.allow_vip_subnet_id = False
        api: Api = request.getfixturevalue("api")
        message = fault(api.post(LBS, {"loadbalancer": {"vip_subnet_id": VIP_SUBNET}}), 400)
        assert "use of vip_subnet_id is disallowed" in message
        assert expect(api.get(LBS), 200)["loadbalancers"] == []

    def test_denied_vip_network(self, settings: Settings, request: pytest.FixtureRequest) -> None:
        net = new_id()
        settings.networking.denylist_vip_networks = [net]
        api: Api = request.getfixturevalue("api")
        message = fault(api.post(LBS, {"loadbalancer": {"vip_network_id": net}}), 400)
        assert "not allowed by the configuration" in message

    def test_unknown_provider(self, api: Api) -> None:
        message = fault(
            api.post(LBS, {"loadbalancer": {"vip_subnet_id": VIP_SUBNET, "provider": "f5"}}), 400
        )
        assert message == "Provider 'f5' is not enabled."

    def test_unknown_flavor_and_availability_zone(self, api: Api) -> None:
        body = {"vip_subnet_id": VIP_SUBNET, "flavor_id": new_id()}
        assert (
            fault(api.post(LBS, {"loadbalancer": body}), 400)
            == "Validation failure: Invalid flavor_id."
        )
        body = {"vip_subnet_id": VIP_SUBNET, "availability_zone": "nowhere"}
        assert (
            fault(api.post(LBS, {"loadbalancer": body}), 400)
            == "Validation failure: Invalid availability zone."
        )

    def test_duplicate_additional_vip_subnet(self, api: Api) -> None:
        body = {"vip_subnet_id": VIP_SUBNET, "additional_vips": [{"subnet_id": VIP_SUBNET}]}
        assert "Duplicate VIP subnet(s)" in fault(api.post(LBS, {"loadbalancer": body}), 400)

    def test_missing_project(self, ostia: Any) -> None:
        api = Api(ostia.client)
        del api.headers["X-Project-Id"]
        message = fault(api.post(LBS, {"loadbalancer": {"vip_subnet_id": VIP_SUBNET}}), 400)
        assert message.startswith("Validation failure: Missing project ID")

    def test_quota_for_load_balancers(
        self, settings: Settings, request: pytest.FixtureRequest
    ) -> None:
        settings.quotas.default_load_balancer_quota = 1
        api: Api = request.getfixturevalue("api")
        create_lb(api)
        message = fault(api.post(LBS, {"loadbalancer": {"vip_subnet_id": VIP_SUBNET}}), 403)
        assert message == "Quota has been met for resources: Load Balancer"


class TestFullyPopulatedCreate:
    def test_whole_tree_in_one_call(self, api: Api) -> None:
        lb = expect(api.post(LBS, {"loadbalancer": full_graph()}), 201)["loadbalancer"]
        assert lb["provisioning_status"] == "PENDING_CREATE"
        (listener,) = lb["listeners"]
        pools = {p["name"]: p for p in lb["pools"]}
        assert listener["default_pool_id"] == pools["Pool-1"]["id"]
        (policy,) = listener["l7policies"]
        assert policy["redirect_pool_id"] == pools["api-pool"]["id"]
        assert policy["rules"][0]["value"] == "/api"
        assert {m["address"] for m in pools["Pool-1"]["members"]} == {"203.0.113.14", "203.0.113.6"}
        assert pools["Pool-1"]["healthmonitor"]["type"] == "PING"
        wait_for_lb(api, lb["id"])
        tree = expect(api.get(f"{LBS}/{lb['id']}/status"), 200)["statuses"]["loadbalancer"]
        assert tree["provisioning_status"] == "ACTIVE"
        (li,) = tree["listeners"]
        assert li["provisioning_status"] == "ACTIVE"
        by_name = {p["name"]: p for p in li["pools"]}
        assert set(by_name) == {"Pool-1", "api-pool"}
        assert by_name["Pool-1"]["health_monitor"]["provisioning_status"] == "ACTIVE"
        assert [m["provisioning_status"] for m in by_name["Pool-1"]["members"]] == ["ACTIVE"] * 2
        rule_id = policy["rules"][0]["id"]
        rule = expect(api.get(f"/v2/lbaas/l7policies/{policy['id']}/rules/{rule_id}"), 200)["rule"]
        assert (rule["provisioning_status"], rule["operating_status"]) == ("ACTIVE", "ONLINE")

    def test_reference_without_definition(self, api: Api) -> None:
        body = full_graph()
        body["pools"] = [p for p in body["pools"] if p["name"] != "api-pool"]
        message = fault(api.post(LBS, {"loadbalancer": body}), 400)
        assert (
            message
            == "Validation failure: Pool 'api-pool' was referenced but no full definition was found."
        )
        assert expect(api.get(LBS), 200)["loadbalancers"] == []

    def test_pool_names_must_be_unique(self, api: Api) -> None:
        body = full_graph()
        body["pools"][1]["name"] = "Pool-1"
        assert "Pool names must be unique" in fault(api.post(LBS, {"loadbalancer": body}), 400)

    def test_pool_definition_needs_protocol_and_algorithm(self, api: Api) -> None:
        body = full_graph()
        del body["pools"][1]["lb_algorithm"]
        message = fault(api.post(LBS, {"loadbalancer": body}), 400)
        assert message == (
            "Validation failure: Pool definition for 'api-pool' missing required attribute: lb_algorithm"
        )

    def test_nested_default_pool_definition(self, api: Api) -> None:
        body = {
            "vip_subnet_id": VIP_SUBNET,
            "listeners": [
                {
                    "protocol": "TCP",
                    "protocol_port": 22,
                    "default_pool": {"name": "ssh", "protocol": "TCP", "lb_algorithm": "SOURCE_IP"},
                }
            ],
        }
        lb = expect(api.post(LBS, {"loadbalancer": body}), 201)["loadbalancer"]
        assert lb["pools"][0]["name"] == "ssh"
        assert lb["listeners"][0]["default_pool_id"] == lb["pools"][0]["id"]

    def test_invalid_child_writes_nothing(self, api: Api) -> None:
        body = full_graph()
        body["pools"][0]["members"][1]["address"] = "not-an-ip"
        assert "address" in fault(api.post(LBS, {"loadbalancer": body}), 400)
        body = full_graph()
        body["listeners"].append({"protocol": "HTTP", "protocol_port": 8080})
        fault(api.post(LBS, {"loadbalancer": body}), 409)
        assert expect(api.get(LBS), 200)["loadbalancers"] == []
        assert expect(api.get("/v2/lbaas/pools"), 200)["pools"] == []

    def test_graph_counts_against_quotas(
        self, settings: Settings, request: pytest.FixtureRequest
    ) -> None:
        settings.quotas.default_member_quota = 1
        api: Api = request.getfixturevalue("api")
        message = fault(api.post(LBS, {"loadbalancer": full_graph()}), 403)
        assert message == "Quota has been met for resources: Member"


class TestReadAndList:
    def test_show_and_404(self, api: Api) -> None:
        lb = create_lb(api, name="one")
        shown = expect(api.get(f"{LBS}/{lb['id']}"), 200)["loadbalancer"]
        assert shown == lb
        missing = new_id()
        assert fault(api.get(f"{LBS}/{missing}"), 404) == f"Load Balancer {missing} not found."
        assert fault(api.get(f"{LBS}/not-a-uuid"), 404) == "Load Balancer not-a-uuid not found."

    def test_fields_selection(self, api: Api) -> None:
        lb = create_lb(api, name="sel")
        shown = expect(api.get(f"{LBS}/{lb['id']}", params={"fields": ["id", "name"]}), 200)
        assert shown == {"loadbalancer": {"id": lb["id"], "name": "sel"}}
        listed = expect(api.get(LBS, params=[("fields", "name"), ("fields", "vip_address")]), 200)
        assert listed["loadbalancers"] == [{"name": "sel", "vip_address": lb["vip_address"]}]

    def test_filters(self, api: Api) -> None:
        a = create_lb(api, name="a", vip_address="198.51.100.10")
        b = create_lb(api, name="b", admin_state_up=False)

        def names(**params: Any) -> list[str]:
            return sorted(
                x["name"] for x in expect(api.get(LBS, params=params), 200)["loadbalancers"]
            )

        assert names(name="a") == ["a"]
        assert names(admin_state_up="false") == ["b"]
        assert names(admin_state_up="True") == ["a"]
        assert names(vip_address="198.51.100.10") == ["a"]
        assert names(provisioning_status="ACTIVE") == ["a", "b"]
        assert names(id=b["id"]) == ["b"]
        assert names(project_id=PROJECT) == ["a", "b"]
        assert a["id"] != b["id"]
        message = fault(api.get(LBS, params={"colour": "red"}), 400)
        assert message == "One or more arguments are either duplicate or invalid"

    def test_tag_filters(self, api: Api) -> None:
        create_lb(api, name="ab", tags=["a", "b"])
        create_lb(api, name="a", tags=["a"])
        create_lb(api, name="c", tags=["c"])

        def names(**params: Any) -> list[str]:
            return sorted(
                x["name"] for x in expect(api.get(LBS, params=params), 200)["loadbalancers"]
            )

        assert names(tags="a,b") == ["ab"]
        assert names(**{"tags-any": "b,c"}) == ["ab", "c"]
        assert names(**{"not-tags": "a,b"}) == ["a", "c"]
        assert names(**{"not-tags-any": "a"}) == ["c"]
        assert sorted(
            x["name"]
            for x in expect(api.get(LBS, params=[("tags", "a"), ("tags", "b")]), 200)[
                "loadbalancers"
            ]
        ) == ["ab"]

    def test_sorting_and_pagination(self, api: Api) -> None:
        for name in ("c", "a", "d", "b", "e"):
            create_lb(api, name=name)
        page = expect(api.get(LBS, params={"sort": "name:asc", "limit": 2}), 200)
        assert [x["name"] for x in page["loadbalancers"]] == ["a", "b"]
        (next_link,) = page["loadbalancers_links"]
        assert next_link["rel"] == "next"
        assert "limit=2" in next_link["href"] and "sort=name%3Aasc" in next_link["href"]
        second = expect(api.get(next_link["href"]), 200)
        assert [x["name"] for x in second["loadbalancers"]] == ["c", "d"]
        rels = {link["rel"]: link["href"] for link in second["loadbalancers_links"]}
        assert set(rels) == {"previous", "next"}
        back = expect(api.get(rels["previous"]), 200)
        assert [x["name"] for x in back["loadbalancers"]] == ["a", "b"]
        last = expect(api.get(rels["next"]), 200)
        assert [x["name"] for x in last["loadbalancers"]] == ["e"]
        assert [link["rel"] for link in last["loadbalancers_links"]] == ["previous"]
        desc = expect(api.get(LBS, params={"sort_key": "name", "sort_dir": "desc"}), 200)
        assert [x["name"] for x in desc["loadbalancers"]] == ["e", "d", "c", "b", "a"]

    def test_bad_list_parameters(self, api: Api) -> None:
        assert (
            fault(api.get(LBS, params={"sort": "colour:asc"}), 400)
            == "Supplied sort key 'colour' is not valid."
        )
        assert (
            fault(api.get(LBS, params={"sort": "name:sideways"}), 400)
            == "Supplied sort direction 'sideways' is not valid."
        )
        assert (
            fault(api.get(LBS, params={"limit": "ten"}), 400)
            == "Supplied pagination limit 'ten' is not valid."
        )
        marker = new_id()
        assert (
            fault(api.get(LBS, params={"marker": marker}), 400)
            == f"Supplied pagination marker '{marker}' is not valid."
        )

    def test_projects_see_only_their_own(self, api: Api) -> None:
        mine = create_lb(api, name="mine")
        theirs = create_lb(api, name="theirs", project_id=OTHER_PROJECT)
        member = api.as_user(PROJECT, "member")
        assert [x["name"] for x in expect(member.get(LBS), 200)["loadbalancers"]] == ["mine"]
        assert fault(member.get(f"{LBS}/{theirs['id']}"), 403) == (
            "Policy does not allow this request to be performed."
        )
        fault(member.get(LBS, params={"project_id": OTHER_PROJECT}), 403)
        fault(member.put(f"{LBS}/{theirs['id']}", {"loadbalancer": {"name": "x"}}), 403)
        fault(member.delete(f"{LBS}/{theirs['id']}"), 403)
        fault(
            member.post(
                LBS, {"loadbalancer": {"vip_subnet_id": VIP_SUBNET, "project_id": OTHER_PROJECT}}
            ),
            403,
        )
        reader = api.as_user(PROJECT, "reader")
        assert expect(reader.get(f"{LBS}/{mine['id']}"), 200)["loadbalancer"]["name"] == "mine"
        fault(reader.put(f"{LBS}/{mine['id']}", {"loadbalancer": {"name": "x"}}), 403)
        fault(reader.post(LBS, {"loadbalancer": {"vip_subnet_id": VIP_SUBNET}}), 403)
        admin_view = expect(api.get(LBS), 200)["loadbalancers"]
        assert {x["name"] for x in admin_view} == {"mine", "theirs"}
        nobody = api.as_user(PROJECT, "")
        fault(nobody.get(LBS), 403)


class TestUpdate:
    def test_update_fields(self, api: Api) -> None:
        lb = create_lb(api, name="old", tags=["x"])
        body = {"name": "new", "description": "d", "admin_state_up": False, "tags": ["y", "z"]}
        updated = expect(api.put(f"{LBS}/{lb['id']}", {"loadbalancer": body}), 200)["loadbalancer"]
        assert updated["provisioning_status"] == "PENDING_UPDATE"
        assert (updated["name"], updated["description"], updated["admin_state_up"]) == (
            "new",
            "d",
            False,
        )
        assert updated["tags"] == ["y", "z"]
        assert wait_for_lb(api, lb["id"])["name"] == "new"

    def test_immutable_fields_are_refused(self, api: Api) -> None:
        lb = create_lb(api)
        message = fault(
            api.put(f"{LBS}/{lb['id']}", {"loadbalancer": {"vip_address": "198.51.100.9"}}), 400
        )
        assert message == "Unknown attribute for argument loadbalancer: vip_address"

    def test_pending_load_balancer_is_locked(self, api: Api, ostia: Any) -> None:
        ostia.controller.stop()
        lb = expect(api.post(LBS, {"loadbalancer": {"vip_subnet_id": VIP_SUBNET}}), 201)[
            "loadbalancer"
        ]
        message = fault(api.put(f"{LBS}/{lb['id']}", {"loadbalancer": {"name": "x"}}), 409)
        assert message == f"Invalid state PENDING_CREATE of loadbalancer resource {lb['id']}"
        fault(api.delete(f"{LBS}/{lb['id']}"), 409)
        message = fault(
            api.post(
                "/v2/lbaas/listeners",
                {
                    "listener": {
                        "loadbalancer_id": lb["id"],
                        "protocol": "HTTP",
                        "protocol_port": 80,
                    }
                },
            ),
            409,
        )
        assert message == f"Load Balancer {lb['id']} is immutable and cannot be updated."
        ostia.controller.start()
        assert wait_for_lb(api, lb["id"])["name"] == ""


class TestDelete:
    def test_delete_then_gone(self, api: Api) -> None:
        lb = create_lb(api)
        assert api.delete(f"{LBS}/{lb['id']}").status_code == 204
        wait_for_lb(api, lb["id"], "DELETED")
        assert fault(api.get(f"{LBS}/{lb['id']}"), 404) == f"Load Balancer {lb['id']} not found."
        assert expect(api.get(LBS), 200)["loadbalancers"] == []

    def test_children_need_cascade(self, api: Api) -> None:
        lb = create_lb(api)
        listener = create_listener(api, lb["id"])
        pool = create_pool(api, lb["id"], listener_id=listener["id"])
        create_member(api, lb["id"], pool["id"])
        create_l7policy(api, lb["id"], listener["id"])
        message = fault(api.delete(f"{LBS}/{lb['id']}"), 400)
        assert (
            message
            == f"Validation failure: Cannot delete Load Balancer {lb['id']} - it has children"
        )
        assert api.delete(f"{LBS}/{lb['id']}", params={"cascade": "true"}).status_code == 204
        wait_for_lb(api, lb["id"], "DELETED")
        for path in ("listeners", "pools", "l7policies", "healthmonitors"):
            assert expect(api.get(f"/v2/lbaas/{path}"), 200)[path] == []

    def test_error_load_balancer_can_be_deleted(self, api: Api, ostia: Any) -> None:
        from sqlalchemy import update

        from ostia.db.models import LoadBalancer

        lb = create_lb(api)
        with ostia.db.write() as session:
            session.execute(update(LoadBalancer).values(provisioning_status="ERROR"))
        fault(api.put(f"{LBS}/{lb['id']}", {"loadbalancer": {"name": "x"}}), 409)
        assert api.delete(f"{LBS}/{lb['id']}").status_code == 204
        wait_for_lb(api, lb["id"], "DELETED")


class TestStatusStatsFailover:
    def test_status_tree_shape(self, api: Api) -> None:
        lb = create_lb(api, name="tree")
        listener = create_listener(api, lb["id"], name="l1")
        pool = create_pool(api, lb["id"], listener_id=listener["id"], name="p1")
        member = create_member(api, lb["id"], pool["id"], name="m1")
        for path in ("status", "statuses"):
            tree = expect(api.get(f"{LBS}/{lb['id']}/{path}"), 200)
            assert tree == {
                "statuses": {
                    "loadbalancer": {
                        "id": lb["id"],
                        "name": "tree",
                        "operating_status": "OFFLINE",
                        "provisioning_status": "ACTIVE",
                        "listeners": [
                            {
                                "id": listener["id"],
                                "name": "l1",
                                "operating_status": "OFFLINE",
                                "provisioning_status": "ACTIVE",
                                "pools": [
                                    {
                                        "id": pool["id"],
                                        "name": "p1",
                                        "provisioning_status": "ACTIVE",
                                        "operating_status": "OFFLINE",
                                        "members": [
                                            {
                                                "id": member["id"],
                                                "name": "m1",
                                                "operating_status": "NO_MONITOR",
                                                "provisioning_status": "ACTIVE",
                                                "address": member["address"],
                                                "protocol_port": 80,
                                            }
                                        ],
                                    }
                                ],
                            }
                        ],
                    }
                }
            }

    def test_stats_start_at_zero(self, api: Api) -> None:
        lb = create_lb(api)
        stats = expect(api.get(f"{LBS}/{lb['id']}/stats"), 200)
        assert stats == {
            "stats": {
                "bytes_in": 0,
                "bytes_out": 0,
                "active_connections": 0,
                "total_connections": 0,
                "request_errors": 0,
            }
        }

    def test_failover_is_admin_only_and_completes(self, api: Api) -> None:
        lb = create_lb(api)
        member = api.as_user(PROJECT, "member")
        fault(member.put(f"{LBS}/{lb['id']}/failover"), 403)
        response = api.put(f"{LBS}/{lb['id']}/failover")
        assert response.status_code == 202 and response.content == b""
        wait_for_lb(api, lb["id"])
