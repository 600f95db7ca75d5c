"""Subnets: checking a requested subnet as Neutron does (version, prefix, gateway, overlap,
allocation pools) and filling in Neutron's defaults."""

from __future__ import annotations

import ipaddress
import uuid
from typing import Any

from ostia.network import hostnet, ipam
from ostia.network.errors import BadRequest, InvalidInput
from ostia.network.models import Network, Subnet


def _check_version(name: str, value: str, version: int) -> None:
    if ipaddress.ip_network(value, strict=False).version != version:
        raise InvalidInput(
            error_message=f"{name} '{value}' does not match the ip_version '{version}'"
        )


def _check_network(network: ipam.IPNetwork, enable_dhcp: bool) -> None:
    if network.prefixlen == 0:
        raise InvalidInput(error_message="0 is not allowed as CIDR prefix length")
    if network.version == 6 and network.network_address == ipaddress.IPv6Address("::"):
        raise InvalidInput(error_message="IPv6 subnet '::' is not supported")
    if enable_dhcp and network.prefixlen > (30 if network.version == 4 else 126):
        raise InvalidInput(
            error_message="Subnet has a prefix length that is incompatible with DHCP "
            "service enabled"
        )


def _check_gateway(network: ipam.IPNetwork, gateway_ip: str | None) -> None:
    if gateway_ip is None:
        return
    _check_version("gateway_ip", gateway_ip, network.version)
    if ipam.gateway_is_invalid(network, gateway_ip):
        raise InvalidInput(error_message="Gateway is not valid on subnet")


def _check_ipv6_modes(version: int, item: dict[str, Any]) -> None:
    if version == 4:
        for mode in ("ipv6_ra_mode", "ipv6_address_mode"):
            if item.get(mode) is not None:
                raise InvalidInput(error_message=f"{mode} is not valid when ip_version is 4")
        return
    ra_mode, address_mode = item.get("ipv6_ra_mode"), item.get("ipv6_address_mode")
    if ra_mode and address_mode and ra_mode != address_mode:
        raise InvalidInput(
            error_message=f"ipv6_ra_mode set to '{ra_mode}' with ipv6_address_mode set to "
            f"'{address_mode}' is not valid. If both attributes are set, they must be the "
            "same value"
        )


def _check_overlap(owner: Network, network: ipam.IPNetwork) -> None:
    for other in owner.subnets:
        if ipaddress.ip_network(other.cidr).overlaps(network):
            raise InvalidInput(
                error_message=f"Requested subnet with cidr: {network} for network: "
                f"{owner.id} overlaps with another subnet"
            )


def _check_host(network: ipam.IPNetwork) -> None:
    try:
        hostnet.check_disjoint(str(network), "subnet")
    except hostnet.UnsafeNetwork as exc:
        raise InvalidInput(error_message=str(exc)) from None


def new_subnet(
    owner: Network, item: dict[str, Any], *, refuse_host_overlap: bool = False
) -> Subnet:
    """A subnet of ``owner`` from a request's attributes (converted already). With
    ``refuse_host_overlap`` (managed networking, where subnets become real in namespaces) a
    range this machine uses is refused."""
    if "cidr" not in item:
        raise BadRequest(
            resource="subnets", msg="A cidr must be specified in the absence of a subnet pool"
        )
    version = item["ip_version"]
    cidr = item["cidr"]
    _check_version("cidr", cidr, version)
    network = ipaddress.ip_network(cidr)
    enable_dhcp = item.get("enable_dhcp", True)
    _check_network(network, enable_dhcp)
    _check_ipv6_modes(version, item)
    gateway_ip = item["gateway_ip"] if "gateway_ip" in item else ipam.default_gateway(network)
    _check_gateway(network, gateway_ip)
    _check_overlap(owner, network)
    if refuse_host_overlap:
        _check_host(network)
    if "allocation_pools" in item:
        pools = ipam.requested_pools(item["allocation_pools"], network, gateway_ip)
    else:
        pools = ipam.default_pools(network, gateway_ip)
    subnet = Subnet(
        id=str(uuid.uuid4()),
        network_id=owner.id,
        project_id=item["project_id"],
        name=item.get("name", ""),
        description=item.get("description", ""),
        ip_version=version,
        cidr=cidr,
        gateway_ip=gateway_ip,
        allocation_pools=[p.as_dict() for p in pools],
        enable_dhcp=enable_dhcp,
        dns_nameservers=item.get("dns_nameservers", []),
        host_routes=item.get("host_routes", []),
        ipv6_ra_mode=item.get("ipv6_ra_mode"),
        ipv6_address_mode=item.get("ipv6_address_mode"),
    )
    subnet.set_tags(item.get("tags"))
    return subnet


def update_subnet(subnet: Subnet, item: dict[str, Any]) -> None:
    """Apply an update's attributes: a new gateway must stay out of the pools, new pools
    must be valid for the subnet."""
    network = ipam.subnet_network(subnet)
    gateway_ip = item.get("gateway_ip", subnet.gateway_ip)
    if "gateway_ip" in item:
        _check_gateway(network, gateway_ip)
    if "allocation_pools" in item:
        pools = ipam.requested_pools(item["allocation_pools"], network, gateway_ip)
        subnet.allocation_pools = [p.as_dict() for p in pools]
    elif gateway_ip != subnet.gateway_ip:
        ipam.check_gateway_outside_pools(gateway_ip, ipam.pools_of(subnet))
    subnet.gateway_ip = gateway_ip
    if item.get("enable_dhcp"):
        _check_network(network, True)
    for name in ("name", "description", "enable_dhcp", "dns_nameservers", "host_routes"):
        if name in item:
            setattr(subnet, name, item[name])
