"""Listener bodies."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, Field, StringConstraints

from ostia.api.schemas.common import (
    Body,
    Cidr,
    Ciphers,
    IdOnly,
    Link,
    Name,
    OwnedBody,
    Port,
    Ref,
    Tags,
    Timeout,
    Timestamps,
    TlsVersion,
    Uuid,
)
from ostia.api.schemas.l7policy import L7PolicyFullResponse, L7PolicySingleCreate
from ostia.api.schemas.pool import Alpn, PoolSingleCreate

ListenerProtocol = Literal["TCP", "HTTP", "HTTPS", "TERMINATED_HTTPS", "UDP", "SCTP", "PROMETHEUS"]
ClientAuth = Literal["NONE", "OPTIONAL", "MANDATORY"]
HeaderValue = Annotated[str, StringConstraints(max_length=255)]


class ListenerSettable(Body):
    """What both a create and an update may set."""

    name: Name | None = None
    description: Name | None = None
    admin_state_up: bool | None = None
    connection_limit: int | None = Field(default=None, ge=-1)
    default_tls_container_ref: Ref | None = None
    sni_container_refs: list[Ref] | None = None
    default_pool_id: Uuid | None = None
    insert_headers: dict[str, HeaderValue] | None = None
    timeout_client_data: Timeout | None = None
    timeout_member_connect: Timeout | None = None
    timeout_member_data: Timeout | None = None
    timeout_tcp_inspect: Timeout | None = None
    tags: Tags | None = None
    client_ca_tls_container_ref: Ref | None = None
    client_authentication: ClientAuth | None = None
    client_crl_container_ref: Ref | None = None
    allowed_cidrs: list[Cidr] | None = None
    tls_ciphers: Ciphers | None = None
    tls_versions: list[TlsVersion] | None = None
    alpn_protocols: list[Alpn] | None = None
    hsts_max_age: int | None = Field(default=None, ge=0)
    hsts_include_subdomains: bool | None = None
    hsts_preload: bool | None = None


class ListenerSingleCreate(ListenerSettable):
    protocol: ListenerProtocol
    protocol_port: Port
    admin_state_up: bool | None = True
    default_pool: PoolSingleCreate | None = None
    l7policies: list[L7PolicySingleCreate] | None = None


class ListenerPOST(ListenerSingleCreate, OwnedBody):
    loadbalancer_id: Uuid


class ListenerPUT(ListenerSettable):
    pass


class ListenerRootPOST(Body):
    listener: ListenerPOST


class ListenerRootPUT(Body):
    listener: ListenerPUT


class ListenerResponse(Timestamps):
    id: str
    name: str
    description: str
    provisioning_status: str
    operating_status: str
    admin_state_up: bool
    protocol: str
    protocol_port: int
    connection_limit: int
    default_tls_container_ref: str | None
    sni_container_refs: list[str]
    project_id: str | None
    tenant_id: str | None
    default_pool_id: str | None
    l7policies: list[IdOnly]
    insert_headers: dict[str, str]
    loadbalancers: list[IdOnly]
    timeout_client_data: int | None
    timeout_member_connect: int | None
    timeout_member_data: int | None
    timeout_tcp_inspect: int | None
    tags: list[str]
    client_ca_tls_container_ref: str | None
    client_authentication: str
    client_crl_container_ref: str | None
    allowed_cidrs: list[str] | None
    tls_ciphers: str | None
    tls_versions: list[str] | None
    alpn_protocols: list[str] | None
    hsts_max_age: int | None
    hsts_include_subdomains: bool
    hsts_preload: bool


class ListenerFullResponse(ListenerResponse):
    l7policies: list[L7PolicyFullResponse]  # type: ignore[assignment]


class ListenerRootResponse(BaseModel):
    listener: ListenerResponse


class ListenersRootResponse(BaseModel):
    listeners: list[ListenerResponse]
    listeners_links: list[Link]
