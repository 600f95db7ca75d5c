"""``/network/v2.0/{networks,subnets,ports}``: list, show, create, update, delete, and the
tags of each object, as Neutron serves them."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from fastapi import APIRouter, Body, Request, Response
from sqlalchemy import exists, select
from sqlalchemy.orm import Session

from ostia.api.context import RequestContext
from ostia.api.deps import ContextDep, Services, ServicesDep
from ostia.api.listing import Listable, select_fields
from ostia.api.responses import ApiResponse
from ostia.network import access, attributes, ipam, ports, subnets, views
from ostia.network.errors import (
    HTTPBadRequest,
    HTTPNotFound,
    NetworkInUse,
    NetworkNotFound,
    PolicyNotAuthorized,
    PortNotFound,
    SubnetInUse,
    SubnetNotFound,
)
from ostia.network.listing import NeutronList
from ostia.network.models import IPAllocation, Network, Port, Subnet

router = APIRouter()

NETWORKS = Listable(
    model=Network,
    columns={
        "id": Network.id,
        "name": Network.name,
        "description": Network.description,
        "project_id": Network.project_id,
        "tenant_id": Network.project_id,
        "admin_state_up": Network.admin_state_up,
        "shared": Network.shared,
        "status": Network.status,
        "mtu": Network.mtu,
        "port_security_enabled": Network.port_security_enabled,
        "created_at": Network.created_at,
        "updated_at": Network.updated_at,
    },
)
SUBNETS = Listable(
    model=Subnet,
    columns={
        "id": Subnet.id,
        "name": Subnet.name,
        "description": Subnet.description,
        "project_id": Subnet.project_id,
        "tenant_id": Subnet.project_id,
        "network_id": Subnet.network_id,
        "ip_version": Subnet.ip_version,
        "cidr": Subnet.cidr,
        "gateway_ip": Subnet.gateway_ip,
        "enable_dhcp": Subnet.enable_dhcp,
        "ipv6_ra_mode": Subnet.ipv6_ra_mode,
        "ipv6_address_mode": Subnet.ipv6_address_mode,
        "created_at": Subnet.created_at,
        "updated_at": Subnet.updated_at,
    },
)
PORTS = Listable(
    model=Port,
    columns={
        "id": Port.id,
        "name": Port.name,
        "description": Port.description,
        "project_id": Port.project_id,
        "tenant_id": Port.project_id,
        "network_id": Port.network_id,
        "mac_address": Port.mac_address,
        "admin_state_up": Port.admin_state_up,
        "status": Port.status,
        "device_id": Port.device_id,
        "device_owner": Port.device_owner,
        "created_at": Port.created_at,
        "updated_at": Port.updated_at,
    },
)


def _rule(action: str, attributes_with_policy: list[str]) -> str:
    """The policy rule Neutron names when it refuses: the action, and the attributes of
    the request that have their own rule."""
    if not attributes_with_policy:
        return f"rule:{action}"
    parts = [f"rule:{action}", *(f"rule:{action}:{a}" for a in attributes_with_policy)]
    return "(" + " and ".join(parts) + ")"


def _listed(
    collection: str, items: list[dict[str, Any]], links: list[dict[str, str]]
) -> ApiResponse:
    body: dict[str, Any] = {collection: items}
    if links:
        body[f"{collection}_links"] = links
    return ApiResponse(body)


# -- networks ----------------------------------------------------------------------


def _network(session: Session, ctx: RequestContext, network_id: str) -> Network:
    network = access.find_network(session, ctx, network_id)
    if network is None:
        raise NetworkNotFound(net_id=network_id)
    return network


def _network_policy(ctx: RequestContext, action: str, sharing: bool, owner: str) -> None:
    """Only an admin shares a network (or changes whether it is shared)."""
    rule = _rule(action, ["shared"] if sharing else [])
    if sharing and not access.is_admin(ctx):
        raise PolicyNotAuthorized(rule=rule)
    access.authorize(ctx, rule, owner)


@router.get("/v2.0/networks")
def list_networks(
    request: Request, svc: Services = ServicesDep, ctx: RequestContext = ContextDep
) -> ApiResponse:
    listing = NeutronList(request, NETWORKS)
    with svc.db.read() as session:
        rows, links = listing.page(session, access.network_query(ctx))
        items = [views.network(n) for n in rows]
    return _listed("networks", listing.select_fields(items), links)


@router.get("/v2.0/networks/{network_id}")
def show_network(
    network_id: str, request: Request, svc: Services = ServicesDep, ctx: RequestContext = ContextDep
) -> ApiResponse:
    with svc.db.read() as session:
        item = views.network(_network(session, ctx, network_id))
    return ApiResponse({"network": select_fields(request, item)})


@router.post("/v2.0/networks", status_code=201)
def create_network(
    body: Any = Body(None), svc: Services = ServicesDep, ctx: RequestContext = ContextDep
) -> ApiResponse:
    item = attributes.parse(body, "network", attributes.NETWORK, ctx, create=True)
    _network_policy(ctx, "create_network", bool(item.get("shared")), item["project_id"])
    with svc.db.write() as session:
        network = Network(
            id=str(uuid.uuid4()),
            project_id=item["project_id"],
            name=item.get("name", ""),
            description=item.get("description", ""),
            admin_state_up=item.get("admin_state_up", True),
            shared=item.get("shared", False),
            mtu=item.get("mtu", 1500),
            port_security_enabled=item.get("port_security_enabled", True),
            subnets=[],
        )
        network.set_tags(item.get("tags"))
        session.add(network)
        session.flush()
        view = views.network(network)
    return ApiResponse(status_code=201, content={"network": view})


@router.put("/v2.0/networks/{network_id}")
def update_network(
    network_id: str,
    body: Any = Body(None),
    svc: Services = ServicesDep,
    ctx: RequestContext = ContextDep,
) -> ApiResponse:
    item = attributes.parse(body, "network", attributes.NETWORK, ctx, create=False)
    with svc.db.write() as session:
        network = _network(session, ctx, network_id)
        _network_policy(ctx, "update_network", "shared" in item, network.project_id)
        for name, value in item.items():
            setattr(network, name, value)
        session.flush()
        view = views.network(network)
    return ApiResponse({"network": view})


@router.delete("/v2.0/networks/{network_id}", status_code=204, response_class=Response)
def delete_network(
    network_id: str, svc: Services = ServicesDep, ctx: RequestContext = ContextDep
) -> Response:
    with svc.db.write() as session:
        network = _network(session, ctx, network_id)
        access.authorize(ctx, _rule("delete_network", []), network.project_id)
        if session.scalar(select(exists().where(Port.network_id == network_id))):
            raise NetworkInUse(net_id=network_id)
        session.delete(network)
    return Response(status_code=204)


# -- subnets -----------------------------------------------------------------------


def _subnet(session: Session, ctx: RequestContext, subnet_id: str) -> Subnet:
    subnet = access.find_subnet(session, ctx, subnet_id)
    if subnet is None:
        raise SubnetNotFound(subnet_id=subnet_id)
    return subnet


@router.get("/v2.0/subnets")
def list_subnets(
    request: Request, svc: Services = ServicesDep, ctx: RequestContext = ContextDep
) -> ApiResponse:
    listing = NeutronList(request, SUBNETS)
    with svc.db.read() as session:
        rows, links = listing.page(session, access.subnet_query(ctx))
        items = [views.subnet(s) for s in rows]
    return _listed("subnets", listing.select_fields(items), links)


@router.get("/v2.0/subnets/{subnet_id}")
def show_subnet(
    subnet_id: str, request: Request, svc: Services = ServicesDep, ctx: RequestContext = ContextDep
) -> ApiResponse:
    with svc.db.read() as session:
        item = views.subnet(_subnet(session, ctx, subnet_id))
    return ApiResponse({"subnet": select_fields(request, item)})


@router.post("/v2.0/subnets", status_code=201)
def create_subnet(
    body: Any = Body(None), svc: Services = ServicesDep, ctx: RequestContext = ContextDep
) -> ApiResponse:
    item = attributes.parse(body, "subnet", attributes.SUBNET, ctx, create=True)
    with svc.db.write() as session:
        network = _network(session, ctx, item["network_id"])
        access.authorize(ctx, _rule("create_subnet", []), network.project_id)
        subnet = subnets.new_subnet(
            network, item, refuse_host_overlap=svc.settings.networking.mode == "managed"
        )
        session.add(subnet)
        session.flush()
        view = views.subnet(subnet)
    return ApiResponse(status_code=201, content={"subnet": view})


@router.put("/v2.0/subnets/{subnet_id}")
def update_subnet(
    subnet_id: str,
    body: Any = Body(None),
    svc: Services = ServicesDep,
    ctx: RequestContext = ContextDep,
) -> ApiResponse:
    item = attributes.parse(body, "subnet", attributes.SUBNET, ctx, create=False)
    with svc.db.write() as session:
        subnet = _subnet(session, ctx, subnet_id)
        access.authorize(ctx, _rule("update_subnet", []), subnet.network.project_id)
        subnets.update_subnet(subnet, item)
        session.flush()
        view = views.subnet(subnet)
    return ApiResponse({"subnet": view})


@router.delete("/v2.0/subnets/{subnet_id}", status_code=204, response_class=Response)
def delete_subnet(
    subnet_id: str, svc: Services = ServicesDep, ctx: RequestContext = ContextDep
) -> Response:
    with svc.db.write() as session:
        subnet = _subnet(session, ctx, subnet_id)
        access.authorize(ctx, _rule("delete_subnet", []), subnet.network.project_id)
        if session.scalar(select(exists().where(IPAllocation.subnet_id == subnet_id))):
            raise SubnetInUse(subnet_id=subnet_id)
        session.delete(subnet)
    return Response(status_code=204)


# -- ports -------------------------------------------------------------------------


def _port(session: Session, ctx: RequestContext, port_id: str) -> Port:
    port = access.find_port(session, ctx, port_id)
    if port is None:
        raise PortNotFound(port_id=port_id)
    return port


def _fixed_ips(item: dict[str, Any]) -> list[ports.FixedIp] | None:
    if "fixed_ips" not in item:
        return None
    return [ports.FixedIp(**fixed) for fixed in item["fixed_ips"]]


def _address_pairs(pairs: list[dict[str, str]], mac: str) -> list[dict[str, str]]:
    """Pairs without a MAC address get the port's."""
    return [
        {"ip_address": p["ip_address"], "mac_address": p.get("mac_address", mac)} for p in pairs
    ]


