"""Quotas through the API: custom limits per project (both spellings of the renamed ones),
defaults from the configuration, reset, the list of custom rows, and who may do what."""

from __future__ import annotations

from typing import Any

import pytest

from ostia.config import Settings
from tests.helpers import OTHER_PROJECT, PROJECT, VIP_SUBNET, Api, expect, fault

QUOTAS = "/v2/lbaas/quotas"
LIMITS = ("load_balancer", "listener", "pool", "health_monitor", "member", "l7policy", "l7rule")


def quota_of(project_id: str, **limits: int | None) -> dict[str, Any]:
    """A quota as shown: every limit, the renamed ones under both names."""
    full: dict[str, Any] = {"project_id": project_id, "tenant_id": project_id}
    full.update({name: limits.get(name, -1) for name in LIMITS})
    full["loadbalancer"] = full["load_balancer"]
    full["healthmonitor"] = full["health_monitor"]
    return full


def put_quota(api: Api, project_id: str, **limits: int | None) -> dict[str, Any]:
    return dict(expect(api.put(f"{QUOTAS}/{project_id}", {"quota": limits}), 202)["quota"])


@pytest.fixture
def custom_defaults(settings: Settings) -> Settings:
    settings.quotas.default_load_balancer_quota = 5
    settings.quotas.default_listener_quota = 7
    settings.quotas.default_l7rule_quota = 0
    return settings


class TestShow:
    def test_project_without_quota_gets_the_defaults(
        self, custom_defaults: Settings, request: pytest.FixtureRequest
    ) -> None:
        api: Api = request.getfixturevalue("api")
        expected = quota_of(OTHER_PROJECT, load_balancer=5, listener=7, l7rule=0)
        assert expect(api.get(f"{QUOTAS}/{OTHER_PROJECT}"), 200) == {"quota": expected}
        assert expect(api.get(f"/v2.0/quotas/{OTHER_PROJECT}"), 200) == {"quota": expected}

    def test_defaults_whatever_the_custom_quota(
        self, custom_defaults: Settings, request: pytest.FixtureRequest
    ) -> None:
        api: Api = request.getfixturevalue("api")
        put_quota(api, PROJECT, load_balancer=1, listener=2)
        defaults = expect(api.get(f"{QUOTAS}/{PROJECT}/default"), 200)
        assert defaults == {"quota": quota_of(PROJECT, load_balancer=5, listener=7, l7rule=0)}
        # The api-ref's address: Octavia serves it as the quota of a project named "defaults".
        shown = expect(api.get(f"{QUOTAS}/defaults"), 200)
        assert shown == {"quota": quota_of("defaults", load_balancer=5, listener=7, l7rule=0)}


