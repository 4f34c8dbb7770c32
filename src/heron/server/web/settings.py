"""The settings pages of the project in view: general (create, rename), API keys (create with
the secret shown once, list by hint, revoke), members (invite by one-time link, change role,
remove) and the invitation link itself. Every change checks the user's role
(:mod:`heron.roles`) and carries the CSRF token."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Form, Request
from fastapi.concurrency import run_in_threadpool
from starlette.responses import RedirectResponse, Response

from heron.errors import HeronError
from heron.roles import ROLES
from heron.server.state import state_of
from heron.server.web.auth import (
    PROJECT_COOKIE,
    SESSION_TTL_S,
    PageError,
    WebUser,
    check_csrf,
    csrf_user,
    optional_user,
    set_cookie,
    start_session,
)
from heron.server.web.render import page
from heron.server.web.scope import Scope, page_scope
from heron.store.keys import SCOPES

router = APIRouter(include_in_schema=False)

INVITE_FAILED = "This invitation link is not valid: it has expired or was already used."


async def _run(request: Request, fn: Any, *args: Any, **kwargs: Any) -> Any:
    """A store call off the event loop; its errors as pages naming the problem."""
    try:
        return await run_in_threadpool(fn, *args, **kwargs)
    except HeronError as exc:
        raise PageError(exc.status_code, exc.message) from None


def _back(scope: Scope, path: str, **extra: str) -> RedirectResponse:
    query = urlencode({"project": scope.project_id, **extra})
    return RedirectResponse(f"{path}?{query}", status_code=303)


def _settings_page(request: Request, scope: Scope, name: str, section: str, **extra: Any):
    return page(request, name, scope.context(section=section, roles=ROLES, **extra))


# -- general ----------------------------------------------------------------------------------


@router.get("/settings")
async def general(request: Request, scope: Scope = Depends(page_scope)) -> Response:
    return _settings_page(request, scope, "settings/general.html", "general")


@router.post("/settings/project")
async def rename(
    request: Request,
    name: str = Form(""),
    scope: Scope = Depends(page_scope),
    user: WebUser = Depends(csrf_user),
) -> Response:
    scope.require("manage_project")
    await _run(request, state_of(request).store.rename_project, scope.project_id, name)
    return _back(scope, "/settings")


@router.post("/settings/projects")
async def create_project(
    request: Request, name: str = Form(""), user: WebUser = Depends(csrf_user)
) -> Response:
    """Any logged-in user may create a project; they become its owner."""
    made = await _run(request, state_of(request).store.create_project, name, owner_id=user.id)
    response = RedirectResponse("/settings?" + urlencode({"project": made["id"]}), 303)
    set_cookie(request, response, PROJECT_COOKIE, made["id"], SESSION_TTL_S)
    return response


# -- API keys ---------------------------------------------------------------------------------


@router.get("/settings/keys")
async def keys(request: Request, scope: Scope = Depends(page_scope)) -> Response:
    listed = await _run(request, state_of(request).store.list_keys, scope.project_id)
    return _settings_page(
        request, scope, "settings/keys.html", "keys", keys=listed, scopes=list(SCOPES), new=None
    )


@router.post("/settings/keys")
async def create_key(
    request: Request,
    key_scope: str = Form("full"),
    scope: Scope = Depends(page_scope),
    user: WebUser = Depends(csrf_user),
) -> Response:
    """A new key; the page that answers shows its secret, this once only."""
    scope.require("manage_keys")
    store = state_of(request).store
    made = await _run(request, store.create_key, scope.project_id, scope=key_scope)
    listed = await _run(request, store.list_keys, scope.project_id)
    return _settings_page(
        request, scope, "settings/keys.html", "keys", keys=listed, scopes=list(SCOPES), new=made
    )


@router.post("/settings/keys/revoke")
async def revoke_key(
    request: Request,
    public_key: str = Form(""),
    scope: Scope = Depends(page_scope),
    user: WebUser = Depends(csrf_user),
) -> Response:
    scope.require("manage_keys")
    st = state_of(request)
    await _run(request, st.store.revoke_key, scope.project_id, public_key)
    await run_in_threadpool(st.auth.refresh)  # the key stops authenticating now
    return _back(scope, "/settings/keys")


# -- members ----------------------------------------------------------------------------------


@router.get("/settings/members")
async def members(request: Request, scope: Scope = Depends(page_scope)) -> Response:
    listed = await _run(request, state_of(request).store.list_members, scope.project_id)
    return _settings_page(
        request, scope, "settings/members.html", "members", members=listed, invite=None
    )


@router.post("/settings/members/invite")
async def invite(
    request: Request,
    role: str = Form("member"),
    scope: Scope = Depends(page_scope),
    user: WebUser = Depends(csrf_user),
) -> Response:
    """A one-time link (shown once) that adds whoever opens it with ``role``."""
    scope.require("manage_members")
    _no_owner_from_admin(scope, role)
    store = state_of(request).store
    made = await _run(request, store.create_invite, scope.project_id, role, user.id)
    link = str(request.base_url).rstrip("/") + "/invite?" + urlencode({"token": made["token"]})
    listed = await _run(request, store.list_members, scope.project_id)
    return _settings_page(
        request,
        scope,
        "settings/members.html",
        "members",
        members=listed,
        invite={**made, "link": link},
    )


@router.post("/settings/members/role")
async def change_role(
    request: Request,
    user_id: str = Form(""),
    role: str = Form(""),
    scope: Scope = Depends(page_scope),
    user: WebUser = Depends(csrf_user),
) -> Response:
    scope.require("manage_members")
    _no_owner_from_admin(scope, role)
    await _run(request, state_of(request).store.set_member_role, scope.project_id, user_id, role)
    return _back(scope, "/settings/members")


@router.post("/settings/members/remove")
async def remove_member(
    request: Request,
    user_id: str = Form(""),
    scope: Scope = Depends(page_scope),
    user: WebUser = Depends(csrf_user),
) -> Response:
    scope.require("manage_members")
    await _run(request, state_of(request).store.remove_member, scope.project_id, user_id)
    return _back(scope, "/settings/members")


def _no_owner_from_admin(scope: Scope, role: str) -> None:
    """Only an owner hands out ownership (an admin cannot make owners, so not outrank them)."""
    if role == "owner" and not scope.can("manage_project"):
        raise PageError(403, "Only an owner can make someone owner.")


# -- accepting an invitation ------------------------------------------------------------------


@router.get("/invite")
async def invite_page(request: Request, token: str = "") -> Response:
    found = await run_in_threadpool(state_of(request).store.peek_invite, token) if token else None
    if found is None:
        return page(request, "invite.html", {"invite": None, "error": INVITE_FAILED}, 404)
    user = optional_user(request)
    context = {"invite": found, "token": token, "error": "", "user": user}
    if user is not None:
        context["csrf_token"] = user.csrf_token
    return page(request, "invite.html", context)


@router.post("/invite")
async def accept_invite(
    request: Request,
    token: str = Form(""),
    email: str = Form(""),
    password: str = Form(""),
    csrf_token: str = Form(""),
) -> Response:
    """A logged-in user (CSRF-checked) joins; otherwise a new user is created with the
    given email and password, joins, and is logged in. The token is the credential."""
    store = state_of(request).store
    user = optional_user(request)
    if user is not None:
        check_csrf(user.csrf_token, csrf_token)
    try:
        joined = await run_in_threadpool(
            store.accept_invite, token, user.id if user else None, email, password
        )
    except HeronError as exc:
        found = await run_in_threadpool(store.peek_invite, token)
        context = {"invite": found, "token": token, "error": exc.message, "email": email}
        if user is not None:
            context.update(user=user, csrf_token=user.csrf_token)
        return page(request, "invite.html", context, exc.status_code)
    if joined is None:
        return page(request, "invite.html", {"invite": None, "error": INVITE_FAILED}, 404)
    if user is None:
        response = await run_in_threadpool(start_session, request, joined["user_id"])
    else:
        response = RedirectResponse("/", status_code=303)
    set_cookie(request, response, PROJECT_COOKIE, joined["project_id"], SESSION_TTL_S)
    return response
