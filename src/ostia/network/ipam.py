"""IP address management: a subnet's gateway and allocation pools (Neutron's rules), handing
out its addresses, and giving them back.

An address is taken by inserting its ``ip_allocation`` row, whose key is (subnet, address),
inside a savepoint: when another transaction took the same address first, the database
refuses the row and the next free address is tried. Two API processes can therefore never
hand out one address twice, whatever the database.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from ostia.network.errors import (
    GatewayConflictWithAllocationPools,
    InvalidAllocationPool,
    InvalidIpForSubnet,
    IpAddressAlreadyAllocated,
    IpAddressGenerationFailure,
    OutOfBoundsAllocationPool,
    OverlappingAllocationPools,
)
from ostia.network.models import IPAllocation, Port, Subnet

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

# The VIP port Octavia's network driver creates for a load balancer is owned by "Octavia"
# and names the load balancer in its device_id.
LOAD_BALANCER_PORT_OWNER = "Octavia"


def load_balancer_device_id(lb_id: str) -> str:
    return f"lb-{lb_id}"


def canonical(address: str) -> str:
    """One spelling per address (``2001:DB8:0::1`` is ``2001:db8::1``)."""
    return ipaddress.ip_address(address).compressed


@dataclass(frozen=True)
class Pool:
    """An allocation pool: the addresses from ``first`` to ``last``, both included."""

    first: int
    last: int
    version: int

    @classmethod
    def of(cls, start: str, end: str) -> Pool:
        first, last = ipaddress.ip_address(start), ipaddress.ip_address(end)
        return cls(int(first), int(last), first.version)

    def address(self, value: int) -> IPAddress:
        return ipaddress.ip_address(value) if self.version == 4 else ipaddress.IPv6Address(value)

    @property
    def size(self) -> int:
        return self.last - self.first + 1

    def __str__(self) -> str:
        return f"{self.address(self.first)}-{self.address(self.last)}"

    def as_dict(self) -> dict[str, str]:
        return {"start": str(self.address(self.first)), "end": str(self.address(self.last))}


def _usable_range(network: IPNetwork) -> tuple[int, int]:
    """The addresses pools may use: not the IPv4 network and broadcast addresses (when the
    subnet has room for hosts), not the IPv6 subnet-router anycast address."""
    first, last = int(network.network_address), int(network.broadcast_address)
    if network.version == 4:
        return (first + 1, last - 1) if network.prefixlen <= 30 else (first, last)
    return first + 1, last


def default_gateway(network: IPNetwork) -> str:
    """Neutron's default gateway: the first host for IPv4, the subnet-router anycast
    address (the network address) for IPv6."""
    if network.version == 6:
        return str(network.network_address)
    return str(network.network_address + 1)


def default_pools(network: IPNetwork, gateway_ip: str | None) -> list[Pool]:
    """The whole subnet less its reserved addresses and the gateway."""
    first, last = int(network.network_address), int(network.broadcast_address)
    if first != last:
        first, last = _usable_range(network)
    pools = [Pool(first, last, network.version)]
    if gateway_ip is None:
        return pools
    gateway = int(ipaddress.ip_address(gateway_ip))
    if not first <= gateway <= last:
        return pools
    pieces = [(first, gateway - 1), (gateway + 1, last)]
    return [Pool(a, b, network.version) for a, b in pieces if a <= b]


def requested_pools(
    raw: list[dict[str, Any]], network: IPNetwork, gateway_ip: str | None
) -> list[Pool]:
    """Allocation pools given by a client, checked as Neutron checks them."""
    pools: list[Pool] = []
    for item in raw:
        try:
            pool = Pool.of(item["start"], item["end"])
        except (KeyError, TypeError, ValueError) as exc:
            raise InvalidAllocationPool(pool=item) from exc
        if pool.version != network.version or pool.first > pool.last:
            raise InvalidAllocationPool(pool=item)
        low, high = _usable_range(network)
        if pool.first < low or pool.last > high:
            raise OutOfBoundsAllocationPool(pool=pool, subnet_cidr=network)
        pools.append(pool)
    pools.sort(key=lambda p: p.first)
    for before, after in zip(pools, pools[1:], strict=False):
        if after.first <= before.last:
            raise OverlappingAllocationPools(pool_1=before, pool_2=after, subnet_cidr=network)
    check_gateway_outside_pools(gateway_ip, pools)
    return pools


def check_gateway_outside_pools(gateway_ip: str | None, pools: Iterable[Pool]) -> None:
    if gateway_ip is None:
        return
    gateway = int(ipaddress.ip_address(gateway_ip))
    for pool in pools:
        if pool.first <= gateway <= pool.last:
            raise GatewayConflictWithAllocationPools(ip_address=gateway_ip, pool=pool)


def gateway_is_invalid(network: IPNetwork, gateway_ip: str) -> bool:
    """An IPv4 gateway may not be the subnet's network or broadcast address."""
    gateway = ipaddress.ip_address(gateway_ip)
    return (
        network.version == 4
        and gateway in network
        and gateway in (network.network_address, network.broadcast_address)
    )


