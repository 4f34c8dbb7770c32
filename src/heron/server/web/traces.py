"""Pages: the trace list (filters, search, sort, pages) and the trace detail.

The list reads its parameters exactly as ``GET /api/traces`` does (:func:`list_params`); the
filter bar's rows (``fc``/``fo``/``fv``) are turned into the shared ``filter`` JSON by a
redirect, so every view is one bookmarkable URL. An invalid filter is shown on the page
(status 400). ``cols=`` picks the list's columns; saved views (:mod:`.views_store`) keep a
list's query string per project, and the value field suggests recent values
(``Store.recent_filter_values``).
The detail shows the trace, its observation tree beside a timeline, and each observation's
input and output (LLM messages as a chat, anything else as JSON).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote, urlencode

import orjson
from fastapi import APIRouter, Depends, Request
from fastapi.concurrency import run_in_threadpool
from starlette.responses import RedirectResponse, Response

from heron.errors import BadRequest, NotFound
from heron.query import OPERATORS, Filter
from heron.server.api import ListParams, list_params
from heron.server.consistency import read_view
from heron.server.state import state_of
from heron.server.web import views_store
from heron.server.web.auth import (
    PROJECT_COOKIE,
    SESSION_TTL_S,
    PageError,
    WebUser,
    csrf_user,
    not_found,
    set_cookie,
)
from heron.server.web.filterbar import (
    FILTER_COLUMNS,
    OPERATOR_CHOICES,
    RANGES,
    filter_rows,
    rows_to_filter,
)
from heron.server.web.render import environment, page
from heron.server.web.scope import Scope, page_scope
from heron.store.saved import MAX_SUGGESTIONS, SUGGESTED_COLUMNS

router = APIRouter(include_in_schema=False)

ORDERS = [
    ("timestamp.desc", "newest first"),
    ("timestamp.asc", "oldest first"),
    ("latency.desc", "slowest first"),
    ("latency.asc", "fastest first"),
    ("cost.desc", "most expensive first"),
    ("cost.asc", "cheapest first"),
]
LIMITS = [20, 50, 100, 200]
# Parameters the filter bar submits besides its rows, kept as they are by the redirect.
_BAR_FIELDS = ("project", "search", "range", "from", "to", "order_by", "limit")
# Columns the list can show (``cols=`` picks them, in this order). Scores are the per-name
# summary list rows carry (average value, or the latest label).
LIST_COLUMNS = [
    ("time", "time"),
    ("name", "name"),
    ("user", "user"),
    ("session", "session"),
    ("latency", "latency"),
    ("cost", "cost"),
    ("tokens", "tokens"),
    ("level", "level"),
    ("scores", "scores"),
    ("tags", "tags"),
    ("input", "input"),
]
DEFAULT_COLUMNS = [key for key, _ in LIST_COLUMNS if key != "input"]


# ---- formatting (template filters) ----------------------------------------------------


def _parse_iso(value: str | None) -> datetime | None:
    if not value:
        return None
    return datetime.fromisoformat(value.replace("Z", "+00:00")).replace(tzinfo=None)


def fmt_ms(value: float | None) -> str:
    if value is None:
        return ""
    if value < 1000:
        return f"{value:.0f} ms"
    return f"{value / 1000:.2f} s"


def fmt_cost(value: float | None) -> str:
    if value is None:
        return ""
    if value == 0:
        return "$0"
    return f"${value:.6f}".rstrip("0") if value < 1 else f"${value:,.2f}"


def fmt_num(value: float | None) -> str:
    if value is None:
        return ""
    return f"{value:,.0f}" if float(value).is_integer() else f"{value:,}"


def fmt_score(value: Any) -> str:
    """A score summary: a label as it is, a number with at most two decimals."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return str(value)
    return f"{value:.2f}".rstrip("0").rstrip(".")


def pretty(value: Any) -> str:
    """Text as it is; anything else as indented JSON (escaped by the template, never raw)."""
    if isinstance(value, str):
        return value
    return orjson.dumps(value, option=orjson.OPT_INDENT_2, default=str).decode()


environment.filters.update({"ms": fmt_ms, "usd": fmt_cost, "num": fmt_num, "pretty": pretty})


def href(kind: str, ident: str, project_id: str) -> str:
    """``/traces/<id>?project=...`` with the id quoted as one path segment."""
    return f"/{kind}/{quote(ident, safe='')}?{urlencode({'project': project_id})}"


# ---- the list -------------------------------------------------------------------------


