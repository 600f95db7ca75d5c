"""Resolving a load balancer's VIP request into the VIP it will have, and allocating it.

In ``noop`` networking (as with Octavia's noop network driver) every subnet, network and
port id is accepted: all subnets belong to one network, and a VIP without an address gets
``198.51.100.1``. Nothing is ever configured anywhere in this mode.

In ``managed`` networking the request is checked against Ostia's own networks the way
Octavia checks it against Neutron (with the caller's view of them), and the VIP port is
created in the load balancer's transaction, as Octavia's network driver creates it: named
``octavia-lb-<id>``, owned by ``Octavia``, its fixed IPs the VIP and the additional VIPs.
"""

from __future__ import annotations

import ipaddress
import uuid
from dataclasses import dataclass, field

from sqlalchemy.orm import Session

from ostia.api.context import RequestContext
from ostia.api.schemas.loadbalancer import LoadBalancerPOST
from ostia.config import NetworkingSettings, Settings
from ostia.errors import InvalidSubresource, ValidationFailure, VIPAddressConflict, VIPValidation
from ostia.network import access, ipam, ports
from ostia.network.errors import NeutronError
from ostia.network.models import Network, Port, Subnet

NOOP_NETWORK_ID = str(uuid.uuid5(uuid.NAMESPACE_URL, "ostia:noop-network"))
NOOP_VIP_ADDRESS = "198.51.100.1"


@dataclass
class AdditionalVipPlan:
    subnet_id: str
    network_id: str
    ip_address: str | None
    port_id: str | None


@dataclass
class VipPlan:
    """The VIP: complete in noop mode and for a given port; otherwise its address and port
    are filled in by ``allocate_vip``."""

    ip_address: str | None
    port_id: str | None
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


def _noop_plan(spec: LoadBalancerPOST) -> VipPlan:
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


# -- managed networking: Octavia's _validate_vip_request_object ---------------------


@dataclass
class _Vip:
    """The primary VIP the request resolves to."""

    subnet_id: str
    network_id: str
    ip_address: str | None
    port: Port | None = None


def _same_address(a: str, b: str) -> bool:
    return ipaddress.ip_address(a) == ipaddress.ip_address(b)


def _from_port(session: Session, ctx: RequestContext, spec: LoadBalancerPOST, port_id: str) -> _Vip:
    port = access.find_port(session, ctx, port_id)
    if port is None:
        raise InvalidSubresource(resource="Port", id=port_id)
    if port.device_id:
        raise ValidationFailure(
            detail=f"Port {port.id} is already used by device {port.device_id} "
        )
    address = spec.vip_address
    if spec.vip_subnet_id:
        if access.find_subnet(session, ctx, spec.vip_subnet_id) is None:
            raise InvalidSubresource(resource="Subnet", id=spec.vip_subnet_id)
        on_subnet = [a.ip_address for a in port.fixed_ips if a.subnet_id == spec.vip_subnet_id]
        address = on_subnet[0] if on_subnet else address
        if not address:
            raise ValidationFailure(
                detail="No VIP address found on the specified VIP port within the specified subnet."
            )
        return _Vip(spec.vip_subnet_id, port.network_id, address, port)
    if address:
        match = next((a for a in port.fixed_ips if _same_address(a.ip_address, address)), None)
        if match is None:
            raise ValidationFailure(
                detail="Specified VIP address not found on the specified VIP port."
            )
        return _Vip(match.subnet_id, port.network_id, address, port)
    if len(port.fixed_ips) == 1:
        only = port.fixed_ips[0]
        return _Vip(only.subnet_id, port.network_id, only.ip_address, port)
    raise ValidationFailure(
        detail="VIP port's subnet could not be determined. Please specify either a VIP "
        "subnet or address."
    )


def _subnet_with_room(session: Session, network: Network, settings: Settings) -> str:
    """The first subnet with the addresses a load balancer needs, an IPv4 one if any."""
    if not network.subnets:
        raise ValidationFailure(detail="Supplied network does not contain a subnet.")
    needed = 3 if settings.controller.loadbalancer_topology == "ACTIVE_STANDBY" else 2
    roomy = [s for s in network.subnets if ipam.free_addresses(session, s) >= needed]
    if not roomy:
        raise ValidationFailure(
            detail="Subnet(s) in the supplied network do not contain enough available IPs."
        )
    return next((s for s in roomy if s.ip_version == 4), roomy[0]).id


def _from_network(
    session: Session,
    ctx: RequestContext,
    settings: Settings,
    spec: LoadBalancerPOST,
    network_id: str,
) -> _Vip:
    network = access.find_network(session, ctx, network_id)
    if network is None:
        raise InvalidSubresource(resource="Network", id=network_id)
    address = spec.vip_address
    if spec.vip_subnet_id:
        if spec.vip_subnet_id not in {s.id for s in network.subnets}:
            raise InvalidSubresource(resource="Subnet", id=spec.vip_subnet_id)
        return _Vip(spec.vip_subnet_id, network_id, address)
    if address:
        ip = ipaddress.ip_address(address)
        containing = [s for s in network.subnets if ip in ipam.subnet_network(s)]
        if not containing:
            raise ValidationFailure(
                detail="Supplied network does not contain a subnet for VIP address specified."
            )
        return _Vip(containing[0].id, network_id, address)
    return _Vip(_subnet_with_room(session, network, settings), network_id, None)


