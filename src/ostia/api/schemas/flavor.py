"""Flavor and flavor profile bodies (admin-defined load balancer types)."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, StringConstraints

from ostia.api.schemas.common import Body, Link, Name, Uuid

# Provider metadata, as a JSON document in a string.
ProfileData = Annotated[str, StringConstraints(max_length=4096)]


class FlavorPOST(Body):
    name: Name
    description: Name | None = None
    enabled: bool = True
    flavor_profile_id: Uuid


class FlavorPUT(Body):
    name: Name | None = None
    description: Name | None = None
    enabled: bool | None = None


class FlavorRootPOST(Body):
    flavor: FlavorPOST


class FlavorRootPUT(Body):
    flavor: FlavorPUT


class FlavorResponse(BaseModel):
    id: str
    name: str
    description: str
    enabled: bool
    flavor_profile_id: str


class FlavorRootResponse(BaseModel):
    flavor: FlavorResponse


class FlavorsRootResponse(BaseModel):
    flavors: list[FlavorResponse]
    flavors_links: list[Link]


class FlavorProfilePOST(Body):
    name: Name
    provider_name: Name
    flavor_data: ProfileData


class FlavorProfilePUT(Body):
    name: Name | None = None
    provider_name: Name | None = None
    flavor_data: ProfileData | None = None


class FlavorProfileRootPOST(Body):
    flavorprofile: FlavorProfilePOST


class FlavorProfileRootPUT(Body):
    flavorprofile: FlavorProfilePUT


class FlavorProfileResponse(BaseModel):
    id: str
    name: str
    provider_name: str
    flavor_data: str


class FlavorProfileRootResponse(BaseModel):
    flavorprofile: FlavorProfileResponse


class FlavorProfilesRootResponse(BaseModel):
    flavorprofiles: list[FlavorProfileResponse]
    # Singular, as Octavia names it.
    flavorprofile_links: list[Link]
