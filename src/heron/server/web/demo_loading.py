"""``GET /demo/progress``: how far ``heron demo`` is in loading, for the banner's poll."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from starlette.responses import JSONResponse

from heron.server.web.auth import WebUser, current_user

router = APIRouter(include_in_schema=False)


@router.get("/demo/progress")
def demo_progress(request: Request, user: WebUser = Depends(current_user)) -> JSONResponse:
    """``{"loading": true, "done": n, "total": N}`` while the demo's traces are being sent,
    ``{"loading": false}`` otherwise (also on a server not started by ``heron demo``)."""
    progress = getattr(request.app.state, "demo_progress", None)
    state = progress.loading() if progress is not None else None
    body = {"loading": False} if state is None else {"loading": True, **state}
    return JSONResponse(body, headers={"Cache-Control": "no-store"})
