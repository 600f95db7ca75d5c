"""``/v2/lbaas/flavors`` and ``/v2/lbaas/flavorprofiles``, and what availability zones and
their profiles share with them: admin-managed catalog entries that load balancers name,
each backed by a profile of provider data.

Octavia reserves ``NIL_UUID`` as the key of a "deleted" placeholder entry, so every request
for it is a 404; Ostia has no placeholder and clears the reference of deleted load balancers
instead (to NULL).
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from fastapi import APIRouter, Request, Response
from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from ostia import constants
from ostia.api import policy
from ostia.api.access import get_or_404
from ostia.api.context import RequestContext
from ostia.api.deps import ContextDep, Services, ServicesDep, list_url
from ostia.api.listing import Listable, ListQuery, select_fields
from ostia.api.responses import ApiResponse
from ostia.api.routers.providers import FLAVOR, check_profile_data
from ostia.api.schemas.common import Body
from ostia.api.schemas.flavor import (
    FlavorProfileRootPOST,
    FlavorProfileRootPUT,
    FlavorProfileRootResponse,
    FlavorProfilesRootResponse,
    FlavorRootPOST,
    FlavorRootPUT,
    FlavorRootResponse,
    FlavorsRootResponse,
)
from ostia.db.models import Flavor, FlavorProfile, LoadBalancer
from ostia.errors import (
    InvalidOption,
    InvalidSubresource,
    NotFound,
    ObjectInUse,
    RecordAlreadyExists,
)

router = APIRouter(tags=["flavors"])

PROFILE_ATTRIBUTES = ("name", "provider_name")


@dataclass(frozen=True)
class Catalog:
    """What differs between flavors and availability zones (and between their profiles)."""

    rbac: str  # policy type of the entries; the profiles' is "<rbac>-profile"
    label: str  # the entries' name in "A <label> of <name> already exists."
    model: Any
    key: str  # the attribute the API knows an entry by
    resource: str
    listable: Listable
    render: Callable[[Any], dict[str, Any]]
    used_by: Any  # the load balancer column naming an entry
    profile_model: Any
    profile_ref: str  # the entry attribute naming its profile
    profile_resource: str
    # Octavia spells the profile differently in its NIL_UUID, in-use and delete messages.
    profile_resource_alt: str
    profile_listable: Listable
    data: str  # the profile attribute holding the provider data
    data_kind: str
    # The attribute a PUT names when its data is not JSON (Octavia says "flavor_data" for both).
    put_data_option: str

    @property
    def profile_rbac(self) -> str:
        return f"{self.rbac}-profile"


def _refuse_nil(resource: str, key: str) -> None:
    if key == constants.NIL_UUID:
        raise NotFound(resource=resource, id=key)


def _refuse_nulls(changes: dict[str, Any], attributes: tuple[str, ...]) -> None:
    for name in attributes:
        if name in changes and changes[name] is None:
            raise InvalidOption(value=None, option=name)


def _page(
    request: Request, svc: Services, listable: Listable, render: Callable[[Any], Any]
) -> tuple[list[dict[str, Any]], list[dict[str, str]]]:
    query = ListQuery(request.query_params, listable, svc.settings.api.pagination_max_limit)
    with svc.db.read() as session:
        page = query.page(session, select(listable.model), list_url(request, svc.settings))
        items = [render(row) for row in page.rows]
    return query.select_fields(items), page.links


# Entries (flavors, availability zones).


def list_entries(
    catalog: Catalog, request: Request, svc: Services, ctx: RequestContext
) -> tuple[list[dict[str, Any]], list[dict[str, str]]]:
    policy.enforce(ctx, f"{catalog.rbac}:get_all", ctx.project_id)
    return _page(request, svc, catalog.listable, catalog.render)


def show_entry(
    catalog: Catalog, key: str, request: Request, svc: Services, ctx: RequestContext
) -> dict[str, Any]:
    policy.enforce(ctx, f"{catalog.rbac}:get_one", ctx.project_id)
    _refuse_nil(catalog.resource, key)
    with svc.db.read() as session:
        item = catalog.render(get_or_404(session, catalog.model, key))
    return select_fields(request, item)


def _lock_entry(catalog: Catalog, session: Session, key: str) -> Any:
    # Only the entry's own row: PostgreSQL cannot lock the outer-joined profile.
    return get_or_404(session, catalog.model, key, with_for_update={"of": catalog.model})


def _refuse_taken_name(catalog: Catalog, session: Session, name: str) -> None:
    if session.scalar(select(func.count()).where(catalog.model.name == name)):
        raise RecordAlreadyExists(field=catalog.label, name=name)


def _flush_unique(catalog: Catalog, session: Session, name: str) -> None:
    """Flush, turning a name taken meanwhile by another request into Octavia's 409."""
    try:
        session.flush()
    except IntegrityError as exc:
        raise RecordAlreadyExists(field=catalog.label, name=name) from exc


