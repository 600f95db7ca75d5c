"""Health monitor bodies."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, Field, StringConstraints

from ostia import constants
from ostia.api.schemas.common import (
    Body,
    IdOnly,
    Link,
    Name,
    OwnedBody,
    Tags,
    Timestamps,
    Uuid,
)

MonitorType = Literal["HTTP", "HTTPS", "PING", "TCP", "TLS-HELLO", "UDP-CONNECT", "SCTP"]
HttpMethod = Literal["GET", "HEAD", "POST", "PUT", "DELETE", "TRACE", "OPTIONS", "CONNECT", "PATCH"]
Retries = Annotated[int, Field(ge=constants.MIN_HM_RETRIES, le=constants.MAX_HM_RETRIES)]
ExpectedCodes = Annotated[
    str, StringConstraints(pattern=r"^(\d{3}(\s*,\s*\d{3})*)$|^(\d{3}-\d{3})$")
]
DomainName = Annotated[
    str,
    StringConstraints(
        min_length=1,
        max_length=255,
        pattern=r"^(?=.{1,255}$)(?!-)[A-Za-z0-9-]{1,63}(?<!-)(\.(?!-)[A-Za-z0-9-]{1,63}(?<!-))*\.?$",
    ),
]
Seconds = Annotated[int, Field(ge=0, le=constants.MAX_TIMEOUT)]


def _http_version(value: float) -> float:
    if value not in constants.HTTP_VERSIONS:
        raise ValueError("Value should be one of: 1.0, 1.1")
    return value


HttpVersion = Annotated[float, AfterValidator(_http_version)]


class HealthMonitorSingleCreate(Body):
    name: Name | None = None
    type: MonitorType
    delay: Seconds
    timeout: Seconds
    max_retries: Retries
    max_retries_down: Retries | None = 3
    http_method: HttpMethod | None = None
    url_path: Annotated[str, StringConstraints(max_length=2048)] | None = None
    expected_codes: ExpectedCodes | None = None
    admin_state_up: bool | None = True
    tags: Tags | None = None
    http_version: HttpVersion | None = None
    domain_name: DomainName | None = None


class HealthMonitorPOST(HealthMonitorSingleCreate, OwnedBody):
    pool_id: Uuid


class HealthMonitorPUT(Body):
    name: Name | None = None
    delay: Seconds | None = None
    timeout: Seconds | None = None
    max_retries: Retries | None = None
    max_retries_down: Retries | None = None
    http_method: HttpMethod | None = None
    url_path: Annotated[str, StringConstraints(max_length=2048)] | None = None
    expected_codes: ExpectedCodes | None = None
    admin_state_up: bool | None = None
    tags: Tags | None = None
    http_version: HttpVersion | None = None
    domain_name: DomainName | None = None


class HealthMonitorRootPOST(Body):
    healthmonitor: HealthMonitorPOST


class HealthMonitorRootPUT(Body):
    healthmonitor: HealthMonitorPUT


class HealthMonitorResponse(Timestamps):
    id: str
    name: str
    type: str
    delay: int
    timeout: int
    max_retries: int
    max_retries_down: int
    http_method: str | None
    url_path: str | None
    expected_codes: str | None
    admin_state_up: bool
    project_id: str | None
    tenant_id: str | None
    pools: list[IdOnly]
    provisioning_status: str
    operating_status: str
    tags: list[str]
    http_version: float | None
    domain_name: str | None


class HealthMonitorRootResponse(BaseModel):
    healthmonitor: HealthMonitorResponse


class HealthMonitorsRootResponse(BaseModel):
    healthmonitors: list[HealthMonitorResponse]
    healthmonitors_links: list[Link]
