"""``GET /v2/octavia/amphorae/{amphora_id}/stats``: an amphora's traffic counters, one entry
per listener it runs (INVENTORY §1.14), admin only."""

from __future__ import annotations

from fastapi import APIRouter
from pydantic import BaseModel
from sqlalchemy import select

from ostia.api import policy
from ostia.api.context import RequestContext
from ostia.api.deps import ContextDep, Services, ServicesDep
from ostia.api.responses import ApiResponse
from ostia.db.models import Amphora, Listener, ListenerStatistics
from ostia.errors import NotFound

router = APIRouter(tags=["amphorae"])

DELETED = "DELETED"


class AmphoraStatistics(BaseModel):
    id: str
    listener_id: str
    loadbalancer_id: str
    active_connections: int
    bytes_in: int
    bytes_out: int
    request_errors: int
    total_connections: int


class AmphoraStatisticsRoot(BaseModel):
    amphora_stats: list[AmphoraStatistics]


@router.get("/amphorae/{amphora_id}/stats", response_model=AmphoraStatisticsRoot)
def amphora_stats(
    amphora_id: str, svc: Services = ServicesDep, ctx: RequestContext = ContextDep
) -> ApiResponse:
    policy.enforce(ctx, "amphora:get_stats", ctx.project_id)
    with svc.db.read() as session:
        amphora = session.get(Amphora, amphora_id)
        if amphora is None or amphora.status == DELETED:
            raise NotFound(resource="Amphora", id=amphora_id)
        rows = session.execute(
            select(ListenerStatistics, Listener.load_balancer_id)
            .join(Listener, Listener.id == ListenerStatistics.listener_id)
            .where(ListenerStatistics.amphora_id == amphora_id)
            .order_by(ListenerStatistics.listener_id)
        ).all()
    if not rows:
        raise NotFound(resource="Amphora stats for", id=amphora_id)
    return ApiResponse(
        {
            "amphora_stats": [
                {
                    "active_connections": stats.active_connections,
                    "bytes_in": stats.bytes_in,
                    "bytes_out": stats.bytes_out,
                    "id": stats.amphora_id,
                    "listener_id": stats.listener_id,
                    "loadbalancer_id": lb_id,
                    "request_errors": stats.request_errors,
                    "total_connections": stats.total_connections,
                }
                for stats, lb_id in rows
            ]
        }
    )
