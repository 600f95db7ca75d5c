"""Who sees and changes what, as Neutron's default policy has it: an admin sees every
project's networks; others see their project's, plus shared networks and their subnets,
plus the ports on networks they own. Objects one cannot see do not exist (404)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Select, or_, select, true
from sqlalchemy.orm import Session, selectinload
from sqlalchemy.sql.elements import ColumnElement

from ostia.api.context import RequestContext
from ostia.network.errors import PolicyNotAuthorized
from ostia.network.models import Network, Port, Subnet


def is_admin(ctx: RequestContext) -> bool:
    return "admin" in ctx.roles


def networks_visible(ctx: RequestContext) -> ColumnElement[bool]:
    if is_admin(ctx):
        return true()
    return or_(Network.project_id == ctx.project_id, Network.shared.is_(True))


def subnets_visible(ctx: RequestContext) -> ColumnElement[bool]:
    if is_admin(ctx):
        return true()
    shared = select(Network.id).where(Network.shared.is_(True))
    return or_(Subnet.project_id == ctx.project_id, Subnet.network_id.in_(shared))


def ports_visible(ctx: RequestContext) -> ColumnElement[bool]:
    if is_admin(ctx):
        return true()
    owned = select(Network.id).where(Network.project_id == ctx.project_id)
    return or_(Port.project_id == ctx.project_id, Port.network_id.in_(owned))


def network_query(ctx: RequestContext) -> Select[Any]:
    return select(Network).where(networks_visible(ctx)).options(selectinload(Network.subnets))


def subnet_query(ctx: RequestContext) -> Select[Any]:
    return select(Subnet).where(subnets_visible(ctx))


def port_query(ctx: RequestContext) -> Select[Any]:
    return select(Port).where(ports_visible(ctx)).options(selectinload(Port.fixed_ips))


def find_network(session: Session, ctx: RequestContext, network_id: str) -> Network | None:
    found: Network | None = session.scalar(network_query(ctx).where(Network.id == network_id))
    return found


def find_subnet(session: Session, ctx: RequestContext, subnet_id: str) -> Subnet | None:
    found: Subnet | None = session.scalar(subnet_query(ctx).where(Subnet.id == subnet_id))
    return found


def find_port(session: Session, ctx: RequestContext, port_id: str) -> Port | None:
    found: Port | None = session.scalar(port_query(ctx).where(Port.id == port_id))
    return found


def authorize(ctx: RequestContext, rule: str, owner: str | None) -> None:
    """Writes need the member role in the owning project, or admin."""
    if is_admin(ctx) or ("member" in ctx.roles and ctx.project_id == owner):
        return
    raise PolicyNotAuthorized(rule=rule)
