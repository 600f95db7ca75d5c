"""The identity tables: projects, users, roles, role assignments and revoked tokens.

There is one domain, Keystone's ``default``; ``domain_id`` is kept on projects and users so
names are unique per domain as in Keystone. Ids are 32 hexadecimal characters, as Keystone's.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import Boolean, DateTime, ForeignKey, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from ostia.db.models import Base, JSONText, utcnow

DEFAULT_DOMAIN_ID = "default"
DEFAULT_DOMAIN_NAME = "Default"


def new_id() -> str:
    return uuid.uuid4().hex


class Project(Base):
    __tablename__ = "identity_project"
    __table_args__ = (UniqueConstraint("domain_id", "name"),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    name: Mapped[str] = mapped_column(String(64))
    domain_id: Mapped[str] = mapped_column(String(64), default=DEFAULT_DOMAIN_ID)
    description: Mapped[str | None] = mapped_column(Text)
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)


class User(Base):
    __tablename__ = "identity_user"
    __table_args__ = (UniqueConstraint("domain_id", "name"),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    name: Mapped[str] = mapped_column(String(255))
    domain_id: Mapped[str] = mapped_column(String(64), default=DEFAULT_DOMAIN_ID)
    # None: the user cannot authenticate with a password.
    password_hash: Mapped[str | None] = mapped_column(String(255))
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    # Not a foreign key: as in Keystone, deleting the project leaves the user as it is.
    default_project_id: Mapped[str | None] = mapped_column(String(32))
    # The attributes Keystone keeps beside the columns ("description", "email").
    extra: Mapped[dict[str, Any]] = mapped_column(JSONText, default=dict)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)


class Role(Base):
    __tablename__ = "identity_role"

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    name: Mapped[str] = mapped_column(String(255), unique=True)
    description: Mapped[str | None] = mapped_column(Text)


class RoleAssignment(Base):
    """A user's role on a project."""

    __tablename__ = "identity_role_assignment"

    user_id: Mapped[str] = mapped_column(ForeignKey("identity_user.id"), primary_key=True)
    project_id: Mapped[str] = mapped_column(
        ForeignKey("identity_project.id"), primary_key=True, index=True
    )
    role_id: Mapped[str] = mapped_column(
        ForeignKey("identity_role.id"), primary_key=True, index=True
    )


class RevokedToken(Base):
    """A token revoked before its expiry, by its audit id; purged once it has expired."""

    __tablename__ = "identity_revoked_token"

    audit_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    expires_at: Mapped[datetime] = mapped_column(DateTime, index=True)
    revoked_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
