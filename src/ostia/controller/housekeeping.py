"""Housekeeping (Octavia's house_keeping service, INVENTORY §6), two loops of the controller
process beside the reconciler: purging DELETED rows and rotating amphora certificates.

What stays DELETED, as in Octavia: a deleted load balancer's row (with its VIP and
reconcile_state rows; its listeners, pools, members, monitors and L7 rows are removed at
once) and every amphora removed by a delete or a failover (its ports are given back at once).
Every ``cleanup_interval`` the purge removes

- load balancers DELETED for longer than ``load_balancer_expiry_age`` (``updated_at`` is when
  they became DELETED), their VIP and reconcile_state rows (ON DELETE CASCADE) and the
  statistics their amphorae kept for their listeners; amphorae still pointing at them are
  detached (``load_balancer_id`` NULL, as Octavia's ORM leaves them) and go by their own age;
- amphorae DELETED for longer than ``amphora_expiry_age`` whose health record, if any, is as
  old (Octavia's rule), with that record and their statistics of listeners that no longer
  exist (those of live listeners stay: they are part of the listener's totals).

Every ``cert_interval`` the rotation gives a new server certificate to each ALLOCATED amphora
whose certificate expires within ``cert_expiry_buffer``: issued by the local CA, uploaded to
the agent (``PUT /1.0/certificate``, which takes it without a restart), checked as what the
agent now shows, and its expiry recorded. Nothing of the data path is touched: no failover,
no reload of HAProxy or keepalived.

Exclusion: the rotation of a load balancer's amphorae runs under that load balancer's
reconcile lease, the compare-and-set the reconciler takes, held as ``<reconciler's
owner>/house_keeping`` (a name of its own, so that the reconciler of the same process never
takes the rotation's lease for its own) and expiring if the controller dies. So two
controllers never rotate the same amphora, and no reconciler run (boot, configuration push,
failover, delete, each of which may replace the amphora or its certificate) overlaps a
rotation: a change made through the API meanwhile waits for the rotation, a second or so, and
a load balancer with pending work is not rotated until the reconciler has settled it.
``cert_busy`` is set while the rotation runs, for the admin API; unlike Octavia's flag alone it
cannot stay stuck, because the lease (not the flag) decides, and a rotation claims its
amphorae anew.
"""

from __future__ import annotations

import logging
import ssl
import threading
import time
from collections import defaultdict
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta
from typing import Protocol, runtime_checkable

from sqlalchemy import delete, func, or_, select, update
from sqlalchemy.orm import Session

from ostia import constants
from ostia.amphora.client import AgentClient, AgentError, ClientCredentials
from ostia.certificates.ca import LocalCA, expiration
from ostia.config import DataplaneSettings, Settings
from ostia.controller.amphora_store import ALLOCATED, DELETED
from ostia.controller.provider import Provider
from ostia.db.engine import Database
from ostia.db.leases import take_lease
from ostia.db.models import (
    Amphora,
    AmphoraHealth,
    Listener,
    ListenerStatistics,
    LoadBalancer,
    ReconcileState,
    utcnow,
)

LOG = logging.getLogger(__name__)

# Rows purged per transaction.
PURGE_BATCH = 500


class CertificateRotation(Protocol):
    def rotate(self, amphora: Amphora) -> datetime:
        """Give the amphora's agent a new server certificate; its expiry (naive UTC)."""


@runtime_checkable
class AgentPlane(Protocol):
    """A data plane of amphora agents (the amphora provider): what rotation needs of it."""

    ca: LocalCA
    credentials: ClientCredentials
    namespace: str
    dataplane: DataplaneSettings


class AgentCertificates:
    """Rotation on the amphora data plane: the local CA issues, the agent client uploads."""

    def __init__(self, plane: AgentPlane, validity: timedelta) -> None:
        self.plane = plane
        self.validity = validity

    def rotate(self, amphora: Amphora) -> datetime:
        address = amphora.lb_network_ip
        if not address:
            raise ValueError(f"amphora {amphora.id} has no management address")
        issued = self.plane.ca.issue_server_certificate(amphora.id, address, validity=self.validity)
        client = AgentClient(
            amphora.id,
            address,
            tls=self.plane.credentials.context,
            namespace=self.plane.namespace,
            port=self.plane.dataplane.agent_port,
            connect_timeout=self.plane.dataplane.agent_timeout,
            read_timeout=self.plane.dataplane.agent_timeout,
            # The next pass tries again.
            retry_for=0.0,
        )
        client.upload_server_certificate(issued.bundle)
        if client.server_certificate() != ssl.PEM_cert_to_DER_cert(issued.certificate.decode()):
            raise AgentError(amphora.id, "PUT /1.0/certificate", None, "another one is shown")
        return expiration(issued.certificate).replace(tzinfo=None)


