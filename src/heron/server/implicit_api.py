"""The implicit-feedback detector settings of a project as JSON (``/api/admin``, the admin
token): read them, change some, or go back to the defaults. See docs/feedback.md."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Body, Depends, Request

from heron.implicit import admin as implicit_admin
from heron.server.admin import admin
from heron.server.state import state_of

router = APIRouter(prefix="/api/admin/implicit", tags=["admin"], dependencies=[Depends(admin)])


@router.get("/settings")
def settings(request: Request, project: str) -> dict[str, Any]:
    """``settings``: every setting in effect; ``changed``: the ones the project set."""
    return implicit_admin.view(state_of(request).store, project)


@router.post("/settings")
def update_settings(
    request: Request,
    project: str = Body(..., embed=True),
    settings: dict[str, Any] | None = Body(None, embed=True),
    reset: bool = Body(False, embed=True),
) -> dict[str, Any]:
    """Merge ``settings`` into the project's (``reset``: from the defaults); the runner uses
    them within two seconds."""
    return implicit_admin.update(state_of(request).store, project, settings, reset)
