"""``/v2/lbaas/providers``: the enabled provider drivers and the flavor and availability zone
settings each accepts, plus the check of flavor and availability zone profile data against
them (Octavia's amphora driver schema, whose first problem is reported in jsonschema's words).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from fastapi import APIRouter, Request

from ostia import constants
from ostia.api import policy
from ostia.api.context import RequestContext
from ostia.api.deps import ContextDep, Services, ServicesDep
from ostia.api.listing import select_fields
from ostia.api.responses import ApiResponse
from ostia.api.schemas.provider import (
    AvailabilityZoneCapabilitiesResponse,
    FlavorCapabilitiesResponse,
    ProvidersRootResponse,
)
from ostia.config import ApiSettings
from ostia.errors import ProviderNotEnabled, ProviderNotFound, ProviderUnsupportedOption

router = APIRouter(tags=["providers"])

JSON_TYPES: dict[str, type] = {"string": str, "boolean": bool, "array": list}


@dataclass(frozen=True)
class Option:
    """One setting a provider accepts in profile data."""

    json_type: str
    description: str
    choices: tuple[str, ...] = ()

    def problem(self, value: Any) -> str | None:
        if not isinstance(value, JSON_TYPES[self.json_type]):
            return f"{value!r} is not of type '{self.json_type}'"
        if self.choices and value not in self.choices:
            return f"{value!r} is not one of {list(self.choices)!r}"
        return None


# The two kinds of profile data a driver checks.
FLAVOR = "flavor"
AVAILABILITY_ZONE = "availability_zone"

# Kind of profile data -> setting name -> what the amphora driver accepts there.
AMPHORA: dict[str, dict[str, Option]] = {
    FLAVOR: {
        "loadbalancer_topology": Option(
            "string",
            "The load balancer topology. One of: SINGLE - One amphora per load balancer. "
            "ACTIVE_STANDBY - Two amphora per load balancer.",
            (constants.ACTIVE_STANDBY, constants.SINGLE),
        ),
        "compute_flavor": Option("string", "The compute driver flavor ID."),
        "amp_image_tag": Option("string", "The amphora image tag."),
        "sriov_vip": Option(
            "boolean", "When true, the VIP port will be created using an SR-IOV VF port."
        ),
        "allow_member_sriov": Option(
            "boolean",
            "When true, users can request a member port be SR-IOV enabled at member creation time.",
        ),
    },
    AVAILABILITY_ZONE: {
        "compute_zone": Option("string", "The compute availability zone."),
        "volume_zone": Option("string", "The volume availability zone."),
        "management_network": Option("string", "The management network ID for the amphora."),
        "valid_vip_networks": Option(
            "array",
            "List of network IDs that are allowed for VIP use. This overrides/replaces the "
            "list of allowed networks configured in `octavia.conf`.",
        ),
    },
}

# Ostia has one driver; Octavia ships its amphora driver under both names.
DRIVERS = {"amphora": AMPHORA, "octavia": AMPHORA}


def get_driver(settings: ApiSettings, provider: str) -> Mapping[str, Mapping[str, Option]]:
    if provider not in settings.enabled_provider_drivers:
        raise ProviderNotEnabled(prov=provider)
    driver = DRIVERS.get(provider)
    if driver is None:
        raise ProviderNotFound(prov=provider)
    return driver


def _problem(options: Mapping[str, Option], data: Any) -> str | None:
    """The problem jsonschema's ``best_match`` reports: one with the document itself first,
    else one with a value (of the greatest setting name, as jsonschema orders siblings)."""
    if not isinstance(data, dict):
        return f"{data!r} is not of type 'object'"
    unknown = sorted(name for name in data if name not in options)
    if unknown:
        verb = "was" if len(unknown) == 1 else "were"
        names = ", ".join(repr(name) for name in unknown)
        return f"Additional properties are not allowed ({names} {verb} unexpected)"
    for name in sorted(data, reverse=True):
        if (problem := options[name].problem(data[name])) is not None:
            return f"{name} {problem}"
    return None


def check_profile_data(settings: ApiSettings, provider: str, kind: str, data: Any) -> None:
    """Refuse ``data`` (parsed profile JSON of ``kind``) unless ``provider`` is enabled and
    accepts it."""
    problem = _problem(get_driver(settings, provider)[kind], data)
    if problem is not None:
        raise ProviderUnsupportedOption(prov=provider, user_msg=problem)


@router.get("/providers", response_model=ProvidersRootResponse)
def list_providers(
    request: Request, svc: Services = ServicesDep, ctx: RequestContext = ContextDep
) -> ApiResponse:
    policy.enforce(ctx, "provider:get_all", ctx.project_id)
    providers = svc.settings.api.enabled_provider_drivers
    items = [{"name": name, "description": text} for name, text in providers.items()]
    return ApiResponse({"providers": [select_fields(request, item) for item in items]})


def _capabilities(
    request: Request, svc: Services, ctx: RequestContext, provider: str, kind: str
) -> list[dict[str, Any]]:
    policy.enforce(ctx, f"provider-{kind.replace('_', '-')}:get_all", ctx.project_id)
    options = get_driver(svc.settings.api, provider)[kind]
    items = [{"name": name, "description": o.description} for name, o in options.items()]
    for attribute in ("name", "description"):
        if wanted := request.query_params.get(attribute):
            items = [item for item in items if item[attribute] == wanted]
    return [select_fields(request, item) for item in items]


@router.get("/providers/{provider}/flavor_capabilities", response_model=FlavorCapabilitiesResponse)
def flavor_capabilities(
    provider: str, request: Request, svc: Services = ServicesDep, ctx: RequestContext = ContextDep
) -> ApiResponse:
    items = _capabilities(request, svc, ctx, provider, FLAVOR)
    return ApiResponse({"flavor_capabilities": items})


@router.get(
    "/providers/{provider}/availability_zone_capabilities",
    response_model=AvailabilityZoneCapabilitiesResponse,
)
def availability_zone_capabilities(
    provider: str, request: Request, svc: Services = ServicesDep, ctx: RequestContext = ContextDep
) -> ApiResponse:
    items = _capabilities(request, svc, ctx, provider, AVAILABILITY_ZONE)
    return ApiResponse({"availability_zone_capabilities": items})
