"""Decoding of OTLP/HTTP trace export requests (protobuf and OTLP/JSON).

``decode_request`` turns a (decompressed) request body into an ``ExportTraceServiceRequest``.
Every failure raises :class:`OTLPDecodeError` whose message says what failed and where, so
that it can be returned as the body of a 400 response.

OTLP/JSON differs from the canonical proto3 JSON mapping (which protobuf's ``json_format``
implements): trace and span ids are hex strings rather than base64, so the JSON form is
converted by hand here. That also gives precise error paths such as
``resourceSpans[0].scopeSpans[0].spans[3].traceId: not hex``.
"""

from __future__ import annotations

import base64
import binascii
import functools
from typing import Any

import orjson
from google.protobuf import descriptor_pb2, descriptor_pool, message_factory
from google.protobuf.message import DecodeError
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue

from heron.ingest.limits import DEPTH_MARKER, MAX_VALUE_DEPTH

__all__ = [
    "ExportTraceServiceRequest",
    "OTLPDecodeError",
    "any_value_to_python",
    "decode_request",
]

PROTOBUF = "application/x-protobuf"
JSON = "application/json"
_PARSER_DEPTH = 100  # upb's default recursion limit for messages


class OTLPDecodeError(ValueError):
    """The request body is not a valid OTLP trace export request; ``str(e)`` says why."""


def decode_request(
    body: bytes, content_type: str, notes: list[str] | None = None
) -> ExportTraceServiceRequest:
    """Decode an OTLP/HTTP trace export body.

    ``content_type`` is the lower-cased media type without parameters; ``body`` is already
    decompressed. Strings that are not valid UTF-8 are repaired (invalid bytes become U+FFFD)
    rather than failing the request; a line saying so is appended to ``notes``.
    """
    if content_type == PROTOBUF:
        try:
            return ExportTraceServiceRequest.FromString(body)
        except DecodeError as exc:
            repaired = _repair_utf8(body)
            if repaired is not None:
                request, count = repaired
                if notes is not None:
                    notes.append(f"invalid UTF-8 replaced with U+FFFD in {count} string(s)")
                return request
            raise OTLPDecodeError(f"invalid protobuf: {_protobuf_reason(exc)}") from None
        except Exception as exc:  # upb may raise other errors
            raise OTLPDecodeError(f"invalid protobuf: {exc}") from None
    if content_type == JSON:
        try:
            obj = orjson.loads(body)
        except orjson.JSONDecodeError as exc:
            raise OTLPDecodeError(
                f"invalid JSON at line {exc.lineno} column {exc.colno}: {exc.msg}"
            ) from None
        return _json_request(obj)
    raise OTLPDecodeError(
        f"unsupported content type {content_type!r}: expected {PROTOBUF!r} or {JSON!r}"
    )


@functools.cache
def _lenient_class() -> tuple[type, frozenset[str]]:
    """ExportTraceServiceRequest with every string field read as bytes (same wire format)."""
    pool = descriptor_pool.DescriptorPool()
    strings: set[str] = set()
    done: set[str] = set()

    def add(file: Any) -> None:
        if file.name in done:
            return
        for dep in file.dependencies:
            add(dep)
        proto = descriptor_pb2.FileDescriptorProto()
        file.CopyToProto(proto)
        proto.name = _LENIENT + proto.name
        proto.package = _LENIENT_PKG + proto.package
        proto.dependency[:] = [_LENIENT + d for d in proto.dependency]
        del proto.service[:]  # only messages are needed

        def fix(messages: Any, prefix: str) -> None:
            for m in messages:
                full = f"{prefix}.{m.name}"
                for f in m.field:
                    if f.type == f.TYPE_STRING:
                        f.type = f.TYPE_BYTES
                        strings.add(f"{full}.{f.name}")
                    if f.type_name.startswith(".opentelemetry."):
                        f.type_name = "." + _LENIENT_PKG + f.type_name[1:]
                fix(m.nested_type, full)

        fix(proto.message_type, _LENIENT_PKG + proto.package[len(_LENIENT_PKG) :])
        pool.Add(proto)
        done.add(file.name)

    add(ExportTraceServiceRequest.DESCRIPTOR.file)
    desc = pool.FindMessageTypeByName(_LENIENT_PKG + ExportTraceServiceRequest.DESCRIPTOR.full_name)
    return message_factory.GetMessageClass(desc), frozenset(strings)


_LENIENT = "heron_lenient/"
_LENIENT_PKG = "heron_lenient."


