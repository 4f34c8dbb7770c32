"""Dashboards over HTTP: ``/api/dashboards`` (CRUD, duplicate, data) and ``/api/changes``.

Every call is scoped to the API key's project; ``default`` is the built-in monitoring
dashboard (read-only). The dashboard format is :mod:`heron.dashboards.spec`.
"""

from __future__ import annotations

from typing import Any

import orjson
from fastapi import APIRouter, Depends, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import Response

from heron.dashboards import catalog, changes_between, run_dashboard, window
from heron.dashboards.run import DashboardData
from heron.dashboards.spec import parse_dashboard_filters
from heron.errors import BadRequest
from heron.server import dashboard_schemas as ds
from heron.server import schemas
from heron.server.api import caller, consistent
from heron.server.auth import Caller
from heron.server.bodies import read_body
from heron.server.responses import JSON
from heron.server.state import state_of
from heron.store import Store

router = APIRouter(
    tags=["dashboards"],
    dependencies=[Depends(consistent)],
    responses={
        400: {"model": schemas.Error},
        401: {"model": schemas.Error},
        404: {"model": schemas.Error},
    },
)

_FROM = Query(None, description="Start of the window (ISO 8601); default: the date range.")
_TO = Query(None, description="End of the window, exclusive (ISO 8601); default: now.")
_RANGE = Query(None, description="1h, 24h, 7d or 30d when no fromTimestamp is given.")
_FILTER = Query(None, description="Extra filters (JSON list, trace list language), ANDed.")


async def _json_body(request: Request) -> Any:
    raw = await read_body(request, state_of(request).settings.max_body_bytes)
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise BadRequest(f"body: invalid JSON: {exc}") from None


@router.get("/api/dashboards", summary="List dashboards", response_model=ds.DashboardList)
async def list_dashboards(request: Request, who: Caller = Depends(caller)) -> Response:
    """The built-in ``default`` dashboard, then the project's own."""
    rows = await run_in_threadpool(catalog.list_all, state_of(request).store, who.project_id)
    return JSON({"data": rows})


@router.post(
    "/api/dashboards",
    summary="Create a dashboard",
    status_code=201,
    response_model=ds.DashboardOut,
    openapi_extra=ds.body_schema(),
)
async def create_dashboard(request: Request, who: Caller = Depends(caller)) -> Response:
    """Validate every widget's query and store the dashboard; 201 with it and its ``id``."""
    body = await _json_body(request)
    made = await run_in_threadpool(catalog.create, state_of(request).store, who.project_id, body)
    return JSON(made, 201)


@router.get(
    "/api/dashboards/{dashboard_id}", summary="Get a dashboard", response_model=ds.DashboardOut
)
async def get_dashboard(
    dashboard_id: str, request: Request, who: Caller = Depends(caller)
) -> Response:
    _, described = await run_in_threadpool(
        catalog.get, state_of(request).store, who.project_id, dashboard_id
    )
    return JSON(described)


@router.put(
    "/api/dashboards/{dashboard_id}",
    summary="Replace a dashboard",
    response_model=ds.DashboardOut,
    openapi_extra=ds.body_schema(),
)
async def put_dashboard(
    dashboard_id: str, request: Request, who: Caller = Depends(caller)
) -> Response:
    """Replace name, description, filters, date range and widgets (``default``: 400)."""
    body = await _json_body(request)
    st = state_of(request)
    updated = await run_in_threadpool(catalog.update, st.store, who.project_id, dashboard_id, body)
    return JSON(updated)


@router.delete("/api/dashboards/{dashboard_id}", summary="Delete a dashboard", status_code=204)
async def delete_dashboard(
    dashboard_id: str, request: Request, who: Caller = Depends(caller)
) -> Response:
    await run_in_threadpool(catalog.delete, state_of(request).store, who.project_id, dashboard_id)
    return Response(status_code=204)


@router.post(
    "/api/dashboards/{dashboard_id}/duplicate",
    summary="Duplicate a dashboard",
    status_code=201,
    response_model=ds.DashboardOut,
)
async def duplicate_dashboard(
    dashboard_id: str, request: Request, who: Caller = Depends(caller)
) -> Response:
    """A custom copy ("Copy of ..."); ``default`` gives an editable copy of the default."""
    made = await run_in_threadpool(
        catalog.duplicate, state_of(request).store, who.project_id, dashboard_id
    )
    return JSON(made, 201)


def dashboard_data(
    store: Store,
    project_id: str,
    dashboard_id: str,
    date_range: str | None,
    from_value: str | None,
    to_value: str | None,
    filter_text: str | None,
) -> tuple[DashboardData, dict[str, Any], list[dict[str, Any]]]:
    """Run a dashboard over a window (plus the request's filters, JSON text): its data, its
    description and the changes in it."""
    dashboard, described = catalog.get(store, project_id, dashboard_id)
    extra = parse_dashboard_filters(filter_text, "filter")
    start, end = window(date_range, from_value, to_value, dashboard.date_range)
    data = run_dashboard(store, project_id, dashboard, start, end, extra)
    every = [*dashboard.filters, *extra]
    return data, described, changes_between(store, project_id, start, end, every)


@router.get(
    "/api/dashboards/{dashboard_id}/data",
    summary="Run a dashboard",
    response_model=ds.DashboardData,
)
async def get_dashboard_data(
    dashboard_id: str,
    request: Request,
    who: Caller = Depends(caller),
    fromTimestamp: str | None = _FROM,
    toTimestamp: str | None = _TO,
    range: str | None = _RANGE,
    filter: str | None = _FILTER,
) -> Response:
    """Every widget's rows over ``[fromTimestamp, toTimestamp)`` and the changes in it."""
    data, described, found = await run_in_threadpool(
        dashboard_data,
        state_of(request).store,
        who.project_id,
        dashboard_id,
        range,
        fromTimestamp,
        toTimestamp,
        filter,
    )
    return JSON(
        {
            "id": described["id"],
            "name": described["name"],
            "fromTimestamp": _iso(data.from_time),
            "toTimestamp": _iso(data.to_time),
            "widgets": [w.to_json() for w in data.widgets],
            "changes": found,
        }
    )


@router.get("/api/changes", summary="Releases, versions and prompt versions",
            response_model=ds.ChangeList)  # fmt: skip
async def get_changes(
    request: Request,
    who: Caller = Depends(caller),
    fromTimestamp: str | None = _FROM,
    toTimestamp: str | None = _TO,
    range: str | None = _RANGE,
    filter: str | None = _FILTER,
) -> Response:
    """The moments a new release, version or prompt version first appeared in the window
    (default: the last 30 days), each with the value before it; ``filter`` (trace list
    language, e.g. environment) narrows where a value counts as appeared."""
    start, end = window(range, fromTimestamp, toTimestamp, "30d")
    filters = parse_dashboard_filters(filter, "filter")
    st = state_of(request)
    found = await run_in_threadpool(changes_between, st.store, who.project_id, start, end, filters)
    return JSON({"data": found})


def _iso(value: Any) -> str:
    return value.strftime("%Y-%m-%dT%H:%M:%SZ")
