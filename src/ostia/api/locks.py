"""The load balancer row as the lock for its whole tree (Octavia's rule).

Every change takes the load balancer row for update, refuses with 409 unless it is in a
state that allows the change, and marks it (and the parents of the changed object)
PENDING_* in the same transaction as the change itself.
"""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import select
from sqlalchemy.orm import Session, lazyload

from ostia import constants
from ostia.db.models import L7Policy, Listener, LoadBalancer, Pool
from ostia.errors import ImmutableObject, LBPendingState, NotFound

LB_RESOURCE = "Load Balancer"


def lock_load_balancer(session: Session, lb_id: str) -> LoadBalancer:
    lb = session.scalars(
        select(LoadBalancer)
        .where(LoadBalancer.id == lb_id, LoadBalancer.provisioning_status != constants.DELETED)
        .options(lazyload(LoadBalancer.vip))  # FOR UPDATE takes no outer join
        .with_for_update()
        .execution_options(populate_existing=True)
    ).one_or_none()
    if lb is None:
        raise NotFound(resource=LB_RESOURCE, id=lb_id)
    return lb


def transition_load_balancer(
    lb: LoadBalancer, new_status: str, allowed: Iterable[str] = constants.MUTABLE_STATUSES
) -> None:
    """A change of the load balancer itself (update, delete, failover)."""
    if lb.provisioning_status not in tuple(allowed):
        raise LBPendingState(state=lb.provisioning_status, id=lb.id)
    lb.provisioning_status = new_status


def lock_for_child_change(
    session: Session,
    lb_id: str,
    *,
    listeners: Iterable[Listener] = (),
    pool: Pool | None = None,
    l7policy: L7Policy | None = None,
) -> LoadBalancer:
    """Lock the tree for a change below the load balancer and mark the parents updating."""
    if pool is not None and pool.provisioning_status not in constants.MUTABLE_STATUSES:
        raise ImmutableObject(resource="Pool", id=pool.id)
    if l7policy is not None and l7policy.provisioning_status not in constants.MUTABLE_STATUSES:
        raise ImmutableObject(resource="L7Policy", id=l7policy.id)
    lb = lock_load_balancer(session, lb_id)
    if lb.provisioning_status not in constants.MUTABLE_STATUSES:
        raise ImmutableObject(resource=LB_RESOURCE, id=lb_id)
    lb.provisioning_status = constants.PENDING_UPDATE
    for parent in (*listeners, pool, l7policy):
        if parent is not None:
            parent.provisioning_status = constants.PENDING_UPDATE
    return lb