def _port_policy(
    ctx: RequestContext, action: str, item: dict[str, Any], port_owner: str, network: Network
) -> None:
    """Choosing addresses needs the network's owner (or admin); a MAC address, admin."""
    owns_network = access.is_admin(ctx) or ctx.project_id == network.project_id
    with_policy = []
    if any("ip_address" in fixed for fixed in item.get("fixed_ips", [])) and not owns_network:
        with_policy.append("fixed_ips:ip_address")
    if "mac_address" in item and not access.is_admin(ctx):
        with_policy.append("mac_address")
    rule = _rule(action, with_policy)
    if with_policy:
        raise PolicyNotAuthorized(rule=rule)
    owner = network.project_id if ctx.project_id == network.project_id else port_owner
    access.authorize(ctx, rule, owner)


def _canonical_or_given(address: str) -> str:
    try:
        return ipam.canonical(address)
    except ValueError:
        return address


def _port_filters(request: Request) -> list[Any]:
    """``fixed_ips=ip_address=…`` and ``fixed_ips=subnet_id=…`` filters."""
    clauses = []
    for value in request.query_params.getlist("fixed_ips"):
        key, _, wanted = value.partition("=")
        column = {"ip_address": IPAllocation.ip_address, "subnet_id": IPAllocation.subnet_id}.get(
            key
        )
        if column is None:
            raise HTTPBadRequest(f"Invalid fixed_ips filter: '{value}'")
        if key == "ip_address":
            wanted = _canonical_or_given(wanted)
        clauses.append(Port.id.in_(select(IPAllocation.port_id).where(column == wanted)))
    return clauses


