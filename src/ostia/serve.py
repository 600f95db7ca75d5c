"""Running Ostia's services: ``ostia up`` (API and controller in one process), ``ostia api``
and ``ostia controller``."""

from __future__ import annotations

import signal
import socket
import sys
import threading

import uvicorn

from ostia import __version__
from ostia.config import Settings
from ostia.controller.provider import ProviderUnavailable
from ostia.db import migrate
from ostia.identity.firstrun import CLOUD_NAME, ensure_admin
from ostia.runtime import Controller, Runtime


def require_current_schema(settings: Settings) -> None:
    if not migrate.is_current(settings.database_url):
        sys.exit(
            f"ostia: the database at {settings.database_url} is not at the current schema; "
            "run 'ostia db upgrade' first."
        )


def _sockets(settings: Settings) -> list[socket.socket]:
    """The API's listening sockets: its port, and the identity port if one is configured."""
    ports = [settings.api.bind_port]
    if settings.identity.port is not None and settings.identity.port not in ports:
        ports.append(settings.identity.port)
    family = socket.AF_INET6 if ":" in settings.api.bind_host else socket.AF_INET
    sockets = []
    for port in ports:
        # IPPROTO_TCP spelled out: asyncio sets TCP_NODELAY on accepted connections only
        # then, and without it every response waits ~40 ms for a delayed ACK.
        sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((settings.api.bind_host, port))
        except OSError as exc:
            sys.exit(f"ostia: cannot listen on {settings.api.bind_host}:{port}: {exc.strerror}")
        sockets.append(sock)
    return sockets


def _serve(runtime: Runtime, announce: str) -> None:
    """Run the API until interrupted; print ``announce`` once it is accepting requests."""
    settings = runtime.settings
    config = uvicorn.Config(runtime.api(), log_level="warning", access_log=False)
    server = uvicorn.Server(config)
    original_startup = server.startup

    async def startup(sockets: list[socket.socket] | None = None) -> None:
        await original_startup(sockets)
        if server.started:
            print(announce, flush=True)

    server.startup = startup  # type: ignore[method-assign]
    # uvicorn shuts down gracefully on SIGINT/SIGTERM and then re-raises the signal; let
    # that end the command normally, so the caller's cleanup runs.
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, _exit_quietly)
    server.run(sockets=_sockets(settings))


def _exit_quietly(_signum: int, _frame: object) -> None:
    raise SystemExit(0)


def _url(settings: Settings) -> str:
    return f"http://{settings.api.bind_host}:{settings.api.bind_port}/"


def _announce_admin(runtime: Runtime) -> None:
    settings = runtime.settings
    if settings.api.auth_strategy != "keystone" or settings.identity.external_url:
        return
    access = ensure_admin(runtime.db, settings)
    if access.password is not None:
        print(f"  created the admin user; its credentials are in {access.clouds_yaml}", flush=True)
    if access.clouds_yaml.exists():
        print(
            f"  openstack CLI: export OS_CLIENT_CONFIG_FILE={access.clouds_yaml} "
            f"OS_CLOUD={CLOUD_NAME}   (or: source {access.openrc})",
            flush=True,
        )


def _start_controller(runtime: Runtime) -> Controller:
    """The controller's loops, or the reason its data plane cannot run here."""
    try:
        controller = runtime.controller()
        controller.start()
    except ProviderUnavailable as exc:
        runtime.close()
        sys.exit(f"ostia: {exc}")
    return controller


def run_up(settings: Settings) -> None:
    print(f"ostia {__version__}: embedded mode (API and controller in one process)", flush=True)
    print(f"  database: {settings.database_url}", flush=True)
    migrate.upgrade(settings.database_url)
    runtime = Runtime.open(settings)
    _announce_admin(runtime)
    controller = _start_controller(runtime)
    # API requests and the controller share one interpreter here: switch between threads
    # every 0.5 ms (not 5 ms) so that a request never waits long behind the controller.
    sys.setswitchinterval(0.0005)
    try:
        _serve(runtime, f"  API: {_url(settings)} (OpenAPI at {_url(settings)}docs; Ctrl-C stops)")
    finally:
        controller.stop()
        runtime.close()


def run_api(settings: Settings) -> None:
    require_current_schema(settings)
    runtime = Runtime.open(settings)
    try:
        _serve(runtime, f"ostia API on {_url(settings)}")
    finally:
        runtime.close()


def run_controller(settings: Settings) -> None:
    require_current_schema(settings)
    runtime = Runtime.open(settings)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    controller = _start_controller(runtime)
    print(f"ostia controller {controller.reconciler.owner} running", flush=True)
    stop.wait()
    controller.stop()
    runtime.close()
