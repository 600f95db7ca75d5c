"""Request and response bodies of the v2 API, as pydantic models (and so the OpenAPI schema)."""
