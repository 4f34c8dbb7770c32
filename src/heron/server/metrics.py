"""Metrics over HTTP: ``/api/metrics`` (POST body or GET ``query``) and Langfuse's
``/api/public/v2/metrics``. The query language is :mod:`heron.query.metrics`."""

from __future__ import annotations

import csv
import io
from typing import Any

import orjson
from fastapi import APIRouter, Depends, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import Response

from heron.errors import BadRequest
from heron.query.metrics import parse_metrics_query
from heron.server import schemas
from heron.server.api import caller, consistent
from heron.server.auth import Caller
from heron.server.bodies import read_body
from heron.server.responses import JSON
from heron.server.state import state_of

router = APIRouter(
    tags=["metrics"],
    dependencies=[Depends(consistent)],
    responses={
        400: {"model": schemas.Error, "description": "Invalid query, or over the limits."},
        401: {"model": schemas.Error},
        503: {
            "model": schemas.Error,
            "description": "query_timeout: cancelled at HERON_QUERY_TIMEOUT_S.",
        },
    },
)

_QUERY = Query(None, description="The metrics query as JSON (view, dimensions, metrics, ...).")
_FORMAT = Query("json", description="json (default) or csv.")
_BODY = {
    "requestBody": {
        "required": True,
        "content": {"application/json": {"schema": schemas.MetricsQueryIn.model_json_schema()}},
    }
}
_RESULT = {
    200: {
        "description": "The rows (or CSV with format=csv).",
        "content": {
            "application/json": {"schema": schemas.MetricsResult.model_json_schema()},
            "text/csv": {"schema": {"type": "string"}},
        },
    }
}


async def _answer(request: Request, who: Caller, raw: str | bytes | None, fmt: str) -> Response:
    if fmt not in ("json", "csv"):
        raise BadRequest(f"format: expected json or csv, got {fmt!r}")
    if not raw:
        raise BadRequest("query: a metrics query is required")
    q = parse_metrics_query(raw)
    rows = await run_in_threadpool(state_of(request).store.metrics, who.project_id, q)
    if fmt == "csv":
        return Response(_csv(rows), media_type="text/csv")
    return JSON({"data": rows})


def _csv(rows: list[dict[str, Any]]) -> str:
    out = io.StringIO()
    if rows:
        writer = csv.DictWriter(out, fieldnames=list(rows[0]), lineterminator="\n")
        writer.writeheader()
        writer.writerows(
            {k: orjson.dumps(v).decode() if isinstance(v, list) else v for k, v in row.items()}
            for row in rows
        )
    return out.getvalue()


@router.post(
    "/api/metrics",
    summary="Run a metrics query (JSON body)",
    openapi_extra=_BODY,
    responses=_RESULT,
)
async def post_metrics(
    request: Request, who: Caller = Depends(caller), format: str = _FORMAT
) -> Response:
    """Aggregate traces, observations or scores: ``{"data": [rows]}`` or CSV."""
    raw = await read_body(request, state_of(request).settings.max_body_bytes)
    return await _answer(request, who, raw, format)


@router.get("/api/metrics", summary="Run a metrics query (query parameter)", responses=_RESULT)
@router.get(
    "/api/public/v2/metrics",
    summary="Run a metrics query (Langfuse-compatible path)",
    responses=_RESULT,
)
async def get_metrics(
    request: Request,
    who: Caller = Depends(caller),
    query: str | None = _QUERY,
    format: str = _FORMAT,
) -> Response:
    """The same as ``POST /api/metrics`` with the query as JSON in ``query``."""
    return await _answer(request, who, query, format)
