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

router = APIRouter(prefix="/api/admin", tags=["admin"])


def admin(request: Request) -> None:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    expected = state_of(request).admin_token
    if scheme.lower() != "bearer" or not hmac.compare_digest(
        token.strip().encode(), expected.encode()
    ):
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
) -> dict[str, Any]:
    """A new key pair for a project (by name); the secret is shown only in this answer."""
    st = state_of(request)
    found = st.store.project_by_name(project)
    if found is None:
        if not create_project:
            raise NotFound(f"project {project!r} not found")
        found = st.store.create_project(project)
    created = st.store.create_key(found["id"])
    st.auth.refresh()
    return {**created, "project": found["name"]}


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
    journal = st.settings.data_dir / "journal"
    result = await run_in_threadpool(run_backup, st.store, journal, destination)
    return result.to_dict()
