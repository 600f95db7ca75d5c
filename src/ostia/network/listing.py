"""Neutron's list conventions on top of Ostia's list machinery: filters on attributes (a
repeated filter matches any of its values), ``sort_key``/``sort_dir`` pairs, ``limit`` and
``marker`` with Neutron's ``*_links``, ``fields``."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from sqlalchemy import Select
from sqlalchemy.orm import Session
from starlette.datastructures import QueryParams
from starlette.requests import Request

from ostia.api.listing import TAG_PARAMS, Listable, ListQuery
from ostia.errors import APIError
from ostia.network.errors import HTTPBadRequest

PAGING_PARAMS = ("limit", "marker", "page_reverse", "fields")
SORT_PARAMS = ("sort_key", "sort_dir")


def _sort(params: QueryParams, spec: Listable) -> str | None:
    """Neutron's sort pairs as the ``key:dir,...`` list Ostia's lists take."""
    keys = [v for v in params.getlist("sort_key") if v]
    directions = [v for v in params.getlist("sort_dir") if v]
    if len(keys) != len(directions):
        raise HTTPBadRequest("The number of sort_keys and sort_dirs must be same")
    absent = [k for k in keys if k not in spec.columns]
    if absent:
        raise HTTPBadRequest(f"{absent} is invalid attribute for sort_keys")
    invalid = [d for d in directions if d not in ("asc", "desc")]
    if invalid:
        raise HTTPBadRequest(
            f"{invalid} is invalid value for sort_dirs, valid value is 'asc' and 'desc'"
        )
    return ",".join(f"{k}:{d}" for k, d in zip(keys, directions, strict=True)) or None


def _links(request: Request, rows: list[Any], query: ListQuery) -> list[dict[str, str]]:
    """Neutron's pagination links: only when a limit was asked for."""
    if query.limit is None:
        return []
    url = str(request.url.replace(query=""))
    params = [(k, v) for k, v in request.query_params.multi_items() if k != "marker"]
    links = []
    if not (len(rows) < query.limit and not query.page_reverse):
        following = [(k, v) for k, v in params if k != "page_reverse"]
        if rows:
            following.append(("marker", rows[-1].id))
        links.append({"rel": "next", "href": f"{url}?{urlencode(following)}"})
    if not (len(rows) < query.limit and query.page_reverse):
        previous = [(k, v) for k, v in params if k != "page_reverse"]
        if rows:
            previous.append(("marker", rows[0].id))
        previous.append(("page_reverse", "True"))
        links.append({"rel": "previous", "href": f"{url}?{urlencode(previous)}"})
    return links


class NeutronList:
    """One list request. ``extra`` names filters the caller applies itself."""

    def __init__(self, request: Request, spec: Listable, extra: tuple[str, ...] = ()) -> None:
        self.request = request
        params = request.query_params
        invalid = [
            name
            for name in dict.fromkeys(params.keys())
            if name not in spec.columns
            and name not in PAGING_PARAMS + SORT_PARAMS + TAG_PARAMS + extra
        ]
        if invalid:
            raise HTTPBadRequest(f"{invalid} is invalid attribute for filtering")
        items = [(k, v) for k, v in params.multi_items() if k not in SORT_PARAMS and k not in extra]
        if sort := _sort(params, spec):
            items.append(("sort", sort))
        try:
            self.query = ListQuery(QueryParams(items), spec, "infinite")
        except APIError as exc:
            raise HTTPBadRequest(exc.message) from exc

    def page(self, session: Session, stmt: Select[Any]) -> tuple[list[Any], list[dict[str, str]]]:
        """The rows of ``stmt`` (already scoped) this request asks for, and the links."""
        try:
            page = self.query.page(session, stmt, "")
        except APIError as exc:
            raise HTTPBadRequest(exc.message) from exc
        return page.rows, _links(self.request, page.rows, self.query)

    def select_fields(self, items: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return self.query.select_fields(items)