@router.get("/v2.0/ports")
def list_ports(
    request: Request, svc: Services = ServicesDep, ctx: RequestContext = ContextDep
) -> ApiResponse:
    listing = NeutronList(request, PORTS, extra=("fixed_ips",))
    stmt = access.port_query(ctx).where(*_port_filters(request))
    with svc.db.read() as session:
        rows, links = listing.page(session, stmt)
        items = [views.port(p) for p in rows]
    return _listed("ports", listing.select_fields(items), links)


@router.get("/v2.0/ports/{port_id}")
def show_port(
    port_id: str, request: Request, svc: Services = ServicesDep, ctx: RequestContext = ContextDep
) -> ApiResponse:
    with svc.db.read() as session:
        item = views.port(_port(session, ctx, port_id))
    return ApiResponse({"port": select_fields(request, item)})


@router.post("/v2.0/ports", status_code=201)
def create_port(
    body: Any = Body(None), svc: Services = ServicesDep, ctx: RequestContext = ContextDep
) -> ApiResponse:
    item = attributes.parse(body, "port", attributes.PORT, ctx, create=True)
    with svc.db.write() as session:
        network = _network(session, ctx, item["network_id"])
        _port_policy(ctx, "create_port", item, item["project_id"], network)
        spec = ports.PortSpec(
            project_id=item["project_id"],
            name=item.get("name", ""),
            description=item.get("description", ""),
            device_id=item.get("device_id", ""),
            device_owner=item.get("device_owner", ""),
            admin_state_up=item.get("admin_state_up", True),
            port_security_enabled=item.get("port_security_enabled"),
            mac_address=item.get("mac_address"),
            fixed_ips=_fixed_ips(item),
            tags=item.get("tags") or [],
        )
        port = ports.create_port(session, network, spec)
        port.allowed_address_pairs = _address_pairs(
            item.get("allowed_address_pairs", []), port.mac_address
        )
        session.flush()
        view = views.port(port)
    return ApiResponse(status_code=201, content={"port": view})


