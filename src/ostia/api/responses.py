"""The JSON response every endpoint returns: serialized by orjson, without a second pass
through pydantic (the ``response_model`` of a route only documents it)."""

from __future__ import annotations

from typing import Any

import orjson
from starlette.responses import Response


class ApiResponse(Response):
    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        return orjson.dumps(content)
