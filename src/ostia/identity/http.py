"""What the identity endpoints share: the service, the caller's token, Keystone's default
policy (admin for the administrative calls), the URLs they answer with, request bodies."""

from __future__ import annotations

from typing import Any

import orjson
from fastapi import Depends, Request

from ostia.identity.errors import ForbiddenAction, TokenNotFound, Unauthorized, ValidationError
from ostia.identity.service import IdentityService, TokenInfo

ADMIN_ROLE = "admin"
FALSE_STRINGS = {"0", "false", "no", "off", "f", "n"}


async def get_identity(request: Request) -> IdentityService:
    identity: IdentityService = request.app.state.identity
    return identity


IdentityDep = Depends(get_identity)


def caller(request: Request, identity: IdentityService = IdentityDep) -> TokenInfo:
    """The valid token of the request (``X-Auth-Token``), or 401."""
    token = request.headers.get("x-auth-token", "").strip()
    if not token:
        raise Unauthorized()
    try:
        return identity.validate(token)
    except TokenNotFound:
        raise Unauthorized() from None


CallerDep = Depends(caller)


def is_admin(info: TokenInfo) -> bool:
    return ADMIN_ROLE in info.role_names


def require(allowed: bool, action: str) -> None:
    if not allowed:
        raise ForbiddenAction(action=f"identity:{action}")


def require_admin(info: TokenInfo, action: str) -> None:
    require(is_admin(info), action)


def v3_url(request: Request) -> str:
    """``…/identity/v3`` at ``identity.public_url``, else as the client reached it."""
    public = request.app.state.identity.settings.identity.public_url.rstrip("/")
    return f"{public or str(request.base_url).rstrip('/')}/identity/v3"


def collection_url(request: Request, path: str) -> str:
    query = request.url.query
    return f"{v3_url(request)}{path}" + (f"?{query}" if query else "")


def key_flag(request: Request, name: str) -> bool:
    """Keystone's key-only query parameters (``?effective``): true when present, unless 0."""
    return request.query_params.get(name, "0") != "0"


def flag(value: str | None) -> bool | None:
    """A boolean query parameter; absent is None."""
    if value is None:
        return None
    return value.strip().lower() not in FALSE_STRINGS


async def json_body(request: Request, key: str) -> dict[str, Any]:
    """The object under ``key`` in the JSON body, or 400 in Keystone's words."""
    try:
        body = orjson.loads(await request.body())
    except orjson.JSONDecodeError:
        raise ValidationError("Malformed request body") from None
    if not isinstance(body, dict) or not isinstance(body.get(key), dict):
        raise ValidationError(attribute=key, target="request body")
    value: dict[str, Any] = body[key]
    return value
