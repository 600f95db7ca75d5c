"""Field types shared by the request bodies, with Octavia's (WSME's) rules."""

from __future__ import annotations

import ipaddress
import uuid
from datetime import datetime
from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints

from ostia import constants


def _uuid(value: str) -> str:
    try:
        uuid.UUID(value)
    except ValueError as exc:
        raise ValueError("Value should be UUID format") from exc
    return value


def _ip_address(value: str) -> str:
    try:
        return str(ipaddress.ip_address(value))
    except ValueError as exc:
        raise ValueError("Value should be IPv4 or IPv6 format") from exc


def _cidr(value: str) -> str:
    try:
        return str(ipaddress.ip_network(value, strict=False))
    except ValueError as exc:
        raise ValueError("Value should be IPv4 or IPv6 CIDR format") from exc


Uuid = Annotated[str, AfterValidator(_uuid)]
IPAddress = Annotated[str, AfterValidator(_ip_address)]
Cidr = Annotated[str, AfterValidator(_cidr)]
Name = Annotated[str, StringConstraints(max_length=255)]
Ref = Annotated[str, StringConstraints(max_length=255)]
ProjectId = Annotated[str, StringConstraints(max_length=36)]
Port = Annotated[int, Field(ge=constants.MIN_PORT, le=constants.MAX_PORT)]
Timeout = Annotated[int, Field(ge=0, le=constants.MAX_TIMEOUT)]
Tags = list[Annotated[str, StringConstraints(max_length=255)]]
TlsVersion = Annotated[str, StringConstraints(max_length=32)]
Ciphers = Annotated[str, StringConstraints(max_length=2048)]


class Body(BaseModel):
    """A request body: unknown attributes are an error, as with WSME."""

    model_config = ConfigDict(extra="forbid", regex_engine="python-re")

    def given(self, name: str) -> bool:
        """Whether the client sent ``name`` (possibly as null)."""
        return name in self.model_fields_set


class OwnedBody(Body):
    """A body that may name its project; ``tenant_id`` is Octavia's deprecated alias."""

    project_id: ProjectId | None = None
    tenant_id: ProjectId | None = None

    @property
    def owner(self) -> str | None:
        return self.project_id or self.tenant_id


class IdOnly(BaseModel):
    id: str


class Link(BaseModel):
    href: str
    rel: str


class Timestamps(BaseModel):
    created_at: datetime | None
    updated_at: datetime | None


class Statistics(BaseModel):
    bytes_in: int
    bytes_out: int
    active_connections: int
    total_connections: int
    request_errors: int


class StatisticsRoot(BaseModel):
    stats: Statistics
