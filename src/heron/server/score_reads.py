"""Reading and deleting scores in Langfuse's shapes: ``GET /api/public/v2/scores`` (and the
older ``/api/public/scores``, the same items), one score by id, ``DELETE`` by id, and
``GET /api/public/v3/scores`` (cursor pages, typed values), which the Langfuse SDK reads.

Every read and deletion is scoped to the key's project: another project's score is a 404,
as one that does not exist.
"""

from __future__ import annotations

import base64
import math
from datetime import datetime
from typing import Any

import orjson
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


# -- v3: what the Langfuse SDK's langfuse.api.scores.get_many reads ---------------------------

FIELD_GROUPS = ("details", "subject", "annotation")
_V3_LISTS = {  # query parameter -> ScoreFilter.any_of column
    "id": "id", "name": "name", "source": "source", "dataType": "data_type",
    "environment": "environment", "configId": "config_id", "queueId": "queue_id",
    "authorUserId": "author", "traceId": "trace_id", "sessionId": "session_id",
    "observationId": "observation_id", "experimentId": "dataset_run_id",
}  # fmt: skip


def _csv(value: str | None) -> list[str]:
    items = [v.strip() for v in (value or "").split(",") if v.strip()]
    if len(items) > MAX_IDS:
        raise BadRequest(f"at most {MAX_IDS} comma-separated values per filter")
    return items


def _cursor(value: str) -> tuple[datetime, str]:
    try:
        padded = value + "=" * (-len(value) % 4)
        stamp, score_id = orjson.loads(base64.urlsafe_b64decode(padded))
        return datetime.fromisoformat(stamp), str(score_id)
    except (ValueError, TypeError, orjson.JSONDecodeError):
        raise BadRequest("cursor: not a cursor this API returned") from None


def _next_cursor(item: dict[str, Any]) -> str:
    raw = orjson.dumps([item["timestamp"].removesuffix("Z"), item["id"]])
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _v3_values(values: list[str], data_types: list[str]) -> dict[str, list[Any]]:
    """``value``: exact values of one NUMERIC, BOOLEAN or CATEGORICAL data type."""
    if len(data_types) != 1 or data_types[0] not in ("NUMERIC", "BOOLEAN", "CATEGORICAL"):
        raise BadRequest("value: needs one dataType of NUMERIC, BOOLEAN or CATEGORICAL")
    if data_types[0] == "CATEGORICAL":
        return {"string_value": values}
    if data_types[0] == "BOOLEAN":
        if any(v.lower() not in ("true", "false") for v in values):
            raise BadRequest("value: a BOOLEAN value is true or false")
        return {"value": [1.0 if v.lower() == "true" else 0.0 for v in values]}
    try:
        numbers = [float(v) for v in values]
    except ValueError:
        raise BadRequest("value: a NUMERIC value is a number") from None
    if not all(math.isfinite(n) for n in numbers):
        raise BadRequest("value: a NUMERIC value is a finite number")
    return {"value": numbers}


def v3_item(item: dict[str, Any], project_id: str, groups: set[str]) -> dict[str, Any]:
    data_type = item["dataType"]
    if data_type == "NUMERIC":
        value: Any = item["value"]
    elif data_type == "BOOLEAN":
        value = item["value"] == 1
    else:
        value = item["stringValue"]
    out = {
        "id": item["id"], "projectId": project_id, "name": item["name"], "value": value,
        "dataType": data_type, "source": item["source"], "timestamp": item["timestamp"],
        "environment": item["environment"], "createdAt": item["createdAt"],
        "updatedAt": item["updatedAt"],
    }  # fmt: skip
    if "details" in groups:
        out.update(comment=item["comment"], configId=item["configId"], metadata=item["metadata"])
    if "annotation" in groups:
        out.update(authorUserId=item["authorUserId"], queueId=item["queueId"])
    if "subject" in groups:
        if item["observationId"]:
            subject = {"kind": "observation", "id": item["observationId"]}
            subject["traceId"] = item["traceId"]
        elif item["traceId"]:
            subject = {"kind": "trace", "id": item["traceId"]}
        elif item["sessionId"]:
            subject = {"kind": "session", "id": item["sessionId"]}
        else:
            subject = {"kind": "experiment", "id": item["datasetRunId"]}
        out["subject"] = subject
    return out


