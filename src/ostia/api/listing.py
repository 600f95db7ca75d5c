"""Octavia's list conventions: filters on attributes, tag filters, sorting, marker pagination
with ``*_links``, and ``fields=`` selection."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import urlencode

import orjson
from sqlalchemy import (
    Boolean,
    DateTime,
    Float,
    Integer,
    Select,
    String,
    and_,
    func,
    or_,
    type_coerce,
)
from sqlalchemy.orm import InstrumentedAttribute, Session
from sqlalchemy.sql.elements import ColumnElement
from starlette.datastructures import QueryParams
from starlette.requests import Request

from ostia.errors import (
    InvalidFilterArgument,
    InvalidInput,
    InvalidLimit,
    InvalidMarker,
    InvalidSortDirection,
    InvalidSortKey,
)

AUXILIARY_PARAMS = {"limit", "marker", "sort", "sort_key", "sort_dir", "fields", "page_reverse"}
TAG_PARAMS = ("tags", "tags-any", "not-tags", "not-tags-any")
DEFAULT_SORT_KEYS = ("created_at",)
TRUE_STRINGS = {"true", "1", "yes", "on", "t", "y"}
FALSE_STRINGS = {"false", "0", "no", "off", "f", "n"}


# An API attribute as SQL: a mapped column or any column expression.
ColumnLike = ColumnElement[Any] | InstrumentedAttribute[Any]


@dataclass(frozen=True)
class Listable:
    """How an object type is listed: its API attributes as SQL expressions."""

    model: Any
    columns: Mapping[str, ColumnLike]
    # Attributes stored as JSON lists; a filter on one matches rows whose list holds the value.
    list_columns: frozenset[str] = frozenset()
    tagged: bool = True
    # The attribute that names an object: the last sort key, the pagination marker.
    key: str = "id"


@dataclass
class Page:
    rows: list[Any]
    links: list[dict[str, str]]


def parse_bool(name: str, value: str) -> bool:
    lowered = value.strip().lower()
    if lowered in TRUE_STRINGS:
        return True
    if lowered in FALSE_STRINGS:
        return False
    raise InvalidInput(name, value, "Value should be a boolean (true or false).")


def _convert(name: str, column: ColumnLike, value: str) -> Any:
    column_type = column.type
    try:
        if isinstance(column_type, Boolean):
            return parse_bool(name, value)
        if isinstance(column_type, Integer):
            return int(value)
        if isinstance(column_type, Float):
            return float(value)
        if isinstance(column_type, DateTime):
            return datetime.fromisoformat(value.rstrip("Z"))
    except ValueError as exc:
        raise InvalidInput(name, value, str(exc)) from exc
    return value


def json_list_has(column: ColumnLike, value: str) -> ColumnElement[bool]:
    """Whether a JSON list column (stored as text) holds ``value``."""
    pattern = orjson.dumps(value).decode().replace("/", "//").replace("%", "/%").replace("_", "/_")
    return type_coerce(column, String).like(f"%{pattern}%", escape="/")


def split_values(values: Iterable[str]) -> list[str]:
    return [item for value in values for item in value.split(",") if item != ""]


def _null_safe(column: ColumnLike) -> ColumnElement[Any]:
    column_type = column.type
    if isinstance(column_type, (Integer, Float, Boolean)):
        return func.coalesce(column, 0)
    if isinstance(column_type, DateTime):
        return func.coalesce(column, datetime(1970, 1, 1))
    return func.coalesce(column, "")


class ListQuery:
    """One list request: parses the query string once, then applies it to a statement."""

    def __init__(self, params: QueryParams, spec: Listable, max_limit: str) -> None:
        self.params = params
        self.spec = spec
        self.limit = self._parse_limit(params.get("limit"), max_limit)
        self.marker = params.get("marker")
        self.page_reverse = params.get("page_reverse", "false").lower() == "true"
        self.sort = self._parse_sort(params)
        self.fields = split_values(params.getlist("fields")) or None

    @staticmethod
    def _parse_limit(raw: str | None, max_limit: str) -> int | None:
        page_max = None if max_limit == "infinite" or int(max_limit) < 0 else int(max_limit)
        if raw is None:
            return page_max
        try:
            if raw == "infinite" or int(raw) < 1:
                return page_max
            return int(raw) if page_max is None else min(int(raw), page_max)
        except ValueError as exc:
            raise InvalidLimit(key=raw) from exc

    @staticmethod
    def _direction(value: str) -> str:
        direction = value.strip().lower()
        if direction not in ("asc", "desc"):
            raise InvalidSortDirection(key=direction)
        return direction

    def _parse_sort(self, params: QueryParams) -> list[tuple[str, str]]:
        keys: list[tuple[str, str]] = []
        if sort := params.get("sort"):
            for item in sort.split(","):
                parts = item.split(":")
                if len(parts) > 2:
                    raise InvalidSortKey(key=item)
                keys.append((parts[0], self._direction(parts[1]) if len(parts) == 2 else "asc"))
        elif sort_key := params.get("sort_key"):
            names = sort_key.split(",")
            directions = (params.get("sort_dir") or "").split(",") if params.get("sort_dir") else []
            directions += ["asc"] * (len(names) - len(directions))
            keys = [(n, self._direction(d)) for n, d in zip(names, directions, strict=False)]
        for name, _ in keys:
            if name not in self.spec.columns:
                raise InvalidSortKey(key=name)
        for default in (*DEFAULT_SORT_KEYS, self.spec.key):
            if default in self.spec.columns and default not in {k for k, _ in keys}:
                keys.append((default, "asc"))
        return keys

    def filters(self) -> list[ColumnElement[bool]]:
        clauses: list[ColumnElement[bool]] = []
        for name in dict.fromkeys(self.params.keys()):
            if name in AUXILIARY_PARAMS or name in TAG_PARAMS:
                continue
            if name not in self.spec.columns:
                raise InvalidFilterArgument()
            column = self.spec.columns[name]
            values = self.params.getlist(name)
            if name in self.spec.list_columns:
                clauses.append(or_(*(json_list_has(column, v) for v in values)))
            else:
                converted = [_convert(name, column, v) for v in values]
                clauses.append(
                    column == converted[0] if len(converted) == 1 else column.in_(converted)
                )
        if self.spec.tagged:
            clauses.extend(self._tag_filters())
        return clauses

    def _tag_filters(self) -> list[ColumnElement[bool]]:
        tags = self.spec.model.tags

        def has_any(names: list[str]) -> ColumnElement[bool]:
            return or_(*(json_list_has(tags, name) for name in names))

        clauses: list[ColumnElement[bool]] = []
        if names := split_values(self.params.getlist("tags")):
            clauses.extend(json_list_has(tags, name) for name in names)
        if names := split_values(self.params.getlist("tags-any")):
            clauses.append(has_any(names))
        if names := split_values(self.params.getlist("not-tags")):
            clauses.append(~and_(*(json_list_has(tags, name) for name in names)))
        if names := split_values(self.params.getlist("not-tags-any")):
            clauses.append(~has_any(names))
        return clauses

    def _marker_clause(self, session: Session, stmt: Select[Any]) -> ColumnElement[bool]:
        columns = [_null_safe(self.spec.columns[name]) for name, _ in self.sort]
        key = self.spec.columns[self.spec.key]
        marker_stmt = stmt.with_only_columns(*columns).where(key == self.marker)
        marker_values = session.execute(marker_stmt.limit(1)).first()
        if marker_values is None:
            raise InvalidMarker(key=self.marker)
        alternatives = []
        for i, (_, direction) in enumerate(self.sort):
            forward = (direction == "asc") != self.page_reverse
            equal_prefix = [columns[j] == marker_values[j] for j in range(i)]
            beyond = columns[i] > marker_values[i] if forward else columns[i] < marker_values[i]
            alternatives.append(and_(*equal_prefix, beyond))
        return or_(*alternatives)

    def page(self, session: Session, stmt: Select[Any], url: str) -> Page:
        """Run ``stmt`` (already scoped to what the caller may see) with this request's
        filters, order and page. ``url`` is the list's address for the links."""
        scoped = stmt
        stmt = stmt.where(*self.filters())
        for name, direction in self.sort:
            column = self.spec.columns[name]
            reverse = (direction == "desc") != self.page_reverse
            stmt = stmt.order_by(column.desc() if reverse else column.asc())
        if self.marker is not None:
            stmt = stmt.where(self._marker_clause(session, scoped))
        if self.limit is not None:
            stmt = stmt.limit(self.limit)
        rows = list(session.scalars(stmt).unique())
        if self.page_reverse:
            rows.reverse()
        return Page(rows=rows, links=self._links(rows, url))

    def _links(self, rows: Sequence[Any], url: str) -> list[dict[str, str]]:
        if not rows:
            return []
        common: list[tuple[str, str]] = [("limit", str(self.limit))]
        for name in ("sort", "sort_key"):
            if value := self.params.get(name):
                common.append((name, value))
        links = []
        if self.marker is not None:
            first = getattr(rows[0], self.spec.key)
            previous = common + [("marker", first), ("page_reverse", "True")]
            links.append({"href": f"{url}?{urlencode(previous)}", "rel": "previous"})
        if self.limit is not None and len(rows) >= self.limit:
            following = common + [("marker", getattr(rows[-1], self.spec.key))]
            links.append({"href": f"{url}?{urlencode(following)}", "rel": "next"})
        return links

    def select_fields(self, items: list[dict[str, Any]]) -> list[dict[str, Any]]:
        if not self.fields:
            return items
        wanted = set(self.fields)
        return [{k: v for k, v in item.items() if k in wanted} for item in items]


def select_fields(request: Request, item: dict[str, Any]) -> dict[str, Any]:
    """``item`` reduced to the attributes named by ``fields=`` (all of them without it)."""
    fields = set(split_values(request.query_params.getlist("fields")))
    return {k: v for k, v in item.items() if k in fields} if fields else item
