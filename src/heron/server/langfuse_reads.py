"""Langfuse's public read API: what scripts written against Langfuse and its SDKs read.

``GET /api/public/traces`` and ``/traces/{id}``, ``/observations`` and ``/observations/{id}``
(paged with totals, as SDK v2 to v4 read them), ``/api/public/v2/observations`` (a cursor and
field groups, as SDK v5 and its ``run_batched_evaluation`` read them), ``/sessions`` and
``/sessions/{id}``. Every read is scoped to the key's project (another project's trace is a
404, as one that does not exist) and, like heron's own API, can ask to read its own writes
(``consistent=true``). Shapes: :mod:`heron.server.langfuse_shapes`; the conditions go
through the shared filter language (:mod:`heron.query`, :mod:`heron.query.langfuse`).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import Response

from heron.errors import BadRequest, NotFound
from heron.query import Filter
from heron.query.filters import parse_time
from heron.query.langfuse import langfuse_filters
from heron.query.names import canonical
from heron.server import langfuse_shapes as shapes
from heron.server import schemas
from heron.server.api import caller, consistent
from heron.server.auth import Caller
from heron.server.responses import JSON
from heron.server.score_reads import page_meta, paging
from heron.server.state import state_of
from heron.store.scores import ScoreFilter

router = APIRouter(
    tags=["langfuse"],
    dependencies=[Depends(consistent)],
    responses={
        400: {"model": schemas.Error},
        401: {"model": schemas.Error},
        404: {"model": schemas.Error},
    },
)

MAX_V2_LIMIT = 1000
MAX_TRACE_SCORES = 10_000
_FILTER_DOC = (
    "Langfuse's JSON filter: a list of {type, column, operator, value, key}; its conditions "
    "win over query parameters on the same column."
)


def _groups(text: str | None, known: tuple[str, ...], default: tuple[str, ...]) -> frozenset:
    groups = frozenset(g.strip() for g in (text or "").split(",") if g.strip())
    unknown = sorted(groups - set(known))
    if unknown:
        raise BadRequest(f"fields: {unknown[0]!r} is not one of {', '.join(known)}")
    return groups or frozenset(default)


def _conditions(simple: list[tuple[str, str, Any]], raw_filter: str | None) -> list[Filter]:
    """Query parameters as filters, then the ``filter`` JSON's conditions; a parameter on a
    column the JSON also filters is dropped (the JSON's condition wins, as in Langfuse)."""
    json_filters = langfuse_filters(raw_filter)
    named = {canonical(f.column) for f in json_filters}
    params = [
        Filter(column, op, value)
        for column, op, value in simple
        if value is not None and value != [] and canonical(column) not in named
    ]
    return [*params, *json_filters]


def _parent(parent_observation_id: str | None) -> tuple[str, str, Any]:
    """``parentObservationId``: an id, or empty for observations without a parent."""
    if parent_observation_id == "":
        return ("parent_id", "is null", True)  # the value only marks the filter as given
    return ("parent_id", "=", parent_observation_id)


# -- traces ------------------------------------------------------------------------------------


@router.get("/api/public/traces", summary="List traces (Langfuse-compatible)")
async def list_traces(
    request: Request,
    who: Caller = Depends(caller),
    pages: tuple[int, int] = Depends(paging),
    user_id: str | None = Query(None, alias="userId"),
    name: str | None = None,
    session_id: str | None = Query(None, alias="sessionId"),
    from_timestamp: str | None = Query(None, alias="fromTimestamp", description="Inclusive."),
    to_timestamp: str | None = Query(None, alias="toTimestamp", description="Exclusive."),
    order_by: str | None = Query(
        None,
        alias="orderBy",
        description="field.asc|desc: timestamp (default desc), id, "
        "name, userId, sessionId, release, version, public, latency, totalCost.",
    ),
    tags: list[str] = Query([], description="Repeat for several; the trace has all of them."),
    version: str | None = None,
    release: str | None = None,
    environment: list[str] = Query([], description="Repeat for several (any of them)."),
    fields: str | None = Query(
        None, description="core, io, scores, observations, metrics (default: all)."
    ),
    filter: str | None = Query(None, description=_FILTER_DOC),
) -> Response:
    """The project's traces, newest first: ``{data, meta: {page, limit, totalItems,
    totalPages}}``; each with its observation and score ids, latency (seconds) and cost."""
    page, limit = pages
    groups = _groups(fields, shapes.TRACE_FIELDS, ())
    filters = _conditions(
        [
            ("user_id", "=", user_id), ("name", "=", name), ("session_id", "=", session_id),
            ("start_time", ">=", from_timestamp), ("start_time", "<", to_timestamp),
            ("version", "=", version), ("release", "=", release),
            ("environment", "in", environment),
            *(("tags", "contains", t) for t in tags),
        ],
        filter,
    )  # fmt: skip
    io = not groups or "io" in groups
    rows, total = await run_in_threadpool(
        state_of(request).store.langfuse_trace_page,
        who.project_id, filters, order_by, page, limit, io,
    )  # fmt: skip
    data = [shapes.trace(r, who.project_id, groups) for r in rows]
    return JSON({"data": data, "meta": page_meta(page, limit, total)})


@router.get("/api/public/traces/{trace_id}", summary="Get a trace (Langfuse-compatible)")
async def get_trace(
    request: Request,
    trace_id: str,
    who: Caller = Depends(caller),
    fields: str | None = Query(
        None, description="core, io, scores, observations, metrics (default: all)."
    ),
) -> Response:
    """One trace with its observations (``ObservationsView``, oldest first, with inputs and
    outputs) and its scores."""
    groups = _groups(fields, shapes.TRACE_FIELDS, ())
    store = state_of(request).store
    row, observations = await run_in_threadpool(store.langfuse_trace, who.project_id, trace_id)
    out = shapes.trace(row, who.project_id, groups)
    out["observations"] = []
    out["scores"] = []
    if not groups or "observations" in groups:
        out["observations"] = [shapes.observation(o, who.project_id) for o in observations]
    if not groups or "scores" in groups:
        scores, _ = await run_in_threadpool(
            store.list_scores, who.project_id, ScoreFilter(trace_id=trace_id), 1, MAX_TRACE_SCORES
        )
        sdk = request.headers.get("x-langfuse-sdk-version")
        out["scores"] = [shapes.score_for_sdk(s, sdk) for s in scores]
    return JSON(out)


# -- observations ------------------------------------------------------------------------------


def _type(value: str | None) -> str | None:
    return value.lower() if value else None


@router.get("/api/public/observations", summary="List observations (Langfuse v1)")
async def list_observations(
    request: Request,
    who: Caller = Depends(caller),
    pages: tuple[int, int] = Depends(paging),
    name: str | None = None,
    user_id: str | None = Query(None, alias="userId"),
    type: str | None = Query(None, description="SPAN, GENERATION, EVENT, AGENT, TOOL, ..."),
    trace_id: str | None = Query(None, alias="traceId"),
    level: str | None = Query(None, description="DEBUG, DEFAULT, WARNING or ERROR."),
    parent_observation_id: str | None = Query(None, alias="parentObservationId"),
    environment: list[str] = Query([], description="Repeat for several (any of them)."),
    from_start_time: str | None = Query(None, alias="fromStartTime", description="Inclusive."),
    to_start_time: str | None = Query(None, alias="toStartTime", description="Exclusive."),
    version: str | None = None,
    filter: str | None = Query(None, description=_FILTER_DOC),
) -> Response:
    """Observations, newest first, with inputs and outputs: ``{data, meta}``."""
    page, limit = pages
    filters = _conditions(
        [
            ("name", "=", name), ("user_id", "=", user_id), ("type", "=", _type(type)),
            ("trace_id", "=", trace_id), ("level", "=", level.upper() if level else None),
            _parent(parent_observation_id), ("environment", "in", environment),
            ("start_time", ">=", from_start_time), ("start_time", "<", to_start_time),
            ("version", "=", version),
        ],
        filter,
    )  # fmt: skip
    rows, total = await run_in_threadpool(
        state_of(request).store.langfuse_observation_page, who.project_id, filters, page, limit
    )
    data = [shapes.observation(r, who.project_id) for r in rows]
    return JSON({"data": data, "meta": page_meta(page, limit, total)})


@router.get("/api/public/observations/{observation_id}", summary="Get an observation (Langfuse v1)")
async def get_observation(
    request: Request, observation_id: str, who: Caller = Depends(caller)
) -> Response:
    """One observation of the project, with input and output."""
    row = await run_in_threadpool(
        state_of(request).store.langfuse_observation, who.project_id, observation_id
    )
    return JSON(shapes.observation(row, who.project_id))


@router.get("/api/public/v2/observations", summary="List observations (Langfuse v2, cursor)")
async def list_observations_v2(
    request: Request,
    who: Caller = Depends(caller),
    fields: str | None = Query(
        None,
        description="Comma-separated groups: core, basic, time, io, metadata, model, "
        "usage, prompt, metrics, trace_context (default core,basic).",
    ),
    expand_metadata: str | None = Query(
        None, alias="expandMetadata", description="Metadata keys whose values are not cut."
    ),
    limit: int = Query(50, description=f"1 to {MAX_V2_LIMIT}."),
    cursor: str | None = Query(None, description="meta.cursor of the previous page."),
    parse_io_as_json: bool | None = Query(
        None, alias="parseIoAsJson", description="Deprecated: true is refused."
    ),
    name: str | None = None,
    user_id: str | None = Query(None, alias="userId"),
    session_id: str | None = Query(None, alias="sessionId"),
    type: str | None = Query(None, description="SPAN, GENERATION, EVENT, AGENT, TOOL, ..."),
    trace_id: str | None = Query(None, alias="traceId"),
    level: str | None = Query(None, description="DEBUG, DEFAULT, WARNING or ERROR."),
    parent_observation_id: str | None = Query(None, alias="parentObservationId"),
    is_root_observation: bool | None = Query(None, alias="isRootObservation"),
    environment: list[str] = Query([], description="Repeat for several (any of them)."),
    from_start_time: str | None = Query(None, alias="fromStartTime", description="Inclusive."),
    to_start_time: str | None = Query(None, alias="toStartTime", description="Exclusive."),
    version: str | None = None,
    filter: str | None = Query(None, description=_FILTER_DOC),
) -> Response:
    """Observations newest first (start time, then id) with the field groups asked for;
    ``meta.cursor`` pages on (absent on the last page). Inputs and outputs (``io``) are the
    stored text."""
    if not 1 <= limit <= MAX_V2_LIMIT:
        raise BadRequest(f"limit: between 1 and {MAX_V2_LIMIT}, got {limit}")
    if parse_io_as_json:
        raise BadRequest("parseIoAsJson: deprecated; input and output are returned as text")
    groups = _groups(fields, shapes.OBSERVATION_FIELDS, ("core", "basic"))
    expand = frozenset(k.strip() for k in (expand_metadata or "").split(",") if k.strip())
    root = None
    if is_root_observation is not None:
        root = ("parent_id", "is null" if is_root_observation else "is not null", True)
    filters = _conditions(
        [
            ("name", "=", name), ("user_id", "=", user_id), ("session_id", "=", session_id),
            ("type", "=", _type(type)), ("trace_id", "=", trace_id),
            ("level", "=", level.upper() if level else None), _parent(parent_observation_id),
            *([root] if root else []), ("environment", "in", environment),
            ("start_time", ">=", from_start_time), ("start_time", "<", to_start_time),
            ("version", "=", version),
        ],
        filter,
    )  # fmt: skip
    rows, after = await run_in_threadpool(
        state_of(request).store.langfuse_observation_scan,
        who.project_id, filters, limit, cursor, "io" in groups, "trace_context" in groups,
    )  # fmt: skip
    data = [shapes.observation_v2(r, who.project_id, groups, expand) for r in rows]
    meta: dict[str, Any] = {}
    if after is not None:
        meta["cursor"] = after
    return JSON({"data": data, "meta": meta})


# -- sessions ----------------------------------------------------------------------------------


@router.get("/api/public/sessions", summary="List sessions (Langfuse-compatible)")
async def list_sessions(
    request: Request,
    who: Caller = Depends(caller),
    pages: tuple[int, int] = Depends(paging),
    from_timestamp: str | None = Query(
        None, alias="fromTimestamp", description="Sessions begun at or after (ISO 8601)."
    ),
    to_timestamp: str | None = Query(
        None, alias="toTimestamp", description="Sessions begun before (ISO 8601)."
    ),
    environment: list[str] = Query([], description="Repeat for several (any of them)."),
) -> Response:
    """Sessions (traces sharing a session id), the most recently begun first."""
    page, limit = pages
    filters = [Filter("environment", "in", environment)] if environment else []
    created = (_time(from_timestamp, "fromTimestamp"), _time(to_timestamp, "toTimestamp"))
    rows, total = await run_in_threadpool(
        state_of(request).store.langfuse_session_page,
        who.project_id, filters, created, page, limit,
    )  # fmt: skip
    data = [shapes.session(r, who.project_id) for r in rows]
    return JSON({"data": data, "meta": page_meta(page, limit, total)})


def _time(value: str | None, label: str) -> datetime | None:
    if not value:
        return None
    try:
        return parse_time(value, label)
    except OverflowError:  # e.g. year 1 with a positive UTC offset
        raise BadRequest(f"{label}: {value!r} is out of range") from None


@router.get("/api/public/sessions/{session_id}", summary="Get a session (Langfuse-compatible)")
async def get_session(request: Request, session_id: str, who: Caller = Depends(caller)) -> Response:
    """A session with its traces (up to 1,000, oldest first, with inputs and outputs)."""
    traces = await run_in_threadpool(
        state_of(request).store.langfuse_session_traces, who.project_id, session_id
    )
    if not traces:
        raise NotFound(f"session {session_id!r} not found in this project")
    first = traces[0]
    out = shapes.session(
        {"id": session_id, "created_at": first["timestamp"], "environment": first["environment"]},
        who.project_id,
    )
    out["traces"] = [shapes.trace(t, who.project_id) for t in traces]
    return JSON(out)
