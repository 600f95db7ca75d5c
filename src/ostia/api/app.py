"""The ASGI application: routes, Octavia's error bodies, and the request conventions
(``/v2.0`` and ``/v2`` aliases, ``.json`` suffixes, JSON only, a body size limit)."""

from __future__ import annotations

import logging
import uuid
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ostia import __version__
from ostia.api.deps import Services
from ostia.api.responses import ApiResponse
from ostia.api.routers import (
    amphora_stats,
    amphorae,
    availability_zones,
    flavors,
    healthmonitors,
    l7policies,
    listeners,
    loadbalancers,
    members,
    pools,
    providers,
    quotas,
    root,
)
from ostia.errors import APIError, MethodNotAllowed, RequestTooLarge
from ostia.identity import api as identity_api
from ostia.network import api as network_api

LOG = logging.getLogger(__name__)

# Resources Octavia also serves without the "lbaas" segment (/v2/loadbalancers).
LBAAS_RESOURCES = {
    "loadbalancers",
    "listeners",
    "pools",
    "healthmonitors",
    "l7policies",
    "quotas",
    "providers",
    "flavors",
    "flavorprofiles",
    "availabilityzones",
    "availabilityzoneprofiles",
}


def fault(status: int, message: str) -> ApiResponse:
    return ApiResponse(
        status_code=status,
        content={
            "faultcode": "Client" if status < 500 else "Server",
            "faultstring": message,
            "debuginfo": None,
        },
    )


def canonical_path(path: str) -> str:
    """``/v2.0/lbaas/x.json`` and ``/v2/x`` both become ``/v2/lbaas/x``."""
    if not path.startswith("/v2"):
        return path
    path = path.removesuffix(".json")
    if path == "/v2.0" or path.startswith("/v2.0/"):
        path = "/v2" + path[len("/v2.0") :]
    parts = path.split("/")
    if len(parts) > 2 and parts[1] == "v2" and parts[2] in LBAAS_RESOURCES:
        path = "/v2/lbaas/" + "/".join(parts[2:])
    return path


class RequestConventions:
    """ASGI middleware for what must happen before routing."""

    def __init__(self, app: ASGIApp, max_body_size: int) -> None:
        self.app = app
        self.max_body_size = max_body_size

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers") or [])
        accept = headers.get(b"accept", b"").decode("latin-1")
        if accept and not _accepts_json(accept):
            await _not_acceptable(scope, send)
            return
        length = headers.get(b"content-length")
        if length is not None and length.isdigit() and int(length) > self.max_body_size:
            await fault(413, RequestTooLarge(limit=self.max_body_size).message)(
                scope, receive, send
            )
            return
        original = scope["path"]
        scope = dict(scope, path=canonical_path(original))
        scope["ostia.original_path"] = original
        request_id = f"req-{uuid.uuid4()}"

        async def send_with_request_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                headers.append((b"x-openstack-request-id", request_id.encode()))
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, self._limited(receive), send_with_request_id)

    def _limited(self, receive: Receive) -> Receive:
        seen = 0

        async def limited_receive() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.max_body_size:
                    raise RequestTooLarge(limit=self.max_body_size)
            return message

        return limited_receive


def _accepts_json(accept: str) -> bool:
    for item in accept.split(","):
        media = item.split(";")[0].strip().lower()
        if media in ("*/*", "application/*", "application/json", "") or media.endswith("+json"):
            return True
    return False


async def _not_acceptable(scope: Scope, send: Send) -> None:
    body = {
        "errors": [
            {
                "status": 406,
                "title": "Not Acceptable",
                "detail": "Only application/json is supported by this API.",
                "request_id": None,
            }
        ]
    }
    response = ApiResponse(status_code=406, content=body)

    async def no_body() -> Message:
        return {"type": "http.request", "body": b"", "more_body": False}

    await response(scope, no_body, send)


def _validation_message(exc: RequestValidationError) -> str:
    """Say what is wrong with the body the way WSME does, naming the attribute."""
    error: dict[str, Any] = exc.errors()[0]
    kind = error.get("type", "")
    loc = [str(p) for p in error.get("loc", ()) if p != "body"]
    field = next((p for p in reversed(loc) if not p.isdigit()), "body")
    if kind == "json_invalid":
        return f"Invalid JSON body: {error.get('ctx', {}).get('error', 'malformed JSON')}"
    if kind == "missing" and len(loc) <= 1:
        return f'Missing argument: "{loc[0] if loc else "body"}"'
    if kind == "missing":
        return f"Invalid input for field/attribute {field}. Value: 'None'. Mandatory field missing."
    if kind == "extra_forbidden":
        parent = next((p for p in reversed(loc[:-1]) if not p.isdigit()), "body")
        return f"Unknown attribute for argument {parent}: {loc[-1]}"
    if kind in ("model_attributes_type", "dict_type", "model_type"):
        message = "Value should be an object."
    else:
        message = str(error.get("msg", "invalid value")).removeprefix("Value error, ")
    return f"Invalid input for field/attribute {field}. Value: '{error.get('input')}'. {message}"


def create_app(services: Services) -> FastAPI:
    app = FastAPI(
        title="Ostia",
        version=__version__,
        description="Load balancers as a service, speaking the OpenStack Octavia v2 API.",
        default_response_class=ApiResponse,
        redoc_url=None,
    )
    app.state.services = services

    @app.exception_handler(APIError)
    async def api_error(_request: Request, exc: APIError) -> ApiResponse:
        return fault(exc.code, exc.message)

    @app.exception_handler(RequestValidationError)
    async def invalid_request(_request: Request, exc: RequestValidationError) -> ApiResponse:
        return fault(400, _validation_message(exc))

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> ApiResponse:
        if exc.status_code == 404:
            return fault(404, f"The resource could not be found: {request.url.path}")
        if exc.status_code == 405:
            return fault(405, MethodNotAllowed(method=request.method).message)
        return fault(exc.status_code, str(exc.detail))

    @app.exception_handler(Exception)
    async def unexpected(_request: Request, exc: Exception) -> ApiResponse:
        LOG.exception("unexpected error while serving a request")
        return fault(500, "Internal Server Error: the error was logged by the API service.")

    app.include_router(root.router)
    for module in (
        loadbalancers,
        listeners,
        pools,
        members,
        healthmonitors,
        l7policies,
        quotas,
        providers,
        flavors,
        availability_zones,
    ):
        app.include_router(module.router, prefix="/v2/lbaas")
    app.include_router(amphorae.router, prefix="/v2/octavia")
    app.include_router(amphora_stats.router, prefix="/v2/octavia")
    identity_api.install(app)
    network_api.install(app)
    app.add_middleware(
        RequestConventions, max_body_size=services.settings.api.max_request_body_size
    )
    return app
