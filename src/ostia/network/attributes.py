"""Request bodies the way Neutron's API layer reads them: the resource key, the owner, unknown
and read-only attributes, required ones, then each value's conversion, with Neutron's words
for what is wrong."""

from __future__ import annotations

import ipaddress
import re
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from ostia.api.context import RequestContext
from ostia.network import access
from ostia.network.errors import HTTPBadRequest

# A converter returns the value to store or raises ValueError with Neutron's reason.
Converter = Callable[[Any], Any]

MAC_PATTERN = re.compile(r"^([0-9a-f]{2}[:-]){5}[0-9a-f]{2}$", re.IGNORECASE)


@dataclass(frozen=True)
class Attribute:
    post: bool = True
    put: bool = True
    required: bool = False
    convert: Converter | None = None


READ_ONLY = Attribute(post=False, put=False)


def string(max_length: int) -> Converter:
    def convert(value: Any) -> str:
        if not isinstance(value, str):
            raise ValueError(f"'{value}' is not a valid string")
        if len(value) > max_length:
            raise ValueError(f"'{value}' exceeds maximum length of {max_length}")
        return value

    return convert


def boolean(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    if isinstance(value, str) and value.strip().lower() in ("true", "false", "1", "0"):
        return value.strip().lower() in ("true", "1")
    raise ValueError(f"'{value}' cannot be converted to boolean")


def integer(value: Any) -> int:
    if isinstance(value, bool):
        raise ValueError(f"'{value}' is not an integer")
    try:
        return int(value)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"'{value}' is not an integer") from exc


def uuid_string(value: Any) -> str:
    try:
        return str(uuid.UUID(str(value)))
    except ValueError as exc:
        raise ValueError(f"'{value}' is not a valid UUID") from exc


def ip_address(value: Any) -> str:
    try:
        return ipaddress.ip_address(str(value)).compressed
    except ValueError as exc:
        raise ValueError(f"'{value}' is not a valid IP address") from exc


def ip_address_or_none(value: Any) -> str | None:
    return None if value is None else ip_address(value)


def subnet_cidr(value: Any) -> str:
    """A CIDR, turned into the subnet's canonical form (``10.0.0.5/24`` is ``10.0.0.0/24``)."""
    if not isinstance(value, str) or "/" not in value:
        raise ValueError(f"'{value}' is not a valid IP subnet")
    try:
        return str(ipaddress.ip_network(value.strip(), strict=False))
    except ValueError as exc:
        raise ValueError(f"'{value}' is not a valid IP subnet") from exc


def one_of(*values: Any) -> Converter:
    def convert(value: Any) -> Any:
        if value not in values:
            raise ValueError(f"{value} is not in {list(values)}")
        return value

    return convert


def ip_version(value: Any) -> int:
    version = integer(value)
    if version not in (4, 6):
        raise ValueError(f"{version} is not in [4, 6]")
    return version


def optional(convert: Converter) -> Converter:
    return lambda value: None if value is None else convert(value)


def mac_address(value: Any) -> str:
    if not isinstance(value, str) or not MAC_PATTERN.match(value):
        raise ValueError(f"'{value}' is not a valid MAC address")
    return value.lower().replace("-", ":")


def list_of(convert: Converter, what: str) -> Converter:
    """A list (None is an empty one) whose items all convert."""

    def convert_list(value: Any) -> list[Any]:
        if value is None:
            return []
        if not isinstance(value, list):
            raise ValueError(f"Invalid data format for {what}: '{value}'")
        return [convert(item) for item in value]

    return convert_list


def record(what: str, required: tuple[str, ...], fields: Mapping[str, Converter]) -> Converter:
    """An object with known keys, each converted."""

    def convert(value: Any) -> dict[str, Any]:
        if not isinstance(value, dict) or set(value) - set(fields) or set(required) - set(value):
            raise ValueError(f"Invalid data format for {what}: '{value}'")
        return {key: fields[key](item) for key, item in value.items()}

    return convert


def address_or_cidr(value: Any) -> str:
    return subnet_cidr(value) if "/" in str(value) else ip_address(value)


NAME = string(255)
PROJECT = string(255)
TAGS = list_of(string(255), "tags")

# Neutron's core attributes of networks, subnets and ports that Ostia implements.
NETWORK: dict[str, Attribute] = {
    "id": READ_ONLY,
    "name": Attribute(convert=NAME),
    "description": Attribute(convert=NAME),
    "admin_state_up": Attribute(convert=boolean),
    "shared": Attribute(convert=boolean),
    "mtu": Attribute(convert=integer),
    "port_security_enabled": Attribute(convert=boolean),
    "status": READ_ONLY,
    "subnets": READ_ONLY,
    "project_id": Attribute(put=False, convert=PROJECT),
    "tags": Attribute(put=False, convert=TAGS),
    "created_at": READ_ONLY,
    "updated_at": READ_ONLY,
}

ALLOCATION_POOLS = list_of(
    record("IP pool", ("start", "end"), {"start": ip_address, "end": ip_address}), "IP pool"
)
HOST_ROUTES = list_of(
    record(
        "host route",
        ("destination", "nexthop"),
        {"destination": subnet_cidr, "nexthop": ip_address},
    ),
    "host route",
)
IPV6_MODES = ("dhcpv6-stateful", "dhcpv6-stateless", "slaac")