def is_valid_host(network: IPNetwork, address: str) -> bool:
    """Whether a port may have this address on the subnet (Neutron's ``check_subnet_ip``)."""
    ip = ipaddress.ip_address(address)
    if ip.version != network.version or ip not in network:
        return False
    if network.version == 4:
        return ip not in (network.network_address, network.broadcast_address)
    return ip != network.network_address


def subnet_network(subnet: Subnet) -> IPNetwork:
    return ipaddress.ip_network(subnet.cidr)


def pools_of(subnet: Subnet) -> list[Pool]:
    return [Pool.of(p["start"], p["end"]) for p in subnet.allocation_pools or []]


def _taken(session: Session, subnet_id: str) -> set[int]:
    addresses = session.scalars(
        select(IPAllocation.ip_address).where(IPAllocation.subnet_id == subnet_id)
    )
    return {int(ipaddress.ip_address(a)) for a in addresses}


def free_addresses(session: Session, subnet: Subnet) -> int:
    """How many addresses of the subnet's allocation pools are still free."""
    pools = pools_of(subnet)
    used = sum(1 for a in _taken(session, subnet.id) if any(p.first <= a <= p.last for p in pools))
    return sum(p.size for p in pools) - used


def _first_free(pools: list[Pool], taken: set[int]) -> int | None:
    for pool in pools:
        candidate = pool.first
        while candidate <= pool.last:
            if candidate not in taken:
                return candidate
            candidate += 1
    return None


def _insert(session: Session, subnet: Subnet, address: str, port: Port, position: int) -> bool:
    """Take the address; False when another transaction has it already."""
    try:
        with session.begin_nested():
            session.add(
                IPAllocation(
                    subnet_id=subnet.id, ip_address=address, port_id=port.id, position=position
                )
            )
    except IntegrityError:
        if session.get(IPAllocation, (subnet.id, address)) is None:
            raise
        return False
    return True


def allocate(
    session: Session, subnet: Subnet, port: Port, address: str | None = None, position: int = 0
) -> str:
    """Give the port ``address`` of the subnet, or its first free address. The port must be
    flushed already; its ``fixed_ips`` are stale until expired."""
    if address is not None:
        if not is_valid_host(subnet_network(subnet), address):
            raise InvalidIpForSubnet(ip_address=address)
        address = canonical(address)
        if not _insert(session, subnet, address, port, position):
            raise IpAddressAlreadyAllocated(ip=address, subnet_id=subnet.id)
        return address
    pools = pools_of(subnet)
    taken = _taken(session, subnet.id)
    while (candidate := _first_free(pools, taken)) is not None:
        chosen = str(pools[0].address(candidate))
        if _insert(session, subnet, chosen, port, position):
            return chosen
        taken.add(candidate)
    raise IpAddressGenerationFailure(subnet_id=subnet.id)


def release_load_balancer_ports(session: Session, lb_id: str) -> None:
    """Delete the VIP ports created for a load balancer, giving their addresses back. Ports a
    user handed over as ``vip_port_id`` are theirs and stay."""
    session.execute(
        delete(Port).where(
            Port.device_owner == LOAD_BALANCER_PORT_OWNER,
            Port.device_id == load_balancer_device_id(lb_id),
        )
    )
