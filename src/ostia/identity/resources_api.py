"""``/identity/v3`` resources the clients use: projects, users, roles, domains, role grants
and role assignments. Keystone's default policy: the administrative calls need the admin
role; a user may read its own user, its token's project and domain, its own projects."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from fastapi import APIRouter, Request, Response
from sqlalchemy import select
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from ostia.api.responses import ApiResponse
from ostia.identity import store, views
from ostia.identity.errors import RoleAssignmentNotFound, ValidationError
from ostia.identity.http import (
    CallerDep,
    IdentityDep,
    collection_url,
    flag,
    is_admin,
    json_body,
    key_flag,
    require,
    require_admin,
    v3_url,
)
from ostia.identity.models import Project, Role, User
from ostia.identity.passwords import hash_password
from ostia.identity.service import IdentityService, TokenInfo

router = APIRouter(tags=["identity"])

T = TypeVar("T")
USER_EXTRA = ("description", "email")


def _string(body: dict[str, Any], key: str, *, required: bool = False) -> str | None:
    value = body.get(key)
    if value is None:
        if required:
            raise ValidationError(f"Invalid input for field '{key}': None is not of type 'string'")
        return None
    if not isinstance(value, str) or (required and not value.strip()):
        raise ValidationError(f"Invalid input for field '{key}': {value!r} is not valid")
    return value


def _bool(body: dict[str, Any], key: str) -> bool | None:
    value = body.get(key)
    if value is not None and not isinstance(value, bool):
        raise ValidationError(
            f"Invalid input for field '{key}': {value!r} is not of type 'boolean'"
        )
    return value


async def _write(identity: IdentityService, change: Callable[[Session], T]) -> T:
    def run() -> T:
        with identity.db.write() as session:
            return change(session)

    return await run_in_threadpool(run)


def _filtered(session: Session, model: type[T], request: Request, *names: str) -> list[T]:
    """Rows matching Keystone's list filters among ``names`` (``enabled`` is a flag)."""
    stmt = select(model).order_by(model.name)  # type: ignore[attr-defined]
    for name in names:
        value = request.query_params.get(name)
        if value is not None:
            column = getattr(model, name)
            stmt = stmt.where(column == (flag(value) if name == "enabled" else value))
    return list(session.scalars(stmt))


# Projects


@router.get("/projects", summary="List projects")
def list_projects(
    request: Request, identity: IdentityService = IdentityDep, caller: TokenInfo = CallerDep
) -> ApiResponse:
    require_admin(caller, "list_projects")
    with identity.db.read() as session:
        found = _filtered(session, Project, request, "name", "domain_id", "enabled")
    base = v3_url(request)
    items = [views.project(p, base) for p in found]
    return ApiResponse(views.collection("projects", items, collection_url(request, "/projects")))


@router.post("/projects", status_code=201, summary="Create a project")
async def create_project(
    request: Request, identity: IdentityService = IdentityDep, caller: TokenInfo = CallerDep
) -> ApiResponse:
    require_admin(caller, "create_project")
    body = await json_body(request, "project")
    name = _string(body, "name", required=True)
    domain_id = _string(body, "domain_id") or store.DEFAULT_DOMAIN.id
    parent_id = _string(body, "parent_id")
    if parent_id not in (None, domain_id):
        raise ValidationError("Invalid input for field 'parent_id': projects have no parents here")
    enabled = _bool(body, "enabled")

    def create(session: Session) -> Project:
        return store.create_project(
            session,
            name or "",
            domain_id=domain_id,
            description=_string(body, "description"),
            enabled=True if enabled is None else enabled,
        )

    project = await _write(identity, create)
    return ApiResponse({"project": views.project(project, v3_url(request))}, status_code=201)


@router.get("/projects/{project_id}", summary="Show a project")
def show_project(
    project_id: str,
    request: Request,
    identity: IdentityService = IdentityDep,
    caller: TokenInfo = CallerDep,
) -> ApiResponse:
    own = caller.project is not None and caller.project.id == project_id
    require(own or is_admin(caller), "get_project")
    with identity.db.read() as session:
        project = store.get_project(session, project_id)
    return ApiResponse({"project": views.project(project, v3_url(request))})


