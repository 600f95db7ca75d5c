"""Token validation for Ostia's APIs (``auth_strategy = "keystone"``).

Embedded: the token is decrypted with Ostia's keys and checked against the tables (user and
project enabled, roles, revocation); each answer is kept a few seconds, and a revocation
through this process is seen at once. External (``identity.external_url`` set): the token is
checked with the external Keystone's ``GET /v3/auth/tokens`` under a service token obtained
with the ``external_*`` credentials, and each answer is kept ``validation_cache_seconds``, as
keystonemiddleware does.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from datetime import datetime
from typing import Any

import anyio.to_thread
import httpx

from ostia.api.context import RequestContext, Unauthenticated
from ostia.config import IdentitySettings
from ostia.identity.errors import TokenNotFound
from ostia.identity.service import IdentityService

# How long the embedded validator trusts an answer: a revocation by another API process, a
# disabled user or a removed role takes effect within this time.
EMBEDDED_CACHE_SECONDS = 5.0
CACHE_ENTRIES = 10000
# A service token is renewed this long before it expires.
SERVICE_TOKEN_MARGIN = 30.0


class TokenCache:
    """Answers for tokens (a context, or None for an invalid token) until a deadline."""

    def __init__(self, max_entries: int = CACHE_ENTRIES) -> None:
        self.max_entries = max_entries
        self._entries: OrderedDict[str, tuple[float, RequestContext | None]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, token: str) -> tuple[bool, RequestContext | None]:
        """(found, answer)."""
        with self._lock:
            entry = self._entries.get(token)
            if entry is None:
                return False, None
            if entry[0] <= time.monotonic():
                del self._entries[token]
                return False, None
            return True, entry[1]

    def put(self, token: str, answer: RequestContext | None, seconds: float) -> None:
        if seconds <= 0:
            return
        with self._lock:
            self._entries[token] = (time.monotonic() + seconds, answer)
            self._entries.move_to_end(token)
            while len(self._entries) > self.max_entries:
                self._entries.popitem(last=False)

    def discard(self, token: str) -> None:
        with self._lock:
            self._entries.pop(token, None)


def _seconds_left(expires_at: float) -> float:
    return expires_at - time.time()


class EmbeddedValidator:
    def __init__(self, service: IdentityService, www_authenticate_uri: str) -> None:
        self.service = service
        self.www_authenticate_uri = www_authenticate_uri
        self.cache_seconds = min(
            EMBEDDED_CACHE_SECONDS, service.settings.identity.validation_cache_seconds
        )
        self.cache = TokenCache()

    async def context(self, token: str) -> RequestContext | None:
        found, answer = self.cache.get(token)
        if found:
            return answer
        try:
            info = await anyio.to_thread.run_sync(self.service.validate, token)
        except TokenNotFound:
            self.cache.put(token, None, self.cache_seconds)
            return None
        answer = RequestContext.from_roles(
            info.project.id if info.project else None, info.role_names, user_id=info.user.id
        )
        ttl = min(self.cache_seconds, _seconds_left(info.payload.expires_at))
        self.cache.put(token, answer, ttl)
        return answer

    def forget(self, token: str) -> None:
        self.cache.discard(token)


class ExternalValidator:
    def __init__(
        self, settings: IdentitySettings, transport: httpx.AsyncBaseTransport | None = None
    ) -> None:
        self.settings = settings
        self.url = settings.external_url.rstrip("/")
        self.www_authenticate_uri = self.url.removesuffix("/v3")
        # For tests: the external Keystone as an ASGI application.
        self.transport = transport
        self.cache = TokenCache()
        self._service_token: tuple[str, float] | None = None

    async def context(self, token: str) -> RequestContext | None:
        found, answer = self.cache.get(token)
        if found:
            return answer
        try:
            async with httpx.AsyncClient(transport=self.transport, timeout=10.0) as client:
                body = await self._validate(client, token)
        except httpx.HTTPError:
            raise Unauthenticated(self.www_authenticate_uri, status=503) from None
        seconds = self.settings.validation_cache_seconds
        if body is None:
            self.cache.put(token, None, seconds)
            return None
        answer = _context_from_token(body)
        expires_at = _epoch(body["token"]["expires_at"])
        self.cache.put(token, answer, min(seconds, _seconds_left(expires_at)))
        return answer

    def forget(self, token: str) -> None:
        self.cache.discard(token)

    async def _validate(self, client: httpx.AsyncClient, token: str) -> dict[str, Any] | None:
        """The token's body, None when Keystone does not know it (any more)."""
        for renew in (False, True):
            service_token = await self._get_service_token(client, renew)
            response = await client.get(
                f"{self.url}/auth/tokens",
                params={"nocatalog": ""},
                headers={"X-Auth-Token": service_token, "X-Subject-Token": token},
            )
            if response.status_code == 200:
                body: dict[str, Any] = response.json()
                return body
            if response.status_code == 404:
                return None
            if response.status_code != 401 or renew:
                break
            # The service token expired or was revoked: get another one, once.
        raise httpx.HTTPError(f"token validation answered {response.status_code}")

    async def _get_service_token(self, client: httpx.AsyncClient, renew: bool) -> str:
        if self._service_token is not None and not renew:
            token, expires_at = self._service_token
            if _seconds_left(expires_at) > SERVICE_TOKEN_MARGIN:
                return token
        s = self.settings
        response = await client.post(
            f"{self.url}/auth/tokens",
            params={"nocatalog": ""},
            json={
                "auth": {
                    "identity": {
                        "methods": ["password"],
                        "password": {
                            "user": {
                                "name": s.external_username,
                                "domain": {"name": s.external_user_domain_name},
                                "password": s.external_password,
                            }
                        },
                    },
                    "scope": {
                        "project": {
                            "name": s.external_project_name,
                            "domain": {"name": s.external_project_domain_name},
                        }
                    },
                }
            },
        )
        if response.status_code != 201:
            raise httpx.HTTPError(f"the service credentials were refused: {response.status_code}")
        token = response.headers["X-Subject-Token"]
        self._service_token = (token, _epoch(response.json()["token"]["expires_at"]))
        return token


def _epoch(isotime: str) -> float:
    return datetime.fromisoformat(isotime.replace("Z", "+00:00")).timestamp()


def _context_from_token(body: dict[str, Any]) -> RequestContext:
    token = body["token"]
    project = token.get("project")
    return RequestContext.from_roles(
        project["id"] if project else None,
        [role["name"] for role in token.get("roles", [])],
        user_id=token["user"]["id"],
    )
