"""The read API: traces, observations, sessions and users, scoped to the caller's project."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.concurrency import run_in_threadpool

from heron.query import Filter, parse_filters
from heron.server import schemas
from heron.server.auth import Caller, route_need
from heron.server.state import state_of
from heron.store import ListQuery


def caller(request: Request) -> Caller:
    """The key's caller, allowed the access the route needs (see heron.server.auth)."""
    return state_of(request).auth.authenticate(request, need=route_need(request))


async def consistent(request: Request) -> None:
    """Reads see every span acknowledged before they started (read your own writes)."""
    await state_of(request).pipeline.caught_up()


router = APIRouter(
    dependencies=[Depends(consistent)],
    responses={400: {"model": schemas.Error}, 401: {"model": schemas.Error}},
)


@dataclass
class ListParams:
    """Query parameters shared by every list endpoint (API and pages).

    The ``filter`` JSON is parsed when the query is built (:meth:`query`), not while the
    parameters are read, so a page can show a :class:`~heron.query.FilterError` inline.
    """

    simple: list[Filter]
    filter: str | None
    search: str | None
    order_by: str
    limit: int
    cursor: str | None

    @property
    def filters(self) -> list[Filter]:
        """The simple parameters' filters, then the ``filter`` JSON's (raises FilterError)."""
        return [*self.simple, *parse_filters(self.filter)]

    def query(self) -> ListQuery:
        return ListQuery(self.filters, self.search, self.order_by, self.limit, self.cursor)


def list_params(
    from_: str | None = Query(
        None, alias="from", description="Start of the time range (ISO 8601)."
    ),
    to: str | None = Query(None, description="End of the time range (ISO 8601)."),
    name: str | None = Query(None, description="Trace (or observation) name, exact."),
    user_id: str | None = None,
    session_id: str | None = None,
    tags: list[str] = Query([], description="Repeat for several; all must be present."),
    release: str | None = None,
    version: str | None = None,
    environment: str | None = None,
    level: str | None = Query(None, description="DEBUG, DEFAULT, WARNING or ERROR."),
    model: str | None = None,
    min_latency_ms: float | None = None,
    max_latency_ms: float | None = None,
    min_cost: float | None = None,
    max_cost: float | None = None,
    has_error: bool | None = None,
    search: str | None = Query(
        None, description="Full-text search over inputs and outputs (case-insensitive)."
    ),
    filter: str | None = Query(
        None,
        description='Filters as JSON: [{"column": ..., "operator": ..., "value": ...}]',
    ),
    order_by: str = Query(
        "timestamp.desc", description="timestamp, latency, cost or tokens, with .asc or .desc"
    ),
    limit: int = Query(50, ge=1, le=1000),
    cursor: str | None = Query(None, description="next_cursor of the previous page."),
) -> ListParams:
    simple: list[tuple[str, str, Any]] = [
        ("start_time", ">=", from_),
        ("start_time", "<=", to),
        ("name", "=", name),
        ("user_id", "=", user_id),
        ("session_id", "=", session_id),
        ("release", "=", release),
        ("version", "=", version),
        ("environment", "=", environment),
        ("level", "=", level.upper() if level else None),
        ("model", "=", model),
        ("latency_ms", ">=", min_latency_ms),
        ("latency_ms", "<=", max_latency_ms),
        ("total_cost", ">=", min_cost),
        ("total_cost", "<=", max_cost),
        ("has_error", "=", has_error),
        *(("tags", "contains", t) for t in tags),
    ]
    filters = [Filter(c, op, v) for c, op, v in simple if v is not None]
    return ListParams(filters, filter or None, search or None, order_by, limit, cursor)


def _page(page: Any) -> dict[str, Any]:
    return {"data": page.data, "next_cursor": page.next_cursor}


@router.get("/api/project", tags=["projects"], response_model=schemas.Project)
def project(request: Request, who: Caller = Depends(caller)) -> dict[str, Any]:
    """The project the key belongs to."""
    return _project(request, who)


@router.get("/api/public/projects", tags=["projects"], response_model=schemas.ProjectList)
def langfuse_projects(request: Request, who: Caller = Depends(caller)) -> dict[str, Any]:
    """The key's project in the Langfuse shape (the Langfuse SDK's ``auth_check`` reads it)."""
    return {"data": [_project(request, who)]}


def _project(request: Request, who: Caller) -> dict[str, Any]:
    found = next(
        (p for p in state_of(request).store.list_projects() if p["id"] == who.project_id), None
    )
    name = found["name"] if found else who.project_id
    return {
        "id": who.project_id,
        "name": name,
        "organization": {"id": "local", "name": "heron"},
        "metadata": {},
    }


@router.get("/api/traces", tags=["traces"], response_model=schemas.TracePage)
async def list_traces(
    request: Request, who: Caller = Depends(caller), p: ListParams = Depends(list_params)
) -> dict[str, Any]:
    """Traces of the caller's project, newest first unless ``order_by`` says otherwise."""
    store = state_of(request).store
    return _page(await run_in_threadpool(store.list_traces, who.project_id, p.query()))


@router.get(
    "/api/traces/{trace_id}",
    tags=["traces"],
    response_model=schemas.TraceDetail,
    responses={404: {"model": schemas.Error}},
)
async def get_trace(request: Request, trace_id: str, who: Caller = Depends(caller)) -> dict:
    """One trace with its observation tree (``observations``, each with ``children``)."""
    store = state_of(request).store
    return await run_in_threadpool(store.get_trace, who.project_id, trace_id)


@router.get("/api/observations", tags=["observations"], response_model=schemas.ObservationPage)
async def list_observations(
    request: Request, who: Caller = Depends(caller), p: ListParams = Depends(list_params)
) -> dict[str, Any]:
    """Observations (spans, generations, tools, ...) without their inputs and outputs."""
    store = state_of(request).store
    return _page(await run_in_threadpool(store.list_observations, who.project_id, p.query()))


@router.get("/api/sessions", tags=["sessions"], response_model=schemas.SessionPage)
async def list_sessions(
    request: Request, who: Caller = Depends(caller), p: ListParams = Depends(list_params)
) -> dict[str, Any]:
    """Sessions (traces sharing a session id), most recently active first."""
    store = state_of(request).store
    return _page(await run_in_threadpool(store.list_sessions, who.project_id, p.query()))


@router.get(
    "/api/sessions/{session_id}",
    tags=["sessions"],
    response_model=schemas.SessionDetail,
    responses={404: {"model": schemas.Error}},
)
async def get_session(request: Request, session_id: str, who: Caller = Depends(caller)) -> dict:
    """A session's traces in order, with their inputs and outputs."""
    store = state_of(request).store
    return await run_in_threadpool(store.get_session, who.project_id, session_id)


@router.get("/api/users", tags=["users"], response_model=schemas.UserPage)
async def list_users(
    request: Request, who: Caller = Depends(caller), p: ListParams = Depends(list_params)
) -> dict[str, Any]:
    """Users (traces sharing a user id), most recently active first."""
    store = state_of(request).store
    return _page(await run_in_threadpool(store.list_users, who.project_id, p.query()))
