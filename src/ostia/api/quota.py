"""Per-project quotas: limits in the ``quota`` table (NULL = deployment default, -1 =
unlimited), usage counted from the objects themselves, so it can never drift."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from ostia import constants
from ostia.config import QuotaSettings
from ostia.db.models import (
    HealthMonitor,
    L7Policy,
    L7Rule,
    Listener,
    LoadBalancer,
    Member,
    Pool,
    Quota,
)
from ostia.errors import QuotaExceeded

# quota column -> (model, default option, name in Octavia's 403 message)
RESOURCES: dict[str, tuple[Any, str, str]] = {
    "load_balancer": (LoadBalancer, "default_load_balancer_quota", "Load Balancer"),
    "listener": (Listener, "default_listener_quota", "Listener"),
    "pool": (Pool, "default_pool_quota", "Pool"),
    "health_monitor": (HealthMonitor, "default_health_monitor_quota", "Health Monitor"),
    "member": (Member, "default_member_quota", "Member"),
    "l7policy": (L7Policy, "default_l7policy_quota", "L7 Policy"),
    "l7rule": (L7Rule, "default_l7rule_quota", "L7 Rule"),
}


def effective_limits(quota: Quota | None, defaults: QuotaSettings) -> dict[str, int]:
    limits = {}
    for column, (_, option, _) in RESOURCES.items():
        value = getattr(quota, column) if quota is not None else None
        limits[column] = value if value is not None else getattr(defaults, option)
    return limits


def lock_project(session: Session, project_id: str) -> Quota:
    """The project's quota row, locked so concurrent creates count one after another."""
    stmt = select(Quota).where(Quota.project_id == project_id).with_for_update()
    quota = session.scalars(stmt).one_or_none()
    if quota is None:
        try:
            with session.begin_nested():
                session.add(Quota(project_id=project_id))
        except IntegrityError:
            pass  # created meanwhile by another request
        quota = session.scalars(stmt).one()
    return quota


def check_quota(
    session: Session, defaults: QuotaSettings, project_id: str | None, wanted: dict[str, int]
) -> None:
    """Refuse with 403 if creating ``wanted`` (quota column -> count) would exceed a limit."""
    wanted = {k: v for k, v in wanted.items() if v > 0}
    if project_id is None or not wanted:
        return
    limits = effective_limits(session.get(Quota, project_id), defaults)
    if all(limits[column] == -1 for column in wanted):
        return
    limits = effective_limits(lock_project(session, project_id), defaults)
    for column, count in wanted.items():
        limit = limits[column]
        if limit == -1:
            continue
        model, _, name = RESOURCES[column]
        stmt = select(func.count()).select_from(model).where(model.project_id == project_id)
        if model is LoadBalancer:
            stmt = stmt.where(LoadBalancer.provisioning_status != constants.DELETED)
        if (session.scalar(stmt) or 0) + count > limit:
            raise QuotaExceeded(resource=name)
