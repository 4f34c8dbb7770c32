"""Unexpected exceptions: logged once with the traceback, answered with a 500 that names
nothing internal (an HTML page for a browser, JSON for the API).

This middleware sits inside :class:`~heron.server.security_headers.SecurityHeaders`, so the
500 carries the security headers, which an exception handler for ``Exception`` (answered by
Starlette's outermost middleware) would not.
"""

from __future__ import annotations

import logging

from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from heron.server.responses import JSON
from heron.server.web.errors import error_page, wants_html

log = logging.getLogger("heron.server")


def internal_error(request: Request) -> Response:
    """The 500 answer for ``request``."""
    if wants_html(request):
        try:
            return error_page(request, 500)
        except Exception:
            log.exception("the error page failed too")
            return PlainTextResponse("500: internal server error", 500)
    return JSON({"error": {"code": "internal", "message": "internal server error"}}, 500)


class UnexpectedErrors:
    """Turns an exception no handler took into :func:`internal_error`'s answer."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def tracking_send(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, receive, tracking_send)
        except Exception:
            if started:  # too late for another answer: the server closes the connection
                raise
            log.exception("unexpected error on %s %s", scope["method"], scope["path"])
            await internal_error(Request(scope, receive))(scope, receive, send)
