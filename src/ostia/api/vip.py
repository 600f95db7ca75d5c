"""Resolving a load balancer's VIP request into the VIP it will have.

In ``noop`` networking (as with Octavia's noop network driver) every subnet, network and
port id is accepted: all subnets belong to one network, and a VIP without an address gets
``198.51.100.1``. Nothing is ever configured anywhere in this mode.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field

from ostia.api.schemas.loadbalancer import LoadBalancerPOST
from ostia.config import NetworkingSettings
from ostia.errors import ValidationFailure, VIPValidation

NOOP_NETWORK_ID = str(uuid.uuid5(uuid.NAMESPACE_URL, "ostia:noop-network"))
NOOP_VIP_ADDRESS = "198.51.100.1"


@dataclass
class AdditionalVipPlan:
    subnet_id: str
    network_id: str
    ip_address: str
    port_id: str


@dataclass
class VipPlan:
    ip_address: str
    port_id: str
    subnet_id: str | None
    network_id: str
    qos_policy_id: str | None
    sg_ids: list[str]
    additional: list[AdditionalVipPlan] = field(default_factory=list)


def _check_allowed(spec: LoadBalancerPOST, net: NetworkingSettings) -> None:
    switches = (
        ("vip_port_id", net.allow_vip_port_id),
        ("vip_network_id", net.allow_vip_network_id),
        ("vip_subnet_id", net.allow_vip_subnet_id),
    )
    for name, allowed in switches:
        if getattr(spec, name) and not allowed:
            raise ValidationFailure(
                detail=f"use of {name} is disallowed by this deployment's configuration."
            )
    if not (spec.vip_port_id or spec.vip_network_id or spec.vip_subnet_id):
        raise VIPValidation(objects=", ".join(name for name, allowed in switches if allowed))


def _check_additional(spec: LoadBalancerPOST) -> None:
    seen = {spec.vip_subnet_id}
    for extra in spec.additional_vips or []:
        if extra.subnet_id in seen:
            raise ValidationFailure(
                detail="Duplicate VIP subnet(s) specified. Only one IP can be bound per subnet."
            )
        seen.add(extra.subnet_id)


def check_network_allowed(
    network_id: str, net: NetworkingSettings, valid_networks: list[str] | None = None
) -> None:
    """The deployment's (or the availability zone's) list of VIP networks, and its denylist."""
    allowed = [n.lower() for n in (valid_networks or net.valid_vip_networks)]
    denied = [n.lower() for n in net.denylist_vip_networks]
    if (allowed and network_id.lower() not in allowed) or network_id.lower() in denied:
        raise ValidationFailure(
            detail="Supplied VIP network_id is not allowed by the configuration of this deployment."
        )


def resolve_vip(spec: LoadBalancerPOST, net: NetworkingSettings) -> VipPlan:
    _check_allowed(spec, net)
    _check_additional(spec)
    network_id = spec.vip_network_id or NOOP_NETWORK_ID
    return VipPlan(
        ip_address=spec.vip_address or NOOP_VIP_ADDRESS,
        port_id=spec.vip_port_id or str(uuid.uuid4()),
        subnet_id=spec.vip_subnet_id,
        network_id=network_id,
        qos_policy_id=spec.vip_qos_policy_id,
        sg_ids=list(spec.vip_sg_ids or []),
        additional=[
            AdditionalVipPlan(
                subnet_id=extra.subnet_id,
                network_id=network_id,
                ip_address=extra.ip_address or NOOP_VIP_ADDRESS,
                port_id=extra.port_id or str(uuid.uuid4()),
            )
            for extra in spec.additional_vips or []
        ],
    )