def make_housekeeping(
    settings: Settings, db: Database, provider: Provider, owner: str
) -> Housekeeping:
    """Housekeeping for the controller whose reconciler leases as ``owner``; certificates
    are rotated only on a data plane of amphora agents."""
    certificates = None
    if isinstance(provider, AgentPlane):
        validity = timedelta(seconds=settings.certificates.cert_validity_time)
        certificates = AgentCertificates(provider, validity)
    return Housekeeping(settings, db, f"{owner}/house_keeping", certificates)


class Housekeeping:
    def __init__(
        self,
        settings: Settings,
        db: Database,
        owner: str,
        certificates: CertificateRotation | None,
    ) -> None:
        self.settings = settings.house_keeping
        self.lease_seconds = settings.controller.lease_seconds
        self.db = db
        self.owner = owner
        self.certificates = certificates
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []

    # -- running -------------------------------------------------------------------------

    def start(self) -> None:
        self._stop.clear()
        loops: list[tuple[str, float, Callable[[], object]]] = [
            ("purge", self.settings.cleanup_interval, self.purge)
        ]
        if self.certificates is not None:
            loops.append(("cert-rotation", self.settings.cert_interval, self.rotate_expiring))
        for name, interval, task in loops:
            thread = threading.Thread(
                target=self._every, args=(name, interval, task), name=name, daemon=True
            )
            thread.start()
            self._threads.append(thread)

    def stop(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join()
        self._threads.clear()

    def _every(self, name: str, interval: float, task: Callable[[], object]) -> None:
        while not self._stop.is_set():
            try:
                task()
            except Exception:
                LOG.exception("housekeeping: %s failed; trying again in %g s", name, interval)
            self._stop.wait(interval)

    # -- purge ---------------------------------------------------------------------------

    def purge(self) -> tuple[int, int]:
        """Purge expired DELETED rows; (load balancers, amphorae) purged."""
        now = utcnow()
        lb_cutoff = now - timedelta(seconds=self.settings.load_balancer_expiry_age)
        amphora_cutoff = now - timedelta(seconds=self.settings.amphora_expiry_age)
        load_balancers = amphorae = 0
        while count := self._purge_load_balancers(lb_cutoff):
            load_balancers += count
        while count := self._purge_amphorae(amphora_cutoff):
            amphorae += count
        if load_balancers or amphorae:
            LOG.info("purged %d load balancer(s), %d amphora(e)", load_balancers, amphorae)
        return load_balancers, amphorae

    def _purge_load_balancers(self, cutoff: datetime) -> int:
        with self.db.write() as session:
            ids = list(
                session.scalars(
                    select(LoadBalancer.id)
                    .where(
                        LoadBalancer.provisioning_status == constants.DELETED,
                        func.coalesce(LoadBalancer.updated_at, LoadBalancer.created_at) < cutoff,
                    )
                    .limit(PURGE_BATCH)
                )
            )
            if not ids:
                return 0
            amphora_ids = list(
                session.scalars(select(Amphora.id).where(Amphora.load_balancer_id.in_(ids)))
            )
            _delete_orphan_statistics(session, amphora_ids)
            session.execute(
                update(Amphora)
                .where(Amphora.load_balancer_id.in_(ids))
                # Detaching is not a change of the amphora: its age runs on.
                .values(load_balancer_id=None, updated_at=Amphora.updated_at)
            )
            session.execute(delete(LoadBalancer).where(LoadBalancer.id.in_(ids)))
            return len(ids)

    def _purge_amphorae(self, cutoff: datetime) -> int:
        with self.db.write() as session:
            ids = list(
                session.scalars(
                    select(Amphora.id)
                    .outerjoin(AmphoraHealth, AmphoraHealth.amphora_id == Amphora.id)
                    .where(
                        Amphora.status == DELETED,
                        func.coalesce(Amphora.updated_at, Amphora.created_at) < cutoff,
                        or_(AmphoraHealth.amphora_id.is_(None), AmphoraHealth.last_update < cutoff),
                    )
                    .limit(PURGE_BATCH)
                )
            )
            if not ids:
                return 0
            _delete_orphan_statistics(session, ids)
            session.execute(delete(AmphoraHealth).where(AmphoraHealth.amphora_id.in_(ids)))
            session.execute(delete(Amphora).where(Amphora.id.in_(ids)))
            return len(ids)

    # -- certificate rotation ------------------------------------------------------------

    def expiring(self) -> dict[str, list[str]]:
        """Load balancer id → ids of its amphorae due for a new certificate, among load
        balancers with no pending work and no lease held (soonest expiry first)."""
        now = utcnow()
        due = now + timedelta(seconds=self.settings.cert_expiry_buffer)
        stmt = (
            select(Amphora.load_balancer_id, Amphora.id)
            .join(LoadBalancer, LoadBalancer.id == Amphora.load_balancer_id)
            .join(ReconcileState, ReconcileState.load_balancer_id == LoadBalancer.id)
            .where(
                Amphora.status == ALLOCATED,
                Amphora.cert_expiration < due,
                LoadBalancer.provisioning_status.not_in(constants.PENDING_STATUSES),
                or_(ReconcileState.lease_owner.is_(None), ReconcileState.lease_expires_at < now),
            )
            .order_by(Amphora.cert_expiration, Amphora.id)
        )
        found: dict[str, list[str]] = defaultdict(list)
        with self.db.read() as session:
            for lb_id, amphora_id in session.execute(stmt):
                found[str(lb_id)].append(amphora_id)
        return dict(found)

    def rotate_expiring(self) -> int:
        """One pass: rotate every amphora due, load balancers side by side; how many were
        given a new certificate."""
        due = self.expiring()
        if not due:
            return 0
        workers = min(self.settings.cert_rotate_threads, len(due))
        with ThreadPoolExecutor(workers, thread_name_prefix="cert-rotate") as pool:
            return sum(pool.map(self.rotate_load_balancer, due))

    def claim(self, lb_id: str) -> list[Amphora]:
        """Take the load balancer's lease and mark its amphorae due ``cert_busy``; nothing
        if another controller or a reconciler run holds it."""
        now = utcnow()
        due = now + timedelta(seconds=self.settings.cert_expiry_buffer)
        with self.db.write() as session:
            if not take_lease(session, lb_id, self.owner, self._lease_until()):
                return []
            rows = list(
                session.scalars(
                    select(Amphora)
                    .where(
                        Amphora.load_balancer_id == lb_id,
                        Amphora.status == ALLOCATED,
                        Amphora.cert_expiration < due,
                    )
                    .order_by(Amphora.cert_expiration, Amphora.id)
                )
            )
            for row in rows:
                row.cert_busy = True
        return rows

    def rotate_load_balancer(self, lb_id: str) -> int:
        """Rotate the due amphorae of one load balancer under its lease; how many."""
        if self.certificates is None:
            return 0
        rows = self.claim(lb_id)
        rotated = 0
        try:
            for row in rows:
                if not self._renew(lb_id):
                    LOG.warning("load balancer %s: lease lost; rotation stopped", lb_id)
                    break
                began = time.monotonic()
                try:
                    expires = self.certificates.rotate(row)
                except Exception as exc:
                    LOG.warning("amphora %s: certificate not rotated: %s", row.id, exc)
                    continue
                with self.db.write() as session:
                    session.execute(
                        update(Amphora)
                        .where(Amphora.id == row.id)
                        .values(cert_expiration=expires, cert_busy=False)
                    )
                rotated += 1
                LOG.info(
                    "amphora %s: new certificate in %.3f s, valid until %s",
                    row.id,
                    time.monotonic() - began,
                    expires,
                )
        finally:
            self._release(lb_id, [row.id for row in rows])
        return rotated

    def _lease_until(self) -> datetime:
        return utcnow() + timedelta(seconds=self.lease_seconds)

    def _renew(self, lb_id: str) -> bool:
        with self.db.write() as session:
            renewed = session.execute(
                update(ReconcileState)
                .where(
                    ReconcileState.load_balancer_id == lb_id,
                    ReconcileState.lease_owner == self.owner,
                )
                .values(lease_expires_at=self._lease_until())
            )
            return bool(renewed.rowcount == 1)  # type: ignore[attr-defined]

    def _release(self, lb_id: str, amphora_ids: list[str]) -> None:
        """Clear ``cert_busy`` of the claimed amphorae (rotated or not) and give the lease
        back."""
        with self.db.write() as session:
            if amphora_ids:
                session.execute(
                    update(Amphora)
                    .where(Amphora.id.in_(amphora_ids), Amphora.cert_busy.is_(True))
                    .values(cert_busy=False)
                )
            session.execute(
                update(ReconcileState)
                .where(
                    ReconcileState.load_balancer_id == lb_id,
                    ReconcileState.lease_owner == self.owner,
                )
                .values(lease_owner=None, lease_expires_at=None)
            )


def _delete_orphan_statistics(session: Session, amphora_ids: list[str]) -> None:
    """The amphorae's statistics of listeners that no longer exist."""
    if amphora_ids:
        session.execute(
            delete(ListenerStatistics).where(
                ListenerStatistics.amphora_id.in_(amphora_ids),
                ListenerStatistics.listener_id.not_in(select(Listener.id)),
            )
        )