def parse_columns(value: str | None) -> list[str]:
    """The columns ``cols=`` asks for, in the list's order; none known: the default."""
    asked = {c.strip() for c in (value or "").split(",")}
    chosen = [key for key, _ in LIST_COLUMNS if key in asked]
    return chosen or list(DEFAULT_COLUMNS)


def _cols_param(chosen: list[str]) -> str | None:
    """``cols=`` for these columns, or None for the default (kept out of the URL)."""
    return None if chosen == DEFAULT_COLUMNS else ",".join(chosen)


def _filter_rows(p: ListParams) -> list[dict[str, Any]]:
    """The filter bar's rows for this list (the JSON could not be read: the error says why)."""
    try:
        filters = p.filters
    except BadRequest:
        filters = p.simple
    return filter_rows(filters)


def _with(request: Request, **changes: str | None) -> str:
    """This page's URL with some parameters replaced (None drops one)."""
    items = [(k, v) for k, v in request.query_params.multi_items() if k not in changes]
    items += [(k, v) for k, v in changes.items() if v is not None]
    return "/traces?" + urlencode(items)


@router.get("/traces")
async def trace_list(
    request: Request,
    scope: Scope = Depends(page_scope),
    p: ListParams = Depends(list_params),
) -> Response:
    if "fc" in request.query_params:  # the filter bar: its rows become the filter JSON
        items = [
            (k, v) for k in _BAR_FIELDS for v in request.query_params.getlist(k) if v and v.strip()
        ]
        built = rows_to_filter(request)
        if built:
            items.append(("filter", built))
        q = request.query_params
        picked = q.getlist("col") or [c for v in q.getlist("cols") for c in v.split(",")]
        cols = _cols_param(parse_columns(",".join(picked)))
        if cols:
            items.append(("cols", cols))
        return RedirectResponse("/traces?" + urlencode(items), status_code=303)

    st = state_of(request)
    traces: list[dict[str, Any]] = []
    next_url = error = None
    status = 200
    time_range = request.query_params.get("range", "")
    if time_range in RANGES and not request.query_params.get("from"):
        since = datetime.now(UTC) - timedelta(seconds=RANGES[time_range][1])
        p.simple.append(Filter("start_time", ">=", since.isoformat()))
    if scope.project is not None:
        await read_view(request)
        try:
            found = await run_in_threadpool(st.store.list_traces, scope.project_id, p.query())
        except BadRequest as exc:  # FilterError included: shown inline, never a 500
            error, status = exc.message, 400
        else:
            traces = found.data
            if found.next_cursor:
                next_url = _with(request, cursor=found.next_cursor, project=scope.project_id)
        for t in traces:
            t["href"] = href("traces", t["id"], scope.project_id)
            t["user_href"] = t["user_id"] and href("users", t["user_id"], scope.project_id)
            t["session_href"] = t["session_id"] and href(
                "sessions", t["session_id"], scope.project_id
            )
            t["input_preview"] = t.get("input_preview")
            t["score_list"] = [
                (name, fmt_score(value)) for name, value in sorted((t.get("scores") or {}).items())
            ]
    q = request.query_params
    chosen = parse_columns(q.get("cols"))
    views: list[dict[str, Any]] = []
    suggested: dict[str, list[str]] = {c: [] for c in SUGGESTED_COLUMNS}
    if scope.project is not None:
        pid = scope.project_id
        views = await run_in_threadpool(views_store.list_views, st.store, pid)
        for v in views:
            v["href"] = _view_url(pid, v["query"])
        suggested = await run_in_threadpool(st.store.recent_filter_values, pid)
    everything = sorted({v for values in suggested.values() for v in values})
    cols = _cols_param(chosen)
    context = scope.context(
        traces=traces,
        error=error,
        next_url=next_url,
        first_url=_with(request, cursor=None) if p.cursor else None,
        rows=_filter_rows(p),
        search=p.search or "",
        time_range=time_range,
        ranges=RANGES,
        url=str(request.base_url).rstrip("/"),
        unfiltered=not (p.simple or p.filter or p.search),
        time_from=q.get("from", ""),
        time_to=q.get("to", ""),
        order_by=p.order_by,
        limit=p.limit,
        orders=ORDERS,
        limits=sorted({*LIMITS, p.limit}),
        columns=FILTER_COLUMNS,
        operators=OPERATOR_CHOICES,
        operator_help={kind: sorted(ops) for kind, ops in OPERATORS.items()},
        list_columns=LIST_COLUMNS,
        shown=chosen,
        cols=cols,
        clear_url=_view_url(scope.project["id"], urlencode({"cols": cols}) if cols else "")
        if scope.project
        else "/traces",
        views=views,
        view_query=views_store.clean_query(request.url.query),
        suggested=suggested,
        suggested_any=everything[:MAX_SUGGESTIONS],
    )
    response = page(request, "traces.html", context, status)
    if scope.asked:
        set_cookie(request, response, PROJECT_COOKIE, scope.project_id, SESSION_TTL_S)
    return response


