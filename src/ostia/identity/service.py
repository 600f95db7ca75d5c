"""Authentication (the ``password`` and ``token`` methods, scoping) and token validation."""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field
from pydantic import ValidationError as PydanticValidationError
from sqlalchemy.orm import Session

from ostia.config import Settings
from ostia.db.engine import Database
from ostia.identity import store
from ostia.identity.errors import (
    NotFound,
    TokenNotFound,
    Unauthorized,
    ValidationError,
)
from ostia.identity.keys import KeyRepository
from ostia.identity.models import Project, Role, User
from ostia.identity.passwords import verify_password
from ostia.identity.tokens import MalformedToken, TokenFormatter, TokenPayload, new_audit_id

SUPPORTED_METHODS = ("password", "token")


class _Body(BaseModel):
    model_config = ConfigDict(extra="allow")


class DomainRef(_Body):
    id: str | None = None
    name: str | None = None


class UserRef(_Body):
    id: str | None = None
    name: str | None = None
    domain: DomainRef | None = None
    password: str


class PasswordMethod(_Body):
    user: UserRef


class TokenMethod(_Body):
    id: str


class Identity(_Body):
    methods: list[str] = Field(min_length=1)
    password: PasswordMethod | None = None
    token: TokenMethod | None = None


class ProjectRef(_Body):
    id: str | None = None
    name: str | None = None
    domain: DomainRef | None = None


class Scope(_Body):
    project: ProjectRef | None = None
    domain: DomainRef | None = None
    system: dict[str, Any] | None = None


class Auth(_Body):
    identity: Identity
    scope: Scope | str | None = None


class AuthRequest(_Body):
    auth: Auth


def parse_auth_request(body: Any) -> Auth:
    """The ``auth`` object of ``POST /v3/auth/tokens``, or a 400 in Keystone's words."""
    try:
        return AuthRequest.model_validate(body).auth
    except PydanticValidationError as exc:
        error = exc.errors()[0]
        path = [str(p) for p in error["loc"] if not isinstance(p, int)]
        message = str(error["msg"])
        if error["type"] == "missing":
            message = f"'{path.pop()}' is a required property"
        field = path[-1] if path else "auth"
        raise ValidationError(f"Invalid input for field '{field}': {message}") from exc


@dataclass(frozen=True)
class TokenInfo:
    """A valid token and what it stands for, read again from the tables."""

    payload: TokenPayload
    user: User
    project: Project | None
    # The roles on the project, with the roles they imply; none when unscoped.
    roles: list[Role]

    @property
    def role_names(self) -> list[str]:
        return [role.name for role in self.roles]


def key_repository(settings: Settings) -> Path:
    return Path(settings.identity.key_repository or settings.data_dir / "fernet-keys")


