"""The reconciler: takes load balancers with pending work under a lease and completes it.

The API only records the desired state and marks objects PENDING_*. Here, for each such
load balancer:

1. take the lease (a compare-and-set on ``reconcile_state``; a lease whose holder died
   expires, and a restarted controller reclaims its own at once),
2. read the whole tree and hand it to the provider, outside any transaction,
3. in one transaction, settle the statuses: PENDING_CREATE/UPDATE become ACTIVE,
   PENDING_DELETE rows go away (a load balancer stays as DELETED), operating statuses
   are set as Octavia's worker sets them,
4. on failure retry with backoff, and after ``max_attempts`` mark the pending objects
   ERROR with the reason kept in ``reconcile_state.last_error``.

The tree cannot change between 2 and 3: while the load balancer is PENDING_* the API
refuses every change to it (409), as Octavia does.
"""

from __future__ import annotations

import logging
import os
import threading
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import case, delete, or_, select, update
from sqlalchemy.orm import Session

from ostia import constants
from ostia.config import ControllerSettings
from ostia.controller.provider import Provider
from ostia.db.engine import Database
from ostia.db.leases import take_lease
from ostia.db.models import (
    HealthMonitor,
    L7Policy,
    L7Rule,
    Listener,
    LoadBalancer,
    Member,
    Pool,
    ReconcileState,
    SessionPersistence,
    utcnow,
)
from ostia.db.notify import WorkSignal
from ostia.db.tree import load_tree, tree_objects
from ostia.network.ipam import release_load_balancer_ports

LOG = logging.getLogger(__name__)


# Deleted in this order, children before parents.
DELETE_ORDER = (L7Rule, L7Policy, Member, HealthMonitor, Pool, Listener)
# Objects whose operating_status Octavia's worker sets when it marks them ACTIVE.
ONLINE_WHEN_ENABLED = (HealthMonitor, L7Policy, L7Rule)


@dataclass
class SettlePlan:
    """The statements that settle a load balancer's tree once the data plane runs it."""

    activate: dict[Any, list[str]] = field(default_factory=lambda: defaultdict(list))
    delete: dict[Any, list[str]] = field(default_factory=lambda: defaultdict(list))
    unmonitored_pools: list[str] = field(default_factory=list)

    @classmethod
    def of(cls, lb: LoadBalancer) -> SettlePlan:
        plan = cls()
        everything = lb.provisioning_status == constants.PENDING_DELETE
        for obj in tree_objects(lb):
            if everything or obj.provisioning_status == constants.PENDING_DELETE:
                plan._delete_with_children(obj)
            elif obj.provisioning_status in (constants.PENDING_CREATE, constants.PENDING_UPDATE):
                plan.activate[type(obj)].append(obj.id)
        return plan

    def _delete_with_children(self, obj: Any) -> None:
        if obj.id in self.delete[type(obj)]:
            return
        self.delete[type(obj)].append(obj.id)
        children: list[Any] = []
        if isinstance(obj, Listener):
            children = list(obj.l7policies)
        elif isinstance(obj, L7Policy):
            children = list(obj.rules)
        elif isinstance(obj, Pool):
            children = [*obj.members, *([obj.health_monitor] if obj.health_monitor else [])]
        elif isinstance(obj, HealthMonitor):
            self.unmonitored_pools.append(obj.pool_id)
        for child in children:
            self._delete_with_children(child)

    def apply(self, session: Session) -> None:
        for model, ids in self.activate.items():
            values: dict[str, Any] = {"provisioning_status": constants.ACTIVE}
            if model in ONLINE_WHEN_ENABLED:
                values["operating_status"] = case(
                    (model.enabled, constants.ONLINE), else_=constants.OFFLINE
                )
            session.execute(update(model).where(model.id.in_(ids)).values(**values))
        pools = [p for p in self.unmonitored_pools if p not in self.delete[Pool]]
        if pools:
            session.execute(
                update(Member)
                .where(Member.pool_id.in_(pools))
                .values(operating_status=constants.NO_MONITOR)
            )
        if self.delete[Pool]:
            session.execute(
                delete(SessionPersistence).where(SessionPersistence.pool_id.in_(self.delete[Pool]))
            )
            session.execute(
                update(Listener)
                .where(Listener.default_pool_id.in_(self.delete[Pool]))
                .values(default_pool_id=None)
            )
        for model in DELETE_ORDER:
            if ids := self.delete[model]:
                session.execute(delete(model).where(model.id.in_(ids)))


