"""The ``ostia`` command."""

from __future__ import annotations

import argparse
import logging
import signal
import socket
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import uvicorn

from ostia import __version__
from ostia.config import Settings, load_settings
from ostia.db import migrate
from ostia.db.engine import Database
from ostia.identity import admin
from ostia.identity.errors import KeystoneError
from ostia.identity.firstrun import CLOUD_NAME, ensure_admin
from ostia.identity.keys import KeyRepository
from ostia.identity.service import key_repository
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


def cmd_up(args: argparse.Namespace) -> None:
    settings = _settings(args)
    print(f"ostia {__version__}: embedded mode (API and controller in one process)", flush=True)
    print(f"  database: {settings.database_url}", flush=True)
    migrate.upgrade(settings.database_url)
    runtime = Runtime.open(settings)
    _announce_admin(runtime)
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


@contextmanager
def _identity_db(args: argparse.Namespace) -> Iterator[Database]:
    settings = _settings(args)
    _require_current_schema(settings)
    db = Database(settings.database_url)
    try:
        yield db
    finally:
        db.dispose()


def cmd_admin_bootstrap(args: argparse.Namespace) -> None:
    with _identity_db(args) as db:
        done = admin.bootstrap(db, args.password, args.username, args.project)
    print(f"project {args.project}: {done.project_id}", flush=True)
    print(f"user {args.username}: {done.user_id} (admin on {args.project})", flush=True)
    print(f"roles: {', '.join(sorted(done.role_ids))}", flush=True)


def cmd_admin_project_create(args: argparse.Namespace) -> None:
    with _identity_db(args) as db:
        project = admin.create_project(db, args.name, args.description)
    print(f"project {project.name}: {project.id}", flush=True)


def cmd_admin_user_create(args: argparse.Namespace) -> None:
    with _identity_db(args) as db:
        user = admin.create_user(db, args.name, args.password, args.project)
    print(f"user {user.name}: {user.id}", flush=True)


def cmd_admin_role_add(args: argparse.Namespace) -> None:
    with _identity_db(args) as db:
        user, project, role = admin.add_role(db, args.user, args.project, args.role)
    print(f"user {user.name} has role {role.name} on project {project.name}", flush=True)


def cmd_admin_fernet_rotate(args: argparse.Namespace) -> None:
    settings = _settings(args)
    keys = KeyRepository(key_repository(settings))
    print(f"Fernet keys rotated: key {keys.rotate()} is the primary key", flush=True)


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
    _add_admin_commands(commands)
    return parser


def _add_admin_commands(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    admin_parser = commands.add_parser("admin", help="identity administration")
    sub = admin_parser.add_subparsers(dest="admin_command", required=True)
    bootstrap = sub.add_parser(
        "bootstrap", help="create the roles and the admin project and user (idempotent)"
    )
    bootstrap.add_argument("--password", required=True, help="the admin user's password")
    bootstrap.add_argument("--username", default="admin", help="the admin user (default admin)")
    bootstrap.add_argument("--project", default="admin", help="the admin project (default admin)")
    bootstrap.set_defaults(func=cmd_admin_bootstrap)

    project = sub.add_parser("project", help="projects").add_subparsers(
        dest="project_command", required=True
    )
    create_project = project.add_parser("create", help="create a project")
    create_project.add_argument("name")
    create_project.add_argument("--description")
    create_project.set_defaults(func=cmd_admin_project_create)

    user = sub.add_parser("user", help="users").add_subparsers(dest="user_command", required=True)
    create_user = user.add_parser("create", help="create a user")
    create_user.add_argument("name")
    create_user.add_argument("--password", required=True)
    create_user.add_argument("--project", help="the user's default project (name or id)")
    create_user.set_defaults(func=cmd_admin_user_create)

    role = sub.add_parser("role", help="role assignments").add_subparsers(
        dest="role_command", required=True
    )
    add = role.add_parser("add", help="give a user a role on a project")
    add.add_argument("role", help="role name or id")
    add.add_argument("--user", required=True, help="user name or id")
    add.add_argument("--project", required=True, help="project name or id")
    add.set_defaults(func=cmd_admin_role_add)

    fernet = sub.add_parser("fernet", help="token keys").add_subparsers(
        dest="fernet_command", required=True
    )
    fernet.add_parser(
        "rotate", help="make the staged key primary and stage a new one, as Keystone"
    ).set_defaults(func=cmd_admin_fernet_rotate)


def main(argv: list[str] | None = None) -> None:
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    args = build_parser().parse_args(argv)
    try:
        args.func(args)
    except FileNotFoundError as exc:
        sys.exit(f"ostia: {exc}")
    except KeystoneError as exc:
        sys.exit(f"ostia: {exc.message}")


if __name__ == "__main__":
    main()
