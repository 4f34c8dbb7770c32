"""Scores over HTTP: heron's ``POST /api/scores`` and the Langfuse-compatible path."""

from __future__ import annotations

from typing import Any

import orjson
from fastapi import APIRouter, Depends, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import Response

from heron.annotation.scores import check_queue_score, queue_ids, with_annotation_source
from heron.errors import BadRequest
from heron.scores import ScoreError, ScoreLimits, ScoreRecord
from heron.scores.configs import config_ids, parse_configured
from heron.server import schemas
from heron.server.api import caller
from heron.server.auth import Caller
from heron.server.bodies import read_body
from heron.server.feedback import check_public_scores
from heron.server.responses import JSON
from heron.server.state import state_of

router = APIRouter(tags=["scores"], responses={400: {"model": schemas.Error}})

MAX_BATCH = 1000

_SCORE = schemas.ScoreIn.model_json_schema()
_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {"schema": {"oneOf": [_SCORE, {"type": "array", "items": _SCORE}]}}
        },
    }
}


@router.post(
    "/api/scores",
    summary="Create or update scores",
    openapi_extra=_BODY,
    responses={201: {"description": "All stored."}, 207: {"description": "Some rejected."}},
)
@router.post(
    "/api/public/scores",
    summary="Create or update scores (Langfuse-compatible path)",
    openapi_extra=_BODY,
    responses={201: {"description": "All stored."}, 207: {"description": "Some rejected."}},
)
async def create_scores(request: Request, who: Caller = Depends(caller)) -> Response:
    """Store one score (a JSON object) or many (a JSON array).

    A score needs ``name``, ``value`` and ``traceId`` or ``sessionId``; ``dataType``
    (NUMERIC, BOOLEAN, CATEGORICAL, TEXT) is inferred from the value when absent. Sending an
    ``id`` again replaces that score. A single score answers 201 ``{"id"}``; an array answers
    202 when every score was stored and 207 with ``accepted``, ``rejected`` and ``errors``
    when some were not; nothing valid at all is a 400. With the public key alone (Basic
    ``pk:``, feedback from browsers) scores may only be created, within the project's
    feedback settings (docs/feedback.md): an existing ``id`` is a 409.
    """
    st = state_of(request)
    raw = await read_body(request, st.settings.max_body_bytes)
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise BadRequest(f"invalid JSON: {exc}") from None
    limits = ScoreLimits(st.settings.max_score_text, st.settings.max_metadata_bytes)
    public = who.kind == "public"  # the public key alone: create only, within the settings
    origin = request.headers.get("origin")
    # the configs the scores name, checked against them (heron.scores.configs)
    ids = config_ids(body)[:MAX_BATCH]
    configs = await run_in_threadpool(st.store.score_configs_by_id, who.project_id, ids)
    # annotations made in a queue: the queue's configs only (heron.annotation.scores)
    queues: dict[str, dict[str, Any]] = {}
    if queue_ids(body):
        listed = await run_in_threadpool(st.store.list_annotation_queues, who.project_id)
        queues = {q["id"]: q for q in listed}
    if isinstance(body, dict):
        record = parse_configured(
            with_annotation_source(body), who.project_id, configs, limits=limits
        )
        check_queue_score(record, queues)
        if public:
            check_public_scores(st.feedback, who, origin, [record])
        await run_in_threadpool(st.store.write_scores, [record], replace=not public)
        return JSON({"id": record.id, "data": [{"id": record.id}]}, 201)
    if not isinstance(body, list) or not body:
        raise BadRequest("body: expected a score object or a non-empty array of them")
    if len(body) > MAX_BATCH:
        raise BadRequest(f"body: at most {MAX_BATCH} scores per request")
    records: list[ScoreRecord] = []
    errors: list[dict[str, Any]] = []
    for i, item in enumerate(body):
        try:
            record = parse_configured(
                with_annotation_source(item), who.project_id, configs, f"[{i}].", limits
            )
            check_queue_score(record, queues, f"[{i}].")
            records.append(record)
        except ScoreError as exc:
            errors.append({"index": i, "message": exc.message})
    if not records:
        raise BadRequest("; ".join(e["message"] for e in errors[:10]))
    if public:
        check_public_scores(st.feedback, who, origin, records)
    await run_in_threadpool(st.store.write_scores, records, replace=not public)
    data = [{"id": r.id} for r in records]
    if errors:
        return JSON(
            {"accepted": len(records), "rejected": len(errors), "errors": errors, "data": data},
            207,
        )
    return JSON({"message": "Accepted", "data": data}, 202)
