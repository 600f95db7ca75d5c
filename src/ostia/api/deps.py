"""What every endpoint works with: settings, the database, the caller, the work signal."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from fastapi import Depends, Request
from sqlalchemy.orm import Session

from ostia.api.context import RequestContext, noauth_context, token_context
from ostia.config import Settings
from ostia.db.engine import Database
from ostia.db.notify import WorkSignal


@dataclass
class Services:
    settings: Settings
    db: Database
    signal: WorkSignal

    @contextmanager
    def change(self) -> Iterator[Session]:
        """A write transaction that, once committed, tells the controller there is work."""
        with self.db.write() as session:
            yield session
            self.signal.announce(session)
        self.signal.wake()


# The dependencies are coroutines so that FastAPI runs them inline rather than handing each
# to the thread pool: they never block.
async def get_services(request: Request) -> Services:
    services: Services = request.app.state.services
    return services


async def get_context(request: Request) -> RequestContext:
    services = await get_services(request)
    if services.settings.api.auth_strategy == "keystone":
        return await token_context(request)
    return noauth_context(request)


ServicesDep = Depends(get_services)
ContextDep = Depends(get_context)


def list_url(request: Request, settings: Settings) -> str:
    """The address pagination links point at: the list the client asked for."""
    path = request.scope.get("ostia.original_path", request.url.path)
    base = settings.api.api_base_uri.rstrip("/") or str(request.base_url).rstrip("/")
    return f"{base}{path}"
