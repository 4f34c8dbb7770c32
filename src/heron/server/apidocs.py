"""The API reference at ``/docs``: Swagger UI served from the ``fastapi-offline`` package.

FastAPI's own ``/docs`` loads Swagger UI from a CDN (blank without network) and starts it
with an inline script (refused by the content security policy). Here the files are served
under a versioned ``/static/vendor/`` URL, cached long, and ``static/swagger-init.js`` starts
Swagger UI with the schema URL read from a ``data-`` attribute. ``/redoc`` is disabled.
"""

from __future__ import annotations

from importlib.metadata import version
from pathlib import Path

import fastapi_offline
from fastapi import APIRouter, Request
from fastapi.responses import FileResponse, HTMLResponse, Response
from markupsafe import escape

router = APIRouter(include_in_schema=False)

ASSET_DIR = Path(fastapi_offline.__file__).parent / "static"
VENDOR = f"/static/vendor/swagger-ui-{version('fastapi-offline')}"
ASSETS = {"swagger-ui-bundle.js": "text/javascript", "swagger-ui.css": "text/css"}


@router.get(VENDOR + "/{name}")
async def swagger_asset(name: str) -> Response:
    """One Swagger UI file; the version is in the URL, so it is cached long."""
    media_type = ASSETS.get(name)
    if media_type is None:
        return Response("not found", 404, media_type="text/plain")
    return FileResponse(
        ASSET_DIR / name,
        media_type=media_type,
        headers={"Cache-Control": "public, max-age=31536000, immutable"},
    )


@router.get("/docs")
async def docs_page(request: Request) -> HTMLResponse:
    """The Swagger UI page; no inline script, no request leaves this server."""
    openapi_url = escape(request.app.openapi_url or "/openapi.json")
    html = f"""<!doctype html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <title>heron API</title>
  <link rel="icon" href="/favicon.ico">
  <link rel="stylesheet" href="{VENDOR}/swagger-ui.css">
</head>
<body>
  <div id="swagger-ui" data-openapi-url="{openapi_url}"></div>
  <script src="{VENDOR}/swagger-ui-bundle.js"></script>
  <script src="/static/swagger-init.js"></script>
</body>
</html>
"""
    return HTMLResponse(html, headers={"Cache-Control": "no-store"})
