"""Deleting traces over HTTP: heron's ``DELETE /api/traces/{id}`` and Langfuse's shapes.

A trace goes with its observations, scores, comments and signals (and what annotation queues
and error analyses keep of it), in the caller's project only: another
project's trace is a 404, as one that does not exist. Spans acknowledged before the request
are applied first, so a deletion never leaves part of a trace behind that was sent before it
(spans sent later make a new trace of the same id). Needs a ``full`` key.
"""

from __future__ import annotations

from typing import Any

import orjson
from fastapi import APIRouter, Depends, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import Response

from heron.errors import BadRequest, NotFound
from heron.server import schemas
from heron.server.api import caller
from heron.server.auth import Caller
from heron.server.bodies import read_body
from heron.server.state import state_of

router = APIRouter(
    tags=["traces"],
    responses={
        400: {"model": schemas.Error},
        401: {"model": schemas.Error},
        403: {"model": schemas.Error},
        404: {"model": schemas.Error},
    },
)

MAX_IDS = 1000


async def _delete(request: Request, project_id: str, trace_ids: list[str]) -> list[str]:
    st = state_of(request)
    await st.pipeline.caught_up()
    return await run_in_threadpool(st.store.delete_traces, project_id, trace_ids)


async def _delete_one(request: Request, project_id: str, trace_id: str) -> None:
    if not await _delete(request, project_id, [trace_id]):
        raise NotFound(f"trace {trace_id!r} not found in this project")


@router.delete("/api/traces/{trace_id}", summary="Delete a trace", status_code=204)
async def delete_trace(request: Request, trace_id: str, who: Caller = Depends(caller)) -> Response:
    """Delete the trace with its observations, scores, comments and signals (204; 404 if not
    in the project)."""
    await _delete_one(request, who.project_id, trace_id)
    return Response(status_code=204)


@router.delete("/api/public/traces/{trace_id}", summary="Delete a trace (Langfuse-compatible)")
async def delete_public_trace(
    request: Request, trace_id: str, who: Caller = Depends(caller)
) -> dict[str, Any]:
    await _delete_one(request, who.project_id, trace_id)
    return {"message": "Trace deleted successfully"}


@router.delete(
    "/api/public/traces",
    summary="Delete traces (Langfuse-compatible)",
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                "application/json": {
                    "schema": {
                        "type": "object",
                        "required": ["traceIds"],
                        "properties": {
                            "traceIds": {
                                "type": "array",
                                "items": {"type": "string"},
                                "maxItems": MAX_IDS,
                            }
                        },
                    }
                }
            },
        }
    },
)
async def delete_public_traces(request: Request, who: Caller = Depends(caller)) -> dict[str, Any]:
    """Delete the listed traces of the project; ids not in the project are listed as
    ``notFound`` (nothing of another project is touched)."""
    raw = await read_body(request, state_of(request).settings.max_body_bytes)
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise BadRequest(f"invalid JSON: {exc}") from None
    ids = body.get("traceIds") if isinstance(body, dict) else None
    if not isinstance(ids, list) or not ids or not all(isinstance(i, str) and i for i in ids):
        raise BadRequest('body: expected {"traceIds": [...]}, a non-empty list of trace ids')
    if len(ids) > MAX_IDS:
        raise BadRequest(f"traceIds: at most {MAX_IDS} ids per request")
    deleted = await _delete(request, who.project_id, ids)
    gone = set(deleted)
    return {
        "message": "Traces deleted successfully",
        "deleted": deleted,
        "notFound": [i for i in dict.fromkeys(ids) if i not in gone],
    }
