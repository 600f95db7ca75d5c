"""Reading and changing the identity tables, in the caller's transaction."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from ostia.api.context import IMPLIED_ROLES
from ostia.db.models import utcnow
from ostia.identity.errors import Conflict, NotFound, ValidationError
from ostia.identity.models import (
    DEFAULT_DOMAIN_ID,
    DEFAULT_DOMAIN_NAME,
    Project,
    RevokedToken,
    Role,
    RoleAssignment,
    User,
)
from ostia.identity.passwords import hash_password


@dataclass(frozen=True)
class Domain:
    id: str
    name: str
    description: str


# The one domain, as Keystone creates it.
DEFAULT_DOMAIN = Domain(DEFAULT_DOMAIN_ID, DEFAULT_DOMAIN_NAME, "The default domain")


def get_domain(domain_id: str) -> Domain:
    if domain_id != DEFAULT_DOMAIN.id:
        raise NotFound(kind="domain", id=domain_id)
    return DEFAULT_DOMAIN


def find_domain(id_: str | None = None, name: str | None = None) -> Domain:
    """The domain named by id or by name, as in an authentication request."""
    if id_ is not None:
        return get_domain(id_)
    if name != DEFAULT_DOMAIN.name:
        raise NotFound(kind="domain", id=name)
    return DEFAULT_DOMAIN


def get_project(session: Session, project_id: str) -> Project:
    project = session.get(Project, project_id)
    if project is None:
        raise NotFound(kind="project", id=project_id)
    return project


def find_project(session: Session, name: str, domain_id: str) -> Project:
    project = session.scalar(
        select(Project).where(Project.name == name, Project.domain_id == domain_id)
    )
    if project is None:
        raise NotFound(kind="project", id=name)
    return project


def get_user(session: Session, user_id: str) -> User:
    user = session.get(User, user_id)
    if user is None:
        raise NotFound(kind="user", id=user_id)
    return user


def find_user(session: Session, name: str, domain_id: str) -> User:
    user = session.scalar(select(User).where(User.name == name, User.domain_id == domain_id))
    if user is None:
        raise NotFound(kind="user", id=name)
    return user


def get_role(session: Session, role_id: str) -> Role:
    role = session.get(Role, role_id)
    if role is None:
        raise NotFound(kind="role", id=role_id)
    return role


def by_id_or_name(session: Session, model: type[Any], value: str) -> Any:
    """An object named by id, else by name (in the default domain), as the clients do."""
    found = session.get(model, value)
    if found is None:
        found = session.scalar(select(model).where(model.name == value))
    if found is None:
        raise NotFound(kind=model.__tablename__.removeprefix("identity_"), id=value)
    return found


def _require_name(name: object, kind: str, max_length: int) -> str:
    if not isinstance(name, str) or not name.strip():
        raise ValidationError(attribute="name", target=kind)
    if len(name) > max_length:
        raise ValidationError(f"Invalid input for field 'name': '{name}' is too long")
    return name


def require_free_name(
    session: Session, model: type[Project | User], name: str, domain: str
) -> None:
    """409 as Keystone's when the domain already has a project (or user) of this name."""
    if session.scalar(select(model.id).where(model.name == name, model.domain_id == domain)):
        raise Conflict.duplicate(model.__tablename__.removeprefix("identity_"), name, domain)


def create_project(
    session: Session,
    name: str,
    *,
    domain_id: str = DEFAULT_DOMAIN_ID,
    description: str | None = None,
    enabled: bool = True,
) -> Project:
    _require_name(name, "project", 64)
    get_domain(domain_id)
    require_free_name(session, Project, name, domain_id)
    project = Project(name=name, domain_id=domain_id, description=description, enabled=enabled)
    session.add(project)
    session.flush()
    return project


def create_user(
    session: Session,
    name: str,
    *,
    password: str | None = None,
    domain_id: str = DEFAULT_DOMAIN_ID,
    default_project_id: str | None = None,
    enabled: bool = True,
    extra: dict[str, Any] | None = None,
) -> User:
    _require_name(name, "user", 255)
    get_domain(domain_id)
    require_free_name(session, User, name, domain_id)
    user = User(
        name=name,
        domain_id=domain_id,
        password_hash=None if password is None else hash_password(password),
        default_project_id=default_project_id,
        enabled=enabled,
        extra=extra or {},
    )
    session.add(user)
    session.flush()
    return user


def create_role(session: Session, name: str, description: str | None = None) -> Role:
    _require_name(name, "role", 255)
    if session.scalar(select(Role.id).where(Role.name == name)):
        raise Conflict.duplicate("role", name)
    role = Role(name=name, description=description)
    session.add(role)
    session.flush()
    return role


def ensure_role(session: Session, name: str) -> Role:
    return session.scalar(select(Role).where(Role.name == name)) or create_role(session, name)


