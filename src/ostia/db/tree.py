"""A load balancer with everything under it, loaded in a few queries."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from ostia.db.models import L7Policy, Listener, LoadBalancer, Pool

TREE_OPTIONS = (
    selectinload(LoadBalancer.listeners)
    .selectinload(Listener.l7policies)
    .selectinload(L7Policy.rules),
    selectinload(LoadBalancer.listeners)
    .selectinload(Listener.l7policies)
    .selectinload(L7Policy.redirect_pool),
    selectinload(LoadBalancer.listeners).selectinload(Listener.default_pool),
    selectinload(LoadBalancer.pools).selectinload(Pool.members),
    selectinload(LoadBalancer.pools).selectinload(Pool.health_monitor),
    selectinload(LoadBalancer.pools).selectinload(Pool.default_listeners),
    selectinload(LoadBalancer.pools).selectinload(Pool.redirecting_l7policies),
)


def load_tree(session: Session, lb_id: str) -> LoadBalancer | None:
    """The load balancer with everything under it loaded, usable after the session ends."""
    stmt = select(LoadBalancer).where(LoadBalancer.id == lb_id).options(*TREE_OPTIONS)
    return session.scalars(stmt).one_or_none()


def tree_objects(lb: LoadBalancer) -> Iterator[Any]:
    """Every object under the load balancer, parents before children."""
    for listener in lb.listeners:
        yield listener
        for policy in listener.l7policies:
            yield policy
            yield from policy.rules
    for pool in lb.pools:
        yield pool
        if pool.health_monitor is not None:
            yield pool.health_monitor
        yield from pool.members
