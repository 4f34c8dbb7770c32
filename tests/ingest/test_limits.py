"""Bounds applied at decode (heron/ingest/limits.py): numbers clamped, times range-checked,
nesting cut, sizes and counts capped, each correction noted for the client."""

from __future__ import annotations

import json
from typing import Any

import orjson
import pytest

from heron.ingest.conventions import IngestLimits, TooManySpans, map_request
from heron.ingest.limits import (
    DEPTH_MARKER,
    MAX_COST_USD,
    MAX_TOKENS,
    MAX_VALUE_DEPTH,
    bound_json,
)
from heron.ingest.otlp import OTLPDecodeError, any_value_to_python, decode_request
from heron.model.records import ObservationRecord, TraceUpdate

from .builders import START_NS, any_value, request, span, span_id

I64_MAX = 2**63 - 1


def map_one(
    attrs: dict[str, Any], limits: IngestLimits | None = None, **kwargs: Any
) -> tuple[ObservationRecord, TraceUpdate, str]:
    batch = map_request(request(span(attrs=attrs, **kwargs)), "p", limits or IngestLimits())
    assert batch.rejected == 0, batch.errors
    [obs] = batch.observations
    return obs, batch.traces[0], "; ".join(batch.errors)


def deep_list(levels: int, leaf: Any = 1) -> Any:
    v = leaf
    for _ in range(levels):
        v = [v]
    return v


def depth_of(v: Any) -> int:
    if isinstance(v, list):
        return 1 + max((depth_of(x) for x in v), default=0)
    if isinstance(v, dict):
        return 1 + max((depth_of(x) for x in v.values()), default=0)
    return 0


# ---- numbers ------------------------------------------------------------------------------------


@pytest.mark.parametrize("tokens", [2**62, I64_MAX])
def test_huge_token_counts_are_clamped_with_a_note(tokens: int) -> None:
    obs, _, notes = map_one(
        {"gen_ai.usage.input_tokens": tokens, "gen_ai.usage.output_tokens": tokens}
    )
    assert obs.usage == {"input": MAX_TOKENS, "output": MAX_TOKENS, "total": MAX_TOKENS}
    assert f"usage input={tokens} is over 1,000,000,000, stored as 1,000,000,000" in notes


def test_negative_token_counts_become_zero() -> None:
    obs, _, notes = map_one({"llm.token_count.prompt": -5, "llm.token_count.completion": 3})
    assert obs.usage["input"] == 0 and obs.usage["output"] == 3
    assert "usage input=-5 is negative, stored as 0" in notes


def test_langfuse_usage_whose_parts_sum_past_int64_is_clamped() -> None:
    details = json.dumps({"input": I64_MAX, "input_cached_tokens": I64_MAX, "output": 1})
    obs, _, notes = map_one({"langfuse.observation.usage_details": details})
    assert obs.usage["input"] == MAX_TOKENS and obs.usage["cached_input"] == MAX_TOKENS
    assert all(0 <= n <= MAX_TOKENS for n in obs.usage.values())
    assert "usage input=" in notes


def test_costs_are_finite_and_bounded() -> None:
    details = json.dumps({"input": 1e308, "input_cached_tokens": 1e308, "output": -2, "x": 1e12})
    obs, _, notes = map_one({"langfuse.observation.cost_details": details})
    assert "input" not in obs.cost  # 1e308 + 1e308 is infinite: dropped
    assert obs.cost["output"] == 0.0 and obs.cost["x"] == MAX_COST_USD
    assert "cost input=inf is not a finite number, dropped" in notes
    assert "cost output=-2.0 is negative, stored as 0" in notes


def test_nan_and_infinite_costs_are_not_costs() -> None:
    obs, _, notes = map_one({"gen_ai.usage.cost": float("nan"), "llm.cost.total": float("inf")})
    assert obs.cost == {}
    assert "non-numeric usage/cost kept in metadata" in notes


@pytest.mark.parametrize("version", [2**40, -1, 2**31])
def test_prompt_version_outside_the_integer_column_is_kept_in_metadata(version: int) -> None:
    obs, _, notes = map_one({"langfuse.observation.prompt.version": version})
    assert obs.prompt_version is None
    assert obs.metadata["langfuse.observation.prompt.version"] == version
    assert "langfuse.observation.prompt.version" in notes and "out of range" in notes


def test_prompt_template_version_is_range_checked_too() -> None:
    obs, _, notes = map_one({"llm.prompt_template.version": str(2**40)})
    assert obs.prompt_version is None and "llm.prompt_template.version" in notes


# ---- times --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "seconds", [9e12, 1e300, 1e308, float("inf"), float("nan"), "Infinity", -1.0]
)
def test_time_to_first_chunk_out_of_range_is_dropped(seconds: Any) -> None:
    obs, _, _ = map_one({"gen_ai.response.time_to_first_chunk": seconds})
    assert obs.completion_start_us is None
    assert "gen_ai.response.time_to_first_chunk" in obs.metadata


