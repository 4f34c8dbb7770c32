"""Experiments over HTTP in Langfuse's shape: ``GET /api/public/experiments`` and
``GET /api/public/experiment-items`` (the Langfuse SDK's ``api.experiments.list`` and
``list_items``, v4 and v5).

Cursor pages (``meta.cursor``, absent on the last page), ``fromStartTime`` required (the
window is over the items' start), field groups on request, filters as comma-separated
parameters or the shared filter language (``filter``: a JSON list; Langfuse's ``any of`` /
``none of`` are accepted). Every read is scoped to the key's project; what the rows mean is
in :mod:`heron.store.experiment_reads`.
"""

from __future__ import annotations

import base64
from datetime import datetime
from typing import Any

import orjson
from fastapi import APIRouter, Depends, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import Response

from heron.errors import BadRequest
from heron.query import Filter
from heron.query.filters import parse_filters, parse_time
from heron.server import schemas
from heron.server.api import caller, consistent
from heron.server.auth import Caller
from heron.server.responses import JSON
from heron.server.score_reads import FIELD_GROUPS, MAX_IDS, v3_item
from heron.server.state import state_of
from heron.store.experiment_reads import EXPERIMENT_FIELDS, ITEM_FIELDS, ExperimentQuery

router = APIRouter(
    tags=["experiments"],
    dependencies=[Depends(consistent)],
    responses={400: {"model": schemas.Error}, 401: {"model": schemas.Error}},
)

MAX_LIMIT = 100
MAX_SCORE_LIMIT = 50
_CURSOR_VERSION = 1
_FROM = Query(
    None,
    alias="fromStartTime",
    description="Required. Items whose trace started at or after this time (ISO 8601).",
)
_TO = Query(None, alias="toStartTime", description="Items whose trace started before it.")
_LIMIT = Query(50, description=f"1 to {MAX_LIMIT}.")
_SCORE_LIMIT = Query(
    50, alias="scoreLimit", description="Scores per row with fields=scores, 1 to 50."
)
_CURSOR_Q = Query(None, description="meta.cursor of the previous page.")
_FILTER = Query(None, description="A JSON list of {column, operator, value} conditions.")


def _csv(value: str | None, label: str) -> list[str]:
    items = [v.strip() for v in (value or "").split(",") if v.strip()]
    if len(items) > MAX_IDS:
        raise BadRequest(f"{label}: at most {MAX_IDS} comma-separated values")
    return items


def _time(value: str | None, label: str) -> datetime | None:
    if not value:
        return None
    try:
        return parse_time(value, label)
    except OverflowError:
        raise BadRequest(f"{label}: {value!r} is out of range") from None


def _query(
    *,
    from_start: str | None,
    to_start: str | None,
    fields: str | None,
    allowed: tuple[str, ...],
    default: frozenset[str],
    limit: int,
    score_limit: int,
    cursor: str | None,
    lists: dict[str, tuple[str, str | None]],
    filter_: str | None,
) -> ExperimentQuery:
    """The checked query (a 400 naming the parameter otherwise); ``lists`` maps a column to
    (parameter name, comma-separated values)."""
    start = _time(from_start, "fromStartTime")
    if start is None:
        raise BadRequest("fromStartTime: required (an ISO 8601 time, e.g. 2026-01-01T00:00:00Z)")
    if not 1 <= limit <= MAX_LIMIT:
        raise BadRequest(f"limit: between 1 and {MAX_LIMIT}, got {limit}")
    if not 1 <= score_limit <= MAX_SCORE_LIMIT:
        raise BadRequest(f"scoreLimit: between 1 and {MAX_SCORE_LIMIT}, got {score_limit}")
    groups = set(_csv(fields, "fields")) or set(default)
    unknown = sorted(groups - set(allowed))
    if unknown:
        raise BadRequest(f"fields: {unknown[0]!r} is not one of {', '.join(allowed)}")
    filters = [
        Filter(column, "in", values)
        for column, (param, text) in lists.items()
        if (values := _csv(text, param))
    ]
    filters.extend(parse_filters(filter_))
    return ExperimentQuery(
        from_start=start,
        to_start=_time(to_start, "toStartTime"),
        filters=filters,
        after=_cursor(cursor) if cursor else None,
        limit=limit,
        fields=frozenset(groups),
        score_limit=score_limit,
    )


