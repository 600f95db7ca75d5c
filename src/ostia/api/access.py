"""Finding objects and scoping lists to what the caller may see."""

from __future__ import annotations

from typing import Any, TypeVar

from sqlalchemy import Select
from sqlalchemy.orm import Session
from starlette.datastructures import QueryParams

from ostia import constants
from ostia.api import policy
from ostia.api.context import RequestContext
from ostia.api.listing import ColumnLike
from ostia.db.models import LoadBalancer
from ostia.errors import NotFound, PolicyForbidden

T = TypeVar("T")

# Octavia's names for its objects in messages ("Load Balancer x not found.").
RESOURCE_NAMES = {
    "LoadBalancer": "Load Balancer",
    "Listener": "Listener",
    "Pool": "Pool",
    "Member": "Member",
    "HealthMonitor": "Health Monitor",
    "L7Policy": "L7 Policy",
    "L7Rule": "L7 Rule",
    "Flavor": "Flavor",
    "FlavorProfile": "Flavor Profile",
    "AvailabilityZone": "Availability Zone",
    "AvailabilityZoneProfile": "Availability Zone Profile",
}


def resource_name(model: type) -> str:
    return RESOURCE_NAMES.get(model.__name__, model.__name__)


def get_or_404(session: Session, model: type[T], object_id: str, **options: Any) -> T:
    """The object with this id, or 404 in Octavia's words. Deleted load balancers are gone."""
    obj = session.get(model, object_id, **options)
    if obj is None or (
        isinstance(obj, LoadBalancer) and obj.provisioning_status == constants.DELETED
    ):
        raise NotFound(resource=resource_name(model), id=object_id)
    return obj


def scope_list(
    ctx: RequestContext,
    resource: str,
    params: QueryParams,
    stmt: Select[Any],
    project_column: ColumnLike,
) -> Select[Any]:
    """Octavia's list authorization: global readers see every project (or the one they
    filter on); everyone else sees only their own project."""
    if policy.allowed(ctx, f"{resource}:get_all-global"):
        return stmt
    requested = params.get("project_id") or ctx.project_id
    if requested is None:
        raise PolicyForbidden()
    policy.enforce(ctx, f"{resource}:get_all", requested)
    return stmt.where(project_column == requested)