SUBNET: dict[str, Attribute] = {
    "id": READ_ONLY,
    "name": Attribute(convert=NAME),
    "description": Attribute(convert=NAME),
    "network_id": Attribute(put=False, required=True, convert=uuid_string),
    "ip_version": Attribute(put=False, required=True, convert=ip_version),
    "cidr": Attribute(put=False, convert=subnet_cidr),
    "gateway_ip": Attribute(convert=ip_address_or_none),
    "allocation_pools": Attribute(convert=ALLOCATION_POOLS),
    "enable_dhcp": Attribute(convert=boolean),
    "dns_nameservers": Attribute(convert=list_of(ip_address, "nameserver")),
    "host_routes": Attribute(convert=HOST_ROUTES),
    "ipv6_ra_mode": Attribute(put=False, convert=optional(one_of(*IPV6_MODES))),
    "ipv6_address_mode": Attribute(put=False, convert=optional(one_of(*IPV6_MODES))),
    "subnetpool_id": Attribute(put=False, convert=one_of(None)),
    "use_default_subnetpool": Attribute(put=False, convert=one_of(False)),
    "project_id": Attribute(put=False, convert=PROJECT),
    "tags": Attribute(put=False, convert=TAGS),
    "service_types": READ_ONLY,
    "created_at": READ_ONLY,
    "updated_at": READ_ONLY,
}

FIXED_IPS = list_of(
    record("fixed IP", (), {"subnet_id": uuid_string, "ip_address": ip_address}), "fixed IP"
)
ADDRESS_PAIRS = list_of(
    record(
        "allowed address pair",
        ("ip_address",),
        {"ip_address": address_or_cidr, "mac_address": mac_address},
    ),
    "allowed address pair",
)

PORT: dict[str, Attribute] = {
    "id": READ_ONLY,
    "name": Attribute(convert=NAME),
    "description": Attribute(convert=NAME),
    "network_id": Attribute(put=False, required=True, convert=uuid_string),
    "admin_state_up": Attribute(convert=boolean),
    "mac_address": Attribute(convert=mac_address),
    "fixed_ips": Attribute(convert=FIXED_IPS),
    "device_id": Attribute(convert=string(255)),
    "device_owner": Attribute(convert=string(255)),
    "allowed_address_pairs": Attribute(convert=ADDRESS_PAIRS),
    "status": READ_ONLY,
    "security_groups": READ_ONLY,
    "port_security_enabled": Attribute(convert=boolean),
    "binding:vnic_type": Attribute(convert=one_of("normal")),
    "project_id": Attribute(put=False, convert=PROJECT),
    "tags": Attribute(put=False, convert=TAGS),
    "created_at": READ_ONLY,
    "updated_at": READ_ONLY,
}


def _owner(item: dict[str, Any], ctx: RequestContext, create: bool) -> None:
    """``project_id``/``tenant_id``: one owner, the caller's unless an admin names another."""
    tenant = item.pop("tenant_id", None)
    if tenant is not None:
        if item.setdefault("project_id", tenant) != tenant:
            raise HTTPBadRequest("'project_id' and 'tenant_id' do not match")
    if "project_id" in item and item["project_id"] != ctx.project_id and not access.is_admin(ctx):
        raise HTTPBadRequest(
            "Specifying 'project_id' other than the authenticated project in request is "
            "not allowed for the current user."
        )
    if create and "project_id" not in item:
        if not ctx.project_id:
            raise HTTPBadRequest(
                "Running without keystone AuthN requires that project_id is specified"
            )
        item["project_id"] = ctx.project_id


def parse(
    body: Any,
    resource: str,
    spec: Mapping[str, Attribute],
    ctx: RequestContext,
    *,
    create: bool,
) -> dict[str, Any]:
    """The attributes of ``{resource: {...}}``, checked and converted."""
    if not body:
        raise HTTPBadRequest("Resource body required")
    if not isinstance(body, dict):
        raise HTTPBadRequest("Body contains invalid data")
    if f"{resource}s" in body:
        raise HTTPBadRequest("Bulk operation not supported")
    item = body.get(resource)
    if item is None:
        raise HTTPBadRequest(f"Unable to find '{resource}' in request body")
    if not isinstance(item, dict):
        raise HTTPBadRequest(f"Object '{resource}' contains invalid data")
    item = dict(item)
    _owner(item, ctx, create)
    unknown = [key for key in item if key not in spec]
    if unknown:
        raise HTTPBadRequest(f"Unrecognized attribute(s) '{', '.join(unknown)}'")
    for name, attribute in spec.items():
        if create and name in item and not attribute.post:
            raise HTTPBadRequest(f"Attribute '{name}' not allowed in POST")
        if create and attribute.required and name not in item:
            raise HTTPBadRequest(
                f"Failed to parse request. Required attribute '{name}' not specified"
            )
        if not create and name in item and not attribute.put:
            raise HTTPBadRequest(f"Cannot update read-only attribute {name}")
    for name, value in list(item.items()):
        convert = spec[name].convert
        if convert is None:
            continue
        try:
            item[name] = convert(value)
        except ValueError as exc:
            raise HTTPBadRequest(f"Invalid input for {name}. Reason: {exc}.") from exc
    return item
