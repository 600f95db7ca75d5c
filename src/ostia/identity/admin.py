"""Identity administration on the database, for ``ostia admin …``: bootstrap (as
``keystone-manage bootstrap``), projects, users, role assignments."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session

from ostia.db.engine import Database
from ostia.identity import store
from ostia.identity.errors import NotFound
from ostia.identity.models import Project, Role, User
from ostia.identity.passwords import hash_password, verify_password

# Keystone's default roles, Octavia's legacy roles, and the role of service users.
BOOTSTRAP_ROLES = (
    "admin",
    "member",
    "reader",
    "service",
    "load-balancer_admin",
    "load-balancer_global_observer",
    "load-balancer_member",
    "load-balancer_observer",
    "load-balancer_quota_admin",
)


@dataclass(frozen=True)
class Bootstrapped:
    project_id: str
    user_id: str
    role_ids: dict[str, str]


def bootstrap(
    db: Database, password: str, username: str = "admin", project_name: str = "admin"
) -> Bootstrapped:
    """The roles, the admin project, and the admin user with the admin role on it. Running it
    again creates only what is missing, enables the admin user and sets its password to
    ``password``."""
    with db.write() as session:
        roles = {name: store.ensure_role(session, name) for name in BOOTSTRAP_ROLES}
        project: Project = _find(session, Project, project_name) or store.create_project(
            session, project_name, description="Bootstrap project"
        )
        user: User | None = _find(session, User, username)
        if user is None:
            user = store.create_user(session, username, password=password)
        else:
            # As keystone-manage: a way back in, with the password given.
            user.enabled = True
            if not verify_password(password, user.password_hash):
                user.password_hash = hash_password(password)
        store.grant(session, user.id, project.id, roles["admin"].id)
        return Bootstrapped(
            project_id=project.id,
            user_id=user.id,
            role_ids={name: role.id for name, role in roles.items()},
        )


def _find(session: Session, model: type[Project | User], name: str) -> Any:
    try:
        return store.by_id_or_name(session, model, name)
    except NotFound:
        return None


def create_project(db: Database, name: str, description: str | None = None) -> Project:
    with db.write() as session:
        return store.create_project(session, name, description=description)


def create_user(db: Database, name: str, password: str, project: str | None = None) -> User:
    """A user of the default domain; ``project`` (name or id) becomes its default project."""
    with db.write() as session:
        project_id = store.by_id_or_name(session, Project, project).id if project else None
        return store.create_user(session, name, password=password, default_project_id=project_id)


def add_role(db: Database, user: str, project: str, role: str) -> tuple[User, Project, Role]:
    """Give ``role`` to ``user`` on ``project`` (each a name or an id)."""
    with db.write() as session:
        found_user: User = store.by_id_or_name(session, User, user)
        found_project: Project = store.by_id_or_name(session, Project, project)
        found_role: Role = store.by_id_or_name(session, Role, role)
        store.grant(session, found_user.id, found_project.id, found_role.id)
        return found_user, found_project, found_role
