"""Member bodies (under ``/pools/{id}/members``), including the batch update."""

from __future__ import annotations

from pydantic import BaseModel, Field

from ostia import constants
from ostia.api.schemas.common import (
    Body,
    IPAddress,
    Link,
    Name,
    OwnedBody,
    Port,
    Tags,
    Timestamps,
    Uuid,
)

Weight = int


class MemberSingleCreate(Body):
    name: Name | None = None
    admin_state_up: bool | None = True
    address: IPAddress
    protocol_port: Port
    weight: int | None = Field(default=1, ge=constants.MIN_WEIGHT, le=constants.MAX_WEIGHT)
    backup: bool | None = False
    subnet_id: Uuid | None = None
    monitor_port: Port | None = None
    monitor_address: IPAddress | None = None
    tags: Tags | None = None
    request_sriov: bool | None = False


class MemberPOST(MemberSingleCreate, OwnedBody):
    pass


class MemberPUT(Body):
    name: Name | None = None
    admin_state_up: bool | None = None
    weight: int | None = Field(default=None, ge=constants.MIN_WEIGHT, le=constants.MAX_WEIGHT)
    backup: bool | None = None
    monitor_port: Port | None = None
    monitor_address: IPAddress | None = None
    tags: Tags | None = None


class MemberRootPOST(Body):
    member: MemberPOST


class MemberRootPUT(Body):
    member: MemberPUT


class MembersRootPUT(Body):
    members: list[MemberPOST]


class MemberResponse(Timestamps):
    id: str
    name: str
    operating_status: str
    provisioning_status: str
    admin_state_up: bool
    address: str
    protocol_port: int
    weight: int
    backup: bool
    subnet_id: str | None
    project_id: str | None
    tenant_id: str | None
    monitor_address: str | None
    monitor_port: int | None
    tags: list[str]
    vnic_type: str


class MemberRootResponse(BaseModel):
    member: MemberResponse


class MembersRootResponse(BaseModel):
    members: list[MemberResponse]
    members_links: list[Link]