class TestUpdate:
    def test_put_answers_202_with_the_whole_quota(
        self, custom_defaults: Settings, request: pytest.FixtureRequest
    ) -> None:
        api: Api = request.getfixturevalue("api")
        quota = put_quota(api, OTHER_PROJECT, loadbalancer=10, pool=20, healthmonitor=-1)
        assert quota == quota_of(
            OTHER_PROJECT, load_balancer=10, listener=7, pool=20, health_monitor=-1, l7rule=0
        )
        assert expect(api.get(f"{QUOTAS}/{OTHER_PROJECT}"), 200) == {"quota": quota}

    def test_deprecated_spellings(self, api: Api) -> None:
        quota = put_quota(api, OTHER_PROJECT, load_balancer=3, health_monitor=4, member=50)
        assert quota == quota_of(OTHER_PROJECT, load_balancer=3, health_monitor=4, member=50)

    def test_current_spelling_wins_over_the_deprecated_one(self, api: Api) -> None:
        quota = put_quota(
            api, OTHER_PROJECT, load_balancer=1, loadbalancer=2, healthmonitor=3, health_monitor=4
        )
        assert (quota["loadbalancer"], quota["healthmonitor"]) == (2, 3)

    def test_partial_update_keeps_the_other_limits(self, api: Api) -> None:
        put_quota(api, OTHER_PROJECT, listener=30, pool=30)
        quota = put_quota(api, OTHER_PROJECT, pool=40)
        assert (quota["listener"], quota["pool"], quota["member"]) == (30, 40, -1)
        assert put_quota(api, OTHER_PROJECT) == quota

    def test_null_goes_back_to_the_default(
        self, custom_defaults: Settings, request: pytest.FixtureRequest
    ) -> None:
        api: Api = request.getfixturevalue("api")
        put_quota(api, OTHER_PROJECT, listener=30, l7rule=9)
        quota = put_quota(api, OTHER_PROJECT, listener=None)
        assert (quota["listener"], quota["l7rule"]) == (7, 9)
        listed = expect(api.get(QUOTAS), 200)["quotas"]
        assert [(q["listener"], q["l7rule"]) for q in listed] == [(None, 9)]

    @pytest.mark.parametrize(
        "body, attribute",
        [
            ({"quota": {"listener": -2}}, "listener"),
            ({"quota": {"loadbalancer": 2000000001}}, "loadbalancer"),
            ({"quota": {"l7rule": "many"}}, "l7rule"),
        ],
    )
    def test_limits_out_of_range(self, api: Api, body: dict[str, Any], attribute: str) -> None:
        message = fault(api.put(f"{QUOTAS}/{OTHER_PROJECT}", body), 400)
        assert message.startswith(f"Invalid input for field/attribute {attribute}. Value: ")
        assert expect(api.get(QUOTAS), 200)["quotas"] == []

    def test_extreme_limits(self, api: Api) -> None:
        quota = put_quota(api, OTHER_PROJECT, member=2000000000, pool=-1, l7policy=0)
        assert (quota["member"], quota["pool"], quota["l7policy"]) == (2000000000, -1, 0)

    def test_malformed_bodies(self, api: Api) -> None:
        path = f"{QUOTAS}/{OTHER_PROJECT}"
        assert fault(api.put(path, {"quota": {"amphora": 1}}), 400) == (
            "Unknown attribute for argument quota: amphora"
        )
        assert fault(api.put(path, {}), 400) == 'Missing argument: "quota"'

    def test_limits_are_enforced(self, api: Api) -> None:
        put_quota(api, PROJECT, loadbalancer=0)
        body = {"loadbalancer": {"vip_subnet_id": VIP_SUBNET}}
        assert fault(api.post("/v2/lbaas/loadbalancers", body), 403) == (
            "Quota has been met for resources: Load Balancer"
        )


class TestReset:
    def test_delete_answers_202_and_restores_the_defaults(
        self, custom_defaults: Settings, request: pytest.FixtureRequest
    ) -> None:
        api: Api = request.getfixturevalue("api")
        put_quota(api, OTHER_PROJECT, loadbalancer=1, listener=1)
        response = api.delete(f"{QUOTAS}/{OTHER_PROJECT}")
        assert response.status_code == 202 and response.content == b""
        shown = expect(api.get(f"{QUOTAS}/{OTHER_PROJECT}"), 200)["quota"]
        assert shown == quota_of(OTHER_PROJECT, load_balancer=5, listener=7, l7rule=0)
        assert expect(api.get(QUOTAS), 200) == {"quotas": [], "quotas_links": []}

    def test_nothing_to_reset(self, api: Api) -> None:
        assert fault(api.delete(f"{QUOTAS}/{OTHER_PROJECT}"), 404) == (
            f"Quotas {OTHER_PROJECT} not found."
        )