def _repair_utf8(body: bytes) -> tuple[ExportTraceServiceRequest, int] | None:
    """Parse leniently, replace invalid UTF-8 in string fields, parse again strictly."""
    cls, strings = _lenient_class()
    try:
        message = cls.FromString(body)
    except Exception:
        return None
    count = 0

    def walk(m: Any) -> None:
        nonlocal count
        for field, value in m.ListFields():
            key = f"{field.containing_type.full_name}.{field.name}"
            if field.type == field.TYPE_MESSAGE:
                for item in value if _repeated(field) else [value]:
                    walk(item)
            elif key in strings:
                items = list(value) if _repeated(field) else [value]
                fixed = []
                for raw in items:
                    try:
                        raw.decode("utf-8")
                        fixed.append(raw)
                    except UnicodeDecodeError:
                        count += 1
                        fixed.append(raw.decode("utf-8", "replace").encode("utf-8"))
                if _repeated(field):
                    del value[:]
                    value.extend(fixed)
                else:
                    setattr(m, field.name, fixed[0])

    try:
        walk(message)
        return ExportTraceServiceRequest.FromString(message.SerializeToString()), count
    except Exception:
        return None


def _repeated(field: Any) -> bool:
    return bool(field.is_repeated)


def _protobuf_reason(exc: DecodeError) -> str:
    msg = str(exc)
    if "MaxDepth" in msg:
        return (
            f"messages nested deeper than the parser's limit of {_PARSER_DEPTH} levels "
            "(attribute values nested too deeply)"
        )
    # upb: "Error parsing message with type '...ExportTraceServiceRequest': String field had bad
    # UTF-8" -> keep the part after the type name.
    head, sep, tail = msg.partition("': ")
    if sep and head.startswith("Error parsing message"):
        return tail
    return msg or "could not parse message"


# --------------------------------------------------------------------------------------------
# AnyValue -> Python (hot path: used for every attribute by the convention mapping)
# --------------------------------------------------------------------------------------------


def any_value_to_python(v: AnyValue, depth: int = 0) -> Any:
    """Convert an OTLP ``AnyValue`` to a Python value.

    Strings stay ``str`` (NUL replaced by U+FFFD), ``bytes_value`` is decoded as UTF-8 with
    replacement characters, arrays become lists, kvlists become dicts. An unset value is None.
    An array or kvlist nested :data:`MAX_VALUE_DEPTH` levels deep becomes :data:`DEPTH_MARKER`.
    """
    which = v.WhichOneof("value")
    if which == "string_value":
        s = v.string_value
        return s.replace("\x00", "\ufffd") if "\x00" in s else s
    if which == "int_value":
        return v.int_value
    if which == "double_value":
        return v.double_value
    if which == "array_value":
        if depth >= MAX_VALUE_DEPTH:
            return DEPTH_MARKER
        values = v.array_value.values
        out = []
        for x in values:  # fast path: arrays of non-empty strings (finish reasons, tags...)
            s = x.string_value
            if not s:
                return [any_value_to_python(x, depth + 1) for x in values]
            out.append(s.replace("\x00", "\ufffd") if "\x00" in s else s)
        return out
    if which == "bool_value":
        return v.bool_value
    if which == "kvlist_value":
        if depth >= MAX_VALUE_DEPTH:
            return DEPTH_MARKER
        return {kv.key: any_value_to_python(kv.value, depth + 1) for kv in v.kvlist_value.values}
    if which == "bytes_value":
        s = v.bytes_value.decode("utf-8", errors="replace")
        return s.replace("\x00", "\ufffd") if "\x00" in s else s
    return None


# --------------------------------------------------------------------------------------------
# OTLP/JSON -> protobuf
# --------------------------------------------------------------------------------------------

_U32_MAX = 2**32 - 1
_U64_MAX = 2**64 - 1
_I64_MIN = -(2**63)
_I64_MAX = 2**63 - 1

_SPAN_KINDS = {
    "SPAN_KIND_UNSPECIFIED": 0,
    "SPAN_KIND_INTERNAL": 1,
    "SPAN_KIND_SERVER": 2,
    "SPAN_KIND_CLIENT": 3,
    "SPAN_KIND_PRODUCER": 4,
    "SPAN_KIND_CONSUMER": 5,
}
_STATUS_CODES = {"STATUS_CODE_UNSET": 0, "STATUS_CODE_OK": 1, "STATUS_CODE_ERROR": 2}