class Reconciler:
    def __init__(
        self,
        settings: ControllerSettings,
        db: Database,
        signal: WorkSignal,
        provider: Provider,
    ) -> None:
        self.settings = settings
        self.db = db
        self.signal = signal
        self.provider = provider
        self.owner = f"{settings.instance_id}/{os.getpid()}"
        self._stop = threading.Event()
        self._inflight: set[str] = set()
        self._inflight_lock = threading.Lock()
        self._executor: ThreadPoolExecutor | None = None
        self._thread: threading.Thread | None = None

    # -- running -------------------------------------------------------------------

    def start(self) -> None:
        self.reclaim_leases()
        self._stop.clear()
        self._executor = ThreadPoolExecutor(self.settings.workers, thread_name_prefix="reconcile")
        self._thread = threading.Thread(target=self._loop, name="reconciler", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self.signal.event.set()
        if self._thread is not None:
            self._thread.join()
        if self._executor is not None:
            self._executor.shutdown(wait=True)

    def _loop(self) -> None:
        last_renewal = utcnow()
        while not self._stop.is_set():
            self.signal.event.clear()
            try:
                for lb_id in self.due_load_balancers():
                    self._submit(lb_id)
                if (utcnow() - last_renewal).total_seconds() >= self.settings.lease_seconds / 3:
                    self._renew_leases()
                    last_renewal = utcnow()
            except Exception:
                LOG.exception("reconciler scan failed; retrying")
            self.signal.event.wait(self.settings.poll_interval)

    def _submit(self, lb_id: str) -> None:
        with self._inflight_lock:
            if lb_id in self._inflight or self._executor is None:
                return
            self._inflight.add(lb_id)
        self._executor.submit(self._work, lb_id)

    def _work(self, lb_id: str) -> None:
        try:
            self.reconcile(lb_id)
        except Exception:
            LOG.exception("reconciling load balancer %s failed", lb_id)
        finally:
            with self._inflight_lock:
                self._inflight.discard(lb_id)
            self.signal.event.set()

    # -- leases --------------------------------------------------------------------

    def due_load_balancers(self) -> list[str]:
        now = utcnow()
        stmt = (
            select(LoadBalancer.id)
            .join(ReconcileState, ReconcileState.load_balancer_id == LoadBalancer.id)
            .where(
                LoadBalancer.provisioning_status.in_(constants.PENDING_STATUSES),
                or_(ReconcileState.lease_owner.is_(None), ReconcileState.lease_expires_at < now),
                or_(ReconcileState.retry_at.is_(None), ReconcileState.retry_at <= now),
            )
            .order_by(LoadBalancer.updated_at)
            .limit(self.settings.workers * 4)
        )
        with self.db.read() as session:
            return list(session.scalars(stmt))

    def _lease_until(self) -> datetime:
        return utcnow() + timedelta(seconds=self.settings.lease_seconds)

    def acquire(self, lb_id: str) -> bool:
        with self.db.write() as session:
            return take_lease(session, lb_id, self.owner, self._lease_until())

    def release(self, session: Session, lb_id: str) -> None:
        session.execute(
            update(ReconcileState)
            .where(
                ReconcileState.load_balancer_id == lb_id, ReconcileState.lease_owner == self.owner
            )
            .values(lease_owner=None, lease_expires_at=None)
        )

    def _renew_leases(self) -> None:
        with self._inflight_lock:
            held = list(self._inflight)
        if not held:
            return
        with self.db.write() as session:
            session.execute(
                update(ReconcileState)
                .where(
                    ReconcileState.load_balancer_id.in_(held),
                    ReconcileState.lease_owner == self.owner,
                )
                .values(lease_expires_at=self._lease_until())
            )

    def reclaim_leases(self) -> None:
        """Free leases held by earlier runs of this controller (same instance id) whose
        process is gone, so a restarted controller resumes at once instead of waiting for
        them to expire."""
        prefix = f"{self.settings.instance_id}/"
        with self.db.write() as session:
            holders = session.scalars(
                select(ReconcileState.lease_owner)
                .where(ReconcileState.lease_owner.like(f"{prefix}%"))
                .distinct()
            ).all()
            dead = [h for h in holders if h is not None and not _process_alive(h, prefix)]
            if dead:
                LOG.info("reclaiming leases of stopped controller runs: %s", ", ".join(dead))
                session.execute(
                    update(ReconcileState)
                    .where(ReconcileState.lease_owner.in_(dead))
                    .values(lease_owner=None, lease_expires_at=None)
                )

    # -- one load balancer ---------------------------------------------------------

    def reconcile(self, lb_id: str) -> bool:
        """Complete the pending work of one load balancer; False if another holds it."""
        if not self.acquire(lb_id):
            return False
        try:
            with self.db.read() as session:
                lb = load_tree(session, lb_id)
            if lb is None or lb.provisioning_status not in constants.PENDING_STATUSES:
                with self.db.write() as session:
                    self.release(session, lb_id)
                return True
            try:
                if lb.provisioning_status == constants.PENDING_DELETE:
                    self.provider.delete(lb)
                elif lb.failover_requested:
                    self.provider.failover(lb)
                else:
                    self.provider.apply(lb)
            except Exception as exc:
                LOG.warning("load balancer %s: %s", lb_id, exc)
                self._record_failure(lb_id, exc)
                return True
            with self.db.write() as session:
                self._settle(session, lb)
                self.release(session, lb_id)
            return True
        except BaseException:
            with self.db.write() as session:
                self.release(session, lb_id)
            raise

    @staticmethod
    def _settle(session: Session, lb: LoadBalancer) -> None:
        """Record that the data plane now runs ``lb`` (the tree read before the provider
        ran; it cannot have changed since, the API refusing changes while it is PENDING)."""
        plan = SettlePlan.of(lb)
        plan.apply(session)
        if lb.provisioning_status == constants.PENDING_DELETE:
            release_load_balancer_ports(session, lb.id)
        values: dict[str, Any] = {
            "failover_requested": False,
            "provisioning_status": (
                constants.DELETED
                if lb.provisioning_status == constants.PENDING_DELETE
                else constants.ACTIVE
            ),
        }
        session.execute(update(LoadBalancer).where(LoadBalancer.id == lb.id).values(**values))
        session.execute(
            update(ReconcileState)
            .where(ReconcileState.load_balancer_id == lb.id)
            .values(attempts=0, retry_at=None, last_error=None)
        )

    def _record_failure(self, lb_id: str, exc: Exception) -> None:
        reason = f"{type(exc).__name__}: {exc}"
        with self.db.write() as session:
            state = session.get(ReconcileState, lb_id)
            lb = load_tree(session, lb_id)
            if state is None or lb is None:
                return
            state.attempts += 1
            state.last_error = reason
            if state.attempts < self.settings.max_attempts and not _permanent(exc):
                delay = min(
                    self.settings.retry_initial_delay * 2 ** (state.attempts - 1),
                    self.settings.retry_max_delay,
                )
                state.retry_at = utcnow() + timedelta(seconds=delay)
            else:
                self._mark_error(lb)
                state.attempts, state.retry_at = 0, None
            self.release(session, lb_id)
        self.signal.event.set()

    @staticmethod
    def _mark_error(lb: LoadBalancer) -> None:
        """Give up: pending children go to ERROR and unlock their load balancer; a load
        balancer whose own create, update, failover or delete failed goes to ERROR."""
        pending_children = [
            obj for obj in tree_objects(lb) if obj.provisioning_status in constants.PENDING_STATUSES
        ]
        for obj in pending_children:
            obj.provisioning_status = constants.ERROR
        own_change = (
            lb.provisioning_status in (constants.PENDING_CREATE, constants.PENDING_DELETE)
            or lb.failover_requested
            or not pending_children
        )
        lb.provisioning_status = constants.ERROR if own_change else constants.ACTIVE
        lb.failover_requested = False


def _permanent(exc: Exception) -> bool:
    """Whether retrying cannot help (a provider marks such errors ``permanent``)."""
    return bool(getattr(exc, "permanent", False))


def _process_alive(owner: str, prefix: str) -> bool:
    pid_text = owner[len(prefix) :]
    if not pid_text.isdigit():
        return True
    pid = int(pid_text)
    if pid == os.getpid():
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
