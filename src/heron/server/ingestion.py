"""Langfuse's batch ingestion: ``POST /api/public/ingestion``.

What the Langfuse Python SDK v2 and the older JS SDKs send everything through, and the v3
and v4 SDKs their ``score-create`` events. Traces and observations are mapped
(:mod:`heron.ingest.langfuse_events`) and journaled like OTLP spans: the answer comes once
they are durable, and they are applied moments later (:mod:`heron.ingest.pipeline`). Scores
go through the one score path (:mod:`heron.scores`, its configs and queues, the store's
upsert). The answer is always 207 ``{successes, errors}`` with one entry per event, as
Langfuse answers; a body that is not a batch at all is a 400, too many events a 413.

The public key alone (Basic ``pk:``, a browser) may send ``score-create`` events only, within
the project's feedback settings, and never replace a score (docs/feedback.md); any other event
gets a 403 of its own.
"""

from __future__ import annotations

import time
from typing import Any

import orjson
from fastapi import APIRouter, Depends, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import Response

from heron.annotation.scores import check_queue_score, queue_ids, with_annotation_source
from heron.errors import BadRequest, Conflict, Forbidden
from heron.ingest.decoding import records_batch
from heron.ingest.langfuse_events import (
    SCORE_EVENTS,
    EventError,
    MappedEvents,
    ScoreEvent,
    map_events,
    parse_batch,
)
from heron.ingest.limits import IngestLimits
from heron.scores import ScoreError, ScoreLimits, ScoreRecord
from heron.scores.configs import config_ids, parse_configured
from heron.server import schemas
from heron.server.api import caller
from heron.server.auth import Caller
from heron.server.bodies import decode_content, read_body
from heron.server.feedback import check_public_scores
from heron.server.responses import JSON
from heron.server.state import ServerState, state_of

router = APIRouter(tags=["ingest"])

_EVENT = {
    "type": "object",
    "required": ["id", "type", "body"],
    "properties": {
        "id": {"type": "string"},
        "type": {"type": "string", "description": "trace-create, span-create, ..."},
        "timestamp": {"type": "string", "format": "date-time"},
        "body": {"type": "object"},
    },
}
_OPENAPI = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {
                "schema": {
                    "type": "object",
                    "required": ["batch"],
                    "properties": {
                        "batch": {"type": "array", "items": _EVENT},
                        "metadata": {"type": "object"},
                    },
                }
            }
        },
    },
    "responses": {
        "207": {"description": "{successes: [{id, status}], errors: [{id, status, message}]}"},
        "400": {"description": "The body is not a batch of events."},
        "403": {"description": "The key's scope does not allow ingest (a read key)."},
        "413": {"description": "Body over the limit, or more events than the limit."},
        "503": {"description": "Ingest queue full, or the journal cannot be written."},
    },
}


@router.post(
    "/api/public/ingestion",
    summary="Ingest a batch of Langfuse events (Langfuse-compatible)",
    status_code=207,
    response_class=Response,
    openapi_extra=_OPENAPI,
    responses={400: {"model": schemas.Error}},
)
async def ingest_events(request: Request, who: Caller = Depends(caller)) -> Response:
    """Take ``{"batch": [event, ...]}``: ``trace-create``, ``span-create``/``-update``,
    ``generation-create``/``-update``, ``event-create``, ``observation-create``/``-update``,
    ``score-create`` (``sdk-log`` is accepted and dropped). Answers 207 once every accepted
    trace and observation is durable in the journal and every accepted score is stored."""
    st = state_of(request)
    public = who.kind == "public"
    if not public:
        st.pipeline.admit()  # queue or disk full: refused before the body is read
    limit = st.settings.max_body_bytes
    raw = await read_body(request, limit)
    body = decode_content(raw, request.headers.get("content-encoding"), limit)
    try:
        payload = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise BadRequest(f"invalid JSON: {exc}") from None
    limits = IngestLimits.from_settings(st.settings)
    try:
        batch = parse_batch(payload, limits)
    except EventError as exc:
        raise BadRequest(str(exc)) from None
    mapped = await run_in_threadpool(
        map_events,
        batch,
        who.project_id,
        limits,
        time.time_ns() // 1000,
        SCORE_EVENTS if public else None,
    )
    if mapped.observations or mapped.traces:
        await _journal(st, who, mapped)
    if mapped.scores:
        await _write_scores(st, who, request.headers.get("origin"), mapped)
    return JSON({"successes": mapped.successes, "errors": mapped.errors}, 207)


async def _journal(st: ServerState, who: Caller, mapped: MappedEvents) -> None:
    """Traces and observations into the journal (durable before this returns)."""
    decoded = await run_in_threadpool(
        records_batch, mapped.observations, mapped.traces, st.pricing.spec(who.project_id)
    )
    stats = st.ingest_stats
    spans = decoded.observations.num_rows
    stats.spans_received += spans
    await st.pipeline.submit(decoded)  # 503 (queue or journal) propagates: nothing was taken
    stats.spans_accepted += spans
    stats.project_spans_accepted[who.project_id] += spans


async def _write_scores(
    st: ServerState, who: Caller, origin: str | None, mapped: MappedEvents
) -> None:
    """The score events through the score path; each gets its own success or error."""
    events: list[ScoreEvent] = mapped.scores
    bodies = [e.body for e in events]
    configs = await run_in_threadpool(
        st.store.score_configs_by_id, who.project_id, config_ids(bodies)
    )
    queues: dict[str, dict[str, Any]] = {}
    if queue_ids(bodies):
        listed = await run_in_threadpool(st.store.list_annotation_queues, who.project_id)
        queues = {q["id"]: q for q in listed}
    limits = ScoreLimits(st.settings.max_score_text, st.settings.max_metadata_bytes)
    public = who.kind == "public"
    records: list[tuple[str, ScoreRecord]] = []
    for event in events:
        try:
            record = parse_configured(
                with_annotation_source(event.body), who.project_id, configs, "body.", limits
            )
            check_queue_score(record, queues, "body.")
            if public:
                check_public_scores(st.feedback, who, origin, [record])
        except ScoreError as exc:
            mapped.fail(event.event_id, 400, exc.message)
            continue
        except Forbidden as exc:
            mapped.fail(event.event_id, 403, exc.message)
            continue
        records.append((event.event_id, record))
    if not public:
        await run_in_threadpool(st.store.write_scores, [r for _, r in records])
        for event_id, _ in records:
            mapped.succeed(event_id)
        return
    for event_id, record in records:  # create only: an existing id refuses that score alone
        try:
            await run_in_threadpool(st.store.write_scores, [record], replace=False)
        except Conflict as exc:
            mapped.fail(event_id, 409, exc.message)
        else:
            mapped.succeed(event_id)
