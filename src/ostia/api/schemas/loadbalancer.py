"""Load balancer bodies, the single-call ("fully populated") create, status and stats."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, StringConstraints

from ostia.api.schemas.common import (
    Body,
    IdOnly,
    IPAddress,
    Link,
    Name,
    OwnedBody,
    Tags,
    Timestamps,
    Uuid,
)
from ostia.api.schemas.listener import ListenerFullResponse, ListenerSingleCreate
from ostia.api.schemas.pool import PoolFullResponse, PoolSingleCreate


class AdditionalVip(Body):
    subnet_id: Uuid
    ip_address: IPAddress | None = None
    port_id: Uuid | None = None


class LoadBalancerPOST(OwnedBody):
    name: Name | None = None
    description: Name | None = None
    admin_state_up: bool | None = True
    vip_address: IPAddress | None = None
    vip_port_id: Uuid | None = None
    vip_subnet_id: Uuid | None = None
    vip_network_id: Uuid | None = None
    vip_qos_policy_id: Uuid | None = None
    vip_sg_ids: list[Uuid] | None = None
    additional_vips: list[AdditionalVip] | None = None
    listeners: list[ListenerSingleCreate] | None = None
    pools: list[PoolSingleCreate] | None = None
    provider: Annotated[str, StringConstraints(max_length=64)] | None = None
    tags: Tags | None = None
    flavor_id: Uuid | None = None
    availability_zone: Name | None = None


class LoadBalancerPUT(Body):
    name: Name | None = None
    description: Name | None = None
    vip_qos_policy_id: Uuid | None = None
    admin_state_up: bool | None = None
    vip_sg_ids: list[Uuid] | None = None
    tags: Tags | None = None


class LoadBalancerRootPOST(Body):
    loadbalancer: LoadBalancerPOST


class LoadBalancerRootPUT(Body):
    loadbalancer: LoadBalancerPUT


class AdditionalVipResponse(BaseModel):
    subnet_id: str
    ip_address: str | None
    port_id: str | None


class LoadBalancerResponse(Timestamps):
    id: str
    name: str
    description: str
    provisioning_status: str
    operating_status: str
    admin_state_up: bool
    project_id: str | None
    tenant_id: str | None
    vip_address: str | None
    vip_port_id: str | None
    vip_subnet_id: str | None
    vip_network_id: str | None
    vip_qos_policy_id: str | None
    vip_sg_ids: list[str]
    vip_vnic_type: str
    additional_vips: list[AdditionalVipResponse]
    listeners: list[IdOnly]
    pools: list[IdOnly]
    provider: str
    flavor_id: str | None
    availability_zone: str | None
    tags: list[str]
    # Not in Octavia: why the last change of this load balancer failed (or is being retried).
    fault: str | None


class LoadBalancerFullResponse(LoadBalancerResponse):
    listeners: list[ListenerFullResponse]  # type: ignore[assignment]
    pools: list[PoolFullResponse]  # type: ignore[assignment]


class LoadBalancerRootResponse(BaseModel):
    loadbalancer: LoadBalancerResponse


class LoadBalancerFullRootResponse(BaseModel):
    loadbalancer: LoadBalancerFullResponse


class LoadBalancersRootResponse(BaseModel):
    loadbalancers: list[LoadBalancerResponse]
    loadbalancers_links: list[Link]


class MemberStatus(BaseModel):
    id: str
    name: str
    operating_status: str
    provisioning_status: str
    address: str
    protocol_port: int


class HealthMonitorStatus(BaseModel):
    id: str
    name: str
    type: str
    provisioning_status: str
    operating_status: str


class PoolStatus(BaseModel):
    id: str
    name: str
    provisioning_status: str
    operating_status: str
    health_monitor: HealthMonitorStatus | None = None
    members: list[MemberStatus]


class ListenerStatus(BaseModel):
    id: str
    name: str
    operating_status: str
    provisioning_status: str
    pools: list[PoolStatus]


class LoadBalancerStatus(BaseModel):
    id: str
    name: str
    operating_status: str
    provisioning_status: str
    listeners: list[ListenerStatus]


class StatusTree(BaseModel):
    loadbalancer: LoadBalancerStatus


class StatusRoot(BaseModel):
    statuses: StatusTree
