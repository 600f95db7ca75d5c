"""``/v2/lbaas/quotas``: per-project limits. A project without a row of its own, or a NULL
limit in it, gets the deployment default (``[quotas]``); the list shows the rows as stored."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from fastapi import APIRouter, Request, Response
from sqlalchemy import select

from ostia.api import policy
from ostia.api.access import scope_list
from ostia.api.context import RequestContext
from ostia.api.deps import ContextDep, Services, ServicesDep, list_url
from ostia.api.listing import Listable, ListQuery
from ostia.api.quota import RESOURCES, effective_limits, lock_project
from ostia.api.responses import ApiResponse
from ostia.api.schemas.quota import (
    COLUMN_OF,
    QuotaRootPUT,
    QuotaRootResponse,
    QuotasRootResponse,
)
from ostia.db.models import Quota
from ostia.errors import NotFound

router = APIRouter(tags=["quotas"])


LISTABLE = Listable(
    model=Quota,
    columns={
        "project_id": Quota.project_id,
        "tenant_id": Quota.project_id,
        **{column: getattr(Quota, column) for column in RESOURCES},
        **{name: getattr(Quota, column) for name, column in COLUMN_OF.items()},
    },
    tagged=False,
    key="project_id",
)


def _render(project_id: str, limits: Mapping[str, int | None]) -> dict[str, Any]:
    """A quota as Octavia shows it: each renamed limit under both of its names."""
    rendered: dict[str, Any] = {"project_id": project_id, "tenant_id": project_id}
    rendered.update(limits)
    rendered.update({name: limits[column] for name, column in COLUMN_OF.items()})
    return rendered


def _stored(quota: Quota) -> dict[str, int | None]:
    return {column: getattr(quota, column) for column in RESOURCES}


@router.get("/quotas", response_model=QuotasRootResponse)
def list_quotas(
    request: Request, svc: Services = ServicesDep, ctx: RequestContext = ContextDep
) -> ApiResponse:
    query = ListQuery(request.query_params, LISTABLE, svc.settings.api.pagination_max_limit)
    stmt = scope_list(ctx, "quota", request.query_params, select(Quota), Quota.project_id)
    with svc.db.read() as session:
        page = query.page(session, stmt, list_url(request, svc.settings))
        items = [_render(quota.project_id, _stored(quota)) for quota in page.rows]
    return ApiResponse({"quotas": query.select_fields(items), "quotas_links": page.links})


@router.get("/quotas/{project_id}", response_model=QuotaRootResponse)
def show_quota(
    project_id: str, svc: Services = ServicesDep, ctx: RequestContext = ContextDep
) -> ApiResponse:
    """One project's limits, defaults filled in. ``/quotas/defaults`` lands here too, as in
    Octavia: a project named "defaults" normally has no row, so it shows the defaults."""
    policy.enforce(ctx, "quota:get_one", project_id)
    with svc.db.read() as session:
        limits = effective_limits(session.get(Quota, project_id), svc.settings.quotas)
    return ApiResponse({"quota": _render(project_id, limits)})


@router.get("/quotas/{project_id}/default", response_model=QuotaRootResponse)
def show_default_quota(
    project_id: str, svc: Services = ServicesDep, ctx: RequestContext = ContextDep
) -> ApiResponse:
    policy.enforce(ctx, "quota:get_defaults", project_id)
    limits = effective_limits(None, svc.settings.quotas)
    return ApiResponse({"quota": _render(project_id, limits)})


@router.put("/quotas/{project_id}", status_code=202, response_model=QuotaRootResponse)
def update_quota(
    project_id: str,
    body: QuotaRootPUT,
    svc: Services = ServicesDep,
    ctx: RequestContext = ContextDep,
) -> ApiResponse:
    policy.enforce(ctx, "quota:put", project_id)
    with svc.db.write() as session:
        quota = lock_project(session, project_id)
        for column, limit in body.quota.limits().items():
            setattr(quota, column, limit)
        session.flush()
        limits = effective_limits(quota, svc.settings.quotas)
    return ApiResponse(status_code=202, content={"quota": _render(project_id, limits)})


@router.delete("/quotas/{project_id}", status_code=202, response_class=Response)
def reset_quota(
    project_id: str, svc: Services = ServicesDep, ctx: RequestContext = ContextDep
) -> Response:
    """Back to the defaults: the project's row goes (Octavia keeps it with NULL limits)."""
    policy.enforce(ctx, "quota:delete", project_id)
    with svc.db.write() as session:
        quota = session.scalars(
            select(Quota).where(Quota.project_id == project_id).with_for_update()
        ).one_or_none()
        if quota is None:
            raise NotFound(resource="Quotas", id=project_id)
        session.delete(quota)
    return Response(status_code=202)