@router.patch("/projects/{project_id}", summary="Update a project")
async def update_project(
    project_id: str,
    request: Request,
    identity: IdentityService = IdentityDep,
    caller: TokenInfo = CallerDep,
) -> ApiResponse:
    require_admin(caller, "update_project")
    body = await json_body(request, "project")
    name = _string(body, "name")
    description = _string(body, "description")
    enabled = _bool(body, "enabled")

    def update(session: Session) -> Project:
        project = store.get_project(session, project_id)
        if name is not None and name != project.name:
            store.require_free_name(session, Project, name, project.domain_id)
            project.name = name
        if "description" in body:
            project.description = description
        if enabled is not None:
            project.enabled = enabled
        return project

    project = await _write(identity, update)
    return ApiResponse({"project": views.project(project, v3_url(request))})


@router.delete("/projects/{project_id}", status_code=204, summary="Delete a project")
async def delete_project(
    project_id: str, identity: IdentityService = IdentityDep, caller: TokenInfo = CallerDep
) -> Response:
    require_admin(caller, "delete_project")
    await _write(identity, lambda s: store.delete_project(s, store.get_project(s, project_id)))
    return Response(status_code=204)


# Users


@router.get("/users", summary="List users")
def list_users(
    request: Request, identity: IdentityService = IdentityDep, caller: TokenInfo = CallerDep
) -> ApiResponse:
    require_admin(caller, "list_users")
    with identity.db.read() as session:
        found = _filtered(session, User, request, "name", "domain_id", "enabled")
    base = v3_url(request)
    items = [views.user(u, base) for u in found]
    return ApiResponse(views.collection("users", items, collection_url(request, "/users")))


def _user_fields(body: dict[str, Any]) -> dict[str, Any]:
    return {key: body[key] for key in USER_EXTRA if body.get(key) is not None}


@router.post("/users", status_code=201, summary="Create a user")
async def create_user(
    request: Request, identity: IdentityService = IdentityDep, caller: TokenInfo = CallerDep
) -> ApiResponse:
    require_admin(caller, "create_user")
    body = await json_body(request, "user")
    name = _string(body, "name", required=True)
    password = _string(body, "password")
    default_project_id = _string(body, "default_project_id")
    enabled = _bool(body, "enabled")

    def create(session: Session) -> User:
        if default_project_id is not None:
            store.get_project(session, default_project_id)
        return store.create_user(
            session,
            name or "",
            password=password,
            domain_id=_string(body, "domain_id") or store.DEFAULT_DOMAIN.id,
            default_project_id=default_project_id,
            enabled=True if enabled is None else enabled,
            extra=_user_fields(body),
        )

    user = await _write(identity, create)
    return ApiResponse({"user": views.user(user, v3_url(request))}, status_code=201)


def _self_or_admin(caller: TokenInfo, user_id: str, action: str) -> None:
    require(caller.user.id == user_id or is_admin(caller), action)


@router.get("/users/{user_id}", summary="Show a user")
def show_user(
    user_id: str,
    request: Request,
    identity: IdentityService = IdentityDep,
    caller: TokenInfo = CallerDep,
) -> ApiResponse:
    _self_or_admin(caller, user_id, "get_user")
    with identity.db.read() as session:
        user = store.get_user(session, user_id)
    return ApiResponse({"user": views.user(user, v3_url(request))})


@router.patch("/users/{user_id}", summary="Update a user")
async def update_user(
    user_id: str,
    request: Request,
    identity: IdentityService = IdentityDep,
    caller: TokenInfo = CallerDep,
) -> ApiResponse:
    require_admin(caller, "update_user")
    body = await json_body(request, "user")
    name = _string(body, "name")
    password = _string(body, "password")
    default_project_id = _string(body, "default_project_id")
    enabled = _bool(body, "enabled")

    def update(session: Session) -> User:
        user = store.get_user(session, user_id)
        if name is not None and name != user.name:
            store.require_free_name(session, User, name, user.domain_id)
            user.name = name
        if password is not None:
            user.password_hash = hash_password(password)
        if default_project_id is not None:
            user.default_project_id = store.get_project(session, default_project_id).id
        if enabled is not None:
            user.enabled = enabled
        user.extra = {**user.extra, **_user_fields(body)}
        return user

    user = await _write(identity, update)
    return ApiResponse({"user": views.user(user, v3_url(request))})


