"""``/v2/lbaas/availabilityzones`` (known by name) and ``/v2/lbaas/availabilityzoneprofiles``;
the rules are the flavors' (``flavors.Catalog``)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response

from ostia.api.context import RequestContext
from ostia.api.deps import ContextDep, Services, ServicesDep
from ostia.api.listing import Listable
from ostia.api.responses import ApiResponse
from ostia.api.routers.flavors import (
    Catalog,
    create_entry,
    create_profile,
    delete_entry,
    delete_profile,
    list_entries,
    list_profiles,
    show_entry,
    show_profile,
    update_entry,
    update_profile,
)
from ostia.api.routers.providers import AVAILABILITY_ZONE
from ostia.api.schemas.availability_zone import (
    AvailabilityZoneProfileRootPOST,
    AvailabilityZoneProfileRootPUT,
    AvailabilityZoneProfileRootResponse,
    AvailabilityZoneProfilesRootResponse,
    AvailabilityZoneRootPOST,
    AvailabilityZoneRootPUT,
    AvailabilityZoneRootResponse,
    AvailabilityZonesRootResponse,
)
from ostia.db.models import AvailabilityZone, AvailabilityZoneProfile, LoadBalancer

router = APIRouter(tags=["availability zones"])


def render_availability_zone(zone: AvailabilityZone) -> dict[str, Any]:
    return {
        "name": zone.name,
        "description": zone.description or "",
        "enabled": zone.enabled,
        "availability_zone_profile_id": zone.availability_zone_profile_id,
    }


ZONES = Catalog(
    rbac="availability-zone",
    label="availability zone",
    model=AvailabilityZone,
    key="name",
    resource="Availability Zone",
    listable=Listable(
        model=AvailabilityZone,
        key="name",
        columns={
            "name": AvailabilityZone.name,
            "description": AvailabilityZone.description,
            "enabled": AvailabilityZone.enabled,
            "availability_zone_profile_id": AvailabilityZone.availability_zone_profile_id,
        },
        tagged=False,
    ),
    render=render_availability_zone,
    used_by=LoadBalancer.availability_zone,
    profile_model=AvailabilityZoneProfile,
    profile_ref="availability_zone_profile_id",
    profile_resource="Availability Zone Profile",
    profile_resource_alt="Availability Zone Profile",
    profile_listable=Listable(
        model=AvailabilityZoneProfile,
        columns={
            "id": AvailabilityZoneProfile.id,
            "name": AvailabilityZoneProfile.name,
            "provider_name": AvailabilityZoneProfile.provider_name,
            "availability_zone_data": AvailabilityZoneProfile.availability_zone_data,
        },
        tagged=False,
    ),
    data="availability_zone_data",
    data_kind=AVAILABILITY_ZONE,
    put_data_option="flavor_data",
)


@router.get("/availabilityzones", response_model=AvailabilityZonesRootResponse)
def list_availability_zones(
    request: Request, svc: Services = ServicesDep, ctx: RequestContext = ContextDep
) -> ApiResponse:
    items, links = list_entries(ZONES, request, svc, ctx)
    return ApiResponse({"availability_zones": items, "availability_zones_links": links})


@router.get("/availabilityzones/{name}", response_model=AvailabilityZoneRootResponse)
def show_availability_zone(
    name: str, request: Request, svc: Services = ServicesDep, ctx: RequestContext = ContextDep
) -> ApiResponse:
    return ApiResponse({"availability_zone": show_entry(ZONES, name, request, svc, ctx)})


@router.post("/availabilityzones", status_code=201, response_model=AvailabilityZoneRootResponse)
def create_availability_zone(
    body: AvailabilityZoneRootPOST, svc: Services = ServicesDep, ctx: RequestContext = ContextDep
) -> ApiResponse:
    item = create_entry(ZONES, body.availability_zone.model_dump(), svc, ctx)
    return ApiResponse(status_code=201, content={"availability_zone": item})


@router.put("/availabilityzones/{name}", response_model=AvailabilityZoneRootResponse)
def update_availability_zone(
    name: str,
    body: AvailabilityZoneRootPUT,
    svc: Services = ServicesDep,
    ctx: RequestContext = ContextDep,
) -> ApiResponse:
    spec = body.availability_zone
    changes = spec.model_dump(include=spec.model_fields_set)
    return ApiResponse({"availability_zone": update_entry(ZONES, name, changes, svc, ctx)})


@router.delete("/availabilityzones/{name}", status_code=204, response_class=Response)
def delete_availability_zone(
    name: str, svc: Services = ServicesDep, ctx: RequestContext = ContextDep
) -> Response:
    delete_entry(ZONES, name, svc, ctx)
    return Response(status_code=204)


@router.get("/availabilityzoneprofiles", response_model=AvailabilityZoneProfilesRootResponse)
def list_availability_zone_profiles(
    request: Request, svc: Services = ServicesDep, ctx: RequestContext = ContextDep
) -> ApiResponse:
    items, links = list_profiles(ZONES, request, svc, ctx)
    return ApiResponse(
        {"availability_zone_profiles": items, "availability_zone_profile_links": links}
    )


@router.get(
    "/availabilityzoneprofiles/{profile_id}", response_model=AvailabilityZoneProfileRootResponse
)
def show_availability_zone_profile(
    profile_id: str, request: Request, svc: Services = ServicesDep, ctx: RequestContext = ContextDep
) -> ApiResponse:
    item = show_profile(ZONES, profile_id, request, svc, ctx)
    return ApiResponse({"availability_zone_profile": item})


@router.post(
    "/availabilityzoneprofiles", status_code=201, response_model=AvailabilityZoneProfileRootResponse
)
def create_availability_zone_profile(
    body: AvailabilityZoneProfileRootPOST,
    svc: Services = ServicesDep,
    ctx: RequestContext = ContextDep,
) -> ApiResponse:
    item = create_profile(ZONES, body.availability_zone_profile.model_dump(), svc, ctx)
    return ApiResponse(status_code=201, content={"availability_zone_profile": item})


@router.put(
    "/availabilityzoneprofiles/{profile_id}", response_model=AvailabilityZoneProfileRootResponse
)
def update_availability_zone_profile(
    profile_id: str,
    body: AvailabilityZoneProfileRootPUT,
    svc: Services = ServicesDep,
    ctx: RequestContext = ContextDep,
) -> ApiResponse:
    item = update_profile(ZONES, profile_id, body.availability_zone_profile, svc, ctx)
    return ApiResponse({"availability_zone_profile": item})


@router.delete("/availabilityzoneprofiles/{profile_id}", status_code=204, response_class=Response)
def delete_availability_zone_profile(
    profile_id: str, svc: Services = ServicesDep, ctx: RequestContext = ContextDep
) -> Response:
    delete_profile(ZONES, profile_id, svc, ctx)
    return Response(status_code=204)
