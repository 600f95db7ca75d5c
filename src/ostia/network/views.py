"""Networks, subnets and ports as Neutron's API shows them."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from ostia.network.models import Network, Port, Subnet


def _time(value: datetime | None) -> str | None:
    """Neutron's timestamps: ``2024-05-01T12:00:00Z``."""
    return value.strftime("%Y-%m-%dT%H:%M:%SZ") if value is not None else None


def _common(obj: Network | Subnet | Port) -> dict[str, Any]:
    return {
        "id": obj.id,
        "name": obj.name,
        "description": obj.description,
        "project_id": obj.project_id,
        "tenant_id": obj.project_id,
        "tags": obj.tag_names,
        "created_at": _time(obj.created_at),
        "updated_at": _time(obj.updated_at or obj.created_at),
    }


def network(obj: Network) -> dict[str, Any]:
    return {
        **_common(obj),
        "admin_state_up": obj.admin_state_up,
        "status": obj.status,
        "shared": obj.shared,
        "mtu": obj.mtu,
        "port_security_enabled": obj.port_security_enabled,
        "subnets": [s.id for s in obj.subnets],
    }


def subnet(obj: Subnet) -> dict[str, Any]:
    return {
        **_common(obj),
        "network_id": obj.network_id,
        "ip_version": obj.ip_version,
        "cidr": obj.cidr,
        "gateway_ip": obj.gateway_ip,
        "allocation_pools": list(obj.allocation_pools or []),
        "enable_dhcp": obj.enable_dhcp,
        "dns_nameservers": list(obj.dns_nameservers or []),
        "host_routes": list(obj.host_routes or []),
        "ipv6_ra_mode": obj.ipv6_ra_mode,
        "ipv6_address_mode": obj.ipv6_address_mode,
        "subnetpool_id": None,
        "service_types": [],
    }


def port(obj: Port) -> dict[str, Any]:
    return {
        **_common(obj),
        "network_id": obj.network_id,
        "mac_address": obj.mac_address,
        "admin_state_up": obj.admin_state_up,
        "status": obj.status,
        "device_id": obj.device_id,
        "device_owner": obj.device_owner,
        "fixed_ips": [
            {"subnet_id": a.subnet_id, "ip_address": a.ip_address} for a in obj.fixed_ips
        ],
        "allowed_address_pairs": list(obj.allowed_address_pairs or []),
        "security_groups": [],
        "port_security_enabled": obj.port_security_enabled,
        "binding:vnic_type": "normal",
    }