def _cursor(value: str) -> tuple[datetime, str]:
    try:
        raw = base64.urlsafe_b64decode(value + "=" * (-len(value) % 4))
        version, stamp, row_id = orjson.loads(raw)
        if version != _CURSOR_VERSION:
            raise ValueError
        return datetime.fromisoformat(stamp), str(row_id)
    except (ValueError, TypeError, orjson.JSONDecodeError):
        raise BadRequest("cursor: not a cursor this API returned") from None


def _page(rows: list[dict[str, Any]], limit: int, project_id: str) -> Response:
    meta: dict[str, Any] = {}
    if len(rows) > limit:
        rows = rows[:limit]
        stamp, row_id = rows[-1]["_after"]
        raw = orjson.dumps([_CURSOR_VERSION, stamp.isoformat(), row_id])
        meta["cursor"] = base64.urlsafe_b64encode(raw).decode().rstrip("=")
    groups = set(FIELD_GROUPS)
    for row in rows:
        del row["_after"]
        if "scores" in row:
            row["scores"] = [v3_item(s, project_id, groups) for s in row["scores"]]
    return JSON({"data": rows, "meta": meta})


@router.get("/api/public/experiments", summary="List experiments (Langfuse-compatible)")
async def list_experiments(
    request: Request,
    who: Caller = Depends(caller),
    from_start: str | None = _FROM,
    to_start: str | None = _TO,
    fields: str | None = Query(None, description="Comma-separated: core, metadata, scores."),
    limit: int = _LIMIT,
    score_limit: int = _SCORE_LIMIT,
    cursor: str | None = _CURSOR_Q,
    id: str | None = Query(None, description="Comma-separated experiment ids."),
    name: str | None = Query(None, description="Comma-separated experiment names."),
    dataset_id: str | None = Query(None, alias="datasetId", description="Comma-separated."),
    filter: str | None = _FILTER,
) -> Response:
    """The project's experiments (runs) with items in the window, latest activity first:
    ``id, name, description, startTime, endTime, itemCount, datasetId`` (null for an
    experiment on local data), ``metadata`` and the run-level ``scores`` on request."""
    q = _query(
        from_start=from_start, to_start=to_start, fields=fields, allowed=EXPERIMENT_FIELDS,
        default=frozenset({"core"}), limit=limit, score_limit=score_limit, cursor=cursor,
        lists={"id": ("id", id), "name": ("name", name), "dataset_id": ("datasetId", dataset_id)},
        filter_=filter,
    )  # fmt: skip
    rows = await run_in_threadpool(state_of(request).store.list_experiments, who.project_id, q)
    return _page(rows, limit, who.project_id)


@router.get("/api/public/experiment-items", summary="List experiment items (Langfuse-compatible)")
async def list_experiment_items(
    request: Request,
    who: Caller = Depends(caller),
    from_start: str | None = _FROM,
    to_start: str | None = _TO,
    fields: str | None = Query(
        None,
        description="Comma-separated: core, dataset, io, metadata, itemMetadata, "
        "experimentMetadata, scores (default core,dataset).",
    ),
    limit: int = _LIMIT,
    score_limit: int = _SCORE_LIMIT,
    cursor: str | None = _CURSOR_Q,
    experiment_id: str | None = Query(None, alias="experimentId", description="Comma-separated."),
    experiment_name: str | None = Query(
        None, alias="experimentName", description="Comma-separated."
    ),
    experiment_item_id: str | None = Query(
        None, alias="experimentItemId", description="Comma-separated (dataset item ids)."
    ),
    dataset_id: str | None = Query(None, alias="datasetId", description="Comma-separated."),
    filter: str | None = _FILTER,
) -> Response:
    """The project's experiment items started in the window, newest first: the trace, the
    experiment and item ids; the dataset and item version, input / output / expected output,
    metadata, the item's and the experiment's metadata, and the trace's scores on request."""
    q = _query(
        from_start=from_start, to_start=to_start, fields=fields, allowed=ITEM_FIELDS,
        default=frozenset({"core", "dataset"}), limit=limit, score_limit=score_limit,
        cursor=cursor, filter_=filter,
        lists={
            "experiment_id": ("experimentId", experiment_id),
            "experiment_name": ("experimentName", experiment_name),
            "experiment_item_id": ("experimentItemId", experiment_item_id),
            "dataset_id": ("datasetId", dataset_id),
        },
    )  # fmt: skip
    rows = await run_in_threadpool(state_of(request).store.list_experiment_items, who.project_id, q)
    return _page(rows, limit, who.project_id)
