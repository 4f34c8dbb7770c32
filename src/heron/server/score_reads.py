"""Reading and deleting scores in Langfuse's shapes: ``GET /api/public/v2/scores`` (and the
older ``/api/public/scores``, the same items), one score by id, ``DELETE`` by id.

Every read and deletion is scoped to the key's project: another project's score is a 404,
as one that does not exist.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import Response

from heron.errors import BadRequest, NotFound
from heron.query.filters import parse_time
from heron.scores import DATA_TYPES
from heron.server import schemas
from heron.server.api import caller, consistent
from heron.server.auth import Caller
from heron.server.responses import JSON
from heron.server.state import state_of
from heron.store.scores import OPERATORS, ScoreFilter

router = APIRouter(
    tags=["scores"],
    dependencies=[Depends(consistent)],
    responses={
        400: {"model": schemas.Error},
        401: {"model": schemas.Error},
        404: {"model": schemas.Error},
    },
)

MAX_LIMIT = 100
MAX_PAGE = 1_000_000  # keeps the offset far from integer overflow
MAX_IDS = 1000


def paging(
    page: int = Query(1, description="Page number, from 1."),
    limit: int = Query(50, description=f"Items per page, 1 to {MAX_LIMIT}."),
) -> tuple[int, int]:
    """``page`` and ``limit`` as Langfuse takes them (a 400 naming the bound otherwise)."""
    if not 1 <= page <= MAX_PAGE:
        raise BadRequest(f"page: starts at 1 (and at most {MAX_PAGE:,}), got {page}")
    if not 1 <= limit <= MAX_LIMIT:
        raise BadRequest(f"limit: between 1 and {MAX_LIMIT}, got {limit}")
    return page, limit


def page_meta(page: int, limit: int, total: int) -> dict[str, int]:
    return {"page": page, "limit": limit, "totalItems": total, "totalPages": -(-total // limit)}


def _time(value: str | None, label: str) -> datetime | None:
    if not value:
        return None
    try:
        return parse_time(value, label)
    except OverflowError:  # e.g. year 1 with a positive UTC offset
        raise BadRequest(f"{label}: {value!r} is out of range") from None


def score_filter(
    user_id: str | None = Query(None, alias="userId", description="The trace's user."),
    name: str | None = Query(None, description="Score name, exact."),
    from_timestamp: str | None = Query(
        None, alias="fromTimestamp", description="Scores at or after this time (ISO 8601)."
    ),
    to_timestamp: str | None = Query(
        None, alias="toTimestamp", description="Scores before this time (ISO 8601)."
    ),
    environment: list[str] = Query([], description="Repeat for several (any of them)."),
    source: str | None = Query(None, description="API, ANNOTATION or EVAL."),
    operator: str | None = Query(
        None, description="Compares the numeric value with `value`: <, >, <=, >=, !=, =."
    ),
    value: float | None = Query(
        None, allow_inf_nan=False, description="The number `operator` compares with."
    ),
    score_ids: str | None = Query(None, alias="scoreIds", description="Comma-separated ids."),
    config_id: str | None = Query(None, alias="configId"),
    queue_id: str | None = Query(None, alias="queueId"),
    dataset_run_id: str | None = Query(None, alias="datasetRunId"),
    session_id: str | None = Query(None, alias="sessionId"),
    trace_id: str | None = Query(None, alias="traceId"),
    observation_id: str | None = Query(None, alias="observationId"),
    data_type: str | None = Query(
        None, alias="dataType", description="NUMERIC, BOOLEAN, CATEGORICAL or TEXT."
    ),
    trace_tags: list[str] = Query(
        [], alias="traceTags", description="Repeat for several; the trace has all of them."
    ),
) -> ScoreFilter:
    """Langfuse's score filters, validated."""
    if (operator is None) != (value is None):
        raise BadRequest("operator and value: give both (e.g. operator=>=&value=0.5) or neither")
    if operator is not None and operator not in OPERATORS:
        raise BadRequest(f"operator: {operator!r} is not one of {', '.join(OPERATORS)}")
    if data_type is not None and data_type.upper() not in DATA_TYPES:
        raise BadRequest(f"dataType: {data_type!r} is not one of {', '.join(DATA_TYPES)}")
    ids = [i.strip() for i in (score_ids or "").split(",") if i.strip()]
    if len(ids) > MAX_IDS:
        raise BadRequest(f"scoreIds: at most {MAX_IDS} ids")
    return ScoreFilter(
        user_id=user_id, name=name,
        from_timestamp=_time(from_timestamp, "fromTimestamp"),
        to_timestamp=_time(to_timestamp, "toTimestamp"),
        environments=environment, source=source.upper() if source else None,
        operator=operator, value=value, score_ids=ids, config_id=config_id, queue_id=queue_id,
        dataset_run_id=dataset_run_id, session_id=session_id, trace_id=trace_id,
        observation_id=observation_id, data_type=data_type.upper() if data_type else None,
        trace_tags=trace_tags,
    )  # fmt: skip


@router.get("/api/public/v2/scores", summary="List scores (Langfuse-compatible)")
@router.get("/api/public/scores", summary="List scores (Langfuse v1 path, the same items)")
async def list_scores(
    request: Request,
    who: Caller = Depends(caller),
    f: ScoreFilter = Depends(score_filter),
    pages: tuple[int, int] = Depends(paging),
) -> Response:
    """The project's scores, newest first: ``{data, meta: {page, limit, totalItems,
    totalPages}}``; each item carries its trace's ``userId``, ``tags``, ``environment`` and
    ``sessionId`` under ``trace`` (``null`` for a session score)."""
    page, limit = pages
    items, total = await run_in_threadpool(
        state_of(request).store.list_scores, who.project_id, f, page, limit
    )
    return JSON({"data": items, "meta": page_meta(page, limit, total)})


async def _one(request: Request, project_id: str, score_id: str) -> dict[str, Any]:
    item = await run_in_threadpool(state_of(request).store.get_score, project_id, score_id)
    if item is None:
        raise NotFound(f"score {score_id!r} not found in this project")
    return item


@router.get("/api/public/v2/scores/{score_id}", summary="Get a score (Langfuse-compatible)")
@router.get("/api/public/scores/{score_id}", summary="Get a score (Langfuse v1 path)")
async def get_score(request: Request, score_id: str, who: Caller = Depends(caller)) -> Response:
    """One score of the project, in the list's item shape (404 if not in the project)."""
    return JSON(await _one(request, who.project_id, score_id))


@router.delete(
    "/api/public/scores/{score_id}",
    summary="Delete a score (Langfuse-compatible)",
    status_code=202,
    responses={202: {"description": "Deleted."}},
)
async def delete_score(request: Request, score_id: str, who: Caller = Depends(caller)) -> Response:
    """Delete one of the project's scores: 202, as Langfuse answers; 404 if not in it."""
    st = state_of(request)
    if not await run_in_threadpool(st.store.delete_score, who.project_id, score_id):
        raise NotFound(f"score {score_id!r} not found in this project")
    return JSON({"message": "Score deleted"}, 202)