# ---- saved views -----------------------------------------------------------------------


def _view_url(project_id: str, query: str) -> str:
    return "/traces?" + urlencode({"project": project_id}) + ("&" + query if query else "")


@router.post("/traces/views")
async def save_view(
    request: Request,
    scope: Scope = Depends(page_scope),
    user: WebUser = Depends(csrf_user),
) -> Response:
    """Save the list's query string (form fields ``name``, ``query``) under a name."""
    form = await request.form()
    name, query = form.get("name"), form.get("query")
    pid = scope.project_id
    try:
        view = await run_in_threadpool(
            views_store.create_view,
            state_of(request).store,
            pid,
            name if isinstance(name, str) else "",
            query if isinstance(query, str) else "",
            user.id,
        )
    except ValueError as exc:
        raise PageError(400, str(exc)) from None
    return RedirectResponse(_view_url(pid, view["query"]), status_code=303)


@router.get("/traces/views/{view_id}")
async def open_view(view_id: str, request: Request, scope: Scope = Depends(page_scope)) -> Response:
    pid = scope.project_id
    view = await run_in_threadpool(views_store.get_view, state_of(request).store, pid, view_id)
    if view is None:
        raise not_found(f"saved view {view_id!r}")
    return RedirectResponse(_view_url(pid, view["query"]), status_code=303)


@router.post("/traces/views/{view_id}/delete")
async def delete_view(
    view_id: str,
    request: Request,
    scope: Scope = Depends(page_scope),
    user: WebUser = Depends(csrf_user),
) -> Response:
    pid = scope.project_id
    deleted = await run_in_threadpool(
        views_store.delete_view, state_of(request).store, pid, view_id
    )
    if not deleted:
        raise not_found(f"saved view {view_id!r}")
    return RedirectResponse(_view_url(pid, ""), status_code=303)


@router.post("/traces/{trace_id}/delete")
async def delete_trace(
    trace_id: str,
    request: Request,
    scope: Scope = Depends(page_scope),
    user: WebUser = Depends(csrf_user),
) -> Response:
    """Delete a trace with its observations and scores. Any member of the project may: heron
    has no read-only role yet."""
    st = state_of(request)
    pid = scope.project_id
    await st.pipeline.caught_up()
    if not await run_in_threadpool(st.store.delete_traces, pid, [trace_id]):
        raise not_found(f"trace {trace_id!r}")
    return RedirectResponse(_view_url(pid, ""), status_code=303)


# ---- the detail -----------------------------------------------------------------------

_ROLES = frozenset({"system", "user", "assistant", "tool", "developer", "function", "model"})


def _text_or_json(value: Any) -> dict[str, Any]:
    return {"kind": "text", "text": value} if isinstance(value, str) else _json_part(value)


def _json_part(value: Any) -> dict[str, Any]:
    return {"kind": "json", "text": pretty(value)}


def _arguments(value: Any) -> str:
    if isinstance(value, str):
        try:
            return pretty(orjson.loads(value)) if value[:1] in "[{" else value
        except orjson.JSONDecodeError:
            return value
    return pretty(value)


def _tool_call(call: dict[str, Any]) -> dict[str, Any]:
    function = call.get("function") if isinstance(call.get("function"), dict) else call
    return {
        "kind": "tool_call",
        "name": str(function.get("name") or "(tool)"),
        "id": str(call.get("id") or ""),
        "text": _arguments(function.get("arguments", function.get("args"))),
    }


def _content_part(item: Any) -> dict[str, Any]:
    """One part of a message: OpenAI/OpenInference ``{type, text}``, GenAI ``{type, content}``."""
    if isinstance(item, str):
        return {"kind": "text", "text": item}
    if not isinstance(item, dict):
        return _json_part(item)
    kind = item.get("type")
    if kind in (None, "text", "input_text", "output_text", "reasoning", "thinking"):
        text = item.get("text", item.get("content"))
        if isinstance(text, str):
            return {
                "kind": "reasoning" if kind in ("reasoning", "thinking") else "text",
                "text": text,
            }
    if kind in ("tool_call", "function_call", "tool_use"):
        return _tool_call({**item, "arguments": item.get("arguments", item.get("input"))})
    if kind in ("tool_call_response", "tool_result", "function_call_output"):
        result = item.get("response", item.get("content", item.get("output")))
        part = _text_or_json(result)
        return {**part, "kind": "tool_result", "id": str(item.get("id") or "")}
    return _json_part(item)


