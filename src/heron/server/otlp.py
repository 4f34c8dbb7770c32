"""OTLP/HTTP trace ingest: ``POST /v1/traces`` and the Langfuse-compatible alias."""

from __future__ import annotations

import time

import orjson
from fastapi import APIRouter, Request
from fastapi.responses import Response
from google.rpc import status_pb2
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceResponse,
)

from heron.errors import (
    BadRequest,
    HeronError,
    Overloaded,
    RateLimited,
    StorageUnavailable,
    UnsupportedMedia,
)
from heron.ingest.decoding import DecodedBatch
from heron.ingest.limits import IngestLimits
from heron.ingest.otlp import OTLPDecodeError
from heron.server.bodies import decode_content, media_type, read_body
from heron.server.state import state_of

PROTOBUF = "application/x-protobuf"
JSON = "application/json"

router = APIRouter(tags=["ingest"])


def _status_response(exc: HeronError, as_json: bool) -> Response:
    """OTLP/HTTP errors carry a google.rpc.Status body in the request's encoding."""
    headers = {}
    if isinstance(exc, Overloaded | RateLimited):
        headers["Retry-After"] = str(exc.retry_after)
    if as_json:
        body = orjson.dumps({"code": exc.status_code, "message": exc.message})
        return Response(body, exc.status_code, headers, media_type=JSON)
    status = status_pb2.Status(code=exc.status_code, message=exc.message)
    return Response(status.SerializeToString(), exc.status_code, headers, media_type=PROTOBUF)


def _response(batch: DecodedBatch, as_json: bool) -> Response:
    if as_json:
        body: dict = {}
        if batch.rejected or batch.errors:
            body["partialSuccess"] = {
                "rejectedSpans": str(batch.rejected),
                "errorMessage": "; ".join(batch.errors),
            }
        return Response(orjson.dumps(body), 200, media_type=JSON)
    message = ExportTraceServiceResponse()
    if batch.rejected or batch.errors:
        message.partial_success.rejected_spans = batch.rejected
        message.partial_success.error_message = "; ".join(batch.errors)
    return Response(message.SerializeToString(), 200, media_type=PROTOBUF)


_OPENAPI = {
    "requestBody": {
        "required": True,
        "description": "An OTLP ExportTraceServiceRequest; Content-Encoding gzip or deflate "
        "is accepted.",
        "content": {
            PROTOBUF: {"schema": {"type": "string", "format": "binary"}},
            JSON: {"schema": {"type": "object", "description": "OTLP/JSON (hex ids)"}},
        },
    },
    "responses": {
        "200": {
            "description": "ExportTraceServiceResponse in the request's encoding; "
            "partial_success counts and explains rejected spans.",
            "content": {PROTOBUF: {}, JSON: {}},
        },
        "400": {"description": "Malformed body (google.rpc.Status naming the problem)."},
        "401": {"description": "Missing or wrong key."},
        "403": {"description": "The key's scope does not allow ingest (a read key)."},
        "408": {"description": "The body stalled or took too long."},
        "413": {"description": "Body over the limit, before or after decompression."},
        "415": {"description": "Unsupported Content-Type or Content-Encoding."},
        "429": {"description": "Over the key's or project's rate; retry after Retry-After."},
        "503": {
            "description": "Ingest queue full, or the journal cannot be written (disk full); "
            "retry after Retry-After seconds."
        },
    },
}


@router.post(
    "/v1/traces",
    summary="Export traces (OTLP/HTTP)",
    response_class=Response,
    openapi_extra=_OPENAPI,
)
@router.post(
    "/api/public/otel/v1/traces",
    summary="Export traces (OTLP/HTTP, Langfuse-compatible path)",
    response_class=Response,
    openapi_extra=_OPENAPI,
)
async def export_traces(request: Request) -> Response:
    """Accept an OTLP ``ExportTraceServiceRequest`` (protobuf or JSON, gzip or plain).

    Answers only after the spans are committed to the store.
    """
    st = state_of(request)
    kind = media_type(request)
    as_json = kind == JSON
    timings: list[tuple[str, float]] = []
    mark = time.perf_counter()

    def lap(name: str) -> None:
        nonlocal mark
        now = time.perf_counter()
        timings.append((name, (now - mark) * 1000))
        mark = now

    stats = st.ingest_stats  # one update per request, never per span
    try:
        caller = st.auth.authenticate(request, need="ingest")
        if kind not in (PROTOBUF, JSON):
            raise UnsupportedMedia(
                f"Content-Type {kind or '(none)'!r} is not supported; send {PROTOBUF} or {JSON}"
            )
        st.pipeline.admit()  # queue full or disk full: refused before the body is read
        limit = st.settings.max_body_bytes
        raw = await read_body(request, limit)
        body = decode_content(raw, request.headers.get("content-encoding"), limit)
        lap("read")
        batch = await st.decoder.decode(
            body,
            kind,
            caller.project_id,
            IngestLimits.from_settings(st.settings),
            st.pricing.spec(caller.project_id),
        )
        lap("decode")
        spans = batch.observations.num_rows
        stats.spans_received += spans + batch.rejected
        stats.rejected_spans["invalid"] += batch.rejected
        try:
            await st.pipeline.submit(batch)
        except StorageUnavailable:
            stats.rejected_spans["journal_error"] += spans
            raise
        except Overloaded:
            stats.rejected_spans["overloaded"] += spans
            raise
        except Exception:
            stats.rejected_spans["journal_error"] += spans
            raise
        stats.spans_accepted += spans
        stats.project_spans_accepted[caller.project_id] += spans
        lap("journal")
    except OTLPDecodeError as exc:
        stats.request(400, BadRequest.code)
        return _status_response(BadRequest(str(exc)), as_json)
    except HeronError as exc:
        stats.request(exc.status_code, exc.code)
        return _status_response(exc, as_json)
    except Exception:
        stats.request(500, HeronError.code)
        raise
    stats.request(200)
    response = _response(batch, as_json)
    response.headers["Server-Timing"] = ", ".join(f"{n};dur={d:.1f}" for n, d in timings)
    return response