def _err(path: str, problem: str) -> OTLPDecodeError:
    return OTLPDecodeError(f"{path}: {problem}")


def _field(obj: dict, camel: str, snake: str) -> Any:
    """Field by lowerCamelCase name, else by snake_case name; JSON null counts as absent."""
    v = obj.get(camel)
    if v is None and snake != camel:
        v = obj.get(snake)
    return v


def _obj(v: Any, path: str) -> dict:
    if not isinstance(v, dict):
        raise _err(path, f"expected an object, got {_json_type(v)}")
    return v


def _list(v: Any, path: str) -> list:
    if not isinstance(v, list):
        raise _err(path, f"expected an array, got {_json_type(v)}")
    return v


def _json_type(v: Any) -> str:
    if v is None:
        return "null"
    if isinstance(v, bool):
        return "boolean"
    if isinstance(v, (int, float)):
        return "number"
    if isinstance(v, str):
        return "string"
    if isinstance(v, list):
        return "array"
    return "object"


def _str(v: Any, path: str) -> str:
    if not isinstance(v, str):
        raise _err(path, f"expected a string, got {_json_type(v)}")
    return v


def _int(v: Any, path: str, lo: int, hi: int) -> int:
    """An integer given as a JSON number or a decimal string (int64 fields are strings)."""
    if isinstance(v, bool):
        raise _err(path, "expected an integer, got boolean")
    if isinstance(v, int):
        n = v
    elif isinstance(v, float):
        if not v.is_integer():
            raise _err(path, f"expected an integer, got {v!r}")
        n = int(v)
    elif isinstance(v, str):
        s = v.strip()
        try:
            n = int(s)
        except ValueError:
            try:
                f = float(s)
            except ValueError:
                raise _err(path, f"expected an integer, got {v!r}") from None
            if not f.is_integer():
                raise _err(path, f"expected an integer, got {v!r}") from None
            n = int(f)
    else:
        raise _err(path, f"expected an integer, got {_json_type(v)}")
    if n < lo or n > hi:
        raise _err(path, f"integer {n} out of range")
    return n


def _double(v: Any, path: str) -> float:
    if isinstance(v, bool):
        raise _err(path, "expected a number, got boolean")
    if isinstance(v, (int, float)):
        return float(v)
    if isinstance(v, str):
        try:
            return float(v)  # also "NaN", "Infinity", "-Infinity"
        except ValueError:
            pass
    raise _err(path, f"expected a number, got {v!r}")


def _enum(v: Any, path: str, names: dict[str, int]) -> int:
    if isinstance(v, str) and not v.lstrip("-").isdigit():
        n = names.get(v)
        if n is None:
            raise _err(path, f"unknown enum value {v!r}")
        return n
    return _int(v, path, -(2**31), 2**31 - 1)


def _hex_id(v: Any, path: str) -> bytes:
    if not isinstance(v, str):
        raise _err(path, f"expected a hex string, got {_json_type(v)}")
    try:
        b = bytes.fromhex(v)
    except ValueError:
        raise _err(path, "not hex") from None
    if len(b) * 2 != len(v):  # bytes.fromhex skips whitespace
        raise _err(path, "not hex")
    return b


def _bytes(v: Any, path: str) -> bytes:
    s = _str(v, path)
    try:
        if "-" in s or "_" in s:
            return base64.urlsafe_b64decode(s + "=" * (-len(s) % 4))
        return base64.b64decode(s + "=" * (-len(s) % 4), validate=True)
    except (binascii.Error, ValueError):
        raise _err(path, "not base64") from None


def _json_request(obj: Any) -> ExportTraceServiceRequest:
    if not isinstance(obj, dict):
        raise OTLPDecodeError(
            f"invalid OTLP/JSON: top level must be an object, got {_json_type(obj)}"
        )
    req = ExportTraceServiceRequest()
    try:
        rss = _field(obj, "resourceSpans", "resource_spans")
        if rss is None:
            return req
        for i, rs_obj in enumerate(_list(rss, "resourceSpans")):
            path = f"resourceSpans[{i}]"
            _fill_resource_spans(req.resource_spans.add(), _obj(rs_obj, path), path)
    except OTLPDecodeError:
        raise
    except RecursionError:
        raise OTLPDecodeError("invalid OTLP/JSON: values nested too deeply") from None
    except (ValueError, TypeError) as exc:  # e.g. protobuf refusing a value: report, never 500
        raise OTLPDecodeError(f"invalid OTLP/JSON: {exc}") from None
    return req