@router.delete("/users/{user_id}", status_code=204, summary="Delete a user")
async def delete_user(
    user_id: str, identity: IdentityService = IdentityDep, caller: TokenInfo = CallerDep
) -> Response:
    require_admin(caller, "delete_user")
    await _write(identity, lambda s: store.delete_user(s, store.get_user(s, user_id)))
    return Response(status_code=204)


@router.get("/users/{user_id}/projects", summary="The projects where a user has a role")
def list_user_projects(
    user_id: str,
    request: Request,
    identity: IdentityService = IdentityDep,
    caller: TokenInfo = CallerDep,
) -> ApiResponse:
    _self_or_admin(caller, user_id, "list_user_projects")
    with identity.db.read() as session:
        store.get_user(session, user_id)
        projects = store.user_projects(session, user_id)
    base = v3_url(request)
    items = [views.project(p, base) for p in projects]
    path = f"/users/{user_id}/projects"
    return ApiResponse(views.collection("projects", items, collection_url(request, path)))


# Roles


@router.get("/roles", summary="List roles")
def list_roles(
    request: Request, identity: IdentityService = IdentityDep, caller: TokenInfo = CallerDep
) -> ApiResponse:
    require_admin(caller, "list_roles")
    with identity.db.read() as session:
        found = _filtered(session, Role, request, "name")
    base = v3_url(request)
    items = [views.role(r, base) for r in found]
    return ApiResponse(views.collection("roles", items, collection_url(request, "/roles")))


@router.post("/roles", status_code=201, summary="Create a role")
async def create_role(
    request: Request, identity: IdentityService = IdentityDep, caller: TokenInfo = CallerDep
) -> ApiResponse:
    require_admin(caller, "create_role")
    body = await json_body(request, "role")
    name = _string(body, "name", required=True) or ""
    description = _string(body, "description")
    role = await _write(identity, lambda s: store.create_role(s, name, description))
    return ApiResponse({"role": views.role(role, v3_url(request))}, status_code=201)


@router.get("/roles/{role_id}", summary="Show a role")
def show_role(
    role_id: str,
    request: Request,
    identity: IdentityService = IdentityDep,
    caller: TokenInfo = CallerDep,
) -> ApiResponse:
    require_admin(caller, "get_role")
    with identity.db.read() as session:
        role = store.get_role(session, role_id)
    return ApiResponse({"role": views.role(role, v3_url(request))})


@router.delete("/roles/{role_id}", status_code=204, summary="Delete a role")
async def delete_role(
    role_id: str, identity: IdentityService = IdentityDep, caller: TokenInfo = CallerDep
) -> Response:
    require_admin(caller, "delete_role")
    await _write(identity, lambda s: store.delete_role(s, store.get_role(s, role_id)))
    return Response(status_code=204)


# Domains


@router.get("/domains", summary="List domains")
def list_domains(request: Request, caller: TokenInfo = CallerDep) -> ApiResponse:
    require_admin(caller, "list_domains")
    domain = store.DEFAULT_DOMAIN
    name = request.query_params.get("name")
    enabled = flag(request.query_params.get("enabled"))
    matches = (name is None or name == domain.name) and enabled is not False
    items = [views.domain(domain, v3_url(request))] if matches else []
    return ApiResponse(views.collection("domains", items, collection_url(request, "/domains")))


@router.get("/domains/{domain_id}", summary="Show a domain")
def show_domain(domain_id: str, request: Request, caller: TokenInfo = CallerDep) -> ApiResponse:
    own = domain_id in (
        caller.user.domain_id,
        caller.project.domain_id if caller.project else None,
    )
    require(own or is_admin(caller), "get_domain")
    return ApiResponse({"domain": views.domain(store.get_domain(domain_id), v3_url(request))})


