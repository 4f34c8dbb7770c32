"""Page: the observations list (spans, generations, tools, ...) with the trace list's filter
bar, time range, saved views and column chooser (:mod:`.listpage`).

It reads through ``Store.list_observations`` with the shared filter language over the
observations view (``heron.query.OBSERVATIONS``): the same parameters as
``GET /api/observations``.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.concurrency import run_in_threadpool
from starlette.responses import Response

from heron.errors import BadRequest
from heron.query import OBSERVATIONS, OPERATORS
from heron.server.api import ListParams, list_params
from heron.server.consistency import read_view
from heron.server.state import state_of
from heron.server.web.auth import PROJECT_COOKIE, SESSION_TTL_S, set_cookie
from heron.server.web.filterbar import OPERATOR_CHOICES, RANGES
from heron.server.web.listpage import (
    ListKind,
    add_view_routes,
    apply_range,
    bar_redirect,
    bar_rows,
    chrome,
    next_url,
    shown_range,
    with_params,
)
from heron.server.web.render import page
from heron.server.web.scope import Scope, page_scope
from heron.server.web.traces import LIMITS, ORDERS, href

router = APIRouter(include_in_schema=False)

OBS_COLUMNS = (
    ("time", "time (UTC)"),
    ("type", "type"),
    ("name", "name"),
    ("model", "model"),
    ("level", "level"),
    ("latency", "latency"),
    ("tokens", "tokens"),
    ("cost", "cost"),
    ("trace", "trace"),
)
OBS_LIST = ListKind("/observations", OBS_COLUMNS, tuple(key for key, _ in OBS_COLUMNS))
# What the filter bar suggests: the observations view's columns (the time has its fields).
OBS_FILTER_COLUMNS = sorted(
    [*(c for c in OBSERVATIONS.columns if c not in ("start_time", "timestamp")), "metadata."]
)


def _tokens(o: dict[str, Any]) -> int | float | None:
    usage = o.get("usage") or {}
    total = usage.get("total")
    if total is None and (usage.get("input") is not None or usage.get("output") is not None):
        total = (usage.get("input") or 0) + (usage.get("output") or 0)
    return total


@router.get("/observations")
async def observation_list(
    request: Request,
    scope: Scope = Depends(page_scope),
    p: ListParams = Depends(list_params),
) -> Response:
    if "fc" in request.query_params:  # the filter bar: its rows become the filter JSON
        return bar_redirect(request, OBS_LIST)
    st = state_of(request)
    rows: list[dict[str, Any]] = []
    nxt = error = None
    status = 200
    time_range = apply_range(request, p)
    if scope.project is not None:
        await read_view(request)
        try:
            found = await run_in_threadpool(st.store.list_observations, scope.project_id, p.query())
        except BadRequest as exc:  # FilterError included: shown inline, never a 500
            error, status = exc.message, 400
        else:
            rows = found.data
            if found.next_cursor:
                nxt = next_url(request, OBS_LIST, found.next_cursor, scope.project_id, len(rows))
        for o in rows:
            o["href"] = href("traces", o["trace_id"], scope.project_id)
            o["tokens"] = _tokens(o)
    q = request.query_params
    chosen = OBS_LIST.parse_columns(q.get("cols"))
    project_id = scope.project_id if scope.project is not None else None
    context = scope.context(
        observations=rows,
        shown_range=shown_range(request, len(rows), None),
        error=error,
        next_url=nxt,
        first_url=with_params(request, OBS_LIST, cursor=None, offset=None) if p.cursor else None,
        rows=bar_rows(p),
        search=p.search or "",
        time_range=time_range,
        ranges=RANGES,
        time_from=q.get("from", ""),
        time_to=q.get("to", ""),
        order_by=p.order_by,
        limit=p.limit,
        orders=ORDERS,
        limits=sorted({*LIMITS, p.limit}),
        columns=OBS_FILTER_COLUMNS,
        operators=OPERATOR_CHOICES,
        operator_help={kind: sorted(ops) for kind, ops in OPERATORS.items()},
        **await chrome(request, OBS_LIST, st.store, project_id, chosen),
    )
    response = page(request, "observations.html", context, status)
    if scope.asked:
        set_cookie(request, response, PROJECT_COOKIE, scope.project_id, SESSION_TTL_S)
    return response


add_view_routes(router, OBS_LIST)