class IdentityService:
    def __init__(self, settings: Settings, db: Database) -> None:
        self.settings = settings
        self.db = db
        self.keys = KeyRepository(key_repository(settings))
        self.formatter = TokenFormatter(self.keys)

    def authenticate(self, auth: Auth) -> tuple[str, TokenInfo]:
        """A new token for the identity and scope of the request."""
        for method in auth.identity.methods:
            if method not in SUPPORTED_METHODS:
                raise Unauthorized("Attempted to authenticate with an unsupported method.")
            if getattr(auth.identity, method) is None:
                raise ValidationError(attribute=method, target="identity")
        with self.db.read() as session:
            user_ids: set[str] = set()
            methods: list[str] = []
            parent: TokenInfo | None = None
            if auth.identity.password is not None and "password" in auth.identity.methods:
                user_ids.add(self._check_password(session, auth.identity.password.user))
                methods.append("password")
            if auth.identity.token is not None and "token" in auth.identity.methods:
                parent = self._validate(session, auth.identity.token.id)
                user_ids.add(parent.user.id)
                methods = ["token", *methods, *parent.payload.methods]
            if len(user_ids) != 1:
                raise Unauthorized()
            user = store.get_user(session, user_ids.pop())
            project = self._scope(session, user, auth.scope)
            now = int(time.time())
            expires_at = now + self.settings.identity.token_expiration
            audit_ids: tuple[str, ...] = (new_audit_id(),)
            if parent is not None:
                # As Keystone: a token obtained with a token expires with it and keeps the
                # audit id of the first token of the chain.
                expires_at = parent.payload.expires_at
                audit_ids += (parent.payload.audit_ids[-1],)
            payload = TokenPayload(
                user_id=user.id,
                project_id=project.id if project else None,
                methods=tuple(dict.fromkeys(methods)),
                audit_ids=audit_ids,
                issued_at=now,
                expires_at=expires_at,
            )
            token = self.formatter.issue(payload)
            return token, self._info(session, payload)

    def validate(self, token: str) -> TokenInfo:
        """What the token stands for; 404 as Keystone's when it is not valid (any more)."""
        with self.db.read() as session:
            return self._validate(session, token)

    def revoke(self, token: str) -> TokenInfo:
        with self.db.write() as session:
            info = self._validate(session, token)
            expires = datetime.fromtimestamp(info.payload.expires_at, UTC).replace(tzinfo=None)
            store.revoke_token(session, info.payload.audit_id, expires)
            return info

    def _validate(self, session: Session, token: str) -> TokenInfo:
        try:
            payload = self.formatter.read(token)
        except MalformedToken:
            raise TokenNotFound(id=token) from None
        if payload.expired() or store.is_revoked(session, payload.audit_id):
            raise TokenNotFound(id=token)
        try:
            return self._info(session, payload)
        except (NotFound, Unauthorized):
            raise TokenNotFound(id=token) from None

    def _info(self, session: Session, payload: TokenPayload) -> TokenInfo:
        user = store.get_user(session, payload.user_id)
        if not user.enabled:
            raise Unauthorized()
        if payload.project_id is None:
            return TokenInfo(payload=payload, user=user, project=None, roles=[])
        project = store.get_project(session, payload.project_id)
        roles = store.granted_roles(session, user.id, project.id)
        if not project.enabled or not roles:
            raise Unauthorized()
        return TokenInfo(
            payload=payload, user=user, project=project, roles=store.with_implied(session, roles)
        )

    def _check_password(self, session: Session, ref: UserRef) -> str:
        try:
            if ref.id is not None:
                user: User | None = store.get_user(session, ref.id)
            elif ref.name is not None:
                if ref.domain is None:
                    raise ValidationError(attribute="domain", target="user")
                domain = store.find_domain(ref.domain.id, ref.domain.name)
                user = store.find_user(session, ref.name, domain.id)
            else:
                raise ValidationError(attribute="id or name", target="user")
        except NotFound:
            user = None
        stored = user.password_hash if user is not None else None
        # The hash is checked even without a user, so that the delay tells nothing.
        if not verify_password(ref.password, stored) or user is None or not user.enabled:
            raise Unauthorized()
        return user.id

    def _scope(self, session: Session, user: User, scope: Scope | str | None) -> Project | None:
        """The project the token is for; None for an unscoped token."""
        if isinstance(scope, str):
            if scope == "unscoped":
                return None
            raise ValidationError(attribute="project, domain or system", target="scope")
        if scope is None:
            return self._default_project(session, user)
        if scope.project is None:
            # Domain and system scopes: no role can be given on them here, so, as Keystone
            # answers a user without one, no access.
            raise Unauthorized()
        ref = scope.project
        try:
            if ref.id is not None:
                project = store.get_project(session, ref.id)
            elif ref.name is not None and ref.domain is not None:
                domain = store.find_domain(ref.domain.id, ref.domain.name)
                project = store.find_project(session, ref.name, domain.id)
            else:
                raise ValidationError(attribute="id or name and domain", target="project")
        except NotFound:
            raise Unauthorized() from None
        if not project.enabled or not store.granted_roles(session, user.id, project.id):
            raise Unauthorized()
        return project

    def _default_project(self, session: Session, user: User) -> Project | None:
        """As Keystone: without a scope, the user's default project if they may use it."""
        if user.default_project_id is None:
            return None
        project = session.get(Project, user.default_project_id)
        if project is None or not project.enabled:
            return None
        return project if store.granted_roles(session, user.id, project.id) else None
