"""Fixtures: a real database of each kind, and a running Ostia (API + reconciler) on it.

Every test that uses ``api`` or ``ostia`` runs three times: on SQLite, PostgreSQL
(127.0.0.1:5432) and MariaDB (127.0.0.1:3306). Each pytest worker creates its own
databases and drops them at the end; tables are emptied between tests.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, text
from sqlalchemy.exc import OperationalError

from ostia.config import Settings
from ostia.db import migrate
from ostia.db.engine import Database
from ostia.db.models import Base
from ostia.runtime import Controller, Runtime
from tests.helpers import Api

BACKENDS = ("sqlite", "postgresql", "mariadb")
POSTGRES_ADMIN_URL = os.environ.get(
    "OSTIA_TEST_POSTGRES", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
)
MARIADB_ADMIN_URL = os.environ.get("OSTIA_TEST_MARIADB", "mysql+pymysql://root@127.0.0.1:3306/")


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--fail-on-skip",
        action="store_true",
        help="report every skipped test as a failure (CI installs every prerequisite)",
    )


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    outcome = yield
    report = outcome.get_result()  # type: ignore[attr-defined]
    if (
        report.skipped
        and item.config.getoption("--fail-on-skip")
        and not hasattr(report, "wasxfail")
    ):
        report.outcome = "failed"
        report.longrepr = f"skipped, and --fail-on-skip is set: {report.longrepr}"


def _database_name() -> str:
    worker = os.environ.get("PYTEST_XDIST_WORKER", "main")
    return f"ostia_test_{worker}_{uuid.uuid4().hex[:8]}"


def _server_database(admin_url: str, backend: str) -> Iterator[str]:
    name = _database_name()
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            if backend == "postgresql":
                conn.execute(text(f'CREATE DATABASE "{name}"'))
            else:
                conn.execute(text(f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4"))
    except OperationalError as exc:
        admin.dispose()
        pytest.skip(
            f"{backend} server at {admin.url.host}:{admin.url.port} is not reachable: {exc}"
        )
    url = admin.url.set(database=name).render_as_string(hide_password=False)
    try:
        yield url
    finally:
        with admin.connect() as conn:
            if backend == "postgresql":
                conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            else:
                conn.execute(text(f"DROP DATABASE IF EXISTS `{name}`"))
        admin.dispose()


@pytest.fixture(scope="session", params=BACKENDS)
def database(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Database]:
    """A migrated, empty database of one kind, for this test session."""
    backend = request.param
    if backend == "sqlite":
        urls: Iterator[str] = iter(
            [f"sqlite:///{tmp_path_factory.mktemp('sqlite') / 'ostia.sqlite'}"]
        )
    elif backend == "postgresql":
        urls = _server_database(POSTGRES_ADMIN_URL, backend)
    else:
        urls = _server_database(MARIADB_ADMIN_URL, backend)
    url = next(urls)
    migrate.upgrade(url)
    db = Database(url)
    try:
        yield db
    finally:
        db.dispose()
        for _ in urls:  # finish the generator: drops the database
            pass


def empty_tables(db: Database) -> None:
    # DELETE beats TRUNCATE on tables this small.
    with db.engine.begin() as conn:
        for table in reversed(Base.metadata.sorted_tables):
            conn.execute(table.delete())


@dataclass
class Ostia:
    """A running Ostia for one test: the API app, its reconciler, its settings."""

    settings: Settings
    runtime: Runtime
    controller: Controller
    client: TestClient

    @property
    def db(self) -> Database:
        return self.runtime.db


def make_settings(database: Database, data_dir: Path) -> Settings:
    return Settings(
        data_dir=data_dir,
        database={"url": database.url},  # type: ignore[arg-type]
        controller={"poll_interval": 0.05, "retry_initial_delay": 0.05},  # type: ignore[arg-type]
        # The API tests speak as identities given in headers, on any network ids.
        api={"auth_strategy": "noauth"},  # type: ignore[arg-type]
        networking={"mode": "noop"},  # type: ignore[arg-type]
    )


@pytest.fixture
def settings(database: Database, tmp_path: Path) -> Settings:
    """This test's settings; change them before using ``ostia`` or ``api``."""
    return make_settings(database, tmp_path)


@pytest.fixture
def ostia(database: Database, settings: Settings) -> Iterator[Ostia]:
    empty_tables(database)
    from ostia.db.notify import WorkSignal

    runtime = Runtime(settings=settings, db=database, signal=WorkSignal(database.backend))
    controller = runtime.controller()
    controller.start()
    try:
        with TestClient(runtime.api(), raise_server_exceptions=False) as client:
            yield Ostia(settings=settings, runtime=runtime, controller=controller, client=client)
    finally:
        controller.stop()


@pytest.fixture
def api(ostia: Ostia) -> Api:
    """A client acting as a cloud admin working in project ``helpers.PROJECT``."""
    return Api(ostia.client)
