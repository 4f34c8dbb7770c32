"""Who is looking at a page: session cookies, CSRF tokens, and the errors pages raise.

A login creates a session in the store; its random token travels in an ``HttpOnly``,
``SameSite=Lax`` cookie (``Secure`` when the request came over HTTPS) and only its SHA-256
digest is stored. Each session has a CSRF token: every state-changing request must send it,
in the form field ``csrf_token`` or the ``X-CSRF-Token`` header. The login form, which has no
session yet, uses a double-submit cookie instead.
"""

from __future__ import annotations

import hmac
import secrets
from dataclasses import dataclass

from fastapi import Depends, FastAPI, Request
from starlette.responses import RedirectResponse, Response

from heron.server.state import state_of

SESSION_COOKIE = "heron_session"
LOGIN_CSRF_COOKIE = "heron_login_csrf"
PROJECT_COOKIE = "heron_project"
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "x-csrf-token"
SESSION_TTL_S = 14 * 24 * 3600
LOGIN_LINK_TTL_S = 15 * 60  # the link heron serve prints: one use, within 15 minutes


@dataclass(frozen=True, slots=True)
class WebUser:
    id: str
    email: str
    is_admin: bool
    csrf_token: str


class LoginRequired(Exception):
    """No valid session: the page redirects to the login form."""


class PageError(Exception):
    """A page answered with an HTML error page."""

    def __init__(self, status_code: int, message: str) -> None:
        super().__init__(message)
        self.status_code = status_code
        self.message = message


def not_found(what: str) -> PageError:
    return PageError(404, f"Not found: {what}.")


def optional_user(request: Request) -> WebUser | None:
    token = request.cookies.get(SESSION_COOKIE)
    if not token:
        return None
    found = state_of(request).store.web_session(token)
    if found is None:
        return None
    return WebUser(found["id"], found["email"], found["is_admin"], found["csrf_token"])


def current_user(request: Request) -> WebUser:
    user = optional_user(request)
    if user is None:
        raise LoginRequired()
    return user


def check_csrf(expected: str, supplied: object) -> None:
    if not isinstance(supplied, str) or not supplied:
        raise PageError(
            403,
            "CSRF token missing: this form must carry the page's csrf_token "
            "(or send an X-CSRF-Token header). Reload the page and try again.",
        )
    if not hmac.compare_digest(supplied.encode(), expected.encode()):
        raise PageError(403, "CSRF token invalid: reload the page and try again.")


async def supplied_csrf(request: Request) -> object:
    header = request.headers.get(CSRF_HEADER)
    if header is not None:
        return header
    return (await request.form()).get(CSRF_FIELD)


async def csrf_user(request: Request, user: WebUser = Depends(current_user)) -> WebUser:
    """The logged-in user of a state-changing request that carries their CSRF token."""
    check_csrf(user.csrf_token, await supplied_csrf(request))
    return user


def new_login_csrf() -> str:
    return secrets.token_urlsafe(32)


def set_cookie(
    request: Request, response: Response, name: str, value: str, max_age: int | None
) -> None:
    response.set_cookie(
        name,
        value,
        max_age=max_age,
        path="/",
        httponly=True,
        samesite="lax",
        secure=request.url.scheme == "https",
    )


def start_session(request: Request, user_id: str) -> Response:
    """Log a user in: a new session, its cookie, and off to the home page."""
    session = state_of(request).store.create_web_session(user_id, SESSION_TTL_S)
    response = RedirectResponse("/", status_code=303)
    set_cookie(request, response, SESSION_COOKIE, session["token"], SESSION_TTL_S)
    response.delete_cookie(LOGIN_CSRF_COOKIE, path="/")
    return response


def install_handlers(app: FastAPI) -> None:
    @app.exception_handler(LoginRequired)
    async def login_required(request: Request, exc: LoginRequired) -> Response:
        return RedirectResponse("/login", status_code=303)

    @app.exception_handler(PageError)
    async def page_error(request: Request, exc: PageError) -> Response:
        from heron.server.web.errors import error_page  # errors imports this module

        return error_page(request, exc.status_code, exc.message)