def test_time_to_first_chunk_in_range_is_kept() -> None:
    obs, _, notes = map_one({"gen_ai.response.time_to_first_chunk": 0.25})
    assert obs.completion_start_us == START_NS // 1000 + 250_000 and not notes


@pytest.mark.parametrize(
    "value",
    [
        "0001-01-01T00:00:00Z",
        "9999-12-31T23:59:59Z",
        "1969-07-20T20:17:00Z",
        "2300-01-01T00:00:00+00:00",
        1e30,
        str(2**64),
    ],
)
def test_langfuse_completion_start_out_of_range_is_dropped_with_a_note(value: Any) -> None:
    obs, _, notes = map_one({"langfuse.observation.completion_start_time": value})
    assert obs.completion_start_us is None
    assert obs.metadata["langfuse.observation.completion_start_time"] == value
    assert "completion_start_time" in notes


def test_first_token_event_beyond_2200_is_ignored() -> None:
    s = span(events=[("First Token Stream Event", {})])
    s.events[0].time_unix_nano = 2**64 - 1
    [obs] = map_request(request(s), "p").observations
    assert obs.completion_start_us is None


@pytest.mark.parametrize("start", [0, 1, 2**64 - 1, 9 * 10**18])
def test_span_start_out_of_range_is_rejected_naming_the_field(start: int) -> None:
    batch = map_request(request(span(start=start, end=start)), "p")
    assert batch.rejected == 1 and not batch.observations
    assert "start time" in batch.errors[0]


def test_span_end_out_of_range_is_stored_open() -> None:
    obs, _, notes = map_one({}, end=2**64 - 1)
    assert obs.end_us is None and "end time out of range" in notes


# ---- nesting ------------------------------------------------------------------------------------


def test_any_value_nested_past_the_limit_is_cut_with_a_marker() -> None:
    out = any_value_to_python(any_value(deep_list(40)))
    assert depth_of(out) == MAX_VALUE_DEPTH
    inner = out
    for _ in range(MAX_VALUE_DEPTH):
        inner = inner[0]
    assert inner == DEPTH_MARKER


def _varint(n: int) -> bytes:
    out = bytearray()
    while True:
        b, n = n & 0x7F, n >> 7
        out.append(b | 0x80 if n else b)
        if not n:
            return bytes(out)


def _field(number: int, payload: bytes) -> bytes:
    return _varint(number << 3 | 2) + _varint(len(payload)) + payload


def deep_protobuf(levels: int) -> bytes:
    """An ExportTraceServiceRequest whose one span has an attribute nested ``levels`` deep,
    written by hand (the protobuf library refuses to build it)."""
    value = _varint(3 << 3) + _varint(1)  # AnyValue{int_value: 1}
    for _ in range(levels):
        value = _field(5, _field(1, value))  # AnyValue{array_value{values: [value]}}
    s = span().SerializeToString() + _field(9, _field(1, b"deep") + _field(2, value))
    return _field(1, _field(2, _field(2, s)))


def test_protobuf_nested_300_deep_is_a_400_naming_the_limit() -> None:
    with pytest.raises(OTLPDecodeError, match="nested deeper than the parser's limit of 100"):
        decode_request(deep_protobuf(300), "application/x-protobuf")


def test_protobuf_nested_40_deep_is_stored_cut_at_the_limit() -> None:
    req = decode_request(deep_protobuf(40), "application/x-protobuf")
    [obs] = map_request(req, "p").observations
    assert depth_of(obs.metadata["deep"]) == MAX_VALUE_DEPTH


def _json_body_with_value(value_json: str) -> bytes:
    """An OTLP/JSON request whose one span has the attribute ``deep`` = ``value_json``
    (written as text: the json module cannot nest this deep)."""
    span_json = (
        '{"traceId": "0af7651916cd43dd8448eb211c80319c", "spanId": "b7ad6b7169203331", '
        f'"name": "deep", "startTimeUnixNano": "{START_NS}", '
        f'"endTimeUnixNano": "{START_NS + 1000}", '
        f'"attributes": [{{"key": "deep", "value": {value_json}}}]}}'
    )
    return f'{{"resourceSpans": [{{"scopeSpans": [{{"spans": [{span_json}]}}]}}]}}'.encode()


def json_deep(levels: int, kind: str) -> str:
    if kind == "array":
        head, tail = '{"arrayValue": {"values": [', "]}}"
    else:
        head, tail = '{"kvlistValue": {"values": [{"key": "k", "value": ', "}]}}"
    return head * levels + '{"intValue": "1"}' + tail * levels


@pytest.mark.parametrize(("kind", "levels"), [("array", 300), ("kvlist", 200)])
def test_json_nested_hundreds_deep_is_cut_at_the_limit(kind: str, levels: int) -> None:
    body = _json_body_with_value(json_deep(levels, kind))
    [obs] = map_request(decode_request(body, "application/json"), "p").observations
    assert depth_of(obs.metadata["deep"]) == MAX_VALUE_DEPTH
    orjson.dumps(obs.metadata)  # storable