@router.get("/api/public/v3/scores", summary="List scores (Langfuse v3, cursor pages)")
async def list_scores_v3(
    request: Request,
    who: Caller = Depends(caller),
    limit: int = Query(50, description=f"1 to {MAX_LIMIT}."),
    cursor: str | None = Query(None, description="meta.cursor of the previous page."),
    fields: str | None = Query(None, description="Comma-separated: details, subject, annotation."),
    id: str | None = Query(None, description="Comma-separated score ids."),
    name: str | None = Query(None, description="Comma-separated names."),
    source: str | None = Query(None, description="Comma-separated sources."),
    data_type: str | None = Query(None, alias="dataType", description="Comma-separated."),
    environment: str | None = Query(None, description="Comma-separated."),
    config_id: str | None = Query(None, alias="configId"),
    queue_id: str | None = Query(None, alias="queueId"),
    author_user_id: str | None = Query(None, alias="authorUserId"),
    value: str | None = Query(None, description="Comma-separated exact values (one dataType)."),
    value_min: float | None = Query(None, alias="valueMin", allow_inf_nan=False),
    value_max: float | None = Query(None, alias="valueMax", allow_inf_nan=False),
    trace_id: str | None = Query(None, alias="traceId"),
    session_id: str | None = Query(None, alias="sessionId"),
    observation_id: str | None = Query(None, alias="observationId"),
    experiment_id: str | None = Query(None, alias="experimentId"),
    from_timestamp: str | None = Query(None, alias="fromTimestamp"),
    to_timestamp: str | None = Query(None, alias="toTimestamp"),
) -> Response:
    """Langfuse's v3 list: the core fields always, ``fields`` groups on request, ``value``
    typed by ``dataType`` (a number, true/false, or the category or text), and a cursor
    (``meta.cursor``, absent on the last page)."""
    if not 1 <= limit <= MAX_LIMIT:
        raise BadRequest(f"limit: between 1 and {MAX_LIMIT}, got {limit}")
    groups = set(_csv(fields))
    unknown = sorted(groups - set(FIELD_GROUPS))
    if unknown:
        raise BadRequest(f"fields: {unknown[0]!r} is not one of {', '.join(FIELD_GROUPS)}")
    given = {
        "id": id, "name": name, "source": source, "dataType": data_type,
        "environment": environment, "configId": config_id, "queueId": queue_id,
        "authorUserId": author_user_id, "traceId": trace_id, "sessionId": session_id,
        "observationId": observation_id, "experimentId": experiment_id,
    }  # fmt: skip
    lists = {param: _csv(text) for param, text in given.items()}
    for param in ("source", "dataType"):
        lists[param] = [v.upper() for v in lists[param]]
    bad = [t for t in lists["dataType"] if t not in DATA_TYPES]
    if bad:
        raise BadRequest(f"dataType: {bad[0]!r} is not one of {', '.join(DATA_TYPES)}")
    if lists["observationId"] and not lists["traceId"]:
        raise BadRequest("observationId: needs traceId (observation ids are scoped to a trace)")
    if lists["sessionId"] and (lists["traceId"] or lists["experimentId"]):
        raise BadRequest("sessionId: not together with traceId or experimentId")
    if lists["experimentId"] and lists["traceId"]:
        raise BadRequest("experimentId: not together with traceId")
    if (value_min is not None or value_max is not None) and lists["dataType"] != ["NUMERIC"]:
        raise BadRequest("valueMin/valueMax: need dataType=NUMERIC")
    any_of: dict[str, list[Any]] = {_V3_LISTS[p]: v for p, v in lists.items() if v}
    if value is not None:
        any_of.update(_v3_values(_csv(value), lists["dataType"]))
    f = ScoreFilter(
        from_timestamp=_time(from_timestamp, "fromTimestamp"),
        to_timestamp=_time(to_timestamp, "toTimestamp"),
        any_of=any_of, value_min=value_min, value_max=value_max,
        after=_cursor(cursor) if cursor else None,
    )  # fmt: skip
    items = await run_in_threadpool(
        state_of(request).store.scan_scores, who.project_id, f, limit + 1
    )
    meta: dict[str, Any] = {"limit": limit}
    if len(items) > limit:
        items = items[:limit]
        meta["cursor"] = _next_cursor(items[-1])
    data = [v3_item(i, who.project_id, groups) for i in items]
    return JSON({"data": data, "meta": meta})
