"""Keystone's representations of tokens, projects, users, roles and domains."""

from __future__ import annotations

from typing import Any

from ostia.identity.models import Project, Role, User
from ostia.identity.service import TokenInfo
from ostia.identity.store import Assignment, Domain, get_domain
from ostia.identity.tokens import isotime


def _domain_ref(domain_id: str) -> dict[str, str]:
    return {"id": domain_id, "name": get_domain(domain_id).name}


def token(info: TokenInfo, catalog: list[dict[str, Any]] | None) -> dict[str, Any]:
    payload = info.payload
    body: dict[str, Any] = {
        "methods": list(payload.methods),
        "user": {
            "domain": _domain_ref(info.user.domain_id),
            "id": info.user.id,
            "name": info.user.name,
            "password_expires_at": None,
        },
        "audit_ids": list(payload.audit_ids),
        "expires_at": isotime(payload.expires_at),
        "issued_at": isotime(payload.issued_at),
    }
    if info.project is not None:
        body["project"] = {
            "domain": _domain_ref(info.project.domain_id),
            "id": info.project.id,
            "name": info.project.name,
        }
        body["is_domain"] = False
        body["roles"] = [{"id": role.id, "name": role.name} for role in info.roles]
        if catalog is not None:
            body["catalog"] = catalog
    return {"token": body}


def project(obj: Project, base: str) -> dict[str, Any]:
    return {
        "id": obj.id,
        "name": obj.name,
        "domain_id": obj.domain_id,
        "description": obj.description or "",
        "enabled": obj.enabled,
        "is_domain": False,
        "parent_id": obj.domain_id,
        "tags": [],
        "options": {},
        "links": {"self": f"{base}/projects/{obj.id}"},
    }


def user(obj: User, base: str) -> dict[str, Any]:
    body: dict[str, Any] = {
        **obj.extra,
        "id": obj.id,
        "name": obj.name,
        "domain_id": obj.domain_id,
        "enabled": obj.enabled,
        "password_expires_at": None,
        "options": {},
        "links": {"self": f"{base}/users/{obj.id}"},
    }
    if obj.default_project_id is not None:
        body["default_project_id"] = obj.default_project_id
    return body


def role(obj: Role, base: str) -> dict[str, Any]:
    return {
        "id": obj.id,
        "name": obj.name,
        "domain_id": None,
        "description": obj.description,
        "options": {},
        "links": {"self": f"{base}/roles/{obj.id}"},
    }


def domain(obj: Domain, base: str) -> dict[str, Any]:
    return {
        "id": obj.id,
        "name": obj.name,
        "description": obj.description,
        "enabled": True,
        "tags": [],
        "options": {},
        "links": {"self": f"{base}/domains/{obj.id}"},
    }


def assignment(found: Assignment, base: str, include_names: bool) -> dict[str, Any]:
    """One entry of ``GET /v3/role_assignments``."""
    user_ref: dict[str, Any] = {"id": found.user.id}
    project_ref: dict[str, Any] = {"id": found.project.id}
    role_ref: dict[str, Any] = {"id": found.role.id}
    if include_names:
        user_ref.update(name=found.user.name, domain=_domain_ref(found.user.domain_id))
        project_ref.update(name=found.project.name, domain=_domain_ref(found.project.domain_id))
        role_ref["name"] = found.role.name
    granted = found.prior_role or found.role
    links = {
        "assignment": f"{base}/projects/{found.project.id}/users/{found.user.id}/roles/{granted.id}"
    }
    if found.prior_role is not None:
        links["prior_role"] = f"{base}/prior_role/{found.prior_role.id}/implies/{found.role.id}"
    return {
        "scope": {"project": project_ref},
        "user": user_ref,
        "role": role_ref,
        "links": links,
    }


def collection(key: str, items: list[dict[str, Any]], self_url: str) -> dict[str, Any]:
    return {key: items, "links": {"self": self_url, "previous": None, "next": None}}