def test_json_nested_past_the_json_parser_limit_is_a_400_naming_it() -> None:
    body = _json_body_with_value(json_deep(300, "kvlist"))  # 1,200 levels of JSON
    with pytest.raises(OTLPDecodeError, match="depth limit exceeded"):
        decode_request(body, "application/json")


def test_json_text_nested_1000_deep_in_metadata_is_cut_so_it_can_be_stored() -> None:
    deep = '{"a": ' * 1000 + "1" + "}" * 1000
    obs, tu, notes = map_one({"langfuse.observation.metadata": deep, "metadata": deep})
    orjson.dumps(obs.metadata)
    orjson.dumps(tu.metadata)
    assert "metadata nested deeper than 32 levels, cut there" in notes


@pytest.mark.parametrize(
    "suffix",
    ["0." + ".".join(["a"] * 5000), "².message.role", "9" * 5000 + ".message.role", "0.0.²"],
)
def test_odd_openinference_key_paths_do_not_reject_the_span(suffix: str) -> None:
    obs, _, notes = map_one({"llm.input_messages." + suffix: "x", "llm.input_messages.1.x": 1})
    assert obs.input is not None and not notes


# ---- sizes and counts ---------------------------------------------------------------------------


def test_ten_megabyte_attribute_is_truncated_to_the_value_limit() -> None:
    obs, _, notes = map_one({"big": "x" * 10_000_000})
    assert len(obs.metadata["big"].encode()) < 1_048_576 + 100
    assert "truncated by heron: 10,000,000 bytes, limit 1,048,576" in obs.metadata["big"]
    assert "attribute big truncated to 1,048,576 bytes" in notes


def test_metadata_over_its_limit_has_its_largest_values_truncated() -> None:
    limits = IngestLimits(max_attribute_bytes=40_000, max_metadata_bytes=50_000)
    attrs = {f"k{i}": "v" * 30_000 for i in range(4)} | {"small": 1, "list": ["x" * 30_000]}
    obs, _, notes = map_one(attrs, limits)
    assert len(orjson.dumps(obs.metadata)) <= 50_000
    assert obs.metadata["small"] == 1
    assert "metadata of " in notes and "over 50,000" in notes


def test_metadata_with_a_huge_key_drops_that_entry() -> None:
    limits = IngestLimits(max_metadata_bytes=10_000)
    obs, _, notes = map_one({"k" * 20_000: 1, "kept": 2}, limits)
    assert obs.metadata == {"kept": 2, "scope": obs.metadata["scope"]}
    assert "1 entry(ies) dropped" in notes


def test_bound_json_leaves_small_maps_alone() -> None:
    d = {"a": 1}
    notes: list[str] = []
    assert bound_json(d, 100, "metadata", notes) is d and not notes


def test_trace_metadata_and_model_parameters_are_bounded() -> None:
    limits = IngestLimits(max_metadata_bytes=1000)
    attrs = {
        "langfuse.trace.metadata": json.dumps({"a": "x" * 5000}),
        "llm.invocation_parameters": json.dumps({"p": "y" * 5000}),
    }
    obs, tu, notes = map_one(attrs, limits)
    assert len(orjson.dumps(tu.metadata)) <= 1000
    assert len(orjson.dumps(obs.model_parameters)) <= 1000
    assert "trace metadata of" in notes and "model parameters of" in notes


def test_names_are_truncated_to_the_value_limit() -> None:
    limits = IngestLimits(max_attribute_bytes=100)
    attrs = {"user.id": "u" * 500, "gen_ai.request.model": "m" * 500}
    batch = map_request(request(span("n" * 500, parent=b"", attrs=attrs)), "p", limits)
    [obs], [tu] = batch.observations, batch.traces
    for value in (obs.name, obs.model, tu.name, tu.user_id):
        assert len(value.encode()) < 200 and "truncated by heron" in value


def test_attributes_over_the_per_span_cap_are_dropped_with_a_note() -> None:
    attrs = {f"a{i:03}": i for i in range(60)}
    obs, _, notes = map_one(attrs, IngestLimits(max_span_attributes=50))
    assert sorted(k for k in obs.metadata if k.startswith("a")) == [f"a{i:03}" for i in range(50)]
    assert "10 attribute(s) over the limit of 50 per span dropped" in notes


def test_requests_over_the_span_cap_are_refused_naming_the_limit() -> None:
    req = request(*(span(span_id=span_id(i)) for i in range(11)))
    with pytest.raises(TooManySpans, match="11 spans, over the limit of 10 per request"):
        map_request(req, "p", IngestLimits(max_request_spans=10))
    assert len(map_request(req, "p", IngestLimits(max_request_spans=11)).observations) == 11


def test_notes_quoting_a_huge_value_are_capped() -> None:
    _, _, notes = map_one({"langfuse.observation.level": "x" * 1_000_000})
    assert "unknown level" in notes and len(notes) < 400
