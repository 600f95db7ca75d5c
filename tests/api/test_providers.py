"""Providers through the API: the enabled drivers, and what their flavors and availability
zones can set (admin only), with filters and field selection."""

from __future__ import annotations

import pytest

from ostia.config import Settings
from tests.helpers import OTHER_PROJECT, PROJECT, Api, expect, fault

PROVIDERS = "/v2/lbaas/providers"

AMPHORA_FLAVOR_CAPABILITIES = [
    {
        "name": "loadbalancer_topology",
        "description": "The load balancer topology. One of: SINGLE - One amphora per load "
        "balancer. ACTIVE_STANDBY - Two amphora per load balancer.",
    },
    {"name": "compute_flavor", "description": "The compute driver flavor ID."},
    {"name": "amp_image_tag", "description": "The amphora image tag."},
    {
        "name": "sriov_vip",
        "description": "When true, the VIP port will be created using an SR-IOV VF port.",
    },
    {
        "name": "allow_member_sriov",
        "description": "When true, users can request a member port be SR-IOV enabled at "
        "member creation time.",
    },
]

AMPHORA_ZONE_CAPABILITIES = [
    {"name": "compute_zone", "description": "The compute availability zone."},
    {"name": "volume_zone", "description": "The volume availability zone."},
    {"name": "management_network", "description": "The management network ID for the amphora."},
    {
        "name": "valid_vip_networks",
        "description": "List of network IDs that are allowed for VIP use. This "
        "overrides/replaces the list of allowed networks configured in `octavia.conf`.",
    },
]


def flavor_capabilities(provider: str) -> str:
    return f"{PROVIDERS}/{provider}/flavor_capabilities"


def zone_capabilities(provider: str) -> str:
    return f"{PROVIDERS}/{provider}/availability_zone_capabilities"


class TestProviders:
    def test_enabled_providers_with_descriptions(self, api: Api) -> None:
        assert expect(api.get(PROVIDERS), 200) == {
            "providers": [
                {"name": "amphora", "description": "The Octavia Amphora driver."},
                {
                    "name": "octavia",
                    "description": "Deprecated alias of the Octavia Amphora driver.",
                },
            ]
        }

    def test_follows_the_configuration(
        self, settings: Settings, request: pytest.FixtureRequest
    ) -> None:
        settings.api.enabled_provider_drivers = {"amphora": "Amphorae for everyone."}
        api: Api = request.getfixturevalue("api")
        providers = expect(api.get(PROVIDERS), 200)["providers"]
        assert providers == [{"name": "amphora", "description": "Amphorae for everyone."}]

    def test_fields_and_aliases(self, api: Api) -> None:
        body = expect(api.get("/v2.0/lbaas/providers?fields=name"), 200)
        assert body == {"providers": [{"name": "amphora"}, {"name": "octavia"}]}
        assert expect(api.get("/v2/providers"), 200)["providers"][0]["name"] == "amphora"

    def test_any_reader_may_list(self, api: Api) -> None:
        reader = api.as_user(OTHER_PROJECT, "reader")
        assert len(expect(reader.get(PROVIDERS), 200)["providers"]) == 2
        no_role = api.as_user(OTHER_PROJECT, "")
        assert fault(no_role.get(PROVIDERS), 403) == (
            "Policy does not allow this request to be performed."
        )


class TestCapabilities:
    @pytest.mark.parametrize("provider", ["amphora", "octavia"])
    def test_amphora_driver_metadata(self, api: Api, provider: str) -> None:
        body = expect(api.get(flavor_capabilities(provider)), 200)
        assert body == {"flavor_capabilities": AMPHORA_FLAVOR_CAPABILITIES}
        body = expect(api.get(zone_capabilities(provider)), 200)
        assert body == {"availability_zone_capabilities": AMPHORA_ZONE_CAPABILITIES}

    def test_filters_and_fields(self, api: Api) -> None:
        by_name = expect(api.get(flavor_capabilities("amphora") + "?name=compute_flavor"), 200)
        assert by_name["flavor_capabilities"] == [AMPHORA_FLAVOR_CAPABILITIES[1]]
        description = AMPHORA_ZONE_CAPABILITIES[0]["description"]
        by_description = expect(
            api.get(zone_capabilities("amphora"), params={"description": description}), 200
        )
        assert by_description["availability_zone_capabilities"] == [AMPHORA_ZONE_CAPABILITIES[0]]
        both = api.get(
            flavor_capabilities("amphora"),
            params={"name": "compute_flavor", "description": description},
        )
        assert expect(both, 200) == {"flavor_capabilities": []}
        named = api.get(zone_capabilities("amphora") + "?name=volume_zone&fields=name")
        assert expect(named, 200) == {"availability_zone_capabilities": [{"name": "volume_zone"}]}

    def test_provider_not_enabled(self, api: Api) -> None:
        message = "Provider 'bogus' is not enabled."
        assert fault(api.get(flavor_capabilities("bogus")), 400) == message
        assert fault(api.get(zone_capabilities("bogus")), 400) == message

    def test_enabled_provider_without_a_driver(
        self, settings: Settings, request: pytest.FixtureRequest
    ) -> None:
        settings.api.enabled_provider_drivers = {"amphora": "x", "noop_driver": "y"}
        api: Api = request.getfixturevalue("api")
        message = "Provider 'noop_driver' was not found."
        assert fault(api.get(flavor_capabilities("noop_driver")), 501) == message
        assert fault(api.get(zone_capabilities("noop_driver")), 501) == message

    def test_admin_only(self, api: Api) -> None:
        member = api.as_user(PROJECT, "member")
        for path in (
            flavor_capabilities("amphora"),
            zone_capabilities("amphora"),
            flavor_capabilities("bogus"),
        ):
            fault(member.get(path), 403)
        legacy_admin = api.as_user(PROJECT, "load-balancer_admin")
        expect(legacy_admin.get(flavor_capabilities("amphora")), 200)