@router.put("/v2.0/ports/{port_id}")
def update_port(
    port_id: str,
    body: Any = Body(None),
    svc: Services = ServicesDep,
    ctx: RequestContext = ContextDep,
) -> ApiResponse:
    item = attributes.parse(body, "port", attributes.PORT, ctx, create=False)
    with svc.db.write() as session:
        port = _port(session, ctx, port_id)
        _port_policy(ctx, "update_port", item, port.project_id, port.network)
        if "mac_address" in item:
            ports.mac_available(session, port, item["mac_address"])
        fixed_ips = _fixed_ips(item)
        if fixed_ips is not None:
            ports.update_fixed_ips(session, port, fixed_ips)
        for name in (
            "name",
            "description",
            "admin_state_up",
            "device_id",
            "device_owner",
            "port_security_enabled",
        ):
            if name in item:
                setattr(port, name, item[name])
        if "mac_address" in item:
            port.mac_address = item["mac_address"]
        if "allowed_address_pairs" in item:
            port.allowed_address_pairs = _address_pairs(
                item["allowed_address_pairs"], port.mac_address
            )
        session.flush()
        view = views.port(port)
    return ApiResponse({"port": view})


@router.delete("/v2.0/ports/{port_id}", status_code=204, response_class=Response)
def delete_port(
    port_id: str, svc: Services = ServicesDep, ctx: RequestContext = ContextDep
) -> Response:
    with svc.db.write() as session:
        port = _port(session, ctx, port_id)
        _port_policy(ctx, "delete_port", {}, port.project_id, port.network)
        session.delete(port)
    return Response(status_code=204)


# -- tags --------------------------------------------------------------------------


@dataclass(frozen=True)
class Tagged:
    resource: str
    find: Callable[[Session, RequestContext, str], Network | Subnet | Port]


TAGGED = {
    "networks": Tagged("network", _network),
    "subnets": Tagged("subnet", _subnet),
    "ports": Tagged("port", _port),
}


def _tagged(
    session: Session, ctx: RequestContext, collection: str, object_id: str, change: bool
) -> Network | Subnet | Port:
    kind = TAGGED.get(collection)
    if kind is None:
        raise HTTPNotFound()
    obj = kind.find(session, ctx, object_id)
    if change:
        owner = obj.network.project_id if isinstance(obj, Subnet) else obj.project_id
        access.authorize(ctx, f"rule:update_{kind.resource}:tags", owner)
    return obj


@router.get("/v2.0/{collection}/{object_id}/tags")
def show_tags(
    collection: str, object_id: str, svc: Services = ServicesDep, ctx: RequestContext = ContextDep
) -> ApiResponse:
    with svc.db.read() as session:
        tags = _tagged(session, ctx, collection, object_id, change=False).tag_names
    return ApiResponse({"tags": tags})


@router.put("/v2.0/{collection}/{object_id}/tags")
def replace_tags(
    collection: str,
    object_id: str,
    body: Any = Body(None),
    svc: Services = ServicesDep,
    ctx: RequestContext = ContextDep,
) -> ApiResponse:
    if not isinstance(body, dict) or set(body) != {"tags"}:
        raise HTTPBadRequest("Invalid tags body")
    try:
        tags = attributes.TAGS(body["tags"])
    except ValueError as exc:
        raise HTTPBadRequest(f"Invalid input for tags. Reason: {exc}.") from exc
    with svc.db.write() as session:
        obj = _tagged(session, ctx, collection, object_id, change=True)
        obj.set_tags(tags)
        result = obj.tag_names
    return ApiResponse({"tags": result})


@router.put("/v2.0/{collection}/{object_id}/tags/{tag}", status_code=201, response_class=Response)
def add_tag(
    collection: str,
    object_id: str,
    tag: str,
    svc: Services = ServicesDep,
    ctx: RequestContext = ContextDep,
) -> Response:
    with svc.db.write() as session:
        obj = _tagged(session, ctx, collection, object_id, change=True)
        obj.set_tags([*obj.tag_names, tag])
    return Response(status_code=201)


@router.delete("/v2.0/{collection}/{object_id}/tags", status_code=204, response_class=Response)
@router.delete(
    "/v2.0/{collection}/{object_id}/tags/{tag}", status_code=204, response_class=Response
)
def remove_tags(
    collection: str,
    object_id: str,
    tag: str | None = None,
    svc: Services = ServicesDep,
    ctx: RequestContext = ContextDep,
) -> Response:
    with svc.db.write() as session:
        obj = _tagged(session, ctx, collection, object_id, change=True)
        if tag is not None and tag not in obj.tag_names:
            raise HTTPNotFound(f"Tag {tag} could not be found.")
        obj.set_tags([] if tag is None else [t for t in obj.tag_names if t != tag])
    return Response(status_code=204)
