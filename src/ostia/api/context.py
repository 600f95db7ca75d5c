"""Who is calling: the request context built from the identity headers.

In ``noauth`` mode the headers a Keystone middleware would set are taken as given:
``X-Project-Id``, ``X-User-Id`` and ``X-Roles`` (comma separated). A request without
``X-Roles`` acts as a cloud admin, as every request does under Octavia's ``noauth``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from fastapi import Request

# Keystone's default role implications: admin implies member, member implies reader.
IMPLIED_ROLES = {"admin": {"member", "reader"}, "member": {"reader"}}


@dataclass(frozen=True)
class RequestContext:
    project_id: str | None
    user_id: str | None = None
    roles: frozenset[str] = field(default_factory=frozenset)

    @classmethod
    def from_roles(cls, project_id: str | None, roles: set[str] | list[str]) -> RequestContext:
        expanded = {r.strip().lower() for r in roles if r.strip()}
        for role in list(expanded):
            expanded |= IMPLIED_ROLES.get(role, set())
        return cls(project_id=project_id, roles=frozenset(expanded))


def noauth_context(request: Request) -> RequestContext:
    headers = request.headers
    project_id = headers.get("x-project-id") or headers.get("x-tenant-id") or None
    roles_header = headers.get("x-roles")
    roles = ["admin"] if roles_header is None else roles_header.split(",")
    context = RequestContext.from_roles(project_id, roles)
    return RequestContext(
        project_id=context.project_id, user_id=headers.get("x-user-id"), roles=context.roles
    )
