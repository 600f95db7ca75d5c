"""Quota bodies. Octavia still accepts and emits the misspelled ``load_balancer`` and
``health_monitor`` beside ``loadbalancer`` and ``healthmonitor``."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, Field

from ostia import constants
from ostia.api.schemas.common import Body, Link

Limit = Annotated[int, Field(ge=constants.MIN_QUOTA, le=constants.MAX_QUOTA)]

# The quota table's columns carry the deprecated spellings.
COLUMN_OF = {"loadbalancer": "load_balancer", "healthmonitor": "health_monitor"}


class QuotaPUT(Body):
    loadbalancer: Limit | None = None
    load_balancer: Limit | None = None
    listener: Limit | None = None
    member: Limit | None = None
    pool: Limit | None = None
    healthmonitor: Limit | None = None
    health_monitor: Limit | None = None
    l7policy: Limit | None = None
    l7rule: Limit | None = None

    def limits(self) -> dict[str, int | None]:
        """Quota column -> new limit (None: back to the default) for every limit sent.

        When both spellings are sent, the current one wins, as in Octavia."""
        changes: dict[str, int | None] = {}
        for name in sorted(self.model_fields_set, key=lambda n: n in COLUMN_OF):
            changes[COLUMN_OF.get(name, name)] = getattr(self, name)
        return changes


class QuotaRootPUT(Body):
    quota: QuotaPUT


class QuotaResponse(BaseModel):
    project_id: str | None
    tenant_id: str | None
    loadbalancer: int | None
    load_balancer: int | None
    listener: int | None
    member: int | None
    pool: int | None
    healthmonitor: int | None
    health_monitor: int | None
    l7policy: int | None
    l7rule: int | None


class QuotaRootResponse(BaseModel):
    quota: QuotaResponse


class QuotasRootResponse(BaseModel):
    quotas: list[QuotaResponse]
    quotas_links: list[Link]