def delete_project(session: Session, project: Project) -> None:
    session.execute(delete(RoleAssignment).where(RoleAssignment.project_id == project.id))
    session.delete(project)


def delete_user(session: Session, user: User) -> None:
    session.execute(delete(RoleAssignment).where(RoleAssignment.user_id == user.id))
    session.delete(user)


def delete_role(session: Session, role: Role) -> None:
    session.execute(delete(RoleAssignment).where(RoleAssignment.role_id == role.id))
    session.delete(role)


def has_grant(session: Session, user_id: str, project_id: str, role_id: str) -> bool:
    return session.get(RoleAssignment, (user_id, project_id, role_id)) is not None


def grant(session: Session, user_id: str, project_id: str, role_id: str) -> None:
    """Give the role; giving it again changes nothing."""
    if not has_grant(session, user_id, project_id, role_id):
        session.add(RoleAssignment(user_id=user_id, project_id=project_id, role_id=role_id))
        session.flush()


def revoke_grant(session: Session, user_id: str, project_id: str, role_id: str) -> bool:
    result = session.execute(
        delete(RoleAssignment).where(
            RoleAssignment.user_id == user_id,
            RoleAssignment.project_id == project_id,
            RoleAssignment.role_id == role_id,
        )
    )
    return bool(getattr(result, "rowcount", 0))


def granted_roles(session: Session, user_id: str, project_id: str) -> list[Role]:
    """The roles given to the user on the project, directly."""
    return list(
        session.scalars(
            select(Role)
            .join(RoleAssignment, RoleAssignment.role_id == Role.id)
            .where(RoleAssignment.user_id == user_id, RoleAssignment.project_id == project_id)
            .order_by(Role.name)
        )
    )


def with_implied(session: Session, roles: Sequence[Role]) -> list[Role]:
    """The roles and those they imply (Keystone's defaults: admin implies member, member
    implies reader), each once."""
    names = {role.name for role in roles}
    implied = {name for role in roles for name in IMPLIED_ROLES.get(role.name, ())} - names
    extra = list(session.scalars(select(Role).where(Role.name.in_(implied)))) if implied else []
    return sorted([*roles, *extra], key=lambda role: role.name)


def user_projects(session: Session, user_id: str, *, enabled_only: bool = False) -> list[Project]:
    """The projects where the user has a role."""
    stmt = (
        select(Project)
        .where(
            Project.id.in_(
                select(RoleAssignment.project_id).where(RoleAssignment.user_id == user_id)
            )
        )
        .order_by(Project.name)
    )
    if enabled_only:
        stmt = stmt.where(Project.enabled.is_(True))
    return list(session.scalars(stmt))


@dataclass(frozen=True)
class Assignment:
    user: User
    project: Project
    role: Role
    # The role the user was given, when this one is implied by it.
    prior_role: Role | None = None


def assignments(
    session: Session,
    *,
    user_id: str | None = None,
    project_id: str | None = None,
    role_id: str | None = None,
    effective: bool = False,
) -> list[Assignment]:
    """Role assignments matching the filters; ``effective`` adds the implied roles."""
    stmt = (
        select(RoleAssignment, User, Project, Role)
        .join(User, User.id == RoleAssignment.user_id)
        .join(Project, Project.id == RoleAssignment.project_id)
        .join(Role, Role.id == RoleAssignment.role_id)
        .order_by(User.name, Project.name, Role.name)
    )
    if user_id is not None:
        stmt = stmt.where(RoleAssignment.user_id == user_id)
    if project_id is not None:
        stmt = stmt.where(RoleAssignment.project_id == project_id)
    found = [Assignment(user, project, role) for _, user, project, role in session.execute(stmt)]
    if effective:
        found = _add_implied(session, found)
    if role_id is not None:
        found = [a for a in found if a.role.id == role_id]
    return found


def _add_implied(session: Session, direct: list[Assignment]) -> list[Assignment]:
    roles = {role.name: role for role in session.scalars(select(Role))}
    result = list(direct)
    seen = {(a.user.id, a.project.id, a.role.id) for a in direct}
    for a in direct:
        for name in sorted(IMPLIED_ROLES.get(a.role.name, ())):
            role = roles.get(name)
            if role is not None and (a.user.id, a.project.id, role.id) not in seen:
                seen.add((a.user.id, a.project.id, role.id))
                result.append(Assignment(a.user, a.project, role, prior_role=a.role))
    return result


def revoke_token(session: Session, audit_id: str, expires_at: datetime) -> None:
    """Remember the token as revoked until it expires; forget revocations that expired."""
    now = utcnow()
    session.execute(delete(RevokedToken).where(RevokedToken.expires_at < now))
    if session.get(RevokedToken, audit_id) is None:
        session.add(RevokedToken(audit_id=audit_id, expires_at=expires_at, revoked_at=now))


def is_revoked(session: Session, audit_id: str) -> bool:
    return session.get(RevokedToken, audit_id) is not None
