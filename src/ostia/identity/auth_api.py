"""``/identity/v3/auth``: issuing, validating and revoking tokens; the caller's projects and
catalog."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from starlette.concurrency import run_in_threadpool

from ostia.api.responses import ApiResponse
from ostia.identity import store, views
from ostia.identity.catalog import catalog
from ostia.identity.errors import Forbidden, TokenNotFound
from ostia.identity.http import (
    CallerDep,
    IdentityDep,
    collection_url,
    is_admin,
    json_body,
    require,
    v3_url,
)
from ostia.identity.service import IdentityService, TokenInfo, parse_auth_request

router = APIRouter(prefix="/auth", tags=["identity"])

SERVICE_ROLE = "service"


@router.post("/tokens", status_code=201, summary="Authenticate and get a token")
async def issue_token(request: Request, identity: IdentityService = IdentityDep) -> Response:
    auth = parse_auth_request({"auth": await json_body(request, "auth")})
    token, info = await run_in_threadpool(identity.authenticate, auth)
    body = views.token(info, _catalog(request, identity))
    return ApiResponse(body, status_code=201, headers={"X-Subject-Token": token})


def _catalog(request: Request, identity: IdentityService) -> list[dict[str, object]] | None:
    return None if "nocatalog" in request.query_params else catalog(identity.settings)


def _subject(request: Request, identity: IdentityService, caller: TokenInfo, action: str) -> str:
    """The token the call is about (``X-Subject-Token``), which the caller may see: its own,
    or any when the caller is an admin or a service (keystonemiddleware's service user)."""
    subject = request.headers.get("x-subject-token", "").strip()
    if not subject:
        raise TokenNotFound("No token in the request")
    if not (is_admin(caller) or SERVICE_ROLE in caller.role_names):
        require(identity.validate(subject).user.id == caller.user.id, action)
    return subject


@router.get("/tokens", summary="Validate a token and show it")
def validate_token(
    request: Request, identity: IdentityService = IdentityDep, caller: TokenInfo = CallerDep
) -> ApiResponse:
    subject = _subject(request, identity, caller, "validate_token")
    info = identity.validate(subject)
    return ApiResponse(
        views.token(info, _catalog(request, identity)), headers={"X-Subject-Token": subject}
    )


@router.head("/tokens", summary="Check a token")
def check_token(
    request: Request, identity: IdentityService = IdentityDep, caller: TokenInfo = CallerDep
) -> Response:
    identity.validate(_subject(request, identity, caller, "check_token"))
    return Response(status_code=200)


@router.delete("/tokens", status_code=204, summary="Revoke a token")
def revoke_token(
    request: Request, identity: IdentityService = IdentityDep, caller: TokenInfo = CallerDep
) -> Response:
    subject = _subject(request, identity, caller, "revoke_token")
    identity.revoke(subject)
    request.app.state.token_validator.forget(subject)
    return Response(status_code=204)


@router.get("/projects", summary="The projects the caller may get a token for")
def auth_projects(
    request: Request, identity: IdentityService = IdentityDep, caller: TokenInfo = CallerDep
) -> ApiResponse:
    with identity.db.read() as session:
        projects = store.user_projects(session, caller.user.id, enabled_only=True)
    base = v3_url(request)
    return ApiResponse(
        views.collection(
            "projects",
            [views.project(p, base) for p in projects],
            collection_url(request, "/auth/projects"),
        )
    )


@router.get("/domains", summary="The domains the caller may get a token for")
def auth_domains(request: Request, caller: TokenInfo = CallerDep) -> ApiResponse:
    # No role can be given on a domain here.
    return ApiResponse(views.collection("domains", [], collection_url(request, "/auth/domains")))


@router.get("/catalog", summary="The service catalog")
def auth_catalog(
    request: Request, identity: IdentityService = IdentityDep, caller: TokenInfo = CallerDep
) -> ApiResponse:
    if caller.project is None:
        raise Forbidden("A project-scoped token is required to produce a service catalog.")
    return ApiResponse(
        views.collection(
            "catalog", catalog(identity.settings), collection_url(request, "/auth/catalog")
        )
    )
