"""The network service's HTTP side: a Neutron v2.0 subset under ``/network``.

It is its own ASGI application mounted on Ostia's, so that everything under ``/network``
answers in Neutron's words (``{"NeutronError": …}``) while the rest keeps Octavia's; it
shares the main application's state, dependency overrides and middleware.
"""

from __future__ import annotations

from fastapi import APIRouter, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException

from ostia.api.responses import ApiResponse
from ostia.errors import APIError
from ostia.network.errors import (
    ExtensionNotFound,
    HTTPInternalServerError,
    HTTPNotFound,
    NeutronError,
)
from ostia.network.routes import router as resources

PREFIX = "/network"
COLLECTIONS = (("network", "networks"), ("subnet", "subnets"), ("port", "ports"))

# What this Neutron implements, as its extension list says it.
EXTENSIONS = {
    alias: {
        "alias": alias,
        "name": name,
        "description": description,
        "updated": "2016-01-01T00:00:00-00:00",
        "links": [],
    }
    for alias, name, description in (
        (
            "project-id",
            "project_id field enabled",
            "Extension that indicates that project_id field is enabled.",
        ),
        (
            "standard-attr-description",
            "standard-attr-description",
            "Extension to add descriptions to standard attributes",
        ),
        (
            "standard-attr-timestamp",
            "Resource timestamps",
            "Adds created_at and updated_at "
            "fields to all Neutron resources that have Neutron standard attributes.",
        ),
        (
            "standard-attr-tag",
            "Tag support for resources with standard attribute: subnet, network, port",
            "Enables to set tag on resources with standard attribute.",
        ),
        (
            "filter-validation",
            "Filter parameters validation",
            "Provides validation on filter parameters.",
        ),
        ("sorting", "Sorting support", "Enabling the sorting feature of the API."),
        ("pagination", "Pagination support", "Enabling the pagination feature of the API."),
        ("net-mtu", "Network MTU", "Provides MTU attribute for a network resource."),
        (
            "net-mtu-writable",
            "Network MTU (writable)",
            "Provides a writable MTU attribute for a network resource.",
        ),
        ("port-security", "Port Security", "Provides port security"),
        ("allowed-address-pairs", "Allowed Address Pairs", "Provides allowed address pairs"),
    )
}

discovery = APIRouter()


def _base(request: Request) -> str:
    return f"{str(request.base_url).rstrip('/').removesuffix(PREFIX)}{PREFIX}"


@discovery.get("/v2.0")
@discovery.get("/v2.0/")
def version_resources(request: Request) -> ApiResponse:
    base = _base(request)
    return ApiResponse(
        {
            "resources": [
                {
                    "name": name,
                    "collection": collection,
                    "links": [{"href": f"{base}/v2.0/{collection}", "rel": "self"}],
                }
                for name, collection in COLLECTIONS
            ]
        }
    )


@discovery.get("/v2.0/extensions")
def list_extensions() -> ApiResponse:
    return ApiResponse({"extensions": list(EXTENSIONS.values())})


@discovery.get("/v2.0/extensions/{alias}")
def show_extension(alias: str) -> ApiResponse:
    if alias not in EXTENSIONS:
        raise ExtensionNotFound(extension_alias=alias)
    return ApiResponse({"extension": EXTENSIONS[alias]})


@discovery.get("/")
def versions(request: Request) -> ApiResponse:
    """``GET /network``: the one API version, as Neutron's root lists it."""
    return ApiResponse(
        {
            "versions": [
                {
                    "id": "v2.0",
                    "status": "CURRENT",
                    "links": [{"href": f"{_base(request)}/v2.0/", "rel": "self"}],
                }
            ]
        }
    )


def neutron_fault(error: NeutronError) -> ApiResponse:
    return ApiResponse(
        status_code=error.code,
        content={"NeutronError": {"type": error.type, "message": error.message, "detail": ""}},
    )


def _http_error(status: int, message: str) -> ApiResponse:
    kind = {
        400: "HTTPBadRequest",
        404: "HTTPNotFound",
        405: "HTTPMethodNotAllowed",
        413: "HTTPRequestEntityTooLarge",
    }.get(status, "HTTPError")
    return ApiResponse(
        status_code=status,
        content={"NeutronError": {"type": kind, "message": message, "detail": ""}},
    )


def create_network_app(app: FastAPI) -> FastAPI:
    network = FastAPI(
        title="Ostia networks",
        default_response_class=ApiResponse,
        openapi_url=None,
        docs_url=None,
        redoc_url=None,
    )
    # One state (services, and whatever the identity side keeps there) and one set of
    # dependency overrides for both applications.
    network.state = app.state
    network.dependency_overrides = app.dependency_overrides

    @network.exception_handler(NeutronError)
    async def neutron_error(_request: Request, exc: NeutronError) -> ApiResponse:
        return neutron_fault(exc)

    @network.exception_handler(APIError)
    async def ostia_error(_request: Request, exc: APIError) -> ApiResponse:
        return _http_error(exc.code, exc.message)

    @network.exception_handler(RequestValidationError)
    async def malformed(_request: Request, _exc: RequestValidationError) -> ApiResponse:
        return _http_error(400, "Malformed request body")

    @network.exception_handler(StarletteHTTPException)
    async def http_error(_request: Request, exc: StarletteHTTPException) -> ApiResponse:
        if exc.status_code == 404:
            return neutron_fault(HTTPNotFound())
        return _http_error(exc.status_code, str(exc.detail))

    # The main application's handler logs the error once this one has answered.
    @network.exception_handler(Exception)
    async def unexpected(_request: Request, _exc: Exception) -> ApiResponse:
        return neutron_fault(HTTPInternalServerError())

    network.include_router(discovery)
    network.include_router(resources)
    return network


def install(app: FastAPI) -> None:
    """Mount this service's routes and error handlers on the application."""
    app.add_api_route(PREFIX, versions, methods=["GET"], include_in_schema=False)
    app.mount(PREFIX, create_network_app(app))
