"""Pages: the trace list (filters, search, sort, pages) and the trace detail.

The list reads its parameters exactly as ``GET /api/traces`` does (:func:`list_params`); the
filter bar's rows (``fc``/``fo``/``fv``) are turned into the shared ``filter`` JSON by a
redirect, so every view is one bookmarkable URL. An invalid filter is shown on the page
(status 400). ``cols=`` picks the list's columns; saved views (:mod:`.views_store`) keep a
list's query string per project, and the value field suggests recent values
(``Store.recent_filter_values``).
The detail page is in :mod:`.trace_page`.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote, urlencode

from fastapi import APIRouter, Depends, Request
from fastapi.concurrency import run_in_threadpool
from starlette.responses import RedirectResponse, Response

from heron.errors import BadRequest
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
from heron.server.web.payload import pretty
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
    ("time", "time (UTC)"),
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


def fmt_time(value: str | None) -> str:
    dt = _parse_iso(value)
    return "" if dt is None else dt.strftime("%Y-%m-%d %H:%M:%S.") + f"{dt.microsecond // 1000:03d}"


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


environment.filters.update(
    {"when": fmt_time, "ms": fmt_ms, "usd": fmt_cost, "num": fmt_num, "pretty": pretty}
)


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
    scope.require("write")
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
    scope.require("write")
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
    """Delete a trace with its observations and scores (a viewer may not: 403)."""
    scope.require("write")
    st = state_of(request)
    pid = scope.project_id
    await st.pipeline.caught_up()
    if not await run_in_threadpool(st.store.delete_traces, pid, [trace_id]):
        raise not_found(f"trace {trace_id!r}")
    return RedirectResponse(_view_url(pid, ""), status_code=303)
