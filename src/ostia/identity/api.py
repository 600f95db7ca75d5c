"""The identity service on the application: the Keystone v3 subset under ``/identity``
(version discovery, ``/v3/auth``, the resources) and the token validator of
``auth_strategy = "keystone"``."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, FastAPI, Request

from ostia.api.context import TokenValidator, Unauthenticated
from ostia.api.deps import Services
from ostia.api.responses import ApiResponse
from ostia.identity import auth_api, resources_api
from ostia.identity.catalog import public_url
from ostia.identity.errors import KeystoneError, ServiceUnavailable, Unauthorized
from ostia.identity.http import v3_url
from ostia.identity.service import IdentityService
from ostia.identity.validation import EmbeddedValidator, ExternalValidator

PREFIX = "/identity"
discovery = APIRouter(tags=["identity"])


def _v3_version(request: Request) -> dict[str, Any]:
    return {
        "id": "v3.14",
        "status": "stable",
        "updated": "2020-04-07T00:00:00Z",
        "links": [{"rel": "self", "href": f"{v3_url(request)}/"}],
        "media-types": [
            {"base": "application/json", "type": "application/vnd.openstack.identity-v3+json"}
        ],
    }


@discovery.get(PREFIX, summary="Identity API versions")
@discovery.get(f"{PREFIX}/", include_in_schema=False)
def versions(request: Request) -> ApiResponse:
    return ApiResponse(
        {"versions": {"values": [_v3_version(request)]}},
        status_code=300,
        headers={"Location": f"{v3_url(request)}/"},
    )


@discovery.get(f"{PREFIX}/v3", summary="Identity API v3")
@discovery.get(f"{PREFIX}/v3/", include_in_schema=False)
def version_v3(request: Request) -> ApiResponse:
    return ApiResponse({"version": _v3_version(request)})


def make_validator(identity: IdentityService) -> TokenValidator:
    settings = identity.settings.identity
    if settings.external_url:
        return ExternalValidator(settings)
    return EmbeddedValidator(identity, f"{public_url(identity.settings)}{PREFIX}")


async def keystone_error(request: Request, exc: Exception) -> ApiResponse:
    assert isinstance(exc, KeystoneError)
    headers = {}
    if exc.code == 401:
        headers["WWW-Authenticate"] = f'Keystone uri="{v3_url(request)}"'
    return ApiResponse(exc.body(), status_code=exc.code, headers=headers)


async def unauthenticated(_request: Request, exc: Exception) -> ApiResponse:
    """keystonemiddleware's answers."""
    assert isinstance(exc, Unauthenticated)
    if exc.status == 503:
        return ApiResponse(ServiceUnavailable().body(), status_code=503)
    return ApiResponse(
        Unauthorized().body(),
        status_code=401,
        headers={"WWW-Authenticate": f'Keystone uri="{exc.www_authenticate_uri}"'},
    )


def install(app: FastAPI) -> None:
    """Mount the identity routes and error handlers, and the token validator; installing
    twice changes nothing."""
    if getattr(app.state, "identity", None) is not None:
        return
    services: Services = app.state.services
    identity = IdentityService(services.settings, services.db)
    app.state.identity = identity
    app.state.token_validator = make_validator(identity)
    app.include_router(discovery)
    app.include_router(auth_api.router, prefix=f"{PREFIX}/v3")
    app.include_router(resources_api.router, prefix=f"{PREFIX}/v3")
    app.add_exception_handler(KeystoneError, keystone_error)
    app.add_exception_handler(Unauthenticated, unauthenticated)
