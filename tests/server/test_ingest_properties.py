"""Property tests of ingest: any OTLP request, protobuf or JSON, in any of the three
conventions, with extreme numbers, times, nesting and attribute types, is either refused with
a 4xx or acknowledged, and then every span it acknowledged is stored and readable through
every read route, with no 500 anywhere.

One in-process server (real store file, real pipeline) is shared by the whole module.
"""

from __future__ import annotations

import base64
import itertools
import json
import math
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.trace.v1.trace_pb2 import Span

from heron.ingest.keys import MAX_NS, MIN_NS
from tests.server.ingest_checks import (
    check_readable,
    get_ok,
    open_app,
    post_json,
    post_protobuf,
    rejected_spans,
)
from tests.support.otlp import T0_NS, attrs

U64_MAX = 2**64 - 1
I64_MIN, I64_MAX = -(2**63), 2**63 - 1
YEAR_1_ISO = "0001-01-01T00:00:00Z"
YEAR_9999_NS = 253_402_300_799 * 10**9  # beyond uint64: not even encodable in protobuf

PROPERTY_SETTINGS = settings(
    max_examples=100,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


@pytest.fixture(scope="module")
def c(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    with open_app(tmp_path_factory.mktemp("properties"), max_metadata_bytes=200_000) as client:
        yield client


# ---- values -------------------------------------------------------------------------------------

EXTREME_INTS = [0, -1, 1, 2**31, 2**31 - 1, 2**53, 2**53 + 1, 2**62, I64_MAX, I64_MIN]
EXTREME_FLOATS = [0.0, -0.0, 1e308, -1e308, 5e-324, 9e12, 2.0**63, math.inf, -math.inf, math.nan]

ints = st.sampled_from(EXTREME_INTS) | st.integers(I64_MIN, I64_MAX)
floats = st.sampled_from(EXTREME_FLOATS) | st.floats()
numbers = ints | floats
texts = st.text(max_size=12) | st.sampled_from(["", "\x00", "é" * 3, "NaN", "Infinity", "-1"])
numeric_texts = numbers.map(lambda n: str(n))
scalars = numbers | texts | st.booleans() | st.binary(max_size=6) | numeric_texts
#: arbitrarily nested attribute values (arrays and maps), up to a little past the depth limit
any_values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(texts, inner, max_size=3),
    max_leaves=12,
)


def deep(levels: int) -> Any:
    v: Any = "leaf"
    for _ in range(levels):
        v = [v]
    return v


#: past the depth limit (32), within what the protobuf library builds (about 45 arrays)
deep_values = st.integers(30, 40).map(deep)


def json_text(values: st.SearchStrategy) -> st.SearchStrategy:
    """A JSON object as text (as Langfuse SDKs send maps), NaN and Infinity included."""
    return st.dictionaries(st.sampled_from(KEYS), values, max_size=4).map(
        lambda d: json.dumps(d, default=lambda b: b.decode("latin-1"))
    )


KEYS = ["input", "output", "total", "input_cached_tokens", "output_reasoning_tokens",
        "prompt_tokens", "completion_tokens", "input_tokens", "output_tokens",
        "cache_read_input_tokens", "x"]  # fmt: skip

times = st.sampled_from(
    [0, 1, MIN_NS - 1, MIN_NS, T0_NS, MAX_NS, MAX_NS + 1, 9 * 10**18, U64_MAX]
) | st.integers(0, U64_MAX)
iso_times = st.sampled_from(
    [YEAR_1_ISO, "9999-12-31T23:59:59Z", "1969-12-31T23:59:59Z", "2025-11-24T10:00:00.5+01:00",
     '"2025-11-24T10:00:00Z"', "not a time", "2300-01-01T00:00:00Z"]
)  # fmt: skip

# ---- conventions --------------------------------------------------------------------------------

GENAI: dict[str, st.SearchStrategy] = {
    "gen_ai.operation.name": st.sampled_from(["chat", "embeddings", "execute_tool", "??"]),
    "gen_ai.request.model": texts,
    "gen_ai.response.model": scalars,
    "gen_ai.usage.input_tokens": numbers | numeric_texts,
    "gen_ai.usage.output_tokens": numbers,
    "gen_ai.usage.total_tokens": numbers,
    "gen_ai.usage.cache_read.input_tokens": numbers,
    "gen_ai.usage.reasoning.output_tokens": numbers,
    "gen_ai.usage.cost": numbers | texts,
    "gen_ai.response.time_to_first_chunk": numbers | numeric_texts,
    "gen_ai.request.temperature": floats,
    "gen_ai.input.messages": texts | any_values,
    "gen_ai.system_instructions": texts | any_values,
    "gen_ai.prompt.name": scalars,
    "gen_ai.conversation.id": texts,
}
OPENINFERENCE: dict[str, st.SearchStrategy] = {
    "openinference.span.kind": st.sampled_from(["LLM", "TOOL", "CHAIN", "RETRIEVER", "x"]),
    "llm.model_name": texts,
    "llm.token_count.prompt": numbers,
    "llm.token_count.completion": numbers,
    "llm.token_count.total": numbers,
    "llm.token_count.prompt_details.cache_read": numbers,
    "llm.cost.total": numbers,
    "llm.cost.prompt": numbers,
    "llm.invocation_parameters": json_text(numbers) | any_values,
    "llm.input_messages.0.message.role": texts,
    "llm.input_messages.0.message.content": scalars,
    "llm.prompt_template.version": numbers | numeric_texts,
    "input.value": scalars,
    "output.value": any_values,
    "metadata": json_text(any_values) | texts,
    "session.id": texts,
    "user.id": texts,
    "tag.tags": any_values,
}
LANGFUSE: dict[str, st.SearchStrategy] = {
    "langfuse.observation.type": st.sampled_from(["generation", "span", "event", "tool", "x"]),
    "langfuse.observation.model.name": texts,
    "langfuse.observation.usage_details": json_text(numbers) | texts,
    "langfuse.observation.cost_details": json_text(numbers) | texts,
    "langfuse.observation.completion_start_time": iso_times | numbers | numeric_texts,
    "langfuse.observation.prompt.name": texts,
    "langfuse.observation.prompt.version": numbers | numeric_texts,
    "langfuse.observation.level": st.sampled_from(["ERROR", "DEBUG", "warning", "x"]),
    "langfuse.observation.metadata": json_text(any_values) | texts,
    "langfuse.observation.metadata.key": any_values,
    "langfuse.trace.name": texts,
    "langfuse.trace.metadata": json_text(any_values),
    "langfuse.trace.tags": any_values,
    "langfuse.user.id": texts,
    "langfuse.session.id": texts,
    "langfuse.internal.is_app_root": scalars,
}
CONVENTIONS = {"genai": GENAI, "openinference": OPENINFERENCE, "langfuse": LANGFUSE}


@st.composite
def convention_attributes(draw: st.DrawFn) -> dict[str, Any]:
    table = CONVENTIONS[draw(st.sampled_from(sorted(CONVENTIONS)))]
    keys = draw(st.lists(st.sampled_from(sorted(table)), unique=True, max_size=8))
    out = {k: draw(table[k]) for k in keys}
    extra = draw(st.dictionaries(texts, any_values | deep_values, max_size=3))
    return {**extra, **out}


# ---- spans and requests -------------------------------------------------------------------------

_ids = itertools.count(1)
_RUN = os.urandom(6)


def fresh_trace_id() -> bytes:
    return _RUN + next(_ids).to_bytes(10, "big")


@dataclass
class SpanSpec:
    trace_id: bytes
    span_id: bytes
    parent: bytes
    name: str
    start: int
    end: int
    attributes: dict[str, Any]
    events: list[tuple[str, int, dict[str, Any]]] = field(default_factory=list)
    error: bool = False

    @property
    def valid(self) -> bool:
        """Whether heron must accept it (ids and start time usable)."""
        return (
            len(self.trace_id) == 16
            and any(self.trace_id)
            and len(self.span_id) == 8
            and any(self.span_id)
            and MIN_NS <= self.start <= MAX_NS
        )


@st.composite
def requests(draw: st.DrawFn) -> list[SpanSpec]:
    traces = [fresh_trace_id() for _ in range(draw(st.integers(1, 2)))]
    specs: list[SpanSpec] = []
    span_ids = [next(_ids).to_bytes(8, "big") for _ in range(draw(st.integers(1, 6)))]
    for i, span_id in enumerate(span_ids):
        trace_id = draw(st.sampled_from(traces))
        kind = draw(st.sampled_from(["ok"] * 8 + ["zero-trace", "short-span", "zero-span"]))
        if kind == "zero-trace":
            trace_id = bytes(16)
        elif kind == "short-span":
            span_id = span_id[:4]
        elif kind == "zero-span":
            span_id = bytes(8)
        # any span of the request may be the parent: itself, or a later one (cycles)
        parent = draw(st.sampled_from([b"", bytes(8), b"\x01\x02", *span_ids]))
        start = draw(st.sampled_from([T0_NS + i]) | times)
        end = draw(st.sampled_from([start + 10**9, start, start - 1, 0]) | times)
        events = draw(
            st.lists(
                st.tuples(
                    st.sampled_from(["First Token Stream Event", "exception", "gen_ai.choice"]),
                    times,
                    st.dictionaries(texts, scalars, max_size=2),
                ),
                max_size=2,
            )
        )
        specs.append(
            SpanSpec(trace_id, span_id, parent, draw(texts), start, max(0, min(end, U64_MAX)),
                     draw(convention_attributes()), events, draw(st.booleans()))
        )  # fmt: skip
    return specs


def to_protobuf(specs: list[SpanSpec], resource: dict[str, Any]) -> bytes:
    req = ExportTraceServiceRequest()
    rs = req.resource_spans.add()
    rs.resource.attributes.extend(attrs(resource))
    ss = rs.scope_spans.add()
    for s in specs:
        span = Span(
            trace_id=s.trace_id, span_id=s.span_id, parent_span_id=s.parent, name=s.name,
            start_time_unix_nano=s.start, end_time_unix_nano=s.end,
        )  # fmt: skip
        span.attributes.extend(attrs(s.attributes))
        for name, t, ev_attrs in s.events:
            ev = span.events.add(name=name, time_unix_nano=t)
            ev.attributes.extend(attrs(ev_attrs))
        if s.error:
            span.status.code = 2
        ss.spans.append(span)
    return req.SerializeToString()


def json_any(v: Any) -> dict[str, Any]:
    """A Python value as an OTLP/JSON AnyValue."""
    if isinstance(v, bool):
        return {"boolValue": v}
    if isinstance(v, int):
        return {"intValue": str(v)}
    if isinstance(v, float):
        if math.isnan(v):
            return {"doubleValue": "NaN"}
        if math.isinf(v):
            return {"doubleValue": "Infinity" if v > 0 else "-Infinity"}
        return {"doubleValue": v}
    if isinstance(v, str):
        return {"stringValue": v}
    if isinstance(v, bytes):
        return {"bytesValue": base64.b64encode(v).decode()}
    if isinstance(v, list):
        return {"arrayValue": {"values": [json_any(x) for x in v]}}
    return {"kvlistValue": {"values": json_attributes(v)}}


def json_attributes(d: dict[str, Any]) -> list[dict[str, Any]]:
    return [{"key": k, "value": json_any(v)} for k, v in d.items()]


def to_json(specs: list[SpanSpec], resource: dict[str, Any]) -> bytes:
    spans = [
        {
            "traceId": s.trace_id.hex(), "spanId": s.span_id.hex(),
            "parentSpanId": s.parent.hex(), "name": s.name,
            "startTimeUnixNano": str(s.start), "endTimeUnixNano": s.end,  # a string or a number
            "attributes": json_attributes(s.attributes),
            "events": [
                {"name": n, "timeUnixNano": str(t), "attributes": json_attributes(a)}
                for n, t, a in s.events
            ],
            "status": {"code": "STATUS_CODE_ERROR" if s.error else "STATUS_CODE_UNSET"},
        }
        for s in specs
    ]  # fmt: skip
    scope_spans = [{"scope": {"name": "props"}, "spans": spans}]
    body = {"resourceSpans": [{"resource": {"attributes": json_attributes(resource)},
                               "scopeSpans": scope_spans}]}  # fmt: skip
    return json.dumps(body).encode()


resources = st.dictionaries(
    st.sampled_from(["service.name", "service.version", "deployment.environment", "x"]),
    scalars | any_values,
    max_size=3,
)


# ---- the properties -----------------------------------------------------------------------------


def check_request(c: TestClient, specs: list[SpanSpec], body: bytes, as_json: bool) -> None:
    r = post_json(c, body) if as_json else post_protobuf(c, body)
    assert r.status_code < 500, r.text[:1000]
    if r.status_code != 200:
        assert 400 <= r.status_code < 500
        return
    rejected, message = rejected_spans(r)
    valid = [s for s in specs if s.valid]
    assert rejected == len(specs) - len(valid), message
    expected: dict[str, set[str]] = {}
    for s in valid:
        expected.setdefault(s.trace_id.hex(), set()).add(s.span_id.hex())
    check_readable(c, expected, web=bool(expected))


@PROPERTY_SETTINGS
@given(specs=requests(), resource=resources, as_json=st.booleans())
def test_any_request_is_refused_or_stored_and_readable(
    c: TestClient, specs: list[SpanSpec], resource: dict[str, Any], as_json: bool
) -> None:
    body = to_json(specs, resource) if as_json else to_protobuf(specs, resource)
    check_request(c, specs, body, as_json)


@PROPERTY_SETTINGS
@given(specs=requests(), start=st.sampled_from([-1, -(10**18), U64_MAX + 1, YEAR_9999_NS]))
def test_json_times_outside_uint64_are_a_400(
    c: TestClient, specs: list[SpanSpec], start: int
) -> None:
    specs[0].start = start
    r = post_json(c, to_json(specs, {}))
    assert r.status_code == 400, r.text[:500]
    assert "startTimeUnixNano: integer" in r.json()["message"]


def test_project_wide_sums_answer(c: TestClient) -> None:
    """After all of the above: sums of tokens and cost over the whole project still answer."""
    for view in ("traces", "observations"):
        query = {
            "view": view,
            "metrics": [
                {"measure": m, "aggregation": "sum"}
                for m in ("input_tokens", "output_tokens", "total_tokens", "total_cost")
            ],
            "fromTimestamp": "1970-01-01T00:00:00Z",
            "toTimestamp": "2200-01-01T00:00:00Z",
        }
        r = c.post("/api/metrics", json=query)
        assert r.status_code == 200, r.text[:500]
    get_ok(c, "/api/traces", limit=100, order_by="total_tokens.desc")
