"""Admin API for the CLI while the server runs: projects, keys and web UI users.

Authorised by the admin token the server writes into its data directory at start (readable
only by its owner), so whoever can run ``heron`` against that directory can administer it.
"""

from __future__ import annotations

import hmac
from typing import Any

from fastapi import APIRouter, Body, Depends, Request
from starlette.concurrency import run_in_threadpool

from heron.backup import backup as run_backup
from heron.backup import check_destination
from heron.errors import BadRequest, NotFound, Unauthorized
from heron.server.state import state_of
from heron.store import EmbeddedStore
from heron.store.keys import DEFAULT_SCOPE, check_scope

router = APIRouter(prefix="/api/admin", tags=["admin"])


def bearer_is(request: Request, *tokens: str | None) -> bool:
    """Whether the request's ``Authorization: Bearer`` token is one of ``tokens``."""
    scheme, _, supplied = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer":
        return False
    got = supplied.strip().encode()
    # compare_digest on bytes: a str holding non-ASCII characters would raise TypeError.
    return any(t and hmac.compare_digest(got, t.strip().encode()) for t in tokens)


def is_admin(request: Request) -> bool:
    """Whether the request carries the admin token."""
    return bearer_is(request, state_of(request).admin_token)


def admin(request: Request) -> None:
    if not is_admin(request):
        raise Unauthorized("admin endpoints need 'Authorization: Bearer <admin token>'")


@router.get("/projects", dependencies=[Depends(admin)])
def projects(request: Request) -> dict[str, Any]:
    return {"data": state_of(request).store.list_projects()}


@router.post("/projects", dependencies=[Depends(admin)], status_code=201)
def create_project(request: Request, name: str = Body(..., embed=True)) -> dict[str, Any]:
    return state_of(request).store.create_project(name)


@router.get("/keys", dependencies=[Depends(admin)])
def keys(request: Request, project: str | None = None) -> dict[str, Any]:
    store = state_of(request).store
    project_id = None
    if project:
        found = store.project_by_name(project)
        if not found:
            raise NotFound(f"project {project!r} not found")
        project_id = found["id"]
    return {"data": store.list_keys(project_id)}


@router.post("/keys", dependencies=[Depends(admin)], status_code=201)
def create_key(
    request: Request,
    project: str = Body(..., embed=True),
    create_project: bool = Body(False, embed=True),
    scope: str = Body(DEFAULT_SCOPE, embed=True),
) -> dict[str, Any]:
    """A new key pair for a project (by name); the secret is shown only in this answer.

    ``scope``: ``ingest`` (send traces and scores only), ``read`` (read only) or ``full``.
    """
    st = state_of(request)
    check_scope(scope)
    found = st.store.project_by_name(project)
    if found is None:
        if not create_project:
            raise NotFound(f"project {project!r} not found")
        found = st.store.create_project(project)
    created = st.store.create_key(found["id"], scope=scope)
    st.auth.refresh()
    return {**created, "project": found["name"]}


@router.post("/projects/retention", dependencies=[Depends(admin)])
def set_retention(
    request: Request,
    project: str = Body(..., embed=True),
    days: int | None = Body(..., embed=True),
) -> dict[str, Any]:
    """Keep a project's traces ``days`` days (``null``: forever); older ones are deleted by
    the server's retention task (hourly by default, and right after this call)."""
    st = state_of(request)
    project_id = _project_id(st.store, project)
    st.store.set_retention(project_id, days)
    if st.retention is not None:
        st.retention.wake()
    return {"project": project, "retention_days": days}


@router.post("/users", dependencies=[Depends(admin)], status_code=201)
def create_user(
    request: Request,
    email: str = Body(..., embed=True),
    password: str = Body(..., embed=True),
    is_admin: bool = Body(False, embed=True),
    project: str | None = Body(None, embed=True),
) -> dict[str, Any]:
    """A web UI user; an admin joins every project, anyone else ``project`` (by name)."""
    store = state_of(request).store
    project_ids = [_project_id(store, project)] if project else []
    return store.create_user(email, password, is_admin=is_admin, project_ids=project_ids)


@router.post("/users/password", dependencies=[Depends(admin)])
def set_password(
    request: Request,
    email: str = Body(..., embed=True),
    password: str = Body(..., embed=True),
) -> dict[str, Any]:
    """Replace a user's password (their sessions end)."""
    state_of(request).store.set_password(email, password)
    return {"email": email.strip().lower()}


def _project_id(store: Any, name: str) -> str:
    found = store.project_by_name(name)
    if not found:
        raise NotFound(f"project {name!r} not found")
    return found["id"]


@router.post("/backup", dependencies=[Depends(admin)])
async def backup(request: Request, destination: str = Body(..., embed=True)) -> dict[str, Any]:
    """A consistent copy of the data directory into ``destination`` (see heron.backup)."""
    st = state_of(request)
    if not isinstance(st.store, EmbeddedStore):
        raise BadRequest("this server's store is not backed up by heron backup")
    check_destination(destination)
    await st.pipeline.caught_up()  # what was acknowledged before now goes into the database
    journal = st.pipeline.journal.directory
    result = await run_in_threadpool(run_backup, st.store, journal, destination)
    return result.to_dict()
