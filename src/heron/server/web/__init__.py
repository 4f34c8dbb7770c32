"""The web UI: server-rendered pages behind a login, on the same app as the JSON API.

The API authenticates with API keys; the pages authenticate with a session cookie only
(see :mod:`heron.server.web.auth`), and every page is scoped to the projects its user is a
member of.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from fastapi.responses import FileResponse
from fastapi.staticfiles import StaticFiles

from heron.server.web import (
    alerts,
    annotate,
    annotation_queues,
    auth,
    channels,
    comments,
    compare,
    connections,
    dashboards,
    datasets,
    demo_loading,
    error_analysis,
    evaluators,
    feedback_settings,
    issues,
    observations,
    people,
    prices,
    review,
    routes,
    score_configs,
    settings,
    trace_page,
    traces,
)

STATIC_DIR = Path(__file__).parent / "static"
# The modules whose routers serve pages and forms (tests walk their routes).
PAGE_MODULES = (
    routes,
    traces,
    trace_page,
    observations,
    people,
    dashboards,
    compare,
    demo_loading,
    prices,
    settings,
    feedback_settings,
    score_configs,
    evaluators,
    connections,
    channels,
    issues,  # issue 15: the issues inbox
    alerts,
    comments,  # issue 16: comments on traces, observations and sessions
    error_analysis,  # issue 16: error analysis
    annotate,  # issue 16: the annotator view
    annotation_queues,  # issue 16: annotation queues
    review,  # the Review hub: issues, alerts, queues, error analysis
    datasets,  # issue 17: datasets
)


def install(app: FastAPI) -> None:
    """Add the pages, their error handling and ``/static`` to the app."""
    auth.install_handlers(app)
    for module in PAGE_MODULES:  # dashboards before /static: it serves Plotly.js there
        app.include_router(module.router)
    app.add_api_route("/favicon.ico", favicon, include_in_schema=False)
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")


async def favicon() -> FileResponse:
    """The icon browsers ask for at /favicon.ico (the same SVG as /static/favicon.svg)."""
    return FileResponse(
        STATIC_DIR / "favicon.svg",
        media_type="image/svg+xml",
        headers={"Cache-Control": "public, max-age=86400"},
    )


__all__ = ["install"]