def _from_subnet(
    session: Session, ctx: RequestContext, spec: LoadBalancerPOST, subnet_id: str
) -> _Vip:
    subnet = access.find_subnet(session, ctx, subnet_id)
    if subnet is None:
        raise InvalidSubresource(resource="Subnet", id=subnet_id)
    return _Vip(subnet_id, subnet.network_id, spec.vip_address)


def _vip_subnets(session: Session, primary: str, spec: LoadBalancerPOST) -> dict[str, Subnet]:
    """The VIP's subnets (Octavia looks them up with its own, not the caller's, view): one
    address per subnet, all on one network."""
    _check_additional(spec)
    found: dict[str, Subnet] = {}
    for subnet_id in [primary, *(extra.subnet_id for extra in spec.additional_vips or [])]:
        subnet = session.get(Subnet, subnet_id)
        if subnet is None:
            raise ValidationFailure(detail=f"Subnet {subnet_id} not found")
        found[subnet_id] = subnet
    if len({s.network_id for s in found.values()}) > 1:
        raise ValidationFailure(detail="All VIP subnets must belong to the same network.")
    return found


def _check_address(subnet: Subnet, address: str | None) -> None:
    if address is not None and not ipam.is_valid_host(ipam.subnet_network(subnet), address):
        raise ValidationFailure(
            detail=f"IP address {address} is not a valid IP for the specified subnet."
        )


def _additional(spec: LoadBalancerPOST, vip: _Vip) -> list[AdditionalVipPlan]:
    """The additional VIPs: as requested, or (on a given port, as Octavia's network driver
    reads them) the port's other fixed IPs."""
    if vip.port is None:
        return [
            AdditionalVipPlan(extra.subnet_id, vip.network_id, extra.ip_address, None)
            for extra in spec.additional_vips or []
        ]
    others = [a for a in vip.port.fixed_ips if a.ip_address != vip.ip_address]
    return [AdditionalVipPlan(a.subnet_id, vip.network_id, a.ip_address, a.port_id) for a in others]


def _managed_plan(
    session: Session, spec: LoadBalancerPOST, ctx: RequestContext, settings: Settings
) -> VipPlan:
    if spec.vip_port_id:
        vip = _from_port(session, ctx, spec, spec.vip_port_id)
    elif spec.vip_network_id:
        vip = _from_network(session, ctx, settings, spec, spec.vip_network_id)
    else:  # a subnet, as _check_allowed made sure
        vip = _from_subnet(session, ctx, spec, str(spec.vip_subnet_id))
    if spec.vip_qos_policy_id:
        raise ValidationFailure(detail="VIP QoS policy is not allowed in this deployment.")
    subnets = _vip_subnets(session, vip.subnet_id, spec)
    if spec.vip_sg_ids:
        raise InvalidSubresource(resource="Security Group", id=spec.vip_sg_ids[0])
    if vip.port is None:
        _check_address(subnets[vip.subnet_id], vip.ip_address)
        for extra in spec.additional_vips or []:
            _check_address(subnets[extra.subnet_id], extra.ip_address)
    return VipPlan(
        ip_address=vip.ip_address,
        port_id=vip.port.id if vip.port is not None else None,
        subnet_id=vip.subnet_id,
        network_id=vip.network_id,
        qos_policy_id=None,
        sg_ids=[],
        additional=_additional(spec, vip),
    )


def resolve_vip(
    session: Session, spec: LoadBalancerPOST, ctx: RequestContext, settings: Settings
) -> VipPlan:
    """The VIP a load balancer create asks for, checked (Octavia's VIP validation)."""
    _check_allowed(spec, settings.networking)
    if settings.networking.mode == "noop":
        _check_additional(spec)
        return _noop_plan(spec)
    return _managed_plan(session, spec, ctx, settings)


def allocate_vip(
    session: Session, lb_id: str, project_id: str, plan: VipPlan, net: NetworkingSettings
) -> None:
    """Create the VIP port of a new load balancer (managed mode, no port given) and complete
    the plan with its addresses. Any address conflict is Octavia's VIPAddressConflict."""
    if net.mode == "noop" or plan.port_id is not None:
        return
    wanted = [ports.FixedIp(plan.subnet_id, plan.ip_address)] + [
        ports.FixedIp(extra.subnet_id, extra.ip_address) for extra in plan.additional
    ]
    spec = ports.PortSpec(
        project_id=project_id,
        name=f"octavia-lb-{lb_id}",
        device_id=ipam.load_balancer_device_id(lb_id),
        device_owner=ipam.LOAD_BALANCER_PORT_OWNER,
        admin_state_up=False,
        fixed_ips=wanted,
    )
    network = session.get_one(Network, plan.network_id)
    try:
        port = ports.create_port(session, network, spec)
    except NeutronError as exc:
        if exc.code == 409:
            raise VIPAddressConflict(msg=exc.message) from exc
        raise ValidationFailure(detail=exc.message) from exc
    primary, *others = port.fixed_ips  # in the order they were asked for
    plan.port_id, plan.ip_address = port.id, primary.ip_address
    for extra, allocation in zip(plan.additional, others, strict=True):
        extra.port_id, extra.ip_address = port.id, allocation.ip_address