def create_entry(
    catalog: Catalog, values: dict[str, Any], svc: Services, ctx: RequestContext
) -> dict[str, Any]:
    policy.enforce(ctx, f"{catalog.rbac}:post", ctx.project_id)
    with svc.db.write() as session:
        _refuse_taken_name(catalog, session, values["name"])
        profile_id = values[catalog.profile_ref]
        # Shared lock: the profile cannot be deleted before this entry is in.
        profile = session.get(catalog.profile_model, profile_id, with_for_update={"read": True})
        if profile is None:
            raise InvalidSubresource(resource=catalog.profile_resource, id=profile_id)
        entry = catalog.model(**values)
        session.add(entry)
        _flush_unique(catalog, session, values["name"])
        return catalog.render(entry)


def update_entry(
    catalog: Catalog, key: str, changes: dict[str, Any], svc: Services, ctx: RequestContext
) -> dict[str, Any]:
    policy.enforce(ctx, f"{catalog.rbac}:put", ctx.project_id)
    _refuse_nil(catalog.resource, key)
    _refuse_nulls(changes, ("name", "enabled"))
    with svc.db.write() as session:
        entry = _lock_entry(catalog, session, key)
        if "name" in changes and changes["name"] != entry.name:
            _refuse_taken_name(catalog, session, changes["name"])
        for name, value in changes.items():
            setattr(entry, name, value)
        _flush_unique(catalog, session, entry.name)
        return catalog.render(entry)


def delete_entry(catalog: Catalog, key: str, svc: Services, ctx: RequestContext) -> None:
    policy.enforce(ctx, f"{catalog.rbac}:delete", ctx.project_id)
    _refuse_nil(catalog.resource, key)
    with svc.db.write() as session:
        entry = _lock_entry(catalog, session, key)
        session.execute(
            update(LoadBalancer)
            .where(catalog.used_by == key, LoadBalancer.provisioning_status == constants.DELETED)
            .values({catalog.used_by: None})
        )
        in_use = ObjectInUse(object=catalog.resource, id=key)
        if session.scalar(select(func.count()).where(catalog.used_by == key)):
            raise in_use
        session.delete(entry)
        try:
            session.flush()
        except IntegrityError as exc:  # a load balancer named it meanwhile
            raise in_use from exc


# Profiles (flavor profiles, availability zone profiles).


def render_profile(catalog: Catalog, profile: Any) -> dict[str, Any]:
    return {
        "id": profile.id,
        "name": profile.name,
        "provider_name": profile.provider_name,
        catalog.data: getattr(profile, catalog.data),
    }


def _parse_data(option: str, raw: str) -> Any:
    try:
        return json.loads(raw)
    except ValueError as exc:
        raise InvalidOption(value=raw, option=option) from exc


def list_profiles(
    catalog: Catalog, request: Request, svc: Services, ctx: RequestContext
) -> tuple[list[dict[str, Any]], list[dict[str, str]]]:
    policy.enforce(ctx, f"{catalog.profile_rbac}:get_all", ctx.project_id)
    return _page(request, svc, catalog.profile_listable, lambda p: render_profile(catalog, p))


def show_profile(
    catalog: Catalog, profile_id: str, request: Request, svc: Services, ctx: RequestContext
) -> dict[str, Any]:
    policy.enforce(ctx, f"{catalog.profile_rbac}:get_one", ctx.project_id)
    _refuse_nil(catalog.profile_resource_alt, profile_id)
    with svc.db.read() as session:
        item = render_profile(catalog, get_or_404(session, catalog.profile_model, profile_id))
    return select_fields(request, item)