def _fill_resource_spans(rs, obj: dict, path: str) -> None:
    res = obj.get("resource")
    if res is not None:
        p = f"{path}.resource"
        res = _obj(res, p)
        rs.resource.SetInParent()
        _fill_attributes(rs.resource.attributes, res, p)
        dropped = _field(res, "droppedAttributesCount", "dropped_attributes_count")
        if dropped is not None:
            rs.resource.dropped_attributes_count = _int(
                dropped, f"{p}.droppedAttributesCount", 0, _U32_MAX
            )
    schema = _field(obj, "schemaUrl", "schema_url")
    if schema is not None:
        rs.schema_url = _str(schema, f"{path}.schemaUrl")
    sss = _field(obj, "scopeSpans", "scope_spans")
    if sss is None:
        return
    for j, ss_obj in enumerate(_list(sss, f"{path}.scopeSpans")):
        p = f"{path}.scopeSpans[{j}]"
        _fill_scope_spans(rs.scope_spans.add(), _obj(ss_obj, p), p)


def _fill_scope_spans(ss, obj: dict, path: str) -> None:
    scope = obj.get("scope")
    if scope is not None:
        p = f"{path}.scope"
        scope = _obj(scope, p)
        ss.scope.SetInParent()
        name = scope.get("name")
        if name is not None:
            ss.scope.name = _str(name, f"{p}.name")
        version = scope.get("version")
        if version is not None:
            ss.scope.version = _str(version, f"{p}.version")
        _fill_attributes(ss.scope.attributes, scope, p)
    schema = _field(obj, "schemaUrl", "schema_url")
    if schema is not None:
        ss.schema_url = _str(schema, f"{path}.schemaUrl")
    spans = obj.get("spans")
    if spans is None:
        return
    for k, span_obj in enumerate(_list(spans, f"{path}.spans")):
        p = f"{path}.spans[{k}]"
        _fill_span(ss.spans.add(), _obj(span_obj, p), p)


def _fill_span(span, obj: dict, path: str) -> None:
    v = _field(obj, "traceId", "trace_id")
    if v is not None:
        span.trace_id = _hex_id(v, f"{path}.traceId")
    v = _field(obj, "spanId", "span_id")
    if v is not None:
        span.span_id = _hex_id(v, f"{path}.spanId")
    v = _field(obj, "parentSpanId", "parent_span_id")
    if v is not None:
        span.parent_span_id = _hex_id(v, f"{path}.parentSpanId")
    v = _field(obj, "traceState", "trace_state")
    if v is not None:
        span.trace_state = _str(v, f"{path}.traceState")
    v = obj.get("flags")
    if v is not None:
        span.flags = _int(v, f"{path}.flags", 0, _U32_MAX)
    v = obj.get("name")
    if v is not None:
        span.name = _str(v, f"{path}.name")
    v = obj.get("kind")
    if v is not None:
        span.kind = _enum(v, f"{path}.kind", _SPAN_KINDS)
    v = _field(obj, "startTimeUnixNano", "start_time_unix_nano")
    if v is not None:
        span.start_time_unix_nano = _int(v, f"{path}.startTimeUnixNano", 0, _U64_MAX)
    v = _field(obj, "endTimeUnixNano", "end_time_unix_nano")
    if v is not None:
        span.end_time_unix_nano = _int(v, f"{path}.endTimeUnixNano", 0, _U64_MAX)
    _fill_attributes(span.attributes, obj, path)
    v = _field(obj, "droppedAttributesCount", "dropped_attributes_count")
    if v is not None:
        span.dropped_attributes_count = _int(v, f"{path}.droppedAttributesCount", 0, _U32_MAX)
    events = obj.get("events")
    if events is not None:
        for i, ev_obj in enumerate(_list(events, f"{path}.events")):
            p = f"{path}.events[{i}]"
            ev_obj = _obj(ev_obj, p)
            ev = span.events.add()
            v = _field(ev_obj, "timeUnixNano", "time_unix_nano")
            if v is not None:
                ev.time_unix_nano = _int(v, f"{p}.timeUnixNano", 0, _U64_MAX)
            v = ev_obj.get("name")
            if v is not None:
                ev.name = _str(v, f"{p}.name")
            _fill_attributes(ev.attributes, ev_obj, p)
            v = _field(ev_obj, "droppedAttributesCount", "dropped_attributes_count")
            if v is not None:
                ev.dropped_attributes_count = _int(v, f"{p}.droppedAttributesCount", 0, _U32_MAX)
    v = _field(obj, "droppedEventsCount", "dropped_events_count")
    if v is not None:
        span.dropped_events_count = _int(v, f"{path}.droppedEventsCount", 0, _U32_MAX)
    links = obj.get("links")
    if links is not None:
        for i, link_obj in enumerate(_list(links, f"{path}.links")):
            p = f"{path}.links[{i}]"
            link_obj = _obj(link_obj, p)
            link = span.links.add()
            v = _field(link_obj, "traceId", "trace_id")
            if v is not None:
                link.trace_id = _hex_id(v, f"{p}.traceId")
            v = _field(link_obj, "spanId", "span_id")
            if v is not None:
                link.span_id = _hex_id(v, f"{p}.spanId")
            v = _field(link_obj, "traceState", "trace_state")
            if v is not None:
                link.trace_state = _str(v, f"{p}.traceState")
            v = link_obj.get("flags")
            if v is not None:
                link.flags = _int(v, f"{p}.flags", 0, _U32_MAX)
            _fill_attributes(link.attributes, link_obj, p)
    v = _field(obj, "droppedLinksCount", "dropped_links_count")
    if v is not None:
        span.dropped_links_count = _int(v, f"{path}.droppedLinksCount", 0, _U32_MAX)
    status = obj.get("status")
    if status is not None:
        p = f"{path}.status"
        status = _obj(status, p)
        span.status.SetInParent()
        v = status.get("message")
        if v is not None:
            span.status.message = _str(v, f"{p}.message")
        v = status.get("code")
        if v is not None:
            span.status.code = _enum(v, f"{p}.code", _STATUS_CODES)


