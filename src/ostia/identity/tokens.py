"""Fernet tokens: what a token carries, encrypted with the primary key of the repository.

As Keystone's Fernet tokens, a token holds only who and what it is for (user, project or
none, methods, audit ids, issue and expiry times); the roles are read again each time the
token is validated, so removing a role or disabling a user takes effect at once.
"""

from __future__ import annotations

import base64
import secrets
import time
from dataclasses import dataclass
from datetime import UTC, datetime

import orjson
from cryptography.fernet import InvalidToken

from ostia.identity.keys import KeyRepository

PAYLOAD_VERSION = 1


def new_audit_id() -> str:
    """Keystone's form: 16 random bytes, URL-safe base64 without padding (22 characters)."""
    return base64.urlsafe_b64encode(secrets.token_bytes(16)).decode().rstrip("=")


@dataclass(frozen=True)
class TokenPayload:
    user_id: str
    project_id: str | None
    methods: tuple[str, ...]
    # This token's audit id, then the one of the token it was obtained with, if any.
    audit_ids: tuple[str, ...]
    issued_at: int
    expires_at: int

    @property
    def audit_id(self) -> str:
        return self.audit_ids[0]

    def expired(self, now: float | None = None) -> bool:
        return (time.time() if now is None else now) >= self.expires_at


class MalformedToken(Exception):
    """Not a token this service issued, or one made with keys it no longer has."""


class TokenFormatter:
    def __init__(self, keys: KeyRepository) -> None:
        self.keys = keys

    def issue(self, payload: TokenPayload) -> str:
        data = [
            PAYLOAD_VERSION,
            payload.user_id,
            payload.project_id,
            list(payload.methods),
            list(payload.audit_ids),
            payload.issued_at,
            payload.expires_at,
        ]
        token = self.keys.fernet().encrypt(orjson.dumps(data))
        # Keystone strips the padding; clients send the token back as they got it.
        return token.decode().rstrip("=")

    def read(self, token: str) -> TokenPayload:
        token = token.strip()
        padded = token + "=" * (-len(token) % 4)
        try:
            data = orjson.loads(self.keys.fernet().decrypt(padded.encode()))
            version, user_id, project_id, methods, audit_ids, issued_at, expires_at = data
        except (InvalidToken, ValueError, TypeError) as exc:
            raise MalformedToken() from exc
        if version != PAYLOAD_VERSION:
            raise MalformedToken()
        return TokenPayload(
            user_id=user_id,
            project_id=project_id,
            methods=tuple(methods),
            audit_ids=tuple(audit_ids),
            issued_at=issued_at,
            expires_at=expires_at,
        )


def isotime(epoch: int) -> str:
    """Keystone's timestamps: ``2026-01-02T03:04:05.000000Z``."""
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%dT%H:%M:%S.000000Z")
