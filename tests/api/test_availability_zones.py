"""Availability zones (known by name) and their profiles through the API: provider data
checked against the amphora driver's schema, unique names, the NIL_UUID placeholder, what is
refused while load balancers or zones use an object, lists, and who may do what."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import update

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

ZONES = "/v2/lbaas/availabilityzones"
PROFILES = "/v2/lbaas/availabilityzoneprofiles"
NIL_UUID = "00000000-0000-0000-0000-000000000000"
FORBIDDEN = "Policy does not allow this request to be performed."
PROFILE_KEY = "availability_zone_profile"


def create_profile(api: Api, **fields: Any) -> dict[str, Any]:
    body = {"name": "profile", "provider_name": "amphora", "availability_zone_data": "{}", **fields}
    return dict(expect(api.post(PROFILES, {PROFILE_KEY: body}), 201)[PROFILE_KEY])


def create_zone(api: Api, profile_id: str, **fields: Any) -> dict[str, Any]:
    body = {"name": "zone", "availability_zone_profile_id": profile_id, **fields}
    return dict(expect(api.post(ZONES, {"availability_zone": body}), 201)["availability_zone"])


@pytest.fixture
def profile(api: Api) -> dict[str, Any]:
    return create_profile(api, availability_zone_data='{"compute_zone": "az1"}')


class TestProfiles:
    def test_create_show_list_update_delete(self, api: Api) -> None:
        data = (
            '{"compute_zone": "nova-1", "volume_zone": "cinder-1", '
            '"management_network": "lb-mgmt", "valid_vip_networks": ["net-a", "net-b"]}'
        )
        created = create_profile(api, name="full", availability_zone_data=data)
        assert created == {
            "id": created["id"],
            "name": "full",
            "provider_name": "amphora",
            "availability_zone_data": data,
        }
        path = f"{PROFILES}/{created['id']}"
        assert expect(api.get(path), 200) == {PROFILE_KEY: created}
        listed = expect(api.get("/v2.0/lbaas/availabilityzoneprofiles"), 200)
        assert listed == {
            "availability_zone_profiles": [created],
            "availability_zone_profile_links": [],
        }
        change = {"name": "renamed", "provider_name": "octavia", "availability_zone_data": "{}"}
        updated = expect(api.put(path, {PROFILE_KEY: change}), 200)[PROFILE_KEY]
        assert updated == {"id": created["id"], **change}
        response = api.delete(path)
        assert response.status_code == 204 and response.content == b""
        assert fault(api.get(path), 404) == (
            f"Availability Zone Profile {created['id']} not found."
        )

    @pytest.mark.parametrize("missing", ["name", "provider_name", "availability_zone_data"])
    def test_mandatory_attributes(self, api: Api, missing: str) -> None:
        body = {"name": "p", "provider_name": "amphora", "availability_zone_data": "{}"}
        del body[missing]
        assert fault(api.post(PROFILES, {PROFILE_KEY: body}), 400) == (
            f"Invalid input for field/attribute {missing}. Value: 'None'. Mandatory field missing."
        )

    @pytest.mark.parametrize(
        "data, status, message",
        [
            ("{nope", 400, "{nope is not a valid option for availability_zone_data"),
            (
                '{"compute_zone": "az1", "image": "x"}',
                501,
                "Provider 'amphora' does not support a requested option: "
                "Additional properties are not allowed ('image' was unexpected)",
            ),
            (
                '{"valid_vip_networks": "net-a"}',
                501,
                "Provider 'amphora' does not support a requested option: "
                "valid_vip_networks 'net-a' is not of type 'array'",
            ),
            (
                '{"management_network": 7}',
                501,
                "Provider 'amphora' does not support a requested option: "
                "management_network 7 is not of type 'string'",
            ),
            (
                '"az1"',
                501,
                "Provider 'amphora' does not support a requested option: "
                "'az1' is not of type 'object'",
            ),
        ],
    )
    def test_data_is_checked(self, api: Api, data: str, status: int, message: str) -> None:
        body = {"name": "p", "provider_name": "amphora", "availability_zone_data": data}
        assert fault(api.post(PROFILES, {PROFILE_KEY: body}), status) == message

    def test_provider_must_be_enabled(self, api: Api) -> None:
        body = {"name": "p", "provider_name": "bogus", "availability_zone_data": "{}"}
        assert fault(api.post(PROFILES, {PROFILE_KEY: body}), 400) == (
            "Provider 'bogus' is not enabled."
        )
        assert expect(api.get(PROFILES), 200)["availability_zone_profiles"] == []

    def test_update_checks(self, api: Api, profile: dict[str, Any]) -> None:
        path = f"{PROFILES}/{profile['id']}"
        for attribute in ("name", "provider_name", "availability_zone_data"):
            assert fault(api.put(path, {PROFILE_KEY: {attribute: None}}), 400) == (
                f"None is not a valid option for {attribute}"
            )
        # Octavia names the flavor attribute here.
        bad_json = api.put(path, {PROFILE_KEY: {"availability_zone_data": "[1,"}})
        assert fault(bad_json, 400) == "[1, is not a valid option for flavor_data"
        bad_data = api.put(path, {PROFILE_KEY: {"availability_zone_data": '{"x": 1}'}})
        assert fault(bad_data, 501).endswith(
            "Additional properties are not allowed ('x' was unexpected)"
        )
        assert expect(api.get(path), 200)[PROFILE_KEY] == profile

    def test_not_found_and_nil(self, api: Api) -> None:
        missing = new_id()
        message = f"Availability Zone Profile {missing} not found."
        assert fault(api.get(f"{PROFILES}/{missing}"), 404) == message
        assert fault(api.put(f"{PROFILES}/{missing}", {PROFILE_KEY: {"name": "x"}}), 404) == message
        assert fault(api.delete(f"{PROFILES}/{missing}"), 404) == message
        nil = f"Availability Zone Profile {NIL_UUID} not found."
        assert fault(api.get(f"{PROFILES}/{NIL_UUID}"), 404) == nil
        assert fault(api.put(f"{PROFILES}/{NIL_UUID}", {PROFILE_KEY: {"name": "x"}}), 404) == nil
        assert fault(api.delete(f"{PROFILES}/{NIL_UUID}"), 404) == nil

    def test_in_use_by_a_zone(self, api: Api, profile: dict[str, Any]) -> None:
        create_zone(api, profile["id"])
        path = f"{PROFILES}/{profile['id']}"
        in_use = f"Availability Zone Profile {profile['id']} is in use and cannot be modified."
        for change in ({"provider_name": "octavia"}, {"availability_zone_data": "{}"}):
            assert fault(api.put(path, {PROFILE_KEY: change}), 409) == in_use
        assert fault(api.delete(path), 409) == in_use
        assert (
            expect(api.put(path, {PROFILE_KEY: {"name": "new"}}), 200)[PROFILE_KEY]["name"] == "new"
        )

    def test_list_filters_and_pages(self, api: Api) -> None:
        ids = [create_profile(api, name=name)["id"] for name in ("b", "a", "c")]
        listed = expect(api.get(PROFILES, params={"sort": "name:desc", "fields": "name"}), 200)
        assert listed["availability_zone_profiles"] == [{"name": "c"}, {"name": "b"}, {"name": "a"}]
        page = expect(api.get(PROFILES, params={"name": "a", "limit": 1}), 200)
        assert [p["id"] for p in page["availability_zone_profiles"]] == [ids[1]]
        [following] = page["availability_zone_profile_links"]
        assert following["rel"] == "next" and following["href"].endswith(f"marker={ids[1]}")


class TestZones:
    def test_create_show_and_list(self, api: Api, profile: dict[str, Any]) -> None:
        zone = create_zone(api, profile["id"], name="az1")
        assert zone == {
            "name": "az1",
            "description": "",
            "enabled": True,
            "availability_zone_profile_id": profile["id"],
        }
        assert expect(api.get(f"{ZONES}/az1"), 200) == {"availability_zone": zone}
        listed = expect(api.get("/v2/availabilityzones"), 200)
        assert listed == {"availability_zones": [zone], "availability_zones_links": []}
        fields = expect(api.get(f"{ZONES}/az1?fields=name,enabled"), 200)
        assert fields == {"availability_zone": {"name": "az1", "enabled": True}}

    def test_invalid_creates(self, api: Api, profile: dict[str, Any]) -> None:
        def refused(status: int, **fields: Any) -> str:
            body = {"name": "az", "availability_zone_profile_id": profile["id"], **fields}
            return fault(api.post(ZONES, {"availability_zone": body}), status)

        body = {"availability_zone_profile_id": profile["id"]}
        assert fault(api.post(ZONES, {"availability_zone": body}), 400) == (
            "Invalid input for field/attribute name. Value: 'None'. Mandatory field missing."
        )
        assert refused(400, availability_zone_profile_id="bogus").startswith(
            "Invalid input for field/attribute availability_zone_profile_id. Value: 'bogus'."
        )
        refused(400, name="n" * 256)
        refused(400, description="d" * 256)
        missing = new_id()
        assert refused(400, availability_zone_profile_id=missing) == (
            f"Availability Zone Profile {missing} not found."
        )
        assert expect(api.get(ZONES), 200)["availability_zones"] == []
        create_zone(api, profile["id"], name="az")
        assert refused(409) == "A availability zone of az already exists."

    def test_update(self, api: Api, profile: dict[str, Any]) -> None:
        zone = create_zone(api, profile["id"], name="az1", description="old")
        path = f"{ZONES}/az1"
        change = {"description": "A great az.", "enabled": False}
        updated = expect(api.put(path, {"availability_zone": change}), 200)["availability_zone"]
        assert updated == {**zone, **change}
        assert expect(api.get(path), 200)["availability_zone"] == updated
        assert expect(api.put(path, {"availability_zone": {}}), 200)["availability_zone"] == updated
        for attribute in ("name", "availability_zone_profile_id"):
            refused = api.put(path, {"availability_zone": {attribute: "x"}})
            assert fault(refused, 400) == (
                f"Unknown attribute for argument availability_zone: {attribute}"
            )
        assert fault(api.put(path, {"availability_zone": {"enabled": None}}), 400) == (
            "None is not a valid option for enabled"
        )

    def test_not_found_and_nil(self, api: Api) -> None:
        body = {"availability_zone": {"description": "x"}}
        assert fault(api.get(f"{ZONES}/nowhere"), 404) == "Availability Zone nowhere not found."
        assert fault(api.put(f"{ZONES}/nowhere", body), 404) == (
            "Availability Zone nowhere not found."
        )
        assert fault(api.delete(f"{ZONES}/bogus_name"), 404) == (
            "Availability Zone bogus_name not found."
        )
        nil = f"Availability Zone {NIL_UUID} not found."
        assert fault(api.get(f"{ZONES}/{NIL_UUID}"), 404) == nil
        assert fault(api.put(f"{ZONES}/{NIL_UUID}", body), 404) == nil
        assert fault(api.delete(f"{ZONES}/{NIL_UUID}"), 404) == nil

    def test_delete_in_use_until_the_load_balancer_is_gone(
        self, api: Api, profile: dict[str, Any]
    ) -> None:
        create_zone(api, profile["id"], name="az1")
        lb = create_lb(api, availability_zone="az1")
        assert lb["availability_zone"] == "az1"
        assert fault(api.delete(f"{ZONES}/az1"), 409) == (
            "Availability Zone az1 is in use and cannot be modified."
        )
        expect(api.delete(f"/v2/lbaas/loadbalancers/{lb['id']}"), 204)
        wait_for_lb(api, lb["id"], "DELETED")
        response = api.delete(f"{ZONES}/az1")
        assert response.status_code == 204 and response.content == b""
        assert fault(api.get(f"{ZONES}/az1"), 404) == "Availability Zone az1 not found."

    def test_deleted_load_balancers_let_go(
        self, api: Api, ostia: Ostia, profile: dict[str, Any]
    ) -> None:
        create_zone(api, profile["id"], name="az1")
        lb = create_lb(api, availability_zone="az1")
        with ostia.db.write() as session:
            session.execute(
                update(LoadBalancer)
                .where(LoadBalancer.id == lb["id"])
                .values(provisioning_status="DELETED")
            )
        expect(api.delete(f"{ZONES}/az1"), 204)
        with ostia.db.read() as session:
            deleted = session.get(LoadBalancer, lb["id"])
            assert deleted is not None and deleted.availability_zone is None

    def test_list_filters_sorting_and_pages(self, api: Api, profile: dict[str, Any]) -> None:
        other = create_profile(api, name="other")
        create_zone(api, profile["id"], name="b")
        create_zone(api, other["id"], name="a", enabled=False)
        create_zone(api, profile["id"], name="c", description="third")

        def names(**params: Any) -> list[str]:
            listed = expect(api.get(ZONES, params=params), 200)["availability_zones"]
            return [z["name"] for z in listed]

        assert names() == ["a", "b", "c"]
        assert names(sort="name:desc") == ["c", "b", "a"]
        assert names(availability_zone_profile_id=profile["id"]) == ["b", "c"]
        assert names(enabled="False") == ["a"]
        assert names(description="third") == ["c"]
        first = expect(api.get(ZONES, params={"limit": 2}), 200)
        assert [z["name"] for z in first["availability_zones"]] == ["a", "b"]
        [following] = first["availability_zones_links"]
        assert following["rel"] == "next" and following["href"].endswith("limit=2&marker=b")
        second = expect(api.get(ZONES, params={"limit": 2, "marker": "b"}), 200)
        assert [z["name"] for z in second["availability_zones"]] == ["c"]
        [previous] = second["availability_zones_links"]
        assert previous["rel"] == "previous"
        assert previous["href"].endswith("limit=2&marker=c&page_reverse=True")
        assert fault(api.get(ZONES, params={"marker": "nowhere"}), 400) == (
            "Supplied pagination marker 'nowhere' is not valid."
        )
        assert fault(api.get(ZONES, params={"id": "a"}), 400) == (
            "One or more arguments are either duplicate or invalid"
        )


class TestPolicy:
    def test_readers_see_zones(self, api: Api, profile: dict[str, Any]) -> None:
        zone = create_zone(api, profile["id"])
        for roles in ("reader", "member"):
            user = api.as_user(OTHER_PROJECT, roles)
            assert expect(user.get(ZONES), 200)["availability_zones"] == [zone]
            assert expect(user.get(f"{ZONES}/zone"), 200)["availability_zone"] == zone
        assert fault(api.as_user(OTHER_PROJECT, "").get(f"{ZONES}/zone"), 403) == FORBIDDEN

    def test_only_admins_write(self, api: Api, profile: dict[str, Any]) -> None:
        zone = create_zone(api, profile["id"])
        member = api.as_user(PROJECT, "member")
        body = {"name": "mine", "availability_zone_profile_id": profile["id"]}
        assert fault(member.post(ZONES, {"availability_zone": body}), 403) == FORBIDDEN
        fault(member.put(f"{ZONES}/zone", {"availability_zone": {"enabled": False}}), 403)
        fault(member.delete(f"{ZONES}/zone"), 403)
        assert expect(api.get(ZONES), 200)["availability_zones"] == [zone]
        profile_path = f"{PROFILES}/{profile['id']}"
        fault(member.get(PROFILES), 403)
        fault(member.get(profile_path), 403)
        data = {"name": "p", "provider_name": "amphora", "availability_zone_data": "{}"}
        assert fault(member.post(PROFILES, {PROFILE_KEY: data}), 403) == FORBIDDEN
        fault(member.put(profile_path, {PROFILE_KEY: {"name": "x"}}), 403)
        fault(member.delete(profile_path), 403)
        assert expect(api.get(PROFILES), 200)["availability_zone_profiles"] == [profile]
