"""The API's documentation: the OpenAPI schema's error answers and the ReDoc page.

FastAPI lists a 422 "HTTPValidationError" for every route with a parameter; this service
answers its own ``{"error": ...}`` body, and only where a route lists 422 itself
(:func:`qdup.service.schemas.errors`), so :func:`own_error_answers` takes FastAPI's out.

``fastapi-offline`` serves Swagger UI and ReDoc from its package instead of a CDN, but the
ReDoc bundle still loads Redocly's logo from ``cdn.redoc.ly``. This page serves that bundle
with the logo's address replaced by an empty image (ReDoc then hides the logo), so the
docs make no request to another site.
"""

from __future__ import annotations

import functools
from pathlib import Path

import fastapi_offline
from fastapi import FastAPI
from fastapi.openapi.docs import get_redoc_html
from fastapi.responses import HTMLResponse, Response

BUNDLE = Path(fastapi_offline.__file__).parent / "static" / "redoc.standalone.js"
CDN_LOGO = "https://cdn.redoc.ly/redoc/logo-mini.svg"
SCRIPT = "/redoc/redoc.standalone.js"


@functools.lru_cache(maxsize=1)
def _bundle() -> str:
    return BUNDLE.read_text(encoding="utf-8").replace(CDN_LOGO, "data:,")


def own_error_answers(app: FastAPI) -> None:
    """The OpenAPI schema without FastAPI's default 422 answers (routes list their own)."""
    generate = app.openapi

    def openapi() -> dict:
        if app.openapi_schema is None:
            schema = generate()  # cached by FastAPI in app.openapi_schema: edited once, in place
            for route in schema["paths"].values():
                for operation in route.values():
                    if "HTTPValidationError" in str(operation.get("responses", {}).get("422")):
                        del operation["responses"]["422"]
            for name in ("HTTPValidationError", "ValidationError"):
                schema.get("components", {}).get("schemas", {}).pop(name, None)
        return app.openapi_schema

    app.openapi = openapi


def add_redoc(app: FastAPI) -> None:
    """``/redoc`` and its script, from this server only."""

    @app.get("/redoc", include_in_schema=False)
    async def redoc() -> HTMLResponse:
        return get_redoc_html(openapi_url=app.openapi_url, title=f"{app.title} - ReDoc", redoc_js_url=SCRIPT,
                              redoc_favicon_url="/static-offline-docs/favicon.png", with_google_fonts=False)

    @app.get(SCRIPT, include_in_schema=False)
    async def script() -> Response:
        return Response(_bundle(), media_type="text/javascript")
