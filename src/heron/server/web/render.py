"""Jinja2 templates of the web UI. Autoescaping is on for every template, whatever its name."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined
from starlette.requests import Request
from starlette.responses import HTMLResponse
from starlette.templating import Jinja2Templates

from heron.server.web.timefmt import time_placeholders, when

TEMPLATE_DIR = Path(__file__).parent / "templates"

environment = Environment(
    loader=FileSystemLoader(TEMPLATE_DIR), autoescape=True, undefined=StrictUndefined
)
templates = Jinja2Templates(env=environment)
# One time renderer for every page, as a filter (``x|when``) and a global (``when(x)``).
environment.filters["when"] = when
environment.globals["when"] = when
environment.globals["time_placeholders"] = time_placeholders

# The sections of the top navigation: (path, label). A page belongs to the section whose
# path is its own path or a prefix of it followed by "/" (a trace page is under Traces).
NAV: tuple[tuple[str, str], ...] = (
    ("/dashboard", "Dashboards"),
    ("/traces", "Traces"),
    ("/observations", "Observations"),
    ("/sessions", "Sessions"),
    ("/users", "Users"),
    ("/evaluators", "Evaluators"),
    ("/compare", "Compare"),
    ("/review", "Review"),
    ("/settings", "Settings"),
)

# pages marked as in another section: the dashboards list is reached from the default
# dashboard, and the review pages from the Review hub (the header fits 1200 px)
SECTION_OF = {
    "/dashboards": "/dashboard",
    "/issues": "/review",
    "/alerts": "/review",
    "/annotation-queues": "/review",
    "/error-analysis": "/review",
    "/datasets": "/evaluators",  # issue 17: datasets and experiments sit with the evaluators
}


def current_section(path: str) -> str | None:
    """The NAV path the page at ``path`` belongs to, or None (home, login, errors)."""
    for href, _ in NAV:
        if path == href or path.startswith(href + "/"):
            return href
    for prefix, section in SECTION_OF.items():
        if path == prefix or path.startswith(prefix + "/"):
            return section
    return None


def page(
    request: Request, name: str, context: dict[str, Any], status_code: int = 200
) -> HTMLResponse:
    """Render a page; templates get ``user`` (or None), ``csrf_token`` (or ""),
    ``ingest_warning`` (or None), ``nav`` with ``nav_current`` (the section this page is in,
    marked ``aria-current="page"``) and ``demo_loading`` (or None) besides."""
    context = {"user": None, "csrf_token": "", **context}
    context["ingest_warning"] = ingest_warning(request, context)
    context["nav"] = NAV
    context["nav_current"] = current_section(request.url.path)
    context["demo_loading"] = demo_loading(request, context)
    response = templates.TemplateResponse(request, name, context, status_code=status_code)
    response.headers["Cache-Control"] = "no-store"
    return response


def ingest_warning(request: Request, context: dict[str, Any]) -> dict[str, Any] | None:
    """What the base layout's warning banner says, for a logged-in user: spans quarantined
    in their projects (every project for an admin), failed store commits and why ingest is
    impaired (the details for admins); None when all is well."""
    user = context.get("user")
    st = getattr(request.app.state, "heron", None)
    if user is None or st is None:
        return None
    pipeline = st.pipeline
    if user.is_admin:
        quarantined = pipeline.quarantine.spans()
    else:
        quarantined = pipeline.quarantine.spans({p["id"] for p in context.get("projects") or []})
    failed = pipeline.stats.failed_commits if user.is_admin else 0
    problems = pipeline.health()["problems"]
    if not (quarantined or failed or problems):
        return None
    return {
        "quarantined": quarantined,
        "failed_commits": failed,
        "problems": problems if user.is_admin else [],
        "impaired": bool(problems),
    }


def demo_loading(request: Request, context: dict[str, Any]) -> dict[str, int] | None:
    """``{"done": n, "total": N}`` while ``heron demo`` is still sending its traces to this
    server (for a logged-in user), else None."""
    progress = getattr(request.app.state, "demo_progress", None)
    if context.get("user") is None or progress is None:
        return None
    return progress.loading()
