"""Pages: sessions (list and conversation view) and users (list and a user's sessions).

Every page reads through the store's list/detail functions, scoped to the page's project
(:func:`~heron.server.web.scope.page_scope`); a session or user not in that project is a 404.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar
from urllib.parse import quote, urlencode

import orjson
from fastapi import APIRouter, Depends, Query, Request
from fastapi.concurrency import run_in_threadpool
from starlette.responses import Response

from heron.errors import BadRequest, NotFound
from heron.query import Filter
from heron.server.consistency import read_view
from heron.server.state import state_of
from heron.server.web.auth import PROJECT_COOKIE, SESSION_TTL_S, PageError, not_found, set_cookie
from heron.server.web.comments import thread
from heron.server.web.filterbar import RANGES
from heron.server.web.payload import classify
from heron.server.web.render import page
from heron.server.web.scope import Scope, page_scope
from heron.server.web.timefmt import when
from heron.store import ListQuery

router = APIRouter(include_in_schema=False)

PAGE_SIZE = 25
T = TypeVar("T")
# What the sessions and users lists sort on (``sort=KEY.asc|desc``, server-side ORDER BY;
# the store's order names). Anything else is a 400 page naming the choices.
SORTS = {
    "last_seen": "last seen",
    "first_seen": "first seen",
    "traces": "traces",
    "cost": "cost",
    "tokens": "tokens",
    "errors": "errors",
}
DEFAULT_SORT = "last_seen.desc"


def parse_sort(value: str | None) -> tuple[str, str]:
    """``sort=`` as (key, direction); unknown keys or directions are a 400 page."""
    key, _, direction = (value or DEFAULT_SORT).partition(".")
    direction = direction or "desc"
    if key not in SORTS or direction not in ("asc", "desc"):
        raise PageError(
            400,
            f"sort: unknown order {value!r}; use one of {', '.join(SORTS)} "
            "followed by .asc or .desc",
        )
    return key, direction


def range_filter(time_range: str | None) -> list[Filter]:
    """``range=`` (a preset of the time range picker) as a start-time filter; unknown: 400."""
    if not time_range:
        return []
    if time_range not in RANGES:
        raise PageError(
            400, f"range: unknown time range {time_range!r}; use one of {', '.join(RANGES)}"
        )
    since = datetime.now(UTC) - timedelta(seconds=RANGES[time_range][1])
    return [Filter("start_time", ">=", since.isoformat())]


def sort_headers(path: str, key: str, direction: str, **params: str | None) -> dict[str, Any]:
    """Per sortable column: the link that sorts by it (again: the other way) and its state."""
    out = {}
    for col in SORTS:
        nxt = "asc" if col == key and direction == "desc" else "desc"
        out[col] = {
            "href": _url(path, **params, sort=f"{col}.{nxt}"),
            "active": col == key,
            "arrow": (" \u2193" if direction == "desc" else " \u2191") if col == key else "",
            "aria": ("descending" if direction == "desc" else "ascending") if col == key else None,
        }
    return out


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


def score(value: float | None) -> str:
    """An average score with at most two decimals."""
    return "\u2013" if value is None else f"{value:.2f}".rstrip("0").rstrip(".")


HELPERS: dict[str, Callable[..., str]] = {
    "score": score,
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
        "input_view": None if inp is None or isinstance(inp, str) else classify(inp),
        "output_view": None if out is None or isinstance(out, str) else classify(out),
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


TREND_DAYS = 30
TREND_W, TREND_H = 320, 48


def sparkline(values: list[float | None]) -> dict[str, Any]:
    """An inline SVG sparkline of one value per day: the polyline's points (numbers only),
    the last and the largest value. Days without a value are left out of the line."""
    known = [v for v in values if v is not None]
    top = max(known, default=0.0)
    low = min(known, default=0.0)
    span = (top - low) or 1.0
    step = TREND_W / max(1, len(values) - 1)
    points = " ".join(
        f"{i * step:.1f},{TREND_H - 2 - (v - low) / span * (TREND_H - 4):.1f}"
        for i, v in enumerate(values)
        if v is not None
    )
    return {"points": points, "last": known[-1] if known else None, "top": top}


def trends(days: list[dict[str, Any]], until: datetime) -> dict[str, Any]:
    """Cost and each score's average per day over the last ``TREND_DAYS`` days (a day
    without traces costs 0 and has no score)."""
    by_day = {d["day"]: d for d in days}
    dates = [(until - timedelta(days=TREND_DAYS - 1 - i)).date() for i in range(TREND_DAYS)]
    rows = [by_day.get(d.isoformat()) for d in dates]
    names = sorted({n for d in days for n in d["scores"]})
    return {
        "from": dates[0].isoformat(),
        "to": dates[-1].isoformat(),
        "cost": sparkline([r["cost"] if r else 0.0 for r in rows]),
        "scores": {n: sparkline([r["scores"].get(n) if r else None for r in rows]) for n in names},
        "width": TREND_W,
        "height": TREND_H,
    }


def _score_names(rows: list[dict[str, Any]]) -> list[str]:
    """The score names any listed row has an average of (one column each)."""
    return sorted({name for r in rows for name in r.get("scores") or {}})


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
    sort: str | None = None,
    time_range: str | None = Query(None, alias="range"),
    scope: Scope = Depends(page_scope),
) -> Response:
    user_id, search = user_id or None, (search or "").strip() or None
    key, direction = parse_sort(sort)
    kept = {"user_id": user_id, "search": search, "range": time_range or None}
    sort_param = None if f"{key}.{direction}" == DEFAULT_SORT else f"{key}.{direction}"
    rows: list[dict[str, Any]] = []
    next_url = None
    if scope.project is not None:
        filters = [Filter("user_id", "=", user_id)] if user_id else []
        filters += range_filter(time_range)
        query = ListQuery(
            filters, search, f"{key}.{direction}", limit=PAGE_SIZE, cursor=cursor or None
        )
        found = await _read(request, state_of(request).store.list_sessions, scope.project_id, query)
        rows = found.data
        if found.next_cursor:
            next_url = _url("/sessions", **kept, sort=sort_param, cursor=found.next_cursor)
    return _respond(
        request,
        scope,
        "sessions.html",
        sessions=rows,
        user_id=user_id or "",
        search=search or "",
        time_range=time_range or "",
        ranges=RANGES,
        sort=sort_param or "",
        heads=sort_headers("/sessions", key, direction, **kept),
        score_names=_score_names(rows),
        next_url=next_url,
        first_url=_url("/sessions", **kept, sort=sort_param) if cursor else None,
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
        comments=await thread(request, scope, "SESSION", session_id),
    )


@router.get("/users")
async def users(
    request: Request,
    search: str | None = None,
    cursor: str | None = None,
    sort: str | None = None,
    time_range: str | None = Query(None, alias="range"),
    scope: Scope = Depends(page_scope),
) -> Response:
    search = (search or "").strip() or None
    key, direction = parse_sort(sort)
    kept = {"search": search, "range": time_range or None}
    sort_param = None if f"{key}.{direction}" == DEFAULT_SORT else f"{key}.{direction}"
    rows: list[dict[str, Any]] = []
    next_url = None
    if scope.project is not None:
        filters = [Filter("user_id", "contains", search)] if search else []
        filters += range_filter(time_range)
        query = ListQuery(filters, None, f"{key}.{direction}", PAGE_SIZE, cursor or None)
        found = await _read(request, state_of(request).store.list_users, scope.project_id, query)
        rows = found.data
        if found.next_cursor:
            next_url = _url("/users", **kept, sort=sort_param, cursor=found.next_cursor)
    return _respond(
        request,
        scope,
        "users.html",
        users=rows,
        search=search or "",
        time_range=time_range or "",
        ranges=RANGES,
        sort=sort_param or "",
        heads=sort_headers("/users", key, direction, **kept),
        score_names=_score_names(rows),
        next_url=next_url,
        first_url=_url("/users", **kept, sort=sort_param) if cursor else None,
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
    now = datetime.now(UTC)
    since = (now - timedelta(days=TREND_DAYS - 1)).replace(
        hour=0, minute=0, second=0, microsecond=0, tzinfo=None
    )
    days = await _read(request, store.user_days, scope.project_id, user_id, since)
    base = "/users/" + quote(user_id, safe="")
    return _respond(
        request,
        scope,
        "user.html",
        end_user=summary.data[0],
        sessions=found.data,
        trend=trends(days, now),
        next_url=_url(base, cursor=found.next_cursor) if found.next_cursor else None,
        first_url=base if cursor else None,
    )
