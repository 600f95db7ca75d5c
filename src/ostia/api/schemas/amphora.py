"""Amphora responses of the admin API (``/v2/octavia/amphorae``), Octavia's fields."""

from __future__ import annotations

from pydantic import BaseModel

from ostia.api.schemas.common import Link


class AmphoraResponse(BaseModel):
    id: str
    loadbalancer_id: str | None
    compute_id: str | None
    lb_network_ip: str | None
    vrrp_ip: str | None
    ha_ip: str | None
    vrrp_port_id: str | None
    ha_port_id: str | None
    cert_expiration: str | None
    cert_busy: bool
    role: str | None
    status: str
    vrrp_interface: str | None
    vrrp_id: int | None
    vrrp_priority: int | None
    cached_zone: str | None
    created_at: str | None
    updated_at: str | None
    image_id: str | None
    compute_flavor: str | None


class AmphoraRootResponse(BaseModel):
    amphora: AmphoraResponse


class AmphoraeRootResponse(BaseModel):
    amphorae: list[AmphoraResponse]
    amphorae_links: list[Link]
