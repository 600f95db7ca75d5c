"""Assembling Ostia's services from settings: shared by the command line, tests and benches."""

from __future__ import annotations

import os
from dataclasses import dataclass

from fastapi import FastAPI

from ostia.api.app import create_app
from ostia.api.deps import Services
from ostia.config import Settings
from ostia.controller.failover_watch import FailoverWatch
from ostia.controller.housekeeping import Housekeeping, make_housekeeping
from ostia.controller.provider import NoopProvider, Provider, ProviderUnavailable
from ostia.controller.reconciler import Reconciler
from ostia.controller.spares import SparePool
from ostia.controller.wakeup import NotifyListener
from ostia.db.engine import Database
from ostia.db.notify import WorkSignal
from ostia.health.manager import HealthManager


def make_provider(settings: Settings, db: Database) -> Provider:
    """The data plane the settings ask for; the amphora one needs managed networking and root
    (it creates network namespaces)."""
    if settings.controller.provider == "noop":
        return NoopProvider(step_delay=settings.controller.noop_step_delay)
    # Only here: rendering, certificates and namespaces are not every command's business.
    from ostia.controller.amphora_provider import AmphoraProvider

    if settings.networking.mode != "managed":
        raise ProviderUnavailable(
            'the amphora provider ([controller] provider = "amphora") needs Ostia\'s own '
            'networks: set [networking] mode = "managed"'
        )
    if os.geteuid() != 0:
        raise ProviderUnavailable(
            'the amphora provider ([controller] provider = "amphora") creates network '
            "namespaces: run the controller as root"
        )
    return AmphoraProvider(settings, db)


def make_health_manager(
    settings: Settings, db: Database, provider: Provider
) -> HealthManager | None:
    """The heartbeat receiver of the amphora provider's agents, on the controller's
    management address."""
    if settings.controller.provider != "amphora":
        return None
    from ostia.controller.amphora_provider import AmphoraProvider

    if not isinstance(provider, AmphoraProvider):
        return None
    return HealthManager(
        db,
        provider.heartbeat_key,
        provider.management_address,
        settings.health.bind_port,
        namespace=provider.namespace,
        replay_window=settings.health.replay_window,
    )


def make_spare_pool(settings: Settings, db: Database, provider: Provider) -> SparePool | None:
    """The spare amphora pool of the amphora provider, when it has a size."""
    size = settings.house_keeping.spare_amphora_pool_size
    if size == 0 or settings.controller.provider != "amphora":
        return None
    from ostia.controller.amphora_provider import AmphoraProvider

    if not isinstance(provider, AmphoraProvider):
        return None
    pool = SparePool(db, provider, size, settings.house_keeping.spare_check_interval)
    provider.store.on_claim = pool.wake
    return pool


def make_failover_watch(runtime: Runtime) -> FailoverWatch:
    health = runtime.settings.health
    return FailoverWatch(
        runtime.db,
        runtime.signal,
        health.heartbeat_timeout,
        health.failover_threshold,
        interval=health.health_check_interval,
        heartbeat_interval=health.heartbeat_interval,
    )


@dataclass
class Runtime:
    settings: Settings
    db: Database
    signal: WorkSignal

    @classmethod
    def open(cls, settings: Settings) -> Runtime:
        if not settings.database.url:
            settings.data_dir.mkdir(parents=True, exist_ok=True)
        db = Database(settings.database_url)
        return cls(settings=settings, db=db, signal=WorkSignal(db.backend))

    def api(self) -> FastAPI:
        return create_app(Services(settings=self.settings, db=self.db, signal=self.signal))

    def controller(self, provider: Provider | None = None) -> Controller:
        provider = provider or make_provider(self.settings, self.db)
        reconciler = Reconciler(self.settings.controller, self.db, self.signal, provider)
        listener = (
            NotifyListener(self.db.url, self.signal) if self.db.backend == "postgresql" else None
        )
        health = make_health_manager(self.settings, self.db, provider)
        # Amphorae are failed over only where their heartbeats are received.
        failover = None if health is None else make_failover_watch(self)
        spares = make_spare_pool(self.settings, self.db, provider)
        if spares is not None and failover is not None:
            failover.on_spares_lost = spares.wake
        return Controller(
            reconciler,
            listener,
            health,
            make_housekeeping(self.settings, self.db, provider, reconciler.owner),
            failover=failover,
            spares=spares,
        )

    def close(self) -> None:
        self.db.dispose()


@dataclass
class Controller:
    """The controller's loops: the reconciler and, on PostgreSQL, its wake-up listener."""

    reconciler: Reconciler
    listener: NotifyListener | None
    # The heartbeat receiver, with the amphora provider.
    health: HealthManager | None = None
    # Purging DELETED rows and rotating amphora certificates.
    housekeeping: Housekeeping | None = None
    # Replacing amphorae whose heartbeats stopped, with the heartbeat receiver.
    failover: FailoverWatch | None = None
    # Booting spare amphorae in advance, with a pool size.
    spares: SparePool | None = None

    def start(self) -> None:
        self.reconciler.start()
        if self.listener is not None:
            self.listener.start()
        if self.health is not None:
            self.health.start()
        if self.housekeeping is not None:
            self.housekeeping.start()
        if self.failover is not None:
            self.failover.start()
        if self.spares is not None:
            self.spares.start()

    def stop(self) -> None:
        if self.spares is not None:
            self.spares.stop()
        if self.failover is not None:
            self.failover.stop()
        if self.housekeeping is not None:
            self.housekeeping.stop()
        if self.health is not None:
            self.health.stop()
        if self.listener is not None:
            self.listener.stop()
        self.reconciler.stop()
