"""Pool bodies, with session persistence, and the pool of a single-call create."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, StringConstraints

from ostia.api.schemas.common import (
    Body,
    Ciphers,
    IdOnly,
    IPAddress,
    Link,
    Name,
    OwnedBody,
    Ref,
    Tags,
    Timestamps,
    TlsVersion,
    Uuid,
)
from ostia.api.schemas.healthmonitor import HealthMonitorResponse, HealthMonitorSingleCreate
from ostia.api.schemas.member import MemberResponse, MemberSingleCreate

PoolProtocol = Literal["TCP", "HTTP", "HTTPS", "PROXY", "PROXYV2", "UDP", "SCTP"]
Algorithm = Literal["ROUND_ROBIN", "LEAST_CONNECTIONS", "SOURCE_IP", "SOURCE_IP_PORT"]
PersistenceType = Literal["SOURCE_IP", "HTTP_COOKIE", "APP_COOKIE"]
CookieName = Annotated[str, StringConstraints(max_length=255, pattern=r"^[^\s,;\\]+$")]
Alpn = Literal["h2", "http/1.1", "http/1.0"]


class SessionPersistencePOST(Body):
    type: PersistenceType
    cookie_name: CookieName | None = None
    persistence_timeout: int | None = None
    persistence_granularity: IPAddress | None = None


class SessionPersistencePUT(Body):
    type: PersistenceType | None = None
    cookie_name: CookieName | None = None
    persistence_timeout: int | None = None
    persistence_granularity: IPAddress | None = None


class PoolSingleCreate(Body):
    name: Name | None = None
    description: Name | None = None
    admin_state_up: bool | None = True
    protocol: PoolProtocol | None = None
    lb_algorithm: Algorithm | None = None
    session_persistence: SessionPersistencePOST | None = None
    healthmonitor: HealthMonitorSingleCreate | None = None
    members: list[MemberSingleCreate] | None = None
    tags: Tags | None = None
    tls_container_ref: Ref | None = None
    ca_tls_container_ref: Ref | None = None
    crl_container_ref: Ref | None = None
    tls_enabled: bool | None = False
    tls_ciphers: Ciphers | None = None
    tls_versions: list[TlsVersion] | None = None
    alpn_protocols: list[Alpn] | None = None


class PoolPOST(PoolSingleCreate, OwnedBody):
    protocol: PoolProtocol
    lb_algorithm: Algorithm
    listener_id: Uuid | None = None
    loadbalancer_id: Uuid | None = None


class PoolPUT(Body):
    name: Name | None = None
    description: Name | None = None
    admin_state_up: bool | None = None
    lb_algorithm: Algorithm | None = None
    session_persistence: SessionPersistencePUT | None = None
    tags: Tags | None = None
    tls_container_ref: Ref | None = None
    ca_tls_container_ref: Ref | None = None
    crl_container_ref: Ref | None = None
    tls_enabled: bool | None = None
    tls_ciphers: Ciphers | None = None
    tls_versions: list[TlsVersion] | None = None
    alpn_protocols: list[Alpn] | None = None


class PoolRootPOST(Body):
    pool: PoolPOST


class PoolRootPUT(Body):
    pool: PoolPUT


class SessionPersistenceResponse(BaseModel):
    type: str
    cookie_name: str | None
    persistence_timeout: int | None
    persistence_granularity: str | None


class PoolResponse(Timestamps):
    id: str
    name: str
    description: str
    provisioning_status: str
    operating_status: str
    admin_state_up: bool
    protocol: str
    lb_algorithm: str
    session_persistence: SessionPersistenceResponse | None
    project_id: str | None
    tenant_id: str | None
    loadbalancers: list[IdOnly]
    listeners: list[IdOnly]
    healthmonitor_id: str | None
    members: list[IdOnly]
    tags: list[str]
    tls_container_ref: str | None
    ca_tls_container_ref: str | None
    crl_container_ref: str | None
    tls_enabled: bool
    tls_ciphers: str | None
    tls_versions: list[str] | None
    alpn_protocols: list[str] | None


class PoolFullResponse(PoolResponse):
    members: list[MemberResponse]  # type: ignore[assignment]
    healthmonitor: HealthMonitorResponse | None


class PoolRootResponse(BaseModel):
    pool: PoolResponse


class PoolsRootResponse(BaseModel):
    pools: list[PoolResponse]
    pools_links: list[Link]
