"""The ``ostia`` command."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from ostia import __version__
from ostia.config import Settings, load_settings

if TYPE_CHECKING:
    from ostia.db.engine import Database
from ostia.identity.errors import KeystoneError

LOG = logging.getLogger("ostia")


def _settings(args: argparse.Namespace) -> Settings:
    settings = load_settings(args.config)
    if getattr(args, "host", None):
        settings.api.bind_host = args.host
    if getattr(args, "port", None):
        settings.api.bind_port = args.port
    return settings


def _require_current_schema(settings: Settings) -> None:
    from ostia.serve import require_current_schema

    require_current_schema(settings)


def cmd_up(args: argparse.Namespace) -> None:
    from ostia.serve import run_up

    run_up(_settings(args))


def cmd_api(args: argparse.Namespace) -> None:
    from ostia.serve import run_api

    run_api(_settings(args))


def cmd_controller(args: argparse.Namespace) -> None:
    from ostia.serve import run_controller

    run_controller(_settings(args))


def cmd_db_upgrade(args: argparse.Namespace) -> None:
    from ostia.db import migrate

    settings = _settings(args)
    migrate.upgrade(settings.database_url)
    print(f"database at {settings.database_url} is at the current schema", flush=True)


@contextmanager
def _identity_db(args: argparse.Namespace) -> Iterator[Database]:
    from ostia.db.engine import Database

    settings = _settings(args)
    _require_current_schema(settings)
    db = Database(settings.database_url)
    try:
        yield db
    finally:
        db.dispose()


def cmd_admin_bootstrap(args: argparse.Namespace) -> None:
    from ostia.identity import admin

    with _identity_db(args) as db:
        done = admin.bootstrap(db, args.password, args.username, args.project)
    print(f"project {args.project}: {done.project_id}", flush=True)
    print(f"user {args.username}: {done.user_id} (admin on {args.project})", flush=True)
    print(f"roles: {', '.join(sorted(done.role_ids))}", flush=True)


def cmd_admin_project_create(args: argparse.Namespace) -> None:
    from ostia.identity import admin

    with _identity_db(args) as db:
        project = admin.create_project(db, args.name, args.description)
    print(f"project {project.name}: {project.id}", flush=True)


def cmd_admin_user_create(args: argparse.Namespace) -> None:
    from ostia.identity import admin

    with _identity_db(args) as db:
        user = admin.create_user(db, args.name, args.password, args.project)
    print(f"user {user.name}: {user.id}", flush=True)


def cmd_admin_role_add(args: argparse.Namespace) -> None:
    from ostia.identity import admin

    with _identity_db(args) as db:
        user, project, role = admin.add_role(db, args.user, args.project, args.role)
    print(f"user {user.name} has role {role.name} on project {project.name}", flush=True)


def cmd_admin_fernet_rotate(args: argparse.Namespace) -> None:
    from ostia.identity.keys import KeyRepository
    from ostia.identity.service import key_repository

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
