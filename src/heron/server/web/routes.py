"""The pages: login (form and one-time link), logout, and the home page with its project
switcher. Each page shows only projects its user is a member of; any other is a 404."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Form, Request
from fastapi.concurrency import run_in_threadpool
from starlette.responses import RedirectResponse, Response

from heron.server.login_guard import HashesBusy
from heron.server.state import state_of
from heron.server.web.auth import (
    LOGIN_CSRF_COOKIE,
    PROJECT_COOKIE,
    SESSION_COOKIE,
    SESSION_TTL_S,
    WebUser,
    check_csrf,
    csrf_user,
    new_login_csrf,
    optional_user,
    set_cookie,
    start_session,
)
from heron.server.web.render import page
from heron.server.web.scope import Scope, member_project, page_scope
from heron.store import ListQuery

router = APIRouter(include_in_schema=False)

LOGIN_FAILED = "Wrong email or password."
LINK_FAILED = "This login link is not valid: it has expired or was already used."
TOO_MANY_FAILURES = (
    "Too many failed logins for this account or from this address: try again in {seconds} seconds."
)
TOO_MANY_LOGINS = "The server is checking too many logins at once: try again in {seconds} seconds."


def _login_form(
    request: Request,
    email: str = "",
    error: str = "",
    status: int = 200,
    retry_after: int | None = None,
) -> Response:
    token = request.cookies.get(LOGIN_CSRF_COOKIE) or new_login_csrf()
    response = page(
        request, "login.html", {"email": email, "error": error, "login_csrf": token}, status
    )
    set_cookie(request, response, LOGIN_CSRF_COOKIE, token, 3600)
    if retry_after is not None:
        response.headers["Retry-After"] = str(retry_after)
    return response


@router.get("/login")
def login_form(request: Request) -> Response:
    if optional_user(request) is not None:
        return RedirectResponse("/", status_code=303)
    return _login_form(request)


@router.post("/login")
async def login(
    request: Request,
    email: str = Form(""),
    password: str = Form(""),
    csrf_token: str = Form(""),
) -> Response:
    """Check a password, after the per-account and per-address delays and only while a hash
    slot is free (:mod:`heron.server.login_guard`); the hash runs off the event loop."""
    check_csrf(request.cookies.get(LOGIN_CSRF_COOKIE, ""), csrf_token)
    st = state_of(request)
    guard = st.login_guard
    address = request.client.host if request.client else ""
    wait = guard.retry_after(email, address)
    if wait:
        error = TOO_MANY_FAILURES.format(seconds=wait)
        return _login_form(request, email=email, error=error, status=429, retry_after=wait)
    try:
        user = await guard.hashes.run(st.store.check_login, email, password)
    except HashesBusy:
        wait = guard.busy()
        error = TOO_MANY_LOGINS.format(seconds=wait)
        return _login_form(request, email=email, error=error, status=503, retry_after=wait)
    if user is None:
        guard.failed(email, address)
        return _login_form(request, email=email, error=LOGIN_FAILED, status=401)
    guard.succeeded(email)
    return await run_in_threadpool(start_session, request, user["id"])


@router.get("/login/token")
def login_with_token(request: Request, token: str = "") -> Response:
    """The one-time link ``heron serve`` prints: logs in once, then is spent."""
    user = state_of(request).store.use_login_token(token) if token else None
    if user is None:
        return _login_form(request, error=LINK_FAILED, status=401)
    return start_session(request, user["id"])


@router.post("/logout")
def logout(request: Request, user: WebUser = Depends(csrf_user)) -> Response:
    state_of(request).store.delete_web_session(request.cookies.get(SESSION_COOKIE, ""))
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(SESSION_COOKIE, path="/")
    response.delete_cookie(PROJECT_COOKIE, path="/")
    return response


@router.post("/projects/switch")
def switch_project(
    request: Request, project: str = Form(""), user: WebUser = Depends(csrf_user)
) -> Response:
    chosen = member_project(state_of(request).store.user_projects(user.id), project)
    response = RedirectResponse("/", status_code=303)
    set_cookie(request, response, PROJECT_COOKIE, chosen["id"], SESSION_TTL_S)
    return response


@router.get("/")
async def home(request: Request, scope: Scope = Depends(page_scope)) -> Response:
    st = state_of(request)
    traces: list[dict[str, Any]] = []
    if scope.project is not None:
        await st.pipeline.caught_up()
        latest = await run_in_threadpool(
            st.store.list_traces, scope.project_id, ListQuery(limit=10)
        )
        traces = latest.data
    url = str(request.base_url).rstrip("/")
    response = page(request, "home.html", scope.context(traces=traces, url=url))
    if scope.asked:
        set_cookie(request, response, PROJECT_COOKIE, scope.project_id, SESSION_TTL_S)
    return response
