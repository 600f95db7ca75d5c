"""The ``ostia`` command."""

from __future__ import annotations

import argparse
import logging
import signal
import socket
import sys
import threading
from pathlib import Path

import uvicorn

from ostia import __version__
from ostia.config import Settings, load_settings
from ostia.db import migrate
from ostia.runtime import Runtime

LOG = logging.getLogger("ostia")


def _settings(args: argparse.Namespace) -> Settings:
    settings = load_settings(args.config)
    if getattr(args, "host", None):
        settings.api.bind_host = args.host
    if getattr(args, "port", None):
        settings.api.bind_port = args.port
    return settings


def _require_current_schema(settings: Settings) -> None:
    if not migrate.is_current(settings.database_url):
        sys.exit(
            f"ostia: the database at {settings.database_url} is not at the current schema; "
            "run 'ostia db upgrade' first."
        )


def _serve(runtime: Runtime, announce: str) -> None:
    """Run the API until interrupted; print ``announce`` once it is accepting requests."""
    settings = runtime.settings
    config = uvicorn.Config(
        runtime.api(),
        host=settings.api.bind_host,
        port=settings.api.bind_port,
        log_level="warning",
        access_log=False,
    )
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
    server.run()


def _exit_quietly(_signum: int, _frame: object) -> None:
    raise SystemExit(0)


def _url(settings: Settings) -> str:
    return f"http://{settings.api.bind_host}:{settings.api.bind_port}/"


def cmd_up(args: argparse.Namespace) -> None:
    settings = _settings(args)
    print(f"ostia {__version__}: embedded mode (API and controller in one process)", flush=True)
    print(f"  database: {settings.database_url}", flush=True)
    migrate.upgrade(settings.database_url)
    runtime = Runtime.open(settings)
    controller = runtime.controller()
    controller.start()
    # API requests and the controller share one interpreter here: switch between threads
    # every 0.5 ms (not 5 ms) so that a request never waits long behind the controller.
    sys.setswitchinterval(0.0005)
    try:
        _serve(runtime, f"  API: {_url(settings)} (OpenAPI at {_url(settings)}docs; Ctrl-C stops)")
    finally:
        controller.stop()
        runtime.close()


def cmd_api(args: argparse.Namespace) -> None:
    settings = _settings(args)
    _require_current_schema(settings)
    runtime = Runtime.open(settings)
    try:
        _serve(runtime, f"ostia API on {_url(settings)}")
    finally:
        runtime.close()


def cmd_controller(args: argparse.Namespace) -> None:
    settings = _settings(args)
    _require_current_schema(settings)
    runtime = Runtime.open(settings)
    controller = runtime.controller()
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    controller.start()
    print(f"ostia controller {controller.reconciler.owner} running", flush=True)
    stop.wait()
    controller.stop()
    runtime.close()


def cmd_db_upgrade(args: argparse.Namespace) -> None:
    settings = _settings(args)
    migrate.upgrade(settings.database_url)
    print(f"database at {settings.database_url} is at the current schema", flush=True)


def cmd_demo(args: argparse.Namespace) -> None:
    from ostia.demo import run_demo

    sys.exit(run_demo(_settings(args), keep=args.keep))


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="ostia", description="Load balancers as a service, speaking the Octavia v2 API."
    )
    parser.add_argument("--version", action="version", version=f"ostia {__version__}")
    parser.add_argument(
        "--config",
        type=Path,
        help="TOML configuration file (default: $OSTIA_CONFIG or /etc/ostia/ostia.toml)",
    )
    commands = parser.add_subparsers(dest="command", required=True)

    def with_bind(sub: argparse.ArgumentParser) -> argparse.ArgumentParser:
        sub.add_argument("--host", help="address the API listens on (default 127.0.0.1)")
        sub.add_argument("--port", type=int, help="port the API listens on (default 9876)")
        return sub

    with_bind(commands.add_parser("up", help="run API and controller in one process")).set_defaults(
        func=cmd_up
    )
    with_bind(commands.add_parser("api", help="run the API service")).set_defaults(func=cmd_api)
    commands.add_parser("controller", help="run the controller service").set_defaults(
        func=cmd_controller
    )
    demo = with_bind(
        commands.add_parser("demo", help="start the embedded service and demonstrate it")
    )
    demo.add_argument("--keep", action="store_true", help="keep the service running afterwards")
    demo.set_defaults(func=cmd_demo)
    db = commands.add_parser("db", help="database administration")
    db_commands = db.add_subparsers(dest="db_command", required=True)
    db_commands.add_parser("upgrade", help="apply the schema migrations").set_defaults(
        func=cmd_db_upgrade
    )
    return parser


def main(argv: list[str] | None = None) -> None:
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    args = build_parser().parse_args(argv)
    try:
        args.func(args)
    except FileNotFoundError as exc:
        sys.exit(f"ostia: {exc}")


if __name__ == "__main__":
    main()