class TestList:
    def test_empty(self, api: Api) -> None:
        assert expect(api.get(QUOTAS), 200) == {"quotas": [], "quotas_links": []}

    def test_rows_as_stored(self, api: Api) -> None:
        put_quota(api, "project-a", loadbalancer=-1, listener=30)
        put_quota(api, "project-b", load_balancer=50, member=50)
        null = dict.fromkeys(LIMITS)
        expected = [
            {
                **quota_of("project-a", **null),
                "load_balancer": -1,
                "loadbalancer": -1,
                "listener": 30,
            },
            {
                **quota_of("project-b", **null),
                "load_balancer": 50,
                "loadbalancer": 50,
                "member": 50,
            },
        ]
        assert expect(api.get(QUOTAS), 200) == {"quotas": expected, "quotas_links": []}

    def test_filters_sorting_and_fields(self, api: Api) -> None:
        for project, limit in (("project-a", 3), ("project-b", 1), ("project-c", 2)):
            put_quota(api, project, loadbalancer=limit, member=limit * 10, healthmonitor=limit)

        def projects(**params: Any) -> list[str]:
            return [q["project_id"] for q in expect(api.get(QUOTAS, params=params), 200)["quotas"]]

        assert projects(sort="load_balancer:desc") == ["project-a", "project-c", "project-b"]
        assert projects(sort="loadbalancer:asc") == ["project-b", "project-c", "project-a"]
        assert projects(member=20) == ["project-c"]
        assert projects(healthmonitor=2) == ["project-c"]
        assert projects(health_monitor=1, tenant_id="project-b") == ["project-b"]
        assert projects(project_id="project-b") == ["project-b"]
        fields = expect(api.get(QUOTAS, params={"fields": "project_id,member"}), 200)["quotas"]
        assert fields[0] == {"project_id": "project-a", "member": 30}
        assert fault(api.get(QUOTAS, params={"id": "x"}), 400) == (
            "One or more arguments are either duplicate or invalid"
        )
        assert fault(api.get(QUOTAS, params={"sort": "amphora"}), 400) == (
            "Supplied sort key 'amphora' is not valid."
        )

    def test_pages_are_marked_by_project(self, api: Api) -> None:
        for project in ("project-a", "project-b", "project-c"):
            put_quota(api, project, pool=1)
        first = expect(api.get(QUOTAS, params={"limit": 2}), 200)
        assert [q["project_id"] for q in first["quotas"]] == ["project-a", "project-b"]
        [following] = first["quotas_links"]
        assert following["rel"] == "next" and following["href"].endswith(
            "/v2/lbaas/quotas?limit=2&marker=project-b"
        )
        second = expect(api.get(QUOTAS, params={"limit": 2, "marker": "project-b"}), 200)
        assert [q["project_id"] for q in second["quotas"]] == ["project-c"]
        assert [link["rel"] for link in second["quotas_links"]] == ["previous"]
        assert second["quotas_links"][0]["href"].endswith("marker=project-c&page_reverse=True")
        back = api.get(QUOTAS, params={"limit": 2, "marker": "project-c", "page_reverse": "True"})
        assert [q["project_id"] for q in expect(back, 200)["quotas"]] == ["project-a", "project-b"]
        assert fault(api.get(QUOTAS, params={"marker": "nobody"}), 400) == (
            "Supplied pagination marker 'nobody' is not valid."
        )


class TestPolicy:
    def test_reader_sees_only_its_own_project(self, api: Api) -> None:
        put_quota(api, PROJECT, member=5)
        put_quota(api, OTHER_PROJECT, member=6)
        reader = api.as_user(PROJECT, "reader")
        assert expect(reader.get(f"{QUOTAS}/{PROJECT}"), 200)["quota"]["member"] == 5
        assert expect(reader.get(f"{QUOTAS}/{PROJECT}/default"), 200)["quota"]["member"] == -1
        listed = expect(reader.get(QUOTAS), 200)["quotas"]
        assert [q["project_id"] for q in listed] == [PROJECT]
        other = reader.get(QUOTAS, params={"project_id": OTHER_PROJECT})
        assert fault(other, 403) == "Policy does not allow this request to be performed."
        fault(reader.get(f"{QUOTAS}/{OTHER_PROJECT}"), 403)
        fault(reader.get(f"{QUOTAS}/{OTHER_PROJECT}/default"), 403)
        fault(reader.get(f"{QUOTAS}/defaults"), 403)

    def test_only_quota_admins_write(self, api: Api) -> None:
        for roles in ("member", "reader", "load-balancer_member"):
            user = api.as_user(PROJECT, roles)
            fault(user.put(f"{QUOTAS}/{PROJECT}", {"quota": {"pool": 1}}), 403)
            fault(user.delete(f"{QUOTAS}/{PROJECT}"), 403)
        assert expect(api.get(QUOTAS), 200)["quotas"] == []

    def test_quota_admin_manages_every_project(self, api: Api) -> None:
        quota_admin = api.as_user(PROJECT, "load-balancer_quota_admin")
        assert put_quota(quota_admin, OTHER_PROJECT, pool=3)["pool"] == 3
        listed = expect(quota_admin.get(QUOTAS), 200)["quotas"]
        assert [q["project_id"] for q in listed] == [OTHER_PROJECT]
        assert quota_admin.delete(f"{QUOTAS}/{OTHER_PROJECT}").status_code == 202

    def test_global_observer_reads_every_project(self, api: Api) -> None:
        put_quota(api, OTHER_PROJECT, pool=3)
        observer = api.as_user(PROJECT, "load-balancer_global_observer")
        assert [q["project_id"] for q in expect(observer.get(QUOTAS), 200)["quotas"]] == [
            OTHER_PROJECT
        ]
        fault(observer.put(f"{QUOTAS}/{OTHER_PROJECT}", {"quota": {"pool": 1}}), 403)
