"""Insert-or-update of many rows in one statement, in each database's own words
(``ON CONFLICT … DO UPDATE`` on SQLite and PostgreSQL, ``ON DUPLICATE KEY UPDATE`` on
MariaDB).

The statement is compiled once and the rows go to the driver's ``executemany`` with only the
columns' own conversions: the health manager writes thousands of rows a second this way, and
SQLAlchemy's per-row parameter handling would be most of its work.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import cache
from typing import Any

from sqlalchemy import Table, bindparam
from sqlalchemy.dialects import mysql, postgresql, sqlite
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import ColumnElement

# Given the table's current column and the proposed (inserted) value: the value to keep.
Merge = Callable[[ColumnElement[Any], ColumnElement[Any]], ColumnElement[Any]]


def replace(_current: ColumnElement[Any], proposed: ColumnElement[Any]) -> ColumnElement[Any]:
    return proposed


def add(current: ColumnElement[Any], proposed: ColumnElement[Any]) -> ColumnElement[Any]:
    return current + proposed


@cache
def _prepared(
    dialect: Dialect, table: Table, columns: tuple[str, ...], merge: tuple[tuple[str, Merge], ...]
) -> tuple[str, tuple[str, ...] | None, tuple[Callable[[Any], Any] | None, ...]]:
    """The SQL text, the parameters' order (None: by name) and the columns' conversions."""
    values: dict[str, Any] = {name: bindparam(name) for name in columns}
    stmt: Any
    if dialect.name in ("mysql", "mariadb"):
        mine = mysql.insert(table).values(values)
        stmt = mine.on_duplicate_key_update(
            {name: how(table.c[name], mine.inserted[name]) for name, how in merge}
        )
    else:
        ours = (postgresql if dialect.name == "postgresql" else sqlite).insert(table).values(values)
        stmt = ours.on_conflict_do_update(
            index_elements=list(table.primary_key.columns),
            set_={name: how(table.c[name], ours.excluded[name]) for name, how in merge},
        )
    compiled = stmt.compile(dialect=dialect)
    order = tuple(compiled.positiontup) if dialect.positional and compiled.positiontup else None
    converters = tuple(table.c[name].type.bind_processor(dialect) for name in columns)
    return compiled.string, order, converters


def upsert(
    session: Session, table: Table, rows: Sequence[dict[str, Any]], merge: dict[str, Merge]
) -> None:
    """Insert ``rows`` (dicts with the same keys); where the primary key exists, set each
    column of ``merge`` to what its function makes of the current and the proposed value."""
    if not rows:
        return
    columns = tuple(rows[0])
    conn = session.connection()
    sql, order, converters = _prepared(conn.dialect, table, columns, tuple(merge.items()))
    if any(convert is not None for convert in converters):
        rows = [
            {
                name: value if convert is None else convert(value)
                for (name, value), convert in zip(row.items(), converters, strict=True)
            }
            for row in rows
        ]
    params: Any = rows if order is None else [tuple(map(row.__getitem__, order)) for row in rows]
    conn.exec_driver_sql(sql, params)