def create_profile(
    catalog: Catalog, values: dict[str, Any], svc: Services, ctx: RequestContext
) -> dict[str, Any]:
    """``values``: the profile's ``name``, ``provider_name`` and data attribute."""
    policy.enforce(ctx, f"{catalog.profile_rbac}:post", ctx.project_id)
    data = _parse_data(catalog.data, values[catalog.data])
    check_profile_data(svc.settings.api, values["provider_name"], catalog.data_kind, data)
    with svc.db.write() as session:
        profile = catalog.profile_model(id=str(uuid.uuid4()), **values)
        session.add(profile)
        session.flush()
        return render_profile(catalog, profile)


def _refuse_in_use(catalog: Catalog, session: Session, profile_id: str) -> None:
    ref = getattr(catalog.model, catalog.profile_ref)
    if session.scalar(select(func.count()).where(ref == profile_id)):
        raise ObjectInUse(object=catalog.profile_resource_alt, id=profile_id)


def update_profile(
    catalog: Catalog, profile_id: str, body: Body, svc: Services, ctx: RequestContext
) -> dict[str, Any]:
    """Octavia's rules: no attribute may become null, and the provider and its data stay as
    they are while an entry uses the profile. Unlike Octavia, a new provider alone is also
    checked (it must be enabled and accept the stored data)."""
    policy.enforce(ctx, f"{catalog.profile_rbac}:put", ctx.project_id)
    attributes = (*PROFILE_ATTRIBUTES, catalog.data)
    changes = {name: getattr(body, name) for name in attributes if body.given(name)}
    _refuse_nulls(changes, attributes)
    _refuse_nil(catalog.profile_resource_alt, profile_id)
    with svc.db.write() as session:
        profile = get_or_404(session, catalog.profile_model, profile_id, with_for_update=True)
        if changes.keys() & {"provider_name", catalog.data}:
            _refuse_in_use(catalog, session, profile_id)
            raw = changes.get(catalog.data, getattr(profile, catalog.data))
            provider = changes.get("provider_name", profile.provider_name)
            data = _parse_data(catalog.put_data_option, raw)
            check_profile_data(svc.settings.api, provider, catalog.data_kind, data)
        for name, value in changes.items():
            setattr(profile, name, value)
        session.flush()
        return render_profile(catalog, profile)


def delete_profile(catalog: Catalog, profile_id: str, svc: Services, ctx: RequestContext) -> None:
    policy.enforce(ctx, f"{catalog.profile_rbac}:delete", ctx.project_id)
    _refuse_nil(catalog.profile_resource_alt, profile_id)
    with svc.db.write() as session:
        profile = session.get(catalog.profile_model, profile_id, with_for_update=True)
        if profile is None:
            raise NotFound(resource=catalog.profile_resource_alt, id=profile_id)
        _refuse_in_use(catalog, session, profile_id)
        session.delete(profile)


# Flavors.


def render_flavor(flavor: Flavor) -> dict[str, Any]:
    return {
        "id": flavor.id,
        "name": flavor.name,
        "description": flavor.description or "",
        "enabled": flavor.enabled,
        "flavor_profile_id": flavor.flavor_profile_id,
    }


FLAVORS = Catalog(
    rbac="flavor",
    label="flavor",
    model=Flavor,
    key="id",
    resource="Flavor",
    listable=Listable(
        model=Flavor,
        columns={
            "id": Flavor.id,
            "name": Flavor.name,
            "description": Flavor.description,
            "enabled": Flavor.enabled,
            "flavor_profile_id": Flavor.flavor_profile_id,
        },
        tagged=False,
    ),
    render=render_flavor,
    used_by=LoadBalancer.flavor_id,
    profile_model=FlavorProfile,
    profile_ref="flavor_profile_id",
    profile_resource="Flavor Profile",
    profile_resource_alt="Flavor profile",
    profile_listable=Listable(
        model=FlavorProfile,
        columns={
            "id": FlavorProfile.id,
            "name": FlavorProfile.name,
            "provider_name": FlavorProfile.provider_name,
            "flavor_data": FlavorProfile.flavor_data,
        },
        tagged=False,
    ),
    data="flavor_data",
    data_kind=FLAVOR,
    put_data_option="flavor_data",
)


