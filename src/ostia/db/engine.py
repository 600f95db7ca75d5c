"""Engines and sessions for SQLite, PostgreSQL and MariaDB/MySQL.

Writers take the database's lock for the whole transaction from its first statement:
``SELECT … FOR UPDATE`` on the load balancer row on PostgreSQL and MariaDB, and
``BEGIN IMMEDIATE`` on SQLite, whose locks are per database. Readers never block writers.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from typing import Any

from sqlalchemy import create_engine, event
from sqlalchemy.engine import Connection, Engine, make_url
from sqlalchemy.orm import Session, sessionmaker

WRITE_OPTION = "ostia_write"


def normalize_url(url: str) -> str:
    """Pick the drivers Ostia ships with when a URL names only the database."""
    parsed = make_url(url)
    drivers = {"postgresql": "psycopg", "mysql": "pymysql", "mariadb": "pymysql"}
    if parsed.drivername in drivers:
        parsed = parsed.set(drivername=f"{parsed.drivername}+{drivers[parsed.drivername]}")
    return parsed.render_as_string(hide_password=False)


def _configure_sqlite(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy's "begin" event below emit BEGIN instead of the driver.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.close()

    @event.listens_for(engine, "begin")
    def on_begin(conn: Connection) -> None:
        immediate = conn.get_execution_options().get(WRITE_OPTION)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")


def make_engine(url: str, **kwargs: Any) -> Engine:
    url = normalize_url(url)
    backend = make_url(url).get_backend_name()
    if backend == "sqlite":
        engine = create_engine(
            url, connect_args={"check_same_thread": False, "timeout": 30}, **kwargs
        )
        _configure_sqlite(engine)
        return engine
    options: dict[str, Any] = {"pool_pre_ping": True, "pool_size": 10, "max_overflow": 20}
    if backend in ("mysql", "mariadb"):
        # Locking reads and plain reads must see the same committed rows.
        options["isolation_level"] = "READ COMMITTED"
    options.update(kwargs)
    return create_engine(url, **options)


class Database:
    """One engine and the two kinds of session the services use."""

    def __init__(self, url: str, **engine_kwargs: Any) -> None:
        self.url = normalize_url(url)
        self.engine = make_engine(self.url, **engine_kwargs)
        self.backend = self.engine.dialect.name
        self._reader = sessionmaker(self.engine, expire_on_commit=False)
        self._writer = sessionmaker(
            self.engine.execution_options(**{WRITE_OPTION: True}), expire_on_commit=False
        )
        # SQLite has one writer at a time and makes the others sleep and retry (1 ms, 2 ms,
        # 5 ms, ... up to 100 ms). Writers of this process rather queue here, and each is
        # woken the moment the one before it commits.
        self._write_turn: AbstractContextManager[object] = (
            threading.Lock() if self.backend == "sqlite" else nullcontext()
        )

    @contextmanager
    def read(self) -> Iterator[Session]:
        with self._reader() as session, session.begin():
            yield session

    @contextmanager
    def write(self) -> Iterator[Session]:
        """A transaction that commits when the block ends and rolls back on any error."""
        with self._write_turn, self._writer() as session, session.begin():
            yield session

    def dispose(self) -> None:
        self.engine.dispose()
