"""Pages: the default monitoring dashboard (``/dashboard``), custom dashboards (list, view,
edit, duplicate, delete) and the Plotly.js file the charts are drawn with.

A dashboard page runs :func:`heron.dashboards.run_dashboard` for the picked time range and
filter bar, and hands each widget's data to ``static/dashboard.js`` in a JSON script block
(:mod:`.charts`). State changes are POSTs carrying the session's CSRF token.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import orjson
import plotly
from fastapi import APIRouter, Depends, Request
from fastapi.concurrency import run_in_threadpool
from starlette.datastructures import FormData
from starlette.responses import FileResponse, RedirectResponse, Response

from heron.dashboards import (
    DEFAULT_ID,
    WIDGET_TYPES,
    catalog,
    changes_between,
    run_dashboard,
    window,
)
from heron.dashboards.spec import parse_dashboard_filters
from heron.errors import BadRequest, NotFound, QueryTimeout
from heron.query import parse_filters
from heron.query.metrics import AGGREGATIONS, GRANULARITIES, VIEWS
from heron.server.consistency import read_view
from heron.server.state import state_of
from heron.server.web.auth import (
    PROJECT_COOKIE,
    SESSION_TTL_S,
    PageError,
    WebUser,
    csrf_user,
    not_found,
    set_cookie,
)
from heron.server.web.charts import Linker, payload, script_json
from heron.server.web.filterbar import (
    FILTER_COLUMNS,
    OPERATOR_CHOICES,
    RANGES,
    filter_rows,
    rows_to_filter,
)
from heron.server.web.render import page
from heron.server.web.scope import Scope, page_scope
from heron.signals.bands import bands_for
from heron.store import ListQuery, Store

router = APIRouter(include_in_schema=False)

PLOTLY_FILE = Path(plotly.__file__).parent / "package_data" / "plotly.min.js"
PLOTLY_URL = f"/static/vendor/plotly-{plotly.__version__}.min.js"
_BAR_FIELDS = ("project", "range", "from", "to")
NEW_WIDGET: dict[str, Any] = {
    "title": "New widget",
    "type": "line",
    "query": {
        "view": "traces",
        "metrics": [{"measure": "count", "aggregation": "count"}],
        "timeDimension": {"granularity": "auto"},
    },
}


@router.get(PLOTLY_URL)
async def plotly_js() -> Response:
    """Plotly.js from the plotly package; the version is in the URL, so it is cached long."""
    return FileResponse(
        PLOTLY_FILE,
        media_type="text/javascript",
        headers={"Cache-Control": "public, max-age=31536000, immutable"},
    )


# ---- viewing ------------------------------------------------------------------------


def _has_traces(store: Store, project_id: str) -> bool:
    return bool(store.list_traces(project_id, ListQuery(limit=1)).data)


def _gather(
    store: Store,
    project_id: str,
    dashboard_id: str,
    params: dict[str, str],
) -> dict[str, Any]:
    """Run a dashboard for a page: widgets ready for the script, or the error to show."""
    dashboard, described = catalog.get(store, project_id, dashboard_id)
    out: dict[str, Any] = {
        "dashboard": described,
        "widgets": [],
        "changes": [],
        "error": None,
        "drawn": False,
    }
    try:
        raw = params.get("filter")
        extra = orjson.loads(raw) if raw else []
        extra = parse_dashboard_filters(extra, "filter")
        out["rows"] = filter_rows(parse_filters(extra))
        start, end = window(
            params.get("range"), params.get("from"), params.get("to"), dashboard.date_range
        )
        data = run_dashboard(store, project_id, dashboard, start, end, extra)
    except orjson.JSONDecodeError as exc:
        out["error"], out["rows"] = f"filter: invalid JSON: {exc}", []
        return out
    except (BadRequest, QueryTimeout) as exc:  # over a limit: said on the page
        out["error"] = exc.message
        out.setdefault("rows", [])
        return out
    changes = [  # a value with nothing before it is where the data starts, not a change
        c
        for c in changes_between(store, project_id, start, end, [*dashboard.filters, *extra])
        if c["previous"] is not None
    ]
    linker = Linker(project_id, start, end, [*dashboard.filters, *extra])
    out["widgets"] = [
        {"payload": payload(w, linker, changes), "data": w, "json": ""} for w in data.widgets
    ]
    for item in out["widgets"]:  # issue 15: anomaly alerts' expected bands on time charts
        if item["payload"]["time"] and not item["data"].dimensions:
            item["payload"]["bands"] = bands_for(store, project_id, item["data"].query, start, end)
    for item in out["widgets"]:
        item["json"] = script_json(item["payload"])
    out["changes"] = [
        {**c, "compare": "/compare?" + urlencode({"at": c["first_seen"], "days": 7})}
        for c in changes
    ]
    out["start"], out["end"] = start, end
    out["has_traces"] = _has_traces(store, project_id)
    out["drawn"] = out["has_traces"] and any(not w["payload"]["empty"] for w in out["widgets"])
    return out


async def _show(request: Request, scope: Scope, dashboard_id: str) -> Response:
    q = request.query_params
    path = request.url.path
    if "fc" in q:  # the filter bar: its rows become the filter JSON
        items = [(k, v) for k in _BAR_FIELDS for v in q.getlist(k) if v and v.strip()]
        built = rows_to_filter(request)
        if built:
            items.append(("filter", built))
        return RedirectResponse(path + "?" + urlencode(items), status_code=303)
    st = state_of(request)
    if scope.project is None:
        return page(request, "dashboard.html", scope.context(found=None, ranges=RANGES))
    await read_view(request)
    params = {k: q[k] for k in ("filter", "range", "from", "to") if q.get(k)}
    try:
        found = await run_in_threadpool(_gather, st.store, scope.project_id, dashboard_id, params)
    except NotFound:
        raise not_found(f"dashboard {dashboard_id!r}") from None
    suggested = await run_in_threadpool(st.store.recent_filter_values, scope.project_id)
    everything = sorted({v for values in suggested.values() for v in values})
    context = scope.context(
        found=found,
        dashboard_id=dashboard_id,
        ranges=RANGES,
        time_range=q.get("range") or ("" if q.get("from") else found["dashboard"]["date_range"]),
        time_from=q.get("from", ""),
        time_to=q.get("to", ""),
        rows=found.get("rows", []),
        columns=FILTER_COLUMNS,
        operators=OPERATOR_CHOICES,
        suggested=suggested,
        suggested_any=everything[:200],
        plotly_url=PLOTLY_URL,
        url=str(request.base_url).rstrip("/"),
        path=path,
    )
    response = page(request, "dashboard.html", context, 400 if found["error"] else 200)
    if scope.asked:
        set_cookie(request, response, PROJECT_COOKIE, scope.project_id, SESSION_TTL_S)
    return response


@router.get("/dashboard")
async def default_dashboard_page(request: Request, scope: Scope = Depends(page_scope)) -> Response:
    return await _show(request, scope, DEFAULT_ID)


@router.get("/dashboards")
async def dashboard_list(request: Request, scope: Scope = Depends(page_scope)) -> Response:
    dashboards: list[dict[str, Any]] = []
    if scope.project is not None:
        st = state_of(request)
        dashboards = await run_in_threadpool(catalog.list_all, st.store, scope.project_id)
    return page(request, "dashboards.html", scope.context(dashboards=dashboards))


@router.get("/dashboards/{dashboard_id}")
async def dashboard_page(
    dashboard_id: str, request: Request, scope: Scope = Depends(page_scope)
) -> Response:
    if dashboard_id == DEFAULT_ID:
        return RedirectResponse("/dashboard?" + request.url.query, status_code=303)
    return await _show(request, scope, dashboard_id)


# ---- changing ---------------------------------------------------------------------------


def _where(project_id: str, dashboard_id: str, suffix: str = "") -> str:
    return f"/dashboards/{dashboard_id}{suffix}?" + urlencode({"project": project_id})


async def _run(request: Request, fn: Any, *args: Any) -> Any:
    try:
        return await run_in_threadpool(fn, state_of(request).store, *args)
    except NotFound as exc:
        raise PageError(404, f"Not found: {exc.message}.") from None
    except BadRequest as exc:
        raise PageError(400, exc.message) from None


@router.post("/dashboards")
async def create_dashboard(
    request: Request, scope: Scope = Depends(page_scope), user: WebUser = Depends(csrf_user)
) -> Response:
    """A new, empty dashboard (form fields ``name``, ``description``); then its edit form."""
    scope.require("write")
    form = await request.form()
    raw = {"name": _field(form, "name"), "description": _field(form, "description")}
    made = await _run(request, catalog.create, scope.project_id, raw)
    return RedirectResponse(_where(scope.project_id, made["id"], "/edit"), status_code=303)


@router.post("/dashboards/{dashboard_id}/duplicate")
async def duplicate_dashboard(
    dashboard_id: str,
    request: Request,
    scope: Scope = Depends(page_scope),
    user: WebUser = Depends(csrf_user),
) -> Response:
    scope.require("write")
    made = await _run(request, catalog.duplicate, scope.project_id, dashboard_id)
    return RedirectResponse(_where(scope.project_id, made["id"]), status_code=303)


@router.post("/dashboards/{dashboard_id}/delete")
async def delete_dashboard(
    dashboard_id: str,
    request: Request,
    scope: Scope = Depends(page_scope),
    user: WebUser = Depends(csrf_user),
) -> Response:
    scope.require("write")
    await _run(request, catalog.delete, scope.project_id, dashboard_id)
    return RedirectResponse("/dashboards?" + urlencode({"project": scope.project_id}), 303)


def _field(form: FormData, name: str) -> str:
    value = form.get(name)
    return value if isinstance(value, str) else ""


def _edit_context(scope: Scope, dashboard: dict[str, Any], error: str | None) -> dict[str, Any]:
    widgets = []
    for w in dashboard["widgets"]:
        query = w["query"] if isinstance(w.get("query"), dict) else {}
        metrics = query.get("metrics") if isinstance(query.get("metrics"), list) else []
        first = metrics[0] if metrics and isinstance(metrics[0], dict) else {}
        dims = query.get("dimensions") if isinstance(query.get("dimensions"), list) else []
        dim = dims[0].get("field", "") if dims and isinstance(dims[0], dict) else ""
        time = query.get("timeDimension")
        text = w.get("json") or orjson.dumps(query, option=orjson.OPT_INDENT_2).decode()
        widgets.append({
            "id": w.get("id") or "", "title": w.get("title") or "", "type": w.get("type"),
            "view": query.get("view", "traces"), "measure": first.get("measure", ""),
            "aggregation": first.get("aggregation", ""), "dimension": dim,
            "granularity": time.get("granularity", "") if isinstance(time, dict) else "",
            "json": text, "orig": w.get("orig") or text,
        })  # fmt: skip
    return scope.context(
        dashboard=dashboard,
        widgets=widgets,
        error=error,
        filters_json=dashboard.get("filters_json")
        or orjson.dumps(dashboard.get("filters") or []).decode(),
        types=WIDGET_TYPES,
        views=list(VIEWS),
        measures=sorted({m for v in VIEWS.values() for m in v.measures}),
        dimensions=sorted({d for v in VIEWS.values() for d in v.dimensions}),
        aggregations=list(AGGREGATIONS),
        granularities=["auto", *GRANULARITIES],
        ranges=RANGES,
    )


@router.get("/dashboards/{dashboard_id}/edit")
async def edit_form(
    dashboard_id: str, request: Request, scope: Scope = Depends(page_scope)
) -> Response:
    scope.require("write")
    if dashboard_id == DEFAULT_ID:
        raise PageError(400, "The default dashboard is built in; duplicate it to edit a copy.")
    _, described = await _run(request, catalog.get, scope.project_id, dashboard_id)
    return page(request, "dashboard_edit.html", _edit_context(scope, described, None))


def _widget_from_form(form: FormData, i: int) -> dict[str, Any]:
    """One widget of the edit form: the JSON text when it was edited, else the fields
    applied to the query it was shown with (its filters, order and config are kept)."""

    def at(name: str) -> str:
        values = form.getlist(name)
        value = values[i] if i < len(values) else ""
        return value if isinstance(value, str) else ""

    title = at("w_title")
    shown = {"id": at("w_id"), "title": title, "type": at("w_type"), "json": at("w_json"),
             "orig": at("w_orig")}  # fmt: skip
    edited = at("w_json").strip() != at("w_orig").strip()
    try:
        query = orjson.loads(at("w_json") if edited else at("w_orig") or "{}")
    except orjson.JSONDecodeError as exc:
        raise _FormError(f"widget {title!r}: query JSON: {exc}", shown) from None
    if not isinstance(query, dict):
        raise _FormError(f"widget {title!r}: the query must be a JSON object", shown)
    if not edited:
        query["view"] = at("w_view")
        metrics = query.get("metrics") if isinstance(query.get("metrics"), list) else []
        first = {"measure": at("w_measure"), "aggregation": at("w_agg")}
        query["metrics"] = [first, *metrics[1:]]
        dims = query.get("dimensions") if isinstance(query.get("dimensions"), list) else []
        dim = at("w_dim").strip()
        query["dimensions"] = [{"field": dim}, *dims[1:]] if dim else dims[1:]
        if at("w_gran"):
            query["timeDimension"] = {"granularity": at("w_gran")}
        else:
            query.pop("timeDimension", None)
    return {"id": at("w_id") or None, "title": title, "type": at("w_type"), "query": query}


class _FormError(Exception):
    def __init__(self, message: str, shown: dict[str, Any]) -> None:
        super().__init__(message)
        self.message = message
        self.shown = shown


@router.post("/dashboards/{dashboard_id}/edit")
async def save_edit(
    dashboard_id: str,
    request: Request,
    scope: Scope = Depends(page_scope),
    user: WebUser = Depends(csrf_user),
) -> Response:
    """Save the form; ``action=add`` also appends a new widget and comes back to the form."""
    scope.require("write")
    form = await request.form()
    removed = set(form.getlist("w_remove"))
    widgets: list[dict[str, Any]] = []
    error = None
    filters_text = _field(form, "filters") or "[]"
    raw: dict[str, Any] = {
        "name": _field(form, "name"),
        "description": _field(form, "description"),
        "date_range": _field(form, "date_range"),
    }
    for i, widget_id in enumerate(form.getlist("w_id")):
        if widget_id in removed:
            continue
        try:
            widgets.append(_widget_from_form(form, i))
        except _FormError as exc:
            error = error or exc.message
            widgets.append(exc.shown)
    if _field(form, "action") == "add":
        widgets.append(orjson.loads(orjson.dumps(NEW_WIDGET)))
    try:
        raw["filters"] = orjson.loads(filters_text)
    except orjson.JSONDecodeError as exc:
        error = error or f"filters: invalid JSON: {exc}"
    if error is None:
        try:
            await run_in_threadpool(
                catalog.update, state_of(request).store, scope.project_id, dashboard_id,
                {**raw, "widgets": widgets},
            )  # fmt: skip
        except NotFound:
            raise not_found(f"dashboard {dashboard_id!r}") from None
        except BadRequest as exc:
            error = exc.message
    if error is None:
        suffix = "/edit" if _field(form, "action") == "add" else ""
        return RedirectResponse(_where(scope.project_id, dashboard_id, suffix), status_code=303)
    shown = {"id": dashboard_id, **raw, "filters_json": filters_text, "widgets": widgets}
    return page(request, "dashboard_edit.html", _edit_context(scope, shown, error), 400)
