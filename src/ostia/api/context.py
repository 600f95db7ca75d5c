"""Who is calling: the request context, from the identity headers or from a token.

In ``noauth`` mode the headers a Keystone middleware would set are taken as given:
``X-Project-Id``, ``X-User-Id`` and ``X-Roles`` (comma separated). A request without
``X-Roles`` acts as a cloud admin, as every request does under Octavia's ``noauth``.

In ``keystone`` mode the ``X-Auth-Token`` header is validated by the token validator the
identity service installs on the application (``app.state.token_validator``), and a request
without a valid token is refused as keystonemiddleware refuses it.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Protocol

from fastapi import Request

# Keystone's default role implications: admin implies member, member implies reader.
IMPLIED_ROLES = {"admin": {"member", "reader"}, "member": {"reader"}}


@dataclass(frozen=True)
class RequestContext:
    project_id: str | None
    user_id: str | None = None
    roles: frozenset[str] = field(default_factory=frozenset)

    @classmethod
    def from_roles(
        cls, project_id: str | None, roles: Iterable[str], user_id: str | None = None
    ) -> RequestContext:
        expanded = {r.strip().lower() for r in roles if r.strip()}
        for role in list(expanded):
            expanded |= IMPLIED_ROLES.get(role, set())
        return cls(project_id=project_id, user_id=user_id, roles=frozenset(expanded))


class Unauthenticated(Exception):
    """The request has no valid token (401), or the token could not be checked (503)."""

    def __init__(self, www_authenticate_uri: str, status: int = 401) -> None:
        super().__init__(status)
        self.www_authenticate_uri = www_authenticate_uri
        self.status = status


class TokenValidator(Protocol):
    # Where clients are told to get a token (keystonemiddleware's www_authenticate_uri).
    www_authenticate_uri: str

    async def context(self, token: str) -> RequestContext | None:
        """The caller the token stands for, None when it is not valid."""
        ...

    def forget(self, token: str) -> None:
        """Drop what is known of a token, after it has been revoked."""
        ...


def noauth_context(request: Request) -> RequestContext:
    headers = request.headers
    project_id = headers.get("x-project-id") or headers.get("x-tenant-id") or None
    roles_header = headers.get("x-roles")
    roles = ["admin"] if roles_header is None else roles_header.split(",")
    return RequestContext.from_roles(project_id, roles, user_id=headers.get("x-user-id"))


async def token_context(request: Request) -> RequestContext:
    validator: TokenValidator | None = getattr(request.app.state, "token_validator", None)
    if validator is None:
        raise RuntimeError("auth_strategy 'keystone' needs the identity service installed")
    token = request.headers.get("x-auth-token", "").strip()
    context = await validator.context(token) if token else None
    if context is None:
        raise Unauthenticated(validator.www_authenticate_uri)
    return context
