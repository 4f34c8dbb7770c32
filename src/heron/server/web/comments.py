"""Comments on the pages: under the trace and each observation (the trace page's side panel)
and under a session's conversation; added, edited and deleted by form posts.

A member or above adds comments (``write``); a comment is edited or deleted by its author,
or by an admin or owner (``moderate_comments``); a viewer only reads. The author of a
comment made here is the logged-in user. Content is shown escaped, its line breaks kept
(CSS), with a tiny markdown subset (``**bold**``, `` `code` ``) added by :func:`render` on
escaped text. The checks are the public API's (:mod:`heron.server.comments`).
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, Depends, Request
from fastapi.concurrency import run_in_threadpool
from markupsafe import Markup, escape
from starlette.responses import RedirectResponse, Response

from heron.errors import BadRequest, NotFound
from heron.server import comments as api
from heron.server.state import state_of
from heron.server.web.auth import PageError, WebUser, csrf_user, not_found
from heron.server.web.scope import Scope, page_scope
from heron.server.web.traces import href
from heron.store.comments import CommentFilter

router = APIRouter(include_in_schema=False)

SHOWN = 100  # the newest comments of an object shown on its page
_CODE = re.compile(r"`([^`\n]+)`")
_BOLD = re.compile(r"\*\*([^*\n]+)\*\*")


def _bold(text: str) -> Markup:
    out, at = [], 0
    for m in _BOLD.finditer(text):
        out += [escape(text[at : m.start()]), Markup("<strong>{}</strong>").format(m.group(1))]
        at = m.end()
    out.append(escape(text[at:]))
    return Markup("").join(out)


def render(text: str) -> Markup:
    """A comment's content as HTML: every character of it escaped; the only tags are the
    ``<code>`` and ``<strong>`` added here around escaped text."""
    out, at = [], 0
    for m in _CODE.finditer(text):
        out += [_bold(text[at : m.start()]), Markup("<code>{}</code>").format(m.group(1))]
        at = m.end()
    out.append(_bold(text[at:]))
    return Markup("").join(out)


def may_change(scope: Scope, comment: dict[str, Any]) -> bool:
    """Whether the user in view may edit or delete the comment (its author, or an admin)."""
    if not scope.can("write"):
        return False
    return comment["authorUserId"] == scope.user.id or scope.can("moderate_comments")


async def thread(
    request: Request, scope: Scope, object_type: str, object_id: str, trace_id: str | None = None
) -> dict[str, Any]:
    """What ``_comments.html`` shows for one object: its newest comments, oldest first, each
    with its author's email (when a member wrote it) and whether it may be changed."""
    store = state_of(request).store
    pid = scope.project_id
    f = CommentFilter(object_type=object_type, object_id=object_id)
    items, total = await run_in_threadpool(store.list_comments, pid, f, 1, SHOWN)
    members = await run_in_threadpool(store.list_members, pid) if items else []
    emails = {m["user_id"]: m["email"] for m in members}
    for c in items:
        author = c["authorUserId"]
        c["author"] = emails.get(author, author) if author else "an API key"
        c["html"] = render(c["content"])
        c["editable"] = may_change(scope, c)
    return {
        "items": items[::-1],
        "total": total,
        "object_type": object_type,
        "object_id": object_id,
        "trace_id": trace_id or "",
        "max_chars": api.MAX_CONTENT,
    }


def _back(pid: str, object_type: str, object_id: str, trace_id: str | None) -> str:
    """The page an object's comments are on (built from stored ids, never a posted URL)."""
    if object_type == "SESSION":
        return href("sessions", object_id, pid) + "#comments"
    url = href("traces", trace_id or object_id, pid)
    if object_type == "OBSERVATION":
        url += "&observation=" + quote(object_id, safe="")
    return url + "#comments"


def _field(form: Any, name: str) -> Any:
    value = form.get(name)
    return value if isinstance(value, str) else None


async def _owned(request: Request, scope: Scope, comment_id: str) -> dict[str, Any]:
    """The comment, if the user may change it (403 or 404 pages otherwise)."""
    scope.require("write")
    try:
        found = await api.one(request, scope.project_id, comment_id)
    except NotFound:
        raise not_found("comment") from None
    if not may_change(scope, found):
        raise PageError(403, "Only the comment's author or an admin can change it.")
    return found


@router.post("/comments")
async def add(
    request: Request, scope: Scope = Depends(page_scope), user: WebUser = Depends(csrf_user)
) -> Response:
    """Add a comment to a trace, observation or session of the project in view."""
    scope.require("write")
    form = await request.form()
    try:
        fields = {
            "object_type": api.object_type(_field(form, "object_type"), "object_type"),
            "object_id": api.text(_field(form, "object_id"), "object_id", api.MAX_ID),
            "content": api.content(_field(form, "content")),
            "author_user_id": user.id,
            "trace_hint": (_field(form, "trace_id") or "")[: api.MAX_ID] or None,
        }
        stored = await api.create(request, scope.project_id, fields)
    except (BadRequest, NotFound) as exc:
        raise PageError(exc.status_code, exc.message) from None
    return RedirectResponse(
        _back(scope.project_id, stored["objectType"], stored["objectId"], stored["traceId"]),
        status_code=303,
    )


@router.post("/comments/{comment_id}/edit")
async def edit(
    request: Request,
    comment_id: str,
    scope: Scope = Depends(page_scope),
    user: WebUser = Depends(csrf_user),
) -> Response:
    """Replace a comment's content (its author, or an admin)."""
    found = await _owned(request, scope, comment_id)
    try:
        text = api.content(_field(await request.form(), "content"))
    except BadRequest as exc:
        raise PageError(400, exc.message) from None
    await run_in_threadpool(
        state_of(request).store.update_comment, scope.project_id, comment_id, text
    )
    back = _back(scope.project_id, found["objectType"], found["objectId"], found["traceId"])
    return RedirectResponse(back, status_code=303)


@router.post("/comments/{comment_id}/delete")
async def delete(
    request: Request,
    comment_id: str,
    scope: Scope = Depends(page_scope),
    user: WebUser = Depends(csrf_user),
) -> Response:
    """Delete a comment (its author, or an admin)."""
    found = await _owned(request, scope, comment_id)
    await run_in_threadpool(state_of(request).store.delete_comment, scope.project_id, comment_id)
    back = _back(scope.project_id, found["objectType"], found["objectId"], found["traceId"])
    return RedirectResponse(back, status_code=303)
