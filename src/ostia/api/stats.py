"""Traffic statistics as the stats endpoints report them: sums of per-listener counters."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ostia.db.models import ListenerStatistics

COUNTERS = ("bytes_in", "bytes_out", "active_connections", "total_connections", "request_errors")


def statistics(session: Session, *conditions: Any) -> dict[str, int]:
    """Counters summed over the ``listener_statistics`` rows matching ``conditions``."""
    row = session.execute(
        select(
            *(func.coalesce(func.sum(getattr(ListenerStatistics, c)), 0) for c in COUNTERS)
        ).where(*conditions)
    ).one()
    return {name: int(value) for name, value in zip(COUNTERS, row, strict=True)}
