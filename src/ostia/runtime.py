"""Assembling Ostia's services from settings: shared by the command line, tests and benches."""

from __future__ import annotations

import os
from dataclasses import dataclass

from fastapi import FastAPI

from ostia.api.app import create_app
from ostia.api.deps import Services
from ostia.config import Settings
from ostia.controller.provider import NoopProvider, Provider, ProviderUnavailable
from ostia.controller.reconciler import Reconciler
from ostia.controller.wakeup import NotifyListener
from ostia.db.engine import Database
from ostia.db.notify import WorkSignal


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
        reconciler = Reconciler(
            self.settings.controller,
            self.db,
            self.signal,
            provider or make_provider(self.settings, self.db),
        )
        listener = (
            NotifyListener(self.db.url, self.signal) if self.db.backend == "postgresql" else None
        )
        return Controller(reconciler, listener)

    def close(self) -> None:
        self.db.dispose()


@dataclass
class Controller:
    """The controller's loops: the reconciler and, on PostgreSQL, its wake-up listener."""

    reconciler: Reconciler
    listener: NotifyListener | None

    def start(self) -> None:
        self.reconciler.start()
        if self.listener is not None:
            self.listener.start()

    def stop(self) -> None:
        if self.listener is not None:
            self.listener.stop()
        self.reconciler.stop()
