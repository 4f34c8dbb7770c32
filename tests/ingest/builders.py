"""Builders for real OTLP protobuf requests used by the ingest tests."""

from __future__ import annotations

from typing import Any

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.trace.v1.trace_pb2 import Span, Status

from tests.support.otlp import any_value
from tests.support.otlp import attrs as attributes

__all__ = ["any_value", "attributes", "request", "span", "span_id"]

TRACE_ID = bytes.fromhex("0af7651916cd43dd8448eb211c80319c")
SPAN_ID = bytes.fromhex("b7ad6b7169203331")
PARENT_ID = bytes.fromhex("00f067aa0ba902b7")
START_NS = 1_764_000_000_123_456_789  # 2025-11-24
END_NS = START_NS + 1_500_000_000


def span(
    name: str = "span",
    *,
    trace_id: bytes = TRACE_ID,
    span_id: bytes = SPAN_ID,
    parent: bytes = PARENT_ID,
    start: int = START_NS,
    end: int = END_NS,
    attrs: dict[str, Any] | None = None,
    events: list[tuple[str, dict[str, Any]]] | None = None,
    status: tuple[int, str] | None = None,
) -> Span:
    s = Span(
        trace_id=trace_id,
        span_id=span_id,
        parent_span_id=parent,
        name=name,
        kind=Span.SPAN_KIND_CLIENT,
        start_time_unix_nano=start,
        end_time_unix_nano=end,
    )
    s.attributes.extend(attributes(attrs or {}))
    for i, (ev_name, ev_attrs) in enumerate(events or []):
        ev = s.events.add()
        ev.name = ev_name
        ev.time_unix_nano = start + i + 1
        ev.attributes.extend(attributes(ev_attrs))
    if status is not None:
        s.status.CopyFrom(Status(code=status[0], message=status[1]))
    return s


def request(
    *spans: Span,
    resource: dict[str, Any] | None = None,
    scope: tuple[str, str] = ("test.scope", "1.2.3"),
) -> ExportTraceServiceRequest:
    req = ExportTraceServiceRequest()
    rs = req.resource_spans.add()
    rs.resource.attributes.extend(attributes(resource or {}))
    ss = rs.scope_spans.add()
    ss.scope.name, ss.scope.version = scope
    ss.spans.extend(spans)
    return req


def span_id(i: int) -> bytes:
    return (i + 1).to_bytes(8, "big")
