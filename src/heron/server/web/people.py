"""Pages: sessions (list and conversation view) and users (list and a user's sessions).

Every page reads through the store's list/detail functions, scoped to the page's project
(:func:`~heron.server.web.scope.page_scope`); a session or user not in that project is a 404.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar
from urllib.parse import quote, urlencode

import orjson
from fastapi import APIRouter, Depends, Request
from fastapi.concurrency import run_in_threadpool
from starlette.responses import Response

from heron.errors import BadRequest, NotFound
from heron.query import Filter
from heron.server.consistency import read_view
from heron.server.state import state_of
from heron.server.web.auth import PROJECT_COOKIE, SESSION_TTL_S, PageError, not_found, set_cookie
from heron.server.web.render import page
from heron.server.web.scope import Scope, page_scope
from heron.server.web.timefmt import when
from heron.store import ListQuery

router = APIRouter(include_in_schema=False)

PAGE_SIZE = 25
T = TypeVar("T")


# -- formatting helpers (passed to the templates) -----------------------------------------------


def money(value: float | None) -> str:
    if value is None:
        return "\u2013"
    return f"${value:.2f}" if value >= 1 else f"${value:.5f}".rstrip("0").rstrip(".")


def duration(ms: float | None) -> str:
    if ms is None:
        return "\u2013"
    return f"{ms:.0f} ms" if ms < 1000 else f"{ms / 1000:.2f} s"


def count(value: int | float | None) -> str:
    return "\u2013" if value is None else f"{int(value):,}"


HELPERS: dict[str, Callable[..., str]] = {
    "when": when,
    "money": money,
    "duration": duration,
    "count": count,
}


# -- reading chat content -----------------------------------------------------------------------

_INPUT_KEYS = ("input", "query", "question", "prompt", "message", "text", "content")
_OUTPUT_KEYS = ("output", "answer", "response", "completion", "result", "text", "content")


def _content_text(content: Any) -> str | None:
    """A message's content: text, or OpenAI / GenAI parts whose text parts are joined."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        texts = []
        for part in content:
            if isinstance(part, str):
                texts.append(part)
            elif isinstance(part, dict) and part.get("type", "text") == "text":
                text = part.get("content", part.get("text"))
                if isinstance(text, str):
                    texts.append(text)
        return "\n".join(texts) if texts else None
    return None


def _message_text(message: Any) -> str | None:
    if not isinstance(message, dict):
        return None
    if "parts" in message:
        return _content_text(message["parts"])
    return _content_text(message.get("content"))


def _last_message(messages: list[Any], roles: tuple[str, ...]) -> str | None:
    for message in reversed(messages):
        if isinstance(message, dict) and message.get("role") in roles:
            text = _message_text(message)
            if text is not None:
                return text
    return None


def chat_text(value: Any, side: str) -> str | None:
    """The text to show for one side of a turn (``"user"`` or ``"assistant"``), or None when
    the value has no recognisable shape (the page then shows it as JSON)."""
    if value is None:
        return None
    if isinstance(value, str):
        return value
    roles = ("user", "human") if side == "user" else ("assistant", "ai", "model")
    if isinstance(value, list):
        return _last_message(value, roles)
    if not isinstance(value, dict):
        return None
    if isinstance(value.get("messages"), list):
        return _last_message(value["messages"], roles)
    if "role" in value:
        return _message_text(value) if value["role"] in roles else None
    choices = value.get("choices")
    if side == "assistant" and isinstance(choices, list) and choices:
        first = choices[0]
        if isinstance(first, dict):
            return _message_text(first.get("message"))
    for key in _INPUT_KEYS if side == "user" else _OUTPUT_KEYS:
        if isinstance(value.get(key), str):
            return value[key]
    return None


def pretty(value: Any) -> str:
    if isinstance(value, str):
        return value
    try:
        return orjson.dumps(value, option=orjson.OPT_INDENT_2).decode()
    except TypeError:
        return repr(value)


def turn(trace: dict[str, Any]) -> dict[str, Any]:
    """One trace of a session as a conversation turn."""
    inp, out = trace.get("input"), trace.get("output")
    return {
        "trace": trace,
        "user_text": chat_text(inp, "user"),
        "assistant_text": chat_text(out, "assistant"),
        "input_json": None if inp is None or isinstance(inp, str) else pretty(inp),
        "output_json": None if out is None or isinstance(out, str) else pretty(out),
    }