def _message(m: dict[str, Any]) -> dict[str, Any]:
    role = str(m.get("role") or "")
    parts: list[dict[str, Any]] = []
    for key in ("content", "parts", "contents"):
        value = m.get(key)
        if value is None:
            continue
        if isinstance(value, list):
            parts.extend(_content_part(v) for v in value)
        else:
            parts.append(_content_part(value) if isinstance(value, dict) else _text_or_json(value))
    calls = m.get("tool_calls")
    if isinstance(calls, list):
        parts.extend(_tool_call(c) if isinstance(c, dict) else _json_part(c) for c in calls)
    return {
        "role": role,
        "role_class": role.lower() if role.lower() in _ROLES else "other",
        "name": str(m.get("name") or ""),
        "tool_call_id": str(m.get("tool_call_id") or ""),
        "parts": parts,
    }


def chat(value: Any) -> list[dict[str, Any]] | None:
    """Messages of an input or output, or None when it is not a list of chat messages."""
    if isinstance(value, dict):
        if isinstance(value.get("messages"), list):
            value = value["messages"]
        elif isinstance(value.get("role"), str):
            value = [value]
    if not isinstance(value, list) or not value:
        return None
    if not all(isinstance(m, dict) and isinstance(m.get("role"), str) for m in value):
        return None
    return [_message(m) for m in value]


def _payload(value: Any) -> dict[str, Any] | None:
    if value is None or value == "":
        return None
    messages = chat(value)
    if messages is not None:
        return {"chat": messages}
    return {"chat": None, "text": pretty(value)}


def _flatten(nodes: list[dict[str, Any]], depth: int, out: list[dict[str, Any]]) -> None:
    for node in nodes:
        node["depth"] = depth
        out.append(node)
        _flatten(node.pop("children"), depth + 1, out)


def _timeline(trace: dict[str, Any], rows: list[dict[str, Any]]) -> tuple[float, float]:
    """Start (µs, naive UTC) and length (µs) of the span the bars are drawn against."""
    starts = [_parse_iso(o["start_time"]) for o in rows if o["start_time"]]
    ends = [_parse_iso(o["end_time"] or o["start_time"]) for o in rows if o["start_time"]]
    begin = min(starts, default=None) or _parse_iso(trace["timestamp"])
    end = max(ends, default=None) or _parse_iso(trace["end_time"]) or begin
    if begin is None or end is None:
        return 0.0, 0.0
    return begin.timestamp() * 1e6, max((end - begin).total_seconds() * 1e6, 0.0)


@router.get("/traces/{trace_id}")
async def trace_detail(
    request: Request, trace_id: str, scope: Scope = Depends(page_scope)
) -> Response:
    st = state_of(request)
    if scope.project is None:
        raise not_found(f"trace {trace_id!r}")
    await read_view(request)
    try:
        trace = await run_in_threadpool(st.store.get_trace, scope.project_id, trace_id)
    except NotFound:
        raise not_found(f"trace {trace_id!r}") from None
    rows: list[dict[str, Any]] = []
    _flatten(trace.pop("observations"), 0, rows)
    begin, length = _timeline(trace, rows)
    for o in rows:
        start, end = _parse_iso(o["start_time"]), _parse_iso(o["end_time"] or o["start_time"])
        if start is None or end is None or length <= 0:
            o["bar_left"], o["bar_width"] = 0.0, 100.0
        else:
            left = (start.timestamp() * 1e6 - begin) / length * 100
            width = (end - start).total_seconds() * 1e6 / length * 100
            o["bar_left"] = round(min(max(left, 0.0), 100.0), 3)
            o["bar_width"] = round(min(max(width, 0.4), 100.0 - o["bar_left"]), 3)
        o["input_view"] = _payload(o.pop("input", None))
        o["output_view"] = _payload(o.pop("output", None))
        o["anchor"] = "obs-" + o["id"]
    pid = scope.project_id
    context = scope.context(
        trace=trace,
        observations=rows,
        input_view=_payload(trace.pop("input", None)),
        output_view=_payload(trace.pop("output", None)),
        span_ms=length / 1000,
        user_href=trace["user_id"] and href("users", trace["user_id"], pid),
        session_href=trace["session_id"] and href("sessions", trace["session_id"], pid),
        list_url="/traces?" + urlencode({"project": pid}),
        by_observation={o["id"]: o for o in rows},
    )
    response = page(request, "trace.html", context)
    if scope.asked:
        set_cookie(request, response, PROJECT_COOKIE, pid, SESSION_TTL_S)
    return response
