"""Ports: creating them with their fixed IPs (Neutron's rules for which subnet an address
comes from) and changing their fixed IPs. Deleting a port deletes its IP allocations, which
gives the addresses back."""

from __future__ import annotations

import secrets
import uuid
from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.orm import Session

from ostia.network import ipam
from ostia.network.errors import (
    InvalidInput,
    InvalidIpForNetwork,
    IpAddressGenerationFailure,
    MacAddressInUse,
    SubnetNotFound,
)
from ostia.network.models import IPAllocation, Network, Port, Subnet

# Neutron's default base_mac: fa:16:3e followed by three random bytes.
MAC_PREFIX = "fa:16:3e"


@dataclass(frozen=True)
class FixedIp:
    """A requested fixed IP: a subnet, an address, or both."""

    subnet_id: str | None = None
    ip_address: str | None = None


@dataclass
class PortSpec:
    """A port to create; ``fixed_ips`` None means one address of each IP version."""

    project_id: str
    name: str = ""
    description: str = ""
    device_id: str = ""
    device_owner: str = ""
    admin_state_up: bool = True
    # None: the network's setting.
    port_security_enabled: bool | None = None
    mac_address: str | None = None
    fixed_ips: list[FixedIp] | None = None
    tags: list[str] = field(default_factory=list)


def _mac_in_use(session: Session, network_id: str, mac: str) -> bool:
    found = session.scalar(
        select(Port.id).where(Port.network_id == network_id, Port.mac_address == mac)
    )
    return found is not None


def _new_mac(session: Session, network_id: str) -> str:
    while True:
        mac = MAC_PREFIX + "".join(f":{b:02x}" for b in secrets.token_bytes(3))
        if not _mac_in_use(session, network_id, mac):
            return mac


def _subnet_for(session: Session, network: Network, request: FixedIp) -> Subnet:
    """The subnet a requested fixed IP comes from (Neutron's ``_get_subnet_for_fixed_ip``)."""
    if not network.subnets:
        raise InvalidInput(error_message="IP allocation requires subnets for network")
    if request.subnet_id is not None:
        subnet = next((s for s in network.subnets if s.id == request.subnet_id), None)
        if subnet is None:
            if session.get(Subnet, request.subnet_id) is None:
                raise SubnetNotFound(subnet_id=request.subnet_id)
            raise InvalidInput(
                error_message=f"Failed to create port on network {network.id}, because "
                f"fixed_ips included invalid subnet {request.subnet_id}"
            )
        return subnet
    if request.ip_address is None:
        raise InvalidInput(error_message="IP allocation requires subnet_id or ip_address")
    for subnet in network.subnets:
        if ipam.is_valid_host(ipam.subnet_network(subnet), request.ip_address):
            return subnet
    raise InvalidIpForNetwork(ip_address=request.ip_address)


def _allocate_any(session: Session, network: Network, port: Port, position: int) -> int:
    """One address of each IP version the network has subnets of, from the first subnet
    with room; returns the next position."""
    for version in (4, 6):
        subnets = [s for s in network.subnets if s.ip_version == version]
        if not subnets:
            continue
        for subnet in subnets:
            try:
                ipam.allocate(session, subnet, port, position=position)
            except IpAddressGenerationFailure:
                continue
            position += 1
            break
        else:
            raise IpAddressGenerationFailure(net_id=network.id)
    return position


def _assign(
    session: Session, network: Network, port: Port, requests: list[FixedIp], position: int
) -> None:
    for request in requests:
        subnet = _subnet_for(session, network, request)
        ipam.allocate(session, subnet, port, request.ip_address, position)
        position += 1


def create_port(session: Session, network: Network, spec: PortSpec) -> Port:
    """A new port on the network with its fixed IPs taken, in the caller's transaction."""
    if spec.mac_address is not None and _mac_in_use(session, network.id, spec.mac_address):
        raise MacAddressInUse(net_id=network.id, mac=spec.mac_address)
    port = Port(
        id=str(uuid.uuid4()),
        network_id=network.id,
        project_id=spec.project_id,
        name=spec.name,
        description=spec.description,
        device_id=spec.device_id,
        device_owner=spec.device_owner,
        admin_state_up=spec.admin_state_up,
        mac_address=spec.mac_address or _new_mac(session, network.id),
        port_security_enabled=(
            network.port_security_enabled
            if spec.port_security_enabled is None
            else spec.port_security_enabled
        ),
        allowed_address_pairs=[],
        tags=sorted(set(spec.tags)),
    )
    session.add(port)
    session.flush()
    if spec.fixed_ips is None:
        _allocate_any(session, network, port, 0)
    else:
        _assign(session, network, port, spec.fixed_ips, 0)
    session.expire(port, ["fixed_ips"])
    return port


def update_fixed_ips(session: Session, port: Port, requests: list[FixedIp]) -> None:
    """Make the port's fixed IPs the requested ones (Neutron's rules): an address it has and
    still asks for stays, as does one of its addresses on a subnet asked for without an
    address; the others are given back, and new ones taken."""
    remaining = list(port.fixed_ips)
    kept: dict[int, IPAllocation] = {}
    for index, request in enumerate(requests):
        if request.ip_address is None:
            continue
        address = ipam.canonical(request.ip_address)
        match = next((a for a in remaining if a.ip_address == address), None)
        if match is not None and request.subnet_id in (None, match.subnet_id):
            remaining.remove(match)
            kept[index] = match
    for index, request in enumerate(requests):
        if request.ip_address is not None or request.subnet_id is None:
            continue
        match = next((a for a in remaining if a.subnet_id == request.subnet_id), None)
        if match is not None:
            remaining.remove(match)
            kept[index] = match
    for allocation in remaining:
        session.delete(allocation)
    for position, index in enumerate(sorted(kept)):
        kept[index].position = position
    session.flush()
    new = [request for index, request in enumerate(requests) if index not in kept]
    _assign(session, port.network, port, new, len(kept))
    session.expire(port, ["fixed_ips"])


def mac_available(session: Session, port: Port, mac: str) -> None:
    """Refuse a MAC address another port of the network has."""
    if mac != port.mac_address and _mac_in_use(session, port.network_id, mac):
        raise MacAddressInUse(net_id=port.network_id, mac=mac)
