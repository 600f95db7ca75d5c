"""The reconcile lease on a load balancer: whoever holds it alone works on its amphorae."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import or_, update
from sqlalchemy.orm import Session

from ostia.db.models import ReconcileState, utcnow


def take_lease(session: Session, lb_id: str, owner: str, until: datetime) -> bool:
    """Compare-and-set: the lease becomes ``owner``'s if nobody holds it or it expired."""
    now = utcnow()
    result = session.execute(
        update(ReconcileState)
        .where(
            ReconcileState.load_balancer_id == lb_id,
            or_(ReconcileState.lease_owner.is_(None), ReconcileState.lease_expires_at < now),
        )
        .values(lease_owner=owner, lease_expires_at=until)
    )
    return bool(result.rowcount == 1)  # type: ignore[attr-defined]
