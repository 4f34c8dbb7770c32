"""Error answers by audience: an HTML page in the layout for a browser, JSON for the API."""

from __future__ import annotations

import logging

from starlette.requests import Request
from starlette.responses import Response

from heron.server.web.auth import optional_user
from heron.server.web.render import page

log = logging.getLogger("heron.server.web")

API_PREFIXES = ("/api/", "/v1/", "/metrics", "/openapi.json")
MESSAGES = {
    403: "You do not have access to this page.",
    404: "There is no page here.",
    405: "This page does not answer that method.",
    500: "Something went wrong on heron's side; the details are in the server log.",
}


def wants_html(request: Request) -> bool:
    """A browser asking for a page: Accept names text/html and the path is not the API's."""
    path = request.url.path
    if path.startswith(API_PREFIXES) or path in ("/api", "/v1"):
        return False
    return "text/html" in request.headers.get("accept", "")


def error_page(request: Request, status: int, message: str | None = None) -> Response:
    """The error page in the normal layout (with the menu when a user is logged in)."""
    try:
        user = optional_user(request)
    except Exception:  # a failing store must not turn an error page into another error
        log.exception("could not read the session for an error page")
        user = None
    context = {"status": status, "message": message or MESSAGES.get(status, "Error.")}
    if user is not None:
        context.update(user=user, csrf_token=user.csrf_token)
    return page(request, "error.html", context, status)
