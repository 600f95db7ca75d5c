"""Version discovery at ``/`` and the bare ``/v2`` documents."""

from __future__ import annotations

from fastapi import APIRouter, Request

from ostia import constants
from ostia.api.responses import ApiResponse

router = APIRouter(tags=["versions"])


@router.get("/", summary="List the API versions")
def versions(request: Request) -> ApiResponse:
    host_url = str(request.base_url)
    if not host_url.endswith("/"):
        host_url += "/"
    latest = constants.API_VERSIONS[-1][0]
    return ApiResponse(
        {
            "versions": [
                {
                    "id": version,
                    "status": "CURRENT" if version == latest else "SUPPORTED",
                    "updated": updated,
                    "links": [{"href": f"{host_url}v2", "rel": "self"}],
                }
                for version, updated in constants.API_VERSIONS
            ]
        }
    )


@router.get("/v2", include_in_schema=False)
@router.get("/v2/lbaas", include_in_schema=False)
def v2_document() -> ApiResponse:
    return ApiResponse("v2")
