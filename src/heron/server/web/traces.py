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

from datetime import datetime
from typing import Any
from urllib.parse import quote, urlencode

from fastapi import APIRouter, Depends, Request
from fastapi.concurrency import run_in_threadpool
from starlette.responses import RedirectResponse, Response

from heron.errors import BadRequest
from heron.query import OPERATORS
from heron.server.api import ListParams, list_params
from heron.server.consistency import read_view
from heron.server.state import state_of
from heron.server.web.auth import (
    PROJECT_COOKIE,
    SESSION_TTL_S,
    WebUser,
    csrf_user,
    not_found,
    set_cookie,
)
from heron.server.web.filterbar import FILTER_COLUMNS, OPERATOR_CHOICES, RANGES
from heron.server.web.listpage import (
    ListKind,
    add_view_routes,
    apply_range,
    bar_redirect,
    bar_rows,
    chrome,
    shown_range,
    with_params,
)
from heron.server.web.listpage import next_url as listpage_next
from heron.server.web.payload import pretty
from heron.server.web.render import environment, page
from heron.server.web.scope import Scope, page_scope

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
# Columns the list can show (``cols=`` picks them, in this order). Scores are the per-name
# summary list rows carry (average value, or the latest label).
LIST_COLUMNS = [
    ("time", "time"),
    ("name", "name"),
    ("model", "model"),
    ("user", "user"),
    ("session", "session"),
    ("latency", "latency"),
    ("cost", "cost"),
    ("tokens", "tokens"),
    ("level", "level"),
    ("scores", "scores"),
    ("tags", "tags"),
    ("input", "input"),
    ("output", "output"),
]
DEFAULT_COLUMNS = [key for key, _ in LIST_COLUMNS]
TRACE_LIST = ListKind("/traces", tuple(LIST_COLUMNS), tuple(DEFAULT_COLUMNS))


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


environment.filters.update({"ms": fmt_ms, "usd": fmt_cost, "num": fmt_num, "pretty": pretty})


def href(kind: str, ident: str, project_id: str) -> str:
    """``/traces/<id>?project=...`` with the id quoted as one path segment."""
    return f"/{kind}/{quote(ident, safe='')}?{urlencode({'project': project_id})}"


# ---- the list -------------------------------------------------------------------------


def parse_columns(value: str | None) -> list[str]:
    """The columns ``cols=`` asks for, in the list's order; none known: the default."""
    return TRACE_LIST.parse_columns(value)


@router.get("/traces")
async def trace_list(
    request: Request,
    scope: Scope = Depends(page_scope),
    p: ListParams = Depends(list_params),
) -> Response:
    if "fc" in request.query_params:  # the filter bar: its rows become the filter JSON
        return bar_redirect(request, TRACE_LIST)

    st = state_of(request)
    traces: list[dict[str, Any]] = []
    total: int | None = None
    next_url = error = None
    status = 200
    time_range = apply_range(request, p)
    if scope.project is not None:
        await read_view(request)
        try:
            found = await run_in_threadpool(st.store.list_traces, scope.project_id, p.query())
            # Counting under filters is cheap (1-11 ms at 200k traces); a text search
            # costs as much again as the list, so a searched list shows no total.
            if not p.search:
                total = await run_in_threadpool(st.store.count_traces, scope.project_id, p.query())
        except BadRequest as exc:  # FilterError included: shown inline, never a 500
            error, status = exc.message, 400
        else:
            traces = found.data
            if found.next_cursor:
                next_url = listpage_next(
                    request, TRACE_LIST, found.next_cursor, scope.project_id, len(traces)
                )
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
    chosen = TRACE_LIST.parse_columns(q.get("cols"))
    project_id = scope.project_id if scope.project is not None else None
    context = scope.context(
        traces=traces,
        shown_range=shown_range(request, len(traces), total),
        error=error,
        next_url=next_url,
        first_url=with_params(request, TRACE_LIST, cursor=None, offset=None) if p.cursor else None,
        rows=bar_rows(p),
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
        **await chrome(request, TRACE_LIST, st.store, project_id, chosen),
    )
    response = page(request, "traces.html", context, status)
    if scope.asked:
        set_cookie(request, response, PROJECT_COOKIE, scope.project_id, SESSION_TTL_S)
    return response


# ---- saved views (shared with the observations list: listpage.add_view_routes) ---------

add_view_routes(router, TRACE_LIST)


@router.post("/traces/{trace_id}/delete")
async def delete_trace(
    trace_id: str,
    request: Request,
    scope: Scope = Depends(page_scope),
    user: WebUser = Depends(csrf_user),
) -> Response:
    """Delete a trace with its observations, scores, comments and signals (a viewer may not:
    403)."""
    scope.require("write")
    st = state_of(request)
    pid = scope.project_id
    await st.pipeline.caught_up()
    if not await run_in_threadpool(st.store.delete_traces, pid, [trace_id]):
        raise not_found(f"trace {trace_id!r}")
    return RedirectResponse(TRACE_LIST.view_url(pid, ""), status_code=303)