def _fill_attributes(target, owner: dict, path: str) -> None:
    _fill_attributes_list(target, owner.get("attributes"), f"{path}.attributes")


def _fill_any(target: AnyValue, obj: dict, path: str, depth: int = 0) -> None:
    # One of the value fields; the first one present wins (a valid message has one). Arrays
    # and kvlists nested MAX_VALUE_DEPTH deep are cut there, as any_value_to_python does.
    v = _field(obj, "stringValue", "string_value")
    if v is not None:
        target.string_value = _str(v, f"{path}.stringValue")
        return
    v = _field(obj, "intValue", "int_value")
    if v is not None:
        target.int_value = _int(v, f"{path}.intValue", _I64_MIN, _I64_MAX)
        return
    v = _field(obj, "doubleValue", "double_value")
    if v is not None:
        target.double_value = _double(v, f"{path}.doubleValue")
        return
    v = _field(obj, "boolValue", "bool_value")
    if v is not None:
        if not isinstance(v, bool):
            raise _err(f"{path}.boolValue", f"expected a boolean, got {_json_type(v)}")
        target.bool_value = v
        return
    v = _field(obj, "arrayValue", "array_value")
    if v is not None and depth >= MAX_VALUE_DEPTH:
        target.string_value = DEPTH_MARKER
        return
    if v is not None:
        p = f"{path}.arrayValue"
        arr = target.array_value
        arr.SetInParent()
        values = _obj(v, p).get("values")
        if values is not None:
            for i, item in enumerate(_list(values, f"{p}.values")):
                q = f"{p}.values[{i}]"
                _fill_any(arr.values.add(), _obj(item, q), q, depth + 1)
        return
    v = _field(obj, "kvlistValue", "kvlist_value")
    if v is not None and depth >= MAX_VALUE_DEPTH:
        target.string_value = DEPTH_MARKER
        return
    if v is not None:
        p = f"{path}.kvlistValue"
        target.kvlist_value.SetInParent()
        values = _obj(v, p).get("values")
        _fill_attributes_list(target.kvlist_value.values, values, f"{p}.values", depth + 1)
        return
    v = _field(obj, "bytesValue", "bytes_value")
    if v is not None:
        target.bytes_value = _bytes(v, f"{path}.bytesValue")
        return


def _fill_attributes_list(target, values: Any, path: str, depth: int = 0) -> None:
    if values is None:
        return
    for i, kv_obj in enumerate(_list(values, path)):
        p = f"{path}[{i}]"
        kv_obj = _obj(kv_obj, p)
        kv = target.add()
        key = kv_obj.get("key")
        if key is not None:
            kv.key = _str(key, f"{p}.key")
        value = kv_obj.get("value")
        if value is not None:
            _fill_any(kv.value, _obj(value, f"{p}.value"), f"{p}.value", depth)
