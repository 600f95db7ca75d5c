"""Availability zone and availability zone profile bodies. Zones are known by name."""

from __future__ import annotations

from pydantic import BaseModel

from ostia.api.schemas.common import Body, Link, Name, Uuid
from ostia.api.schemas.flavor import ProfileData


class AvailabilityZonePOST(Body):
    name: Name
    description: Name | None = None
    enabled: bool = True
    availability_zone_profile_id: Uuid


class AvailabilityZonePUT(Body):
    description: Name | None = None
    enabled: bool | None = None


class AvailabilityZoneRootPOST(Body):
    availability_zone: AvailabilityZonePOST


class AvailabilityZoneRootPUT(Body):
    availability_zone: AvailabilityZonePUT


class AvailabilityZoneResponse(BaseModel):
    name: str
    description: str
    enabled: bool
    availability_zone_profile_id: str


class AvailabilityZoneRootResponse(BaseModel):
    availability_zone: AvailabilityZoneResponse


class AvailabilityZonesRootResponse(BaseModel):
    availability_zones: list[AvailabilityZoneResponse]
    availability_zones_links: list[Link]


class AvailabilityZoneProfilePOST(Body):
    name: Name
    provider_name: Name
    availability_zone_data: ProfileData


class AvailabilityZoneProfilePUT(Body):
    name: Name | None = None
    provider_name: Name | None = None
    availability_zone_data: ProfileData | None = None


class AvailabilityZoneProfileRootPOST(Body):
    availability_zone_profile: AvailabilityZoneProfilePOST


class AvailabilityZoneProfileRootPUT(Body):
    availability_zone_profile: AvailabilityZoneProfilePUT


class AvailabilityZoneProfileResponse(BaseModel):
    id: str
    name: str
    provider_name: str
    availability_zone_data: str


class AvailabilityZoneProfileRootResponse(BaseModel):
    availability_zone_profile: AvailabilityZoneProfileResponse


class AvailabilityZoneProfilesRootResponse(BaseModel):
    availability_zone_profiles: list[AvailabilityZoneProfileResponse]
    # Singular, as Octavia names it.
    availability_zone_profile_links: list[Link]
