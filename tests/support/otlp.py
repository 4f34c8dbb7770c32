"""Build OTLP export requests for tests: small, explicit, with real protobuf messages."""

from __future__ import annotations

import os
from typing import Any

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.trace.v1.trace_pb2 import Span, Status

T0_NS = 1_760_000_000_000_000_000


def any_value(v: Any) -> AnyValue:
    if isinstance(v, AnyValue):
        return v
    if isinstance(v, bool):
        return AnyValue(bool_value=v)
    if isinstance(v, int):
        return AnyValue(int_value=v)
    if isinstance(v, float):
        return AnyValue(double_value=v)
    if isinstance(v, str):
        return AnyValue(string_value=v)
    if isinstance(v, bytes):
        return AnyValue(bytes_value=v)
    if isinstance(v, (list, tuple)):
        av = AnyValue()
        av.array_value.SetInParent()
        for item in v:
            av.array_value.values.append(any_value(item))
        return av
    if isinstance(v, dict):
        av = AnyValue()
        av.kvlist_value.SetInParent()
        for k, item in v.items():
            av.kvlist_value.values.append(KeyValue(key=k, value=any_value(item)))
        return av
    raise TypeError(type(v))


def attrs(d: dict[str, Any]) -> list[KeyValue]:
    return [KeyValue(key=k, value=any_value(v)) for k, v in d.items()]


def new_trace_id() -> bytes:
    return os.urandom(16)


def new_span_id() -> bytes:
    return os.urandom(8)


def span(
    trace_id: bytes,
    span_id: bytes,
    name: str,
    parent: bytes | None = None,
    start_ns: int = T0_NS,
    duration_ms: float = 100.0,
    attributes: dict[str, Any] | None = None,
    error: str | None = None,
) -> Span:
    s = Span(
        trace_id=trace_id,
        span_id=span_id,
        parent_span_id=parent or b"",
        name=name,
        kind=Span.SPAN_KIND_INTERNAL,
        start_time_unix_nano=start_ns,
        end_time_unix_nano=start_ns + int(duration_ms * 1e6),
        attributes=attrs(attributes or {}),
    )
    if error:
        s.status.CopyFrom(Status(code=Status.STATUS_CODE_ERROR, message=error))
    return s


def request(spans: list[Span], resource: dict[str, Any] | None = None) -> ExportTraceServiceRequest:
    req = ExportTraceServiceRequest()
    rs = req.resource_spans.add()
    rs.resource.attributes.extend(attrs({"service.name": "test-app", **(resource or {})}))
    ss = rs.scope_spans.add()
    ss.scope.name = "tests"
    ss.spans.extend(spans)
    return req


def genai_trace(
    user: str = "u1", session: str = "s1", model: str = "gpt-4o-mini", n_children: int = 2
) -> tuple[bytes, list[Span]]:
    """A root span with generation children in OpenTelemetry GenAI conventions."""
    tid, root = new_trace_id(), new_span_id()
    spans = [
        span(
            tid,
            root,
            "support-chat",
            duration_ms=2000,
            attributes={
                "user.id": user,
                "session.id": session,
                "input.value": "How do I reset my password?",
            },
        ),
    ]
    for i in range(n_children):
        spans.append(
            span(
                tid,
                new_span_id(),
                f"chat {model}",
                parent=root,
                start_ns=T0_NS + (i + 1) * 100_000_000,
                duration_ms=500,
                attributes={
                    "gen_ai.operation.name": "chat",
                    "gen_ai.request.model": model,
                    "gen_ai.usage.input_tokens": 1000,
                    "gen_ai.usage.output_tokens": 200,
                    "gen_ai.input.messages": '[{"role":"user","parts":[{"type":"text",'
                    '"content":"How do I reset my password?"}]}]',
                    "gen_ai.output.messages": '[{"role":"assistant","parts":[{"type":"text",'
                    '"content":"Open settings and click reset."}]}]',
                },
            )
        )
    return tid, spans
