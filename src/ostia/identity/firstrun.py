"""The first start of ``ostia up`` in keystone mode: an admin to log in with, and the files
the OpenStack clients read (``clouds.yaml``, ``admin-openrc``) in the data directory."""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import select

from ostia.config import Settings
from ostia.db.engine import Database
from ostia.identity import admin
from ostia.identity.catalog import public_url
from ostia.identity.models import User

CLOUD_NAME = "ostia"
ADMIN_USER = "admin"
ADMIN_PROJECT = "admin"


@dataclass(frozen=True)
class AdminAccess:
    clouds_yaml: Path
    openrc: Path
    # The generated password, when this call created the admin.
    password: str | None


def _write_private(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w") as handle:
        handle.write(text)


def ensure_admin(db: Database, settings: Settings) -> AdminAccess:
    """Bootstrap an admin with a generated password, and write the client files, unless an
    admin user exists already."""
    clouds_yaml = settings.data_dir / "clouds.yaml"
    openrc = settings.data_dir / "admin-openrc"
    with db.read() as session:
        exists = session.scalar(select(User.id).where(User.name == ADMIN_USER)) is not None
    if exists:
        # Made at an earlier start, or by `ostia admin bootstrap`: leave it as it is.
        return AdminAccess(clouds_yaml, openrc, password=None)
    password = secrets.token_urlsafe(18)
    admin.bootstrap(db, password, ADMIN_USER, ADMIN_PROJECT)
    auth_url = f"{public_url(settings)}/identity/v3"
    _write_private(
        clouds_yaml,
        f"""clouds:
  {CLOUD_NAME}:
    auth:
      auth_url: {auth_url}
      username: {ADMIN_USER}
      password: {password}
      project_name: {ADMIN_PROJECT}
      user_domain_name: Default
      project_domain_name: Default
    region_name: {settings.identity.region}
    identity_api_version: 3
""",
    )
    _write_private(
        openrc,
        f"""export OS_AUTH_URL={auth_url}
export OS_USERNAME={ADMIN_USER}
export OS_PASSWORD={password}
export OS_PROJECT_NAME={ADMIN_PROJECT}
export OS_USER_DOMAIN_NAME=Default
export OS_PROJECT_DOMAIN_NAME=Default
export OS_REGION_NAME={settings.identity.region}
export OS_IDENTITY_API_VERSION=3
""",
    )
    return AdminAccess(clouds_yaml, openrc, password=password)