@router.get("/flavors", response_model=FlavorsRootResponse)
def list_flavors(
    request: Request, svc: Services = ServicesDep, ctx: RequestContext = ContextDep
) -> ApiResponse:
    items, links = list_entries(FLAVORS, request, svc, ctx)
    return ApiResponse({"flavors": items, "flavors_links": links})


@router.get("/flavors/{flavor_id}", response_model=FlavorRootResponse)
def show_flavor(
    flavor_id: str, request: Request, svc: Services = ServicesDep, ctx: RequestContext = ContextDep
) -> ApiResponse:
    return ApiResponse({"flavor": show_entry(FLAVORS, flavor_id, request, svc, ctx)})


@router.post("/flavors", status_code=201, response_model=FlavorRootResponse)
def create_flavor(
    body: FlavorRootPOST, svc: Services = ServicesDep, ctx: RequestContext = ContextDep
) -> ApiResponse:
    values = {"id": str(uuid.uuid4()), **body.flavor.model_dump()}
    item = create_entry(FLAVORS, values, svc, ctx)
    return ApiResponse(status_code=201, content={"flavor": item})


@router.put("/flavors/{flavor_id}", response_model=FlavorRootResponse)
def update_flavor(
    flavor_id: str,
    body: FlavorRootPUT,
    svc: Services = ServicesDep,
    ctx: RequestContext = ContextDep,
) -> ApiResponse:
    changes = body.flavor.model_dump(include=body.flavor.model_fields_set)
    return ApiResponse({"flavor": update_entry(FLAVORS, flavor_id, changes, svc, ctx)})


@router.delete("/flavors/{flavor_id}", status_code=204, response_class=Response)
def delete_flavor(
    flavor_id: str, svc: Services = ServicesDep, ctx: RequestContext = ContextDep
) -> Response:
    delete_entry(FLAVORS, flavor_id, svc, ctx)
    return Response(status_code=204)


# Flavor profiles.


@router.get("/flavorprofiles", response_model=FlavorProfilesRootResponse)
def list_flavor_profiles(
    request: Request, svc: Services = ServicesDep, ctx: RequestContext = ContextDep
) -> ApiResponse:
    items, links = list_profiles(FLAVORS, request, svc, ctx)
    return ApiResponse({"flavorprofiles": items, "flavorprofile_links": links})


@router.get("/flavorprofiles/{profile_id}", response_model=FlavorProfileRootResponse)
def show_flavor_profile(
    profile_id: str, request: Request, svc: Services = ServicesDep, ctx: RequestContext = ContextDep
) -> ApiResponse:
    return ApiResponse({"flavorprofile": show_profile(FLAVORS, profile_id, request, svc, ctx)})


@router.post("/flavorprofiles", status_code=201, response_model=FlavorProfileRootResponse)
def create_flavor_profile(
    body: FlavorProfileRootPOST, svc: Services = ServicesDep, ctx: RequestContext = ContextDep
) -> ApiResponse:
    item = create_profile(FLAVORS, body.flavorprofile.model_dump(), svc, ctx)
    return ApiResponse(status_code=201, content={"flavorprofile": item})


@router.put("/flavorprofiles/{profile_id}", response_model=FlavorProfileRootResponse)
def update_flavor_profile(
    profile_id: str,
    body: FlavorProfileRootPUT,
    svc: Services = ServicesDep,
    ctx: RequestContext = ContextDep,
) -> ApiResponse:
    item = update_profile(FLAVORS, profile_id, body.flavorprofile, svc, ctx)
    return ApiResponse({"flavorprofile": item})


@router.delete("/flavorprofiles/{profile_id}", status_code=204, response_class=Response)
def delete_flavor_profile(
    profile_id: str, svc: Services = ServicesDep, ctx: RequestContext = ContextDep
) -> Response:
    delete_profile(FLAVORS, profile_id, svc, ctx)
    return Response(status_code=204)
