"""Decoding OTLP/HTTP trace requests: protobuf and OTLP/JSON."""

from __future__ import annotations

import base64
import json

import pytest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue
from opentelemetry.proto.trace.v1.trace_pb2 import Span, Status

from heron.ingest.conventions import map_request
from heron.ingest.otlp import OTLPDecodeError, any_value_to_python, decode_request

from .builders import END_NS, PARENT_ID, SPAN_ID, START_NS, TRACE_ID, any_value, request, span

PB = "application/x-protobuf"
JS = "application/json"


# ---- protobuf ---------------------------------------------------------------------------------


def test_protobuf_round_trip() -> None:
    req = request(span("chat", attrs={"gen_ai.operation.name": "chat", "n": 3}))
    decoded = decode_request(req.SerializeToString(), PB)
    assert decoded == req
    s = decoded.resource_spans[0].scope_spans[0].spans[0]
    assert s.trace_id == TRACE_ID and s.name == "chat"


def test_empty_protobuf_body_is_an_empty_request() -> None:
    assert len(decode_request(b"", PB).resource_spans) == 0


def test_garbage_protobuf_is_a_decode_error() -> None:
    with pytest.raises(OTLPDecodeError) as ei:
        decode_request(b"\x0a\x05ab", PB)  # length 5 but only 2 bytes follow
    assert str(ei.value).startswith("invalid protobuf: ")
    assert "ExportTraceServiceRequest" not in str(ei.value)


def test_non_utf8_string_in_protobuf_is_repaired_with_a_note() -> None:
    body = request(span("abc")).SerializeToString()
    bad = body.replace(b"abc", b"a\xffc")
    assert bad != body
    notes: list[str] = []
    req = decode_request(bad, PB, notes)
    assert req.resource_spans[0].scope_spans[0].spans[0].name == "a\ufffdc"
    assert notes == ["invalid UTF-8 replaced with U+FFFD in 1 string(s)"]


