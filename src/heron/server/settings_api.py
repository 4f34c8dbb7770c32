"""The settings actions of the web UI as JSON, for automation: rename a project, revoke keys,
list, add, re-role and remove members, create invitation links, and read or change the
browser feedback settings. Like the rest of
``/api/admin`` they take the server's admin token (projects by name, users by email).

Project API keys cannot manage keys or members, not even ``full`` ones: a key stands for no
person and no role, and a leaked key that could mint keys would outlive its own revocation.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Body, Depends, Request

from heron import project_admin
from heron.server.admin import admin
from heron.server.state import state_of

router = APIRouter(prefix="/api/admin", tags=["admin"], dependencies=[Depends(admin)])


@router.post("/projects/rename")
def rename_project(
    request: Request, project: str = Body(..., embed=True), name: str = Body(..., embed=True)
) -> dict[str, Any]:
    return project_admin.rename(state_of(request).store, project, name)


@router.post("/keys/revoke")
def revoke_key(
    request: Request,
    project: str = Body(..., embed=True),
    public_key: str = Body(..., embed=True),
) -> dict[str, Any]:
    """Delete a key; it stops authenticating at once."""
    st = state_of(request)
    done = project_admin.revoke_key(st.store, project, public_key)
    st.auth.refresh()
    return done


@router.get("/members")
def members(request: Request, project: str) -> dict[str, Any]:
    return {"data": project_admin.members(state_of(request).store, project)}


@router.post("/members")
def set_member(
    request: Request,
    project: str = Body(..., embed=True),
    email: str = Body(..., embed=True),
    role: str = Body(..., embed=True),
) -> dict[str, Any]:
    """Add an existing user to a project with ``role``, or change their role."""
    return project_admin.set_member(state_of(request).store, project, email, role)


@router.post("/members/remove")
def remove_member(
    request: Request, project: str = Body(..., embed=True), email: str = Body(..., embed=True)
) -> dict[str, Any]:
    return project_admin.remove_member(state_of(request).store, project, email)


@router.post("/invitations", status_code=201)
def invite(
    request: Request, project: str = Body(..., embed=True), role: str = Body("member", embed=True)
) -> dict[str, Any]:
    """A one-time link (valid 7 days) that adds whoever opens it with ``role``."""
    return project_admin.invite(state_of(request).store, project, role, str(request.base_url))


@router.get("/feedback")
def feedback(request: Request, project: str) -> dict[str, Any]:
    """The origins allowed to send feedback with the public key, and the score names it may
    write (empty: any)."""
    return project_admin.feedback_settings(state_of(request).store, project)


@router.post("/feedback")
def set_feedback(
    request: Request,
    project: str = Body(..., embed=True),
    allowed_origins: list[str] | None = Body(None, embed=True),
    allowed_names: list[str] | None = Body(None, embed=True),
) -> dict[str, Any]:
    """Replace either list (a list left out stays as it is); takes effect at once."""
    st = state_of(request)
    done = project_admin.set_feedback_settings(st.store, project, allowed_origins, allowed_names)
    st.feedback.refresh()
    return done