# -- reads ------------------------------------------------------------------------------------


async def _read(request: Request, fn: Callable[..., T], *args: Any, missing: str = "") -> T:
    """A store read (waiting for ingest only when asked); store errors become error pages
    (a missing object: "Not found: ``missing``.")."""
    await read_view(request)
    try:
        return await run_in_threadpool(fn, *args)
    except NotFound as exc:
        raise not_found(missing) if missing else PageError(404, exc.message) from None
    except BadRequest as exc:
        raise PageError(400, exc.message) from None


def _url(path: str, **params: str | None) -> str:
    kept = {k: v for k, v in params.items() if v}
    return path + ("?" + urlencode(kept) if kept else "")


def _respond(request: Request, scope: Scope, name: str, **context: Any) -> Response:
    response = page(request, name, scope.context(**HELPERS, **context))
    if scope.asked and scope.project is not None:
        set_cookie(request, response, PROJECT_COOKIE, scope.project_id, SESSION_TTL_S)
    return response


# -- pages ------------------------------------------------------------------------------------


@router.get("/sessions")
async def sessions(
    request: Request,
    user_id: str | None = None,
    search: str | None = None,
    cursor: str | None = None,
    scope: Scope = Depends(page_scope),
) -> Response:
    user_id, search = user_id or None, (search or "").strip() or None
    rows: list[dict[str, Any]] = []
    next_url = None
    if scope.project is not None:
        filters = [Filter("user_id", "=", user_id)] if user_id else []
        query = ListQuery(filters, search, limit=PAGE_SIZE, cursor=cursor or None)
        found = await _read(request, state_of(request).store.list_sessions, scope.project_id, query)
        rows = found.data
        if found.next_cursor:
            next_url = _url("/sessions", user_id=user_id, search=search, cursor=found.next_cursor)
    return _respond(
        request,
        scope,
        "sessions.html",
        sessions=rows,
        user_id=user_id or "",
        search=search or "",
        next_url=next_url,
        first_url=_url("/sessions", user_id=user_id, search=search) if cursor else None,
    )


@router.get("/sessions/{session_id:path}")
async def session(
    request: Request, session_id: str, scope: Scope = Depends(page_scope)
) -> Response:
    if scope.project is None:
        raise not_found("session")
    store = state_of(request).store
    found = await _read(
        request, store.get_session, scope.project_id, session_id, missing=f"session {session_id!r}"
    )
    tokens = [t["total_tokens"] for t in found["traces"] if t["total_tokens"] is not None]
    return _respond(
        request,
        scope,
        "session.html",
        session=found,
        total_tokens=sum(tokens) if tokens else None,
        turns=[turn(t) for t in found["traces"]],
    )


@router.get("/users")
async def users(
    request: Request,
    search: str | None = None,
    cursor: str | None = None,
    scope: Scope = Depends(page_scope),
) -> Response:
    search = (search or "").strip() or None
    rows: list[dict[str, Any]] = []
    next_url = None
    if scope.project is not None:
        filters = [Filter("user_id", "contains", search)] if search else []
        query = ListQuery(filters, limit=PAGE_SIZE, cursor=cursor or None)
        found = await _read(request, state_of(request).store.list_users, scope.project_id, query)
        rows = found.data
        if found.next_cursor:
            next_url = _url("/users", search=search, cursor=found.next_cursor)
    return _respond(
        request,
        scope,
        "users.html",
        users=rows,
        search=search or "",
        next_url=next_url,
        first_url=_url("/users", search=search) if cursor else None,
    )


@router.get("/users/{user_id:path}")
async def user(
    request: Request,
    user_id: str,
    cursor: str | None = None,
    scope: Scope = Depends(page_scope),
) -> Response:
    if scope.project is None:
        raise not_found("user")
    store = state_of(request).store
    mine = [Filter("user_id", "=", user_id)]
    summary = await _read(request, store.list_users, scope.project_id, ListQuery(mine, limit=1))
    if not summary.data:
        raise not_found(f"user {user_id!r}")
    query = ListQuery(mine, limit=PAGE_SIZE, cursor=cursor or None)
    found = await _read(request, store.list_sessions, scope.project_id, query)
    base = "/users/" + quote(user_id, safe="")
    return _respond(
        request,
        scope,
        "user.html",
        end_user=summary.data[0],
        sessions=found.data,
        next_url=_url(base, cursor=found.next_cursor) if found.next_cursor else None,
        first_url=base if cursor else None,
    )
