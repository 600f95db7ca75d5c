"""Flavors and flavor profiles through the API: provider data checked against the amphora
driver's schema, unique names, the NIL_UUID placeholder, what is refused while load
balancers or flavors use an object, lists, and who may do what."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from sqlalchemy import update

from ostia.config import Settings
from ostia.db.models import LoadBalancer
from tests.conftest import Ostia
from tests.helpers import (
    OTHER_PROJECT,
    PROJECT,
    Api,
    create_lb,
    expect,
    fault,
    new_id,
    wait_for_lb,
)

FLAVORS = "/v2/lbaas/flavors"
PROFILES = "/v2/lbaas/flavorprofiles"
NIL_UUID = "00000000-0000-0000-0000-000000000000"
FORBIDDEN = "Policy does not allow this request to be performed."


def create_profile(api: Api, **fields: Any) -> dict[str, Any]:
    body = {"name": "profile", "provider_name": "amphora", "flavor_data": "{}", **fields}
    return dict(expect(api.post(PROFILES, {"flavorprofile": body}), 201)["flavorprofile"])


def create_flavor(api: Api, profile_id: str, **fields: Any) -> dict[str, Any]:
    body = {"name": "flavor", "flavor_profile_id": profile_id, **fields}
    return dict(expect(api.post(FLAVORS, {"flavor": body}), 201)["flavor"])


def refused_profile(api: Api, status: int, **fields: Any) -> str:
    body = {"name": "profile", "provider_name": "amphora", "flavor_data": "{}", **fields}
    return fault(api.post(PROFILES, {"flavorprofile": body}), status)


@pytest.fixture
def profile(api: Api) -> dict[str, Any]:
    return create_profile(api, flavor_data='{"loadbalancer_topology": "ACTIVE_STANDBY"}')


class TestProfileCreate:
    def test_create_show_and_list(self, api: Api) -> None:
        data = (
            '{"loadbalancer_topology": "SINGLE", "compute_flavor": "m1.amphora", '
            '"amp_image_tag": "amphora", "sriov_vip": false, "allow_member_sriov": true}'
        )
        created = create_profile(api, name="full", provider_name="octavia", flavor_data=data)
        assert created == {
            "id": created["id"],
            "name": "full",
            "provider_name": "octavia",
            "flavor_data": data,
        }
        shown = expect(api.get(f"{PROFILES}/{created['id']}"), 200)
        assert shown == {"flavorprofile": created}
        listed = expect(api.get("/v2.0/lbaas/flavorprofiles"), 200)
        assert listed == {"flavorprofiles": [created], "flavorprofile_links": []}

    @pytest.mark.parametrize("missing", ["name", "provider_name", "flavor_data"])
    def test_mandatory_attributes(self, api: Api, missing: str) -> None:
        body = {"name": "p", "provider_name": "amphora", "flavor_data": "{}"}
        del body[missing]
        assert fault(api.post(PROFILES, {"flavorprofile": body}), 400) == (
            f"Invalid input for field/attribute {missing}. Value: 'None'. Mandatory field missing."
        )

    def test_lengths(self, api: Api) -> None:
        refused_profile(api, 400, name="n" * 256)
        refused_profile(api, 400, provider_name="p" * 256)
        refused_profile(api, 400, flavor_data='{"compute_flavor": "%s"}' % ("x" * 4080))
        assert expect(api.get(PROFILES), 200)["flavorprofiles"] == []

    def test_data_must_be_json(self, api: Api) -> None:
        assert refused_profile(api, 400, flavor_data='{hello: "world"}') == (
            '{hello: "world"} is not a valid option for flavor_data'
        )

    def test_provider_must_be_enabled(
        self, settings: Settings, request: pytest.FixtureRequest
    ) -> None:
        settings.api.enabled_provider_drivers = {"amphora": "x", "noop_driver": "y"}
        api: Api = request.getfixturevalue("api")
        assert refused_profile(api, 400, provider_name="octavia") == (
            "Provider 'octavia' is not enabled."
        )
        assert refused_profile(api, 501, provider_name="noop_driver") == (
            "Provider 'noop_driver' was not found."
        )

    @pytest.mark.parametrize(
        "data, problem",
        [
            (
                '{"image": "ubuntu"}',
                "Additional properties are not allowed ('image' was unexpected)",
            ),
            (
                '{"b": 1, "a": 2, "compute_flavor": 3}',
                "Additional properties are not allowed ('a', 'b' were unexpected)",
            ),
            (
                '{"loadbalancer_topology": "BOGUS"}',
                "loadbalancer_topology 'BOGUS' is not one of ['ACTIVE_STANDBY', 'SINGLE']",
            ),
            (
                '{"loadbalancer_topology": 1}',
                "loadbalancer_topology 1 is not of type 'string'",
            ),
            ('{"sriov_vip": "yes"}', "sriov_vip 'yes' is not of type 'boolean'"),
            ('{"allow_member_sriov": null}', "allow_member_sriov None is not of type 'boolean'"),
            ('{"compute_flavor": ["m1"]}', "compute_flavor ['m1'] is not of type 'string'"),
            (
                '{"amp_image_tag": 1, "compute_flavor": 2}',
                "compute_flavor 2 is not of type 'string'",
            ),
            ('["SINGLE"]', "['SINGLE'] is not of type 'object'"),
            ("true", "True is not of type 'object'"),
        ],
    )
    def test_data_must_suit_the_amphora_driver(self, api: Api, data: str, problem: str) -> None:
        assert refused_profile(api, 501, flavor_data=data) == (
            f"Provider 'amphora' does not support a requested option: {problem}"
        )


class TestProfileShow:
    def test_not_found(self, api: Api) -> None:
        missing = new_id()
        assert fault(api.get(f"{PROFILES}/{missing}"), 404) == (
            f"Flavor Profile {missing} not found."
        )
        assert fault(api.get(f"{PROFILES}/{NIL_UUID}"), 404) == (
            f"Flavor profile {NIL_UUID} not found."
        )

    def test_fields(self, api: Api, profile: dict[str, Any]) -> None:
        shown = api.get(f"{PROFILES}/{profile['id']}?fields=name&fields=provider_name")
        assert expect(shown, 200) == {
            "flavorprofile": {"name": "profile", "provider_name": "amphora"}
        }

    def test_list_filters_sorting_and_pages(self, api: Api) -> None:
        ids = [
            create_profile(api, name=name, provider_name=provider)["id"]
            for name, provider in (("b", "amphora"), ("a", "octavia"), ("c", "octavia"))
        ]

        def names(**params: Any) -> list[str]:
            listed = expect(api.get(PROFILES, params=params), 200)["flavorprofiles"]
            return [p["name"] for p in listed]

        assert names(provider_name="octavia", sort="name:desc") == ["c", "a"]
        assert names(name="b") == ["b"]
        assert names(id=ids[2]) == ["c"]
        assert names(sort_key="name", fields="name") == ["a", "b", "c"]
        first = expect(api.get(PROFILES, params={"sort": "name", "limit": 2}), 200)
        assert [p["name"] for p in first["flavorprofiles"]] == ["a", "b"]
        [following] = first["flavorprofile_links"]
        assert following["rel"] == "next"
        assert following["href"].endswith(f"limit=2&sort=name&marker={ids[0]}")
        rest = api.get(PROFILES, params={"sort": "name", "limit": 2, "marker": ids[0]})
        assert [p["name"] for p in expect(rest, 200)["flavorprofiles"]] == ["c"]
        assert fault(api.get(PROFILES, params={"flavor": "x"}), 400) == (
            "One or more arguments are either duplicate or invalid"
        )


class TestProfileUpdate:
    def test_update_everything(self, api: Api, profile: dict[str, Any]) -> None:
        path = f"{PROFILES}/{profile['id']}"
        change = {
            "name": "renamed",
            "provider_name": "octavia",
            "flavor_data": '{"sriov_vip": true}',
        }
        updated = expect(api.put(path, {"flavorprofile": change}), 200)["flavorprofile"]
        assert updated == {"id": profile["id"], **change}
        assert expect(api.get(path), 200)["flavorprofile"] == updated

    def test_update_nothing(self, api: Api, profile: dict[str, Any]) -> None:
        path = f"{PROFILES}/{profile['id']}"
        assert expect(api.put(path, {"flavorprofile": {}}), 200)["flavorprofile"] == profile

    @pytest.mark.parametrize("attribute", ["name", "provider_name", "flavor_data"])
    def test_no_null(self, api: Api, profile: dict[str, Any], attribute: str) -> None:
        response = api.put(f"{PROFILES}/{profile['id']}", {"flavorprofile": {attribute: None}})
        assert fault(response, 400) == f"None is not a valid option for {attribute}"

    def test_new_data_and_provider_are_checked(self, api: Api, profile: dict[str, Any]) -> None:
        path = f"{PROFILES}/{profile['id']}"
        assert fault(api.put(path, {"flavorprofile": {"flavor_data": "{"}}), 400) == (
            "{ is not a valid option for flavor_data"
        )
        bad = api.put(path, {"flavorprofile": {"flavor_data": '{"sriov_vip": 1}'}})
        assert fault(bad, 501) == (
            "Provider 'amphora' does not support a requested option: "
            "sriov_vip 1 is not of type 'boolean'"
        )
        other = api.put(path, {"flavorprofile": {"provider_name": "bogus"}})
        assert fault(other, 400) == "Provider 'bogus' is not enabled."
        assert expect(api.get(path), 200)["flavorprofile"] == profile

    def test_not_found(self, api: Api) -> None:
        missing = new_id()
        body = {"flavorprofile": {"name": "x"}}
        assert fault(api.put(f"{PROFILES}/{missing}", body), 404) == (
            f"Flavor Profile {missing} not found."
        )
        assert fault(api.put(f"{PROFILES}/{NIL_UUID}", body), 404) == (
            f"Flavor profile {NIL_UUID} not found."
        )

    def test_provider_and_data_are_fixed_while_a_flavor_uses_the_profile(
        self, api: Api, profile: dict[str, Any]
    ) -> None:
        create_flavor(api, profile["id"])
        path = f"{PROFILES}/{profile['id']}"
        in_use = f"Flavor profile {profile['id']} is in use and cannot be modified."
        for change in (
            {"name": "renamed", "provider_name": "octavia"},
            {"name": "renamed", "flavor_data": "{}"},
        ):
            assert fault(api.put(path, {"flavorprofile": change}), 409) == in_use
        assert expect(api.get(path), 200)["flavorprofile"] == profile
        renamed = expect(api.put(path, {"flavorprofile": {"name": "renamed"}}), 200)
        assert renamed["flavorprofile"] == {**profile, "name": "renamed"}


class TestProfileDelete:
    def test_delete(self, api: Api, profile: dict[str, Any]) -> None:
        path = f"{PROFILES}/{profile['id']}"
        response = api.delete(path)
        assert response.status_code == 204 and response.content == b""
        assert fault(api.get(path), 404) == f"Flavor Profile {profile['id']} not found."

    def test_not_found(self, api: Api) -> None:
        assert fault(api.delete(f"{PROFILES}/bogus_id"), 404) == (
            "Flavor profile bogus_id not found."
        )
        assert fault(api.delete(f"{PROFILES}/{NIL_UUID}"), 404) == (
            f"Flavor profile {NIL_UUID} not found."
        )

    def test_in_use(self, api: Api, profile: dict[str, Any]) -> None:
        flavor = create_flavor(api, profile["id"])
        assert fault(api.delete(f"{PROFILES}/{profile['id']}"), 409) == (
            f"Flavor profile {profile['id']} is in use and cannot be modified."
        )
        expect(api.delete(f"{FLAVORS}/{flavor['id']}"), 204)
        expect(api.delete(f"{PROFILES}/{profile['id']}"), 204)


class TestFlavorCreate:
    def test_create_show_and_list(self, api: Api, profile: dict[str, Any]) -> None:
        flavor = create_flavor(api, profile["id"], name="small")
        assert flavor == {
            "id": flavor["id"],
            "name": "small",
            "description": "",
            "enabled": True,
            "flavor_profile_id": profile["id"],
        }
        assert expect(api.get(f"{FLAVORS}/{flavor['id']}"), 200) == {"flavor": flavor}
        listed = expect(api.get("/v2/flavors"), 200)
        assert listed == {"flavors": [flavor], "flavors_links": []}

    def test_create_with_everything(self, api: Api, profile: dict[str, Any]) -> None:
        flavor = create_flavor(
            api, profile["id"], name="big", description="For big sites", enabled=False
        )
        assert (flavor["description"], flavor["enabled"]) == ("For big sites", False)

    def test_mandatory_attributes(self, api: Api, profile: dict[str, Any]) -> None:
        missing_name = api.post(FLAVORS, {"flavor": {"flavor_profile_id": profile["id"]}})
        assert fault(missing_name, 400) == (
            "Invalid input for field/attribute name. Value: 'None'. Mandatory field missing."
        )
        missing_profile = api.post(FLAVORS, {"flavor": {"name": "x"}})
        assert fault(missing_profile, 400) == (
            "Invalid input for field/attribute flavor_profile_id. Value: 'None'. "
            "Mandatory field missing."
        )

    def test_invalid_attributes(self, api: Api, profile: dict[str, Any]) -> None:
        def refused(**fields: Any) -> str:
            body = {"name": "x", "flavor_profile_id": profile["id"], **fields}
            return fault(api.post(FLAVORS, {"flavor": body}), 400)

        assert refused(flavor_profile_id="bogus").startswith(
            "Invalid input for field/attribute flavor_profile_id. Value: 'bogus'."
        )
        refused(name="n" * 256)
        refused(description="d" * 256)
        refused(enabled=None)
        assert refused(provider="amphora") == "Unknown attribute for argument flavor: provider"
        assert expect(api.get(FLAVORS), 200)["flavors"] == []

    def test_profile_must_exist(self, api: Api) -> None:
        missing = new_id()
        response = api.post(FLAVORS, {"flavor": {"name": "x", "flavor_profile_id": missing}})
        assert fault(response, 400) == f"Flavor Profile {missing} not found."

    def test_names_are_unique(self, api: Api, profile: dict[str, Any]) -> None:
        create_flavor(api, profile["id"], name="name")
        response = api.post(
            FLAVORS, {"flavor": {"name": "name", "flavor_profile_id": profile["id"]}}
        )
        assert fault(response, 409) == "A flavor of name already exists."
        assert len(expect(api.get(FLAVORS), 200)["flavors"]) == 1


class TestFlavorShow:
    def test_not_found(self, api: Api) -> None:
        assert fault(api.get(f"{FLAVORS}/bogus"), 404) == "Flavor bogus not found."
        assert fault(api.get(f"{FLAVORS}/{NIL_UUID}"), 404) == f"Flavor {NIL_UUID} not found."

    def test_fields(self, api: Api, profile: dict[str, Any]) -> None:
        flavor = create_flavor(api, profile["id"])
        shown = expect(api.get(f"{FLAVORS}/{flavor['id']}", params={"fields": "id,name"}), 200)
        assert shown == {"flavor": {"id": flavor["id"], "name": "flavor"}}

    def test_list_filters_sorting_and_pages(self, api: Api, profile: dict[str, Any]) -> None:
        other = create_profile(api, name="other")
        flavors = [
            create_flavor(api, profile["id"], name="b"),
            create_flavor(api, other["id"], name="a", enabled=False),
            create_flavor(api, profile["id"], name="c", description="third"),
        ]

        def names(**params: Any) -> list[str]:
            return [f["name"] for f in expect(api.get(FLAVORS, params=params), 200)["flavors"]]

        assert names(flavor_profile_id=profile["id"], sort="name:desc") == ["c", "b"]
        assert names(enabled="false") == ["a"]
        assert names(enabled="true", description="third") == ["c"]
        assert names(sort="name") == ["a", "b", "c"]
        fields = expect(api.get(FLAVORS, params={"fields": "name", "name": "b"}), 200)
        assert fields["flavors"] == [{"name": "b"}]
        first = expect(api.get(FLAVORS, params={"sort": "name:desc", "limit": 1}), 200)
        assert [f["name"] for f in first["flavors"]] == ["c"]
        marker = flavors[2]["id"]
        href = urlsplit(first["flavors_links"][0]["href"])
        assert href.path == FLAVORS
        assert parse_qs(href.query) == {"limit": ["1"], "sort": ["name:desc"], "marker": [marker]}
        rest = api.get(FLAVORS, params={"sort": "name:desc", "marker": marker})
        assert [f["name"] for f in expect(rest, 200)["flavors"]] == ["b", "a"]
        assert fault(api.get(FLAVORS, params={"enabled": "maybe"}), 400).startswith(
            "Invalid input for field/attribute enabled."
        )


class TestFlavorUpdate:
    def test_update(self, api: Api, profile: dict[str, Any]) -> None:
        flavor = create_flavor(api, profile["id"], description="old")
        path = f"{FLAVORS}/{flavor['id']}"
        change = {"name": "better", "description": "An even better flavor.", "enabled": False}
        updated = expect(api.put(path, {"flavor": change}), 200)["flavor"]
        assert updated == {**flavor, **change}
        assert expect(api.get(path), 200)["flavor"] == updated
        cleared = expect(api.put(path, {"flavor": {"description": None}}), 200)["flavor"]
        assert cleared["description"] == ""
        assert expect(api.put(path, {"flavor": {}}), 200)["flavor"] == cleared

    def test_refused_changes(self, api: Api, profile: dict[str, Any]) -> None:
        flavor = create_flavor(api, profile["id"], name="one")
        create_flavor(api, profile["id"], name="two")
        path = f"{FLAVORS}/{flavor['id']}"
        move = api.put(path, {"flavor": {"flavor_profile_id": new_id()}})
        assert fault(move, 400) == "Unknown attribute for argument flavor: flavor_profile_id"
        assert fault(api.put(path, {"flavor": {"name": "two"}}), 409) == (
            "A flavor of two already exists."
        )
        assert fault(api.put(path, {"flavor": {"name": None}}), 400) == (
            "None is not a valid option for name"
        )
        assert fault(api.put(path, {"flavor": {"enabled": None}}), 400) == (
            "None is not a valid option for enabled"
        )
        assert expect(api.get(path), 200)["flavor"] == flavor
        assert expect(api.put(path, {"flavor": {"name": "one"}}), 200)["flavor"] == flavor

    def test_not_found(self, api: Api) -> None:
        body = {"flavor": {"name": "x"}}
        assert fault(api.put(f"{FLAVORS}/bogus", body), 404) == "Flavor bogus not found."
        assert fault(api.put(f"{FLAVORS}/{NIL_UUID}", body), 404) == (
            f"Flavor {NIL_UUID} not found."
        )


class TestFlavorDelete:
    def test_delete(self, api: Api, profile: dict[str, Any]) -> None:
        flavor = create_flavor(api, profile["id"])
        response = api.delete(f"{FLAVORS}/{flavor['id']}")
        assert response.status_code == 204 and response.content == b""
        assert fault(api.get(f"{FLAVORS}/{flavor['id']}"), 404) == (
            f"Flavor {flavor['id']} not found."
        )

    def test_not_found(self, api: Api) -> None:
        assert fault(api.delete(f"{FLAVORS}/bogus_id"), 404) == "Flavor bogus_id not found."
        assert fault(api.delete(f"{FLAVORS}/{NIL_UUID}"), 404) == f"Flavor {NIL_UUID} not found."

    def test_in_use_until_the_load_balancer_is_gone(
        self, api: Api, profile: dict[str, Any]
    ) -> None:
        flavor = create_flavor(api, profile["id"])
        lb = create_lb(api, flavor_id=flavor["id"])
        assert (lb["flavor_id"], lb["provider"]) == (flavor["id"], "amphora")
        path = f"{FLAVORS}/{flavor['id']}"
        assert fault(api.delete(path), 409) == (
            f"Flavor {flavor['id']} is in use and cannot be modified."
        )
        expect(api.delete(f"/v2/lbaas/loadbalancers/{lb['id']}"), 204)
        wait_for_lb(api, lb["id"], "DELETED")
        expect(api.delete(path), 204)

    def test_deleted_load_balancers_let_go(
        self, api: Api, ostia: Ostia, profile: dict[str, Any]
    ) -> None:
        flavor = create_flavor(api, profile["id"])
        lb = create_lb(api, flavor_id=flavor["id"])
        with ostia.db.write() as session:
            session.execute(
                update(LoadBalancer)
                .where(LoadBalancer.id == lb["id"])
                .values(provisioning_status="DELETED")
            )
        expect(api.delete(f"{FLAVORS}/{flavor['id']}"), 204)
        with ostia.db.read() as session:
            deleted = session.get(LoadBalancer, lb["id"])
            assert deleted is not None and deleted.flavor_id is None


class TestPolicy:
    def test_readers_see_flavors(self, api: Api, profile: dict[str, Any]) -> None:
        flavor = create_flavor(api, profile["id"])
        for roles in ("reader", "member", "load-balancer_observer"):
            user = api.as_user(OTHER_PROJECT, roles)
            assert expect(user.get(FLAVORS), 200)["flavors"] == [flavor]
            assert expect(user.get(f"{FLAVORS}/{flavor['id']}"), 200)["flavor"] == flavor
        assert fault(api.as_user(OTHER_PROJECT, "").get(FLAVORS), 403) == FORBIDDEN

    def test_only_admins_write_flavors(self, api: Api, profile: dict[str, Any]) -> None:
        flavor = create_flavor(api, profile["id"])
        member = api.as_user(PROJECT, "member")
        body = {"flavor": {"name": "mine", "flavor_profile_id": profile["id"]}}
        assert fault(member.post(FLAVORS, body), 403) == FORBIDDEN
        fault(member.put(f"{FLAVORS}/{flavor['id']}", {"flavor": {"name": "x"}}), 403)
        fault(member.delete(f"{FLAVORS}/{flavor['id']}"), 403)
        assert expect(api.get(FLAVORS), 200)["flavors"] == [flavor]
        legacy_admin = api.as_user(PROJECT, "load-balancer_admin")
        expect(legacy_admin.delete(f"{FLAVORS}/{flavor['id']}"), 204)

    def test_profiles_are_admin_only(self, api: Api, profile: dict[str, Any]) -> None:
        path = f"{PROFILES}/{profile['id']}"
        for roles in ("member", "load-balancer_global_observer"):
            user = api.as_user(PROJECT, roles)
            fault(user.get(PROFILES), 403)
            fault(user.get(path), 403)
            body = {"name": "p", "provider_name": "amphora", "flavor_data": "{}"}
            assert fault(user.post(PROFILES, {"flavorprofile": body}), 403) == FORBIDDEN
            fault(user.put(path, {"flavorprofile": {"name": "x"}}), 403)
            fault(user.delete(path), 403)
        assert expect(api.get(PROFILES), 200)["flavorprofiles"] == [profile]