# Role grants on projects


def _grant_objects(session: Session, project_id: str, user_id: str, role_id: str) -> None:
    store.get_project(session, project_id)
    store.get_user(session, user_id)
    store.get_role(session, role_id)


GRANT_PATH = "/projects/{project_id}/users/{user_id}/roles/{role_id}"


@router.put(GRANT_PATH, status_code=204, summary="Give a user a role on a project")
async def create_grant(
    project_id: str,
    user_id: str,
    role_id: str,
    identity: IdentityService = IdentityDep,
    caller: TokenInfo = CallerDep,
) -> Response:
    require_admin(caller, "create_grant")

    def give(session: Session) -> None:
        _grant_objects(session, project_id, user_id, role_id)
        store.grant(session, user_id, project_id, role_id)

    await _write(identity, give)
    return Response(status_code=204)


@router.head(GRANT_PATH, status_code=204, summary="Check a user's role on a project")
def check_grant(
    project_id: str,
    user_id: str,
    role_id: str,
    identity: IdentityService = IdentityDep,
    caller: TokenInfo = CallerDep,
) -> Response:
    require_admin(caller, "check_grant")
    with identity.db.read() as session:
        _grant_objects(session, project_id, user_id, role_id)
        if not store.has_grant(session, user_id, project_id, role_id):
            raise RoleAssignmentNotFound(role_id=role_id, actor_id=user_id, target_id=project_id)
    return Response(status_code=204)


@router.delete(GRANT_PATH, status_code=204, summary="Take a user's role on a project away")
async def revoke_grant(
    project_id: str,
    user_id: str,
    role_id: str,
    identity: IdentityService = IdentityDep,
    caller: TokenInfo = CallerDep,
) -> Response:
    require_admin(caller, "revoke_grant")

    def take(session: Session) -> None:
        _grant_objects(session, project_id, user_id, role_id)
        if not store.revoke_grant(session, user_id, project_id, role_id):
            raise RoleAssignmentNotFound(role_id=role_id, actor_id=user_id, target_id=project_id)

    await _write(identity, take)
    return Response(status_code=204)


@router.get("/projects/{project_id}/users/{user_id}/roles", summary="A user's roles on a project")
def list_grants(
    project_id: str,
    user_id: str,
    request: Request,
    identity: IdentityService = IdentityDep,
    caller: TokenInfo = CallerDep,
) -> ApiResponse:
    require_admin(caller, "list_grants")
    with identity.db.read() as session:
        store.get_project(session, project_id)
        store.get_user(session, user_id)
        roles = store.granted_roles(session, user_id, project_id)
    base = v3_url(request)
    path = f"/projects/{project_id}/users/{user_id}/roles"
    items = [views.role(r, base) for r in roles]
    return ApiResponse(views.collection("roles", items, collection_url(request, path)))


@router.get("/role_assignments", summary="List role assignments")
def list_role_assignments(
    request: Request, identity: IdentityService = IdentityDep, caller: TokenInfo = CallerDep
) -> ApiResponse:
    require_admin(caller, "list_role_assignments")
    params = request.query_params
    if params.get("scope.project.id") and params.get("scope.domain.id"):
        raise ValidationError("Specify a domain or project, not both")
    if params.get("user.id") and params.get("group.id"):
        raise ValidationError("Specify a user or group, not both")
    found: list[store.Assignment] = []
    # Only users hold roles, only on projects: a group, domain or system filter finds none.
    if not any(params.get(key) for key in ("group.id", "scope.domain.id", "scope.system")):
        with identity.db.read() as session:
            found = store.assignments(
                session,
                user_id=params.get("user.id"),
                project_id=params.get("scope.project.id"),
                role_id=params.get("role.id"),
                effective=key_flag(request, "effective"),
            )
    include_names = key_flag(request, "include_names")
    base = v3_url(request)
    items = [views.assignment(a, base, include_names) for a in found]
    url = collection_url(request, "/role_assignments")
    return ApiResponse(views.collection("role_assignments", items, url))