def test_broken_framing_is_still_a_decode_error() -> None:
    body = request(span("abc")).SerializeToString()
    with pytest.raises(OTLPDecodeError, match=r"invalid protobuf"):
        decode_request(body[: len(body) // 2], PB)


def test_non_utf8_bytes_value_is_decoded_with_replacement() -> None:
    av = AnyValue(bytes_value=b"ok\xff\x00!")
    assert any_value_to_python(av) == "ok\ufffd\ufffd!"


def test_unsupported_content_type() -> None:
    with pytest.raises(OTLPDecodeError, match="unsupported content type 'text/plain'"):
        decode_request(b"{}", "text/plain")


# ---- AnyValue conversion ------------------------------------------------------------------------


def test_any_value_to_python_all_kinds() -> None:
    value = {
        "s": "x\x00y",
        "i": -(2**63),
        "d": 1.5,
        "b": True,
        "arr": ["a", 1, ["nested"], {"k": False}],
        "strs": ["a", "b\x00"],
        "kv": {"inner": {"deep": 2}},
    }
    out = any_value_to_python(any_value(value))
    assert out == {
        "s": "x\ufffdy",
        "i": -(2**63),
        "d": 1.5,
        "b": True,
        "arr": ["a", 1, ["nested"], {"k": False}],
        "strs": ["a", "b\ufffd"],
        "kv": {"inner": {"deep": 2}},
    }
    assert any_value_to_python(AnyValue()) is None
    assert any_value_to_python(any_value(["", "a"])) == ["", "a"]


# ---- OTLP/JSON --------------------------------------------------------------------------------


def _json_body(spans: list[dict], **rs_extra) -> bytes:
    return json.dumps(
        {
            "resourceSpans": [
                {
                    "resource": {
                        "attributes": [
                            {"key": "service.name", "value": {"stringValue": "svc"}},
                            {"key": "service.version", "value": {"stringValue": "2.0.1"}},
                        ]
                    },
                    "scopeSpans": [{"scope": {"name": "my.lib", "version": "0.1"}, "spans": spans}],
                    **rs_extra,
                }
            ]
        }
    ).encode()


def _json_span(**overrides) -> dict:
    s = {
        "traceId": TRACE_ID.hex(),
        "spanId": SPAN_ID.hex(),
        "parentSpanId": PARENT_ID.hex(),
        "name": "chat gpt-4o-mini",
        "kind": 3,
        "startTimeUnixNano": str(START_NS),
        "endTimeUnixNano": str(END_NS),
        "attributes": [
            {"key": "gen_ai.operation.name", "value": {"stringValue": "chat"}},
            {"key": "gen_ai.usage.input_tokens", "value": {"intValue": "12"}},
            {"key": "gen_ai.usage.output_tokens", "value": {"intValue": 7}},
            {"key": "gen_ai.request.temperature", "value": {"doubleValue": 0.5}},
            {"key": "flag", "value": {"boolValue": True}},
            {"key": "raw", "value": {"bytesValue": base64.b64encode(b"\x01\x02").decode()}},
            {
                "key": "list",
                "value": {"arrayValue": {"values": [{"stringValue": "a"}, {"intValue": "5"}]}},
            },
            {
                "key": "map",
                "value": {
                    "kvlistValue": {"values": [{"key": "k", "value": {"doubleValue": "2.5"}}]}
                },
            },
            {"key": "empty", "value": {}},
        ],
        "events": [
            {
                "timeUnixNano": str(START_NS + 5),
                "name": "exception",
                "attributes": [{"key": "exception.type", "value": {"stringValue": "E"}}],
            }
        ],
        "links": [{"traceId": TRACE_ID.hex(), "spanId": PARENT_ID.hex()}],
        "status": {"code": "STATUS_CODE_ERROR", "message": "bad"},
        "someFutureField": {"whatever": 1},
    }
    s.update(overrides)
    return s


def test_json_request_decodes_hex_ids_string_int64_and_enum_names() -> None:
    req = decode_request(_json_body([_json_span()]), JS)
    rs = req.resource_spans[0]
    assert rs.resource.attributes[1].value.string_value == "2.0.1"
    assert rs.scope_spans[0].scope.name == "my.lib"
    s = rs.scope_spans[0].spans[0]
    assert s.trace_id == TRACE_ID
    assert s.span_id == SPAN_ID
    assert s.parent_span_id == PARENT_ID
    assert s.kind == Span.SPAN_KIND_CLIENT
    assert s.start_time_unix_nano == START_NS
    assert s.end_time_unix_nano == END_NS
    assert s.status.code == Status.STATUS_CODE_ERROR
    assert s.status.message == "bad"
    attrs = {kv.key: any_value_to_python(kv.value) for kv in s.attributes}
    assert attrs == {
        "gen_ai.operation.name": "chat",
        "gen_ai.usage.input_tokens": 12,
        "gen_ai.usage.output_tokens": 7,
        "gen_ai.request.temperature": 0.5,
        "flag": True,
        "raw": "\x01\x02",
        "list": ["a", 5],
        "map": {"k": 2.5},
        "empty": None,
    }
    assert s.events[0].time_unix_nano == START_NS + 5
    assert s.links[0].span_id == PARENT_ID


def test_json_request_maps_like_protobuf() -> None:
    batch = map_request(decode_request(_json_body([_json_span()]), JS), "p")
    assert batch.rejected == 0
    (obs,) = batch.observations
    assert obs.id == SPAN_ID.hex()
    assert obs.trace_id == TRACE_ID.hex()
    assert obs.start_us == START_NS // 1000
    assert obs.usage == {"input": 12, "output": 7, "total": 19}
    assert obs.level == "ERROR" and obs.status_message == "bad"
    assert batch.traces[0].release == "2.0.1"


def test_json_accepts_snake_case_and_int_enums() -> None:
    s = {
        "trace_id": TRACE_ID.hex().upper(),
        "span_id": SPAN_ID.hex(),
        "name": "x",
        "kind": "SPAN_KIND_SERVER",
        "start_time_unix_nano": START_NS,
        "status": {"code": 2},
    }
    body = json.dumps({"resource_spans": [{"scope_spans": [{"spans": [s]}]}]}).encode()
    got = decode_request(body, JS).resource_spans[0].scope_spans[0].spans[0]
    assert got.trace_id == TRACE_ID
    assert got.kind == Span.SPAN_KIND_SERVER
    assert got.start_time_unix_nano == START_NS
    assert got.status.code == Status.STATUS_CODE_ERROR


def test_json_empty_object_is_an_empty_request() -> None:
    assert len(decode_request(b"{}", JS).resource_spans) == 0


def test_json_base64_ids_are_rejected_as_not_hex() -> None:
    b64 = base64.b64encode(TRACE_ID).decode()  # what proto3 JSON would use
    body = _json_body([_json_span(), _json_span(), _json_span(), _json_span(traceId=b64)])
    with pytest.raises(OTLPDecodeError) as ei:
        decode_request(body, JS)
    assert str(ei.value) == "resourceSpans[0].scopeSpans[0].spans[3].traceId: not hex"


def test_json_hex_with_spaces_is_not_hex() -> None:
    spaced = " ".join([SPAN_ID.hex()[:8], SPAN_ID.hex()[8:]])
    with pytest.raises(OTLPDecodeError, match=r"spans\[0\]\.spanId: not hex"):
        decode_request(_json_body([_json_span(spanId=spaced)]), JS)


def test_malformed_json_names_line_and_column() -> None:
    with pytest.raises(OTLPDecodeError) as ei:
        decode_request(b'{"resourceSpans": [,]}', JS)
    assert str(ei.value).startswith("invalid JSON at line 1 column 20: ")


def test_json_top_level_must_be_an_object() -> None:
    with pytest.raises(OTLPDecodeError, match="top level must be an object, got array"):
        decode_request(b"[]", JS)


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (
            {"startTimeUnixNano": "soon"},
            "resourceSpans[0].scopeSpans[0].spans[0].startTimeUnixNano: expected an integer, "
            "got 'soon'",
        ),
        (
            {"startTimeUnixNano": "-5"},
            "resourceSpans[0].scopeSpans[0].spans[0].startTimeUnixNano: integer -5 out of range",
        ),
        (
            {"kind": "SPAN_KIND_WEIRD"},
            "resourceSpans[0].scopeSpans[0].spans[0].kind: unknown enum value 'SPAN_KIND_WEIRD'",
        ),
        (
            {"name": 5},
            "resourceSpans[0].scopeSpans[0].spans[0].name: expected a string, got number",
        ),
        (
            {"attributes": {"key": "a"}},
            "resourceSpans[0].scopeSpans[0].spans[0].attributes: expected an array, got object",
        ),
        (
            {"attributes": [{"key": "a", "value": {"intValue": "1.5"}}]},
            "resourceSpans[0].scopeSpans[0].spans[0].attributes[0].value.intValue: "
            "expected an integer, got '1.5'",
        ),
        (
            {"attributes": [{"key": "a", "value": {"boolValue": "yes"}}]},
            "resourceSpans[0].scopeSpans[0].spans[0].attributes[0].value.boolValue: "
            "expected a boolean, got string",
        ),
        (
            {"attributes": [{"key": "a", "value": {"bytesValue": "!!"}}]},
            "resourceSpans[0].scopeSpans[0].spans[0].attributes[0].value.bytesValue: not base64",
        ),
        (
            {"status": {"code": "ERROR"}},
            "resourceSpans[0].scopeSpans[0].spans[0].status.code: unknown enum value 'ERROR'",
        ),
    ],
)
def test_json_type_errors_name_the_path(overrides: dict, message: str) -> None:
    with pytest.raises(OTLPDecodeError) as ei:
        decode_request(_json_body([_json_span(**overrides)]), JS)
    assert str(ei.value) == message


def test_json_spans_must_be_a_list() -> None:
    body = json.dumps({"resourceSpans": [{"scopeSpans": [{"spans": {}}]}]}).encode()
    with pytest.raises(OTLPDecodeError, match=r"^resourceSpans\[0\]\.scopeSpans\[0\]\.spans: "):
        decode_request(body, JS)


def test_json_invalid_utf8_is_a_decode_error() -> None:
    with pytest.raises(OTLPDecodeError, match="invalid JSON at line 1"):
        decode_request(b'{"resourceSpans": "\xff"}', JS)


def test_json_wrong_length_hex_id_decodes_and_the_span_is_rejected_by_mapping() -> None:
    body = _json_body([_json_span(traceId="abcd"), _json_span()])
    batch = map_request(decode_request(body, JS), "p")
    assert batch.rejected == 1
    assert len(batch.observations) == 1
    assert "trace id must be 16 non-zero bytes, got 2 bytes" in batch.errors[0]
