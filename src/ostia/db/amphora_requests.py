"""What the API and the controller's failover watch ask of an amphora, as desired state.

Neither touches the data plane: each request is a change of rows, made in the caller's
transaction together with the load balancer going ``PENDING_UPDATE``, which hands the work
to the reconciler. Its amphora provider reads the amphora rows:

- ``PENDING_DELETE`` (a failover, or the delete of an ERROR amphora): build an amphora of the
  same role, move the VIP's traffic to it, reconfigure the peer, remove this one;
- ``PENDING_UPDATE`` (configuration pushed again): render and upload everything again.
"""

from __future__ import annotations

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from ostia.db.models import Amphora, AmphoraHealth

# Octavia's amphora statuses the API and the watch use.
ALLOCATED = "ALLOCATED"
PENDING_UPDATE = "PENDING_UPDATE"
PENDING_DELETE = "PENDING_DELETE"
DELETED = "DELETED"
ERROR = "ERROR"
# A spare amphora: booted, no load balancer yet (see ostia.controller.spares).
READY = "READY"
# Stale, but not failed over: more were stale at once than the circuit breaker allows.
FAILOVER_STOPPED = "FAILOVER_STOPPED"
# What a failover may replace: amphorae serving (or meant to serve) their load balancer.
REPLACEABLE = (ALLOCATED, FAILOVER_STOPPED)


def request_replacement(session: Session, amphora: Amphora) -> None:
    """The amphora is to be replaced by a new one of the same role; its health record is
    marked busy meanwhile, as Octavia's failover does."""
    amphora.status = PENDING_DELETE
    session.execute(
        update(AmphoraHealth).where(AmphoraHealth.amphora_id == amphora.id).values(busy=True)
    )


def request_configuration(amphora: Amphora) -> None:
    """The amphora's HAProxy and keepalived configurations are to be rendered and uploaded
    again (the provider pushes everything to an amphora that is not ALLOCATED)."""
    if amphora.status == ALLOCATED:
        amphora.status = PENDING_UPDATE


def drop_spares(session: Session, amphora_ids: list[str]) -> list[str]:
    """These spares PENDING_DELETE for the spare pool to remove, unless claimed meanwhile (a
    compare-and-set on READY); the ids dropped."""
    dropped = list(
        session.scalars(
            select(Amphora.id).where(
                Amphora.id.in_(amphora_ids),
                Amphora.status == READY,
                Amphora.load_balancer_id.is_(None),
            )
        )
    )
    session.execute(
        update(Amphora)
        .where(Amphora.id.in_(dropped), Amphora.status == READY, Amphora.load_balancer_id.is_(None))
        .values(status=PENDING_DELETE)
    )
    return dropped
