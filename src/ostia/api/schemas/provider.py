"""Provider responses: the enabled providers and what their flavors and availability zones
can set."""

from __future__ import annotations

from pydantic import BaseModel


class ProviderResponse(BaseModel):
    """A provider, or one capability of a provider: a name and what it means."""

    name: str
    description: str


class ProvidersRootResponse(BaseModel):
    providers: list[ProviderResponse]


class FlavorCapabilitiesResponse(BaseModel):
    flavor_capabilities: list[ProviderResponse]


class AvailabilityZoneCapabilitiesResponse(BaseModel):
    availability_zone_capabilities: list[ProviderResponse]
