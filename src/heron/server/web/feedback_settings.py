"""The browser feedback settings page (``/settings/feedback``): the origins whose pages may
send scores with the public key alone, and the score names that key may write. Owners and
admins change them (:mod:`heron.roles` action ``manage_feedback``); see docs/feedback.md."""

from __future__ import annotations

from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Form, Request
from fastapi.concurrency import run_in_threadpool
from starlette.responses import RedirectResponse, Response

from heron.errors import HeronError
from heron.roles import ROLES
from heron.server.state import state_of
from heron.server.web.auth import PageError, WebUser, csrf_user
from heron.server.web.render import page
from heron.server.web.scope import Scope, page_scope

router = APIRouter(include_in_schema=False)


def _lines(text: str) -> list[str]:
    return [line.strip() for line in text.replace(",", "\n").splitlines() if line.strip()]


@router.get("/settings/feedback")
async def feedback(request: Request, scope: Scope = Depends(page_scope)) -> Response:
    st = state_of(request)
    current = st.feedback.settings(scope.project_id)
    keys = await run_in_threadpool(st.store.list_keys, scope.project_id)
    public_key = next((k["public_key"] for k in keys if k["scope"] != "read"), None)
    return page(
        request,
        "settings/feedback.html",
        scope.context(
            section="feedback",
            roles=ROLES,
            settings=current,
            public_key=public_key,
            host=str(request.base_url).rstrip("/"),
        ),
    )


@router.post("/settings/feedback")
async def change(
    request: Request,
    allowed_origins: str = Form(""),
    allowed_names: str = Form(""),
    scope: Scope = Depends(page_scope),
    user: WebUser = Depends(csrf_user),
) -> Response:
    scope.require("manage_feedback")
    try:
        await run_in_threadpool(
            state_of(request).feedback.update,
            scope.project_id,
            _lines(allowed_origins),
            _lines(allowed_names),
        )
    except HeronError as exc:
        raise PageError(exc.status_code, exc.message) from None
    query = urlencode({"project": scope.project_id})
    return RedirectResponse(f"/settings/feedback?{query}", status_code=303)
