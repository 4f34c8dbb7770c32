"""Mapping OTLP spans to heron records (OpenTelemetry GenAI, OpenInference and Langfuse).

Entry point: :func:`map_request`. The attribute tables are in :mod:`heron.ingest.keys`, input /
output / events in :mod:`heron.ingest.content`, message reconstruction in
:mod:`heron.ingest.messages`, usage and cost in :mod:`heron.ingest.usage`. The mapping is
documented in ``docs/conventions.md``; keep the two in step.

Performance matters (tens of thousands of spans per second per core): attributes are read
once into dicts, known keys are found by one dict look-up, flattened families by one
``str.startswith(tuple)``; JSON is parsed only where a value must be merged or reshaped.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import orjson
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from heron.errors import PayloadTooLarge
from heron.ingest import content
from heron.ingest import usage as usage_mod
from heron.ingest.keys import (
    FLAT_PREFIXES,
    GENAI_OPERATIONS,
    IN,
    KNOWN,
    LEVELS,
    LF,
    LFT,
    MAX_NS,
    MIN_NS,
    MISC,
    MODEL,
    MODEL_KEYS,
    OPENINFERENCE_KINDS,
    OUT,
    PARAMS,
    RES_ENVIRONMENT,
    RES_RELEASE,
    SESSION_KEYS,
    STATUS_ERROR,
    TRACE,
    TYPES,
    USER_KEYS,
    ZERO8,
    ZERO16,
)
from heron.ingest.limits import (
    MAX_COST_USD,
    MAX_PROMPT_VERSION,
    MAX_TOKENS,
    MAX_US,
    IngestLimits,
    bound_cost,
    bound_json,
    bound_tokens,
    in_time_range,
)
from heron.ingest.otlp import any_value_to_python
from heron.ingest.values import (
    INVALID,
    TRUNCATION_MARKER,
    TRUNCATION_PREFIX,
    as_bool,
    as_float,
    as_int,
    as_str,
    parse_json,
    time_to_us,
    to_text,
    truncate,
)
from heron.model.records import ObservationRecord, TraceUpdate

__all__ = [
    "TRUNCATION_MARKER",
    "TRUNCATION_PREFIX",
    "IngestLimits",
    "MappedBatch",
    "TooManySpans",
    "map_request",
]

MAX_ERRORS = 20
MAX_ERROR_CHARS = 300


class TooManySpans(PayloadTooLarge):
    """The request holds more spans than ``IngestLimits.max_request_spans``."""


@dataclass(slots=True)
class MappedBatch:
    observations: list[ObservationRecord]
    traces: list[TraceUpdate]  # one per span (the pipeline merges them per trace)
    rejected: int = 0  # spans rejected (for OTLP partial_success.rejected_spans)
    errors: list[str] = field(default_factory=list)  # short messages, capped at MAX_ERRORS


_DEFAULT_LIMITS = IngestLimits()


class _Resource:
    __slots__ = ("environment", "metadata", "release")

    def __init__(self, resource: Any, limits: IngestLimits) -> None:
        attrs: dict[str, Any] = {}
        cap = limits.max_attribute_bytes
        for kv in _capped(resource.attributes, limits.max_span_attributes):
            attrs[kv.key] = _clip(any_value_to_python(kv.value), cap)
        self.release = _first_str(attrs, RES_RELEASE)
        self.environment = _first_str(attrs, RES_ENVIRONMENT)
        for k in RES_RELEASE + RES_ENVIRONMENT:
            attrs.pop(k, None)
        self.metadata = attrs or None


def _first_str(attrs: dict[str, Any], keys: tuple[str, ...]) -> str | None:
    for k in keys:
        v = attrs.get(k)
        if v is not None:
            s = as_str(v)
            if s:
                return s
    return None


_clip = content.clip


def _capped(attributes: Any, limit: int) -> Any:
    """The first ``limit`` attributes (the protobuf list itself when within the limit)."""
    return attributes if len(attributes) <= limit else attributes[:limit]


def _clip_str(s: str | None, cap: int) -> str | None:
    """A name-like string cut at ``cap`` UTF-8 bytes (with the truncation marker)."""
    return s if s is None or len(s) * 4 <= cap else truncate(s, cap)


def _count_spans(request: ExportTraceServiceRequest) -> int:
    return sum(len(ss.spans) for rs in request.resource_spans for ss in rs.scope_spans)


def map_request(
    request: ExportTraceServiceRequest,
    project_id: str,
    limits: IngestLimits = _DEFAULT_LIMITS,
    part: tuple[int, int] = (0, 1),
) -> MappedBatch:
    """Map every span of ``request`` to an :class:`ObservationRecord` and a
    :class:`TraceUpdate`. Never raises: bad spans are counted in ``rejected`` and described in
    ``errors``; coerced values are described in ``errors`` too.

    ``part=(k, n)`` maps only every n-th span starting at the k-th, so n processes can share
    one large request.

    Raises :class:`TooManySpans` when the request holds more than
    ``limits.max_request_spans`` spans."""
    count = _count_spans(request)
    if count > limits.max_request_spans:
        raise TooManySpans(
            f"the request holds {count:,} spans, over the limit of "
            f"{limits.max_request_spans:,} per request (HERON_MAX_REQUEST_SPANS); "
            "send smaller batches"
        )
    batch = MappedBatch([], [])
    index, parts = part
    seen = -1
    for rs in request.resource_spans:
        res = _Resource(rs.resource, limits)
        for ss in rs.scope_spans:
            scope = ss.scope
            scope_meta = None
            if scope.name or scope.version:
                scope_meta = {}
                if scope.name:
                    scope_meta["name"] = scope.name
                if scope.version:
                    scope_meta["version"] = scope.version
            for span in ss.spans:
                seen += 1
                if parts > 1 and seen % parts != index:
                    continue
                try:
                    _map_span(span, project_id, res, scope_meta, limits, batch)
                except Exception as exc:  # a bug must not fail the whole request
                    batch.rejected += 1
                    _note(
                        batch,
                        span,
                        f"rejected: internal mapping error {type(exc).__name__}: {exc}",
                    )
    return batch


def _note(batch: MappedBatch, span: Any, message: str) -> None:
    if len(batch.errors) < MAX_ERRORS:
        raw = span.span_id
        sid = (raw[:8].hex() + ("…" if len(raw) > 8 else "")) or "(empty)"
        if len(message) > MAX_ERROR_CHARS:  # it may quote a (huge) value
            message = message[:MAX_ERROR_CHARS] + "…"
        batch.errors.append(f"span {sid}: {message}")


def _reject(batch: MappedBatch, span: Any, message: str) -> None:
    batch.rejected += 1
    _note(batch, span, "rejected: " + message)


def _map_span(
    span: Any,
    project_id: str,
    res: _Resource,
    scope_meta: dict[str, str] | None,
    limits: IngestLimits,
    batch: MappedBatch,
) -> None:
    cap = limits.max_io_bytes
    attr_cap = limits.max_attribute_bytes
    # ---- ids and times ------------------------------------------------------------------
    tid = span.trace_id
    if len(tid) != 16 or tid == ZERO16:
        what = "all zero" if tid == ZERO16 else f"{len(tid)} bytes"
        return _reject(batch, span, f"trace id must be 16 non-zero bytes, got {what}")
    sid = span.span_id
    if len(sid) != 8 or sid == ZERO8:
        what = "all zero" if sid == ZERO8 else f"{len(sid)} bytes"
        return _reject(batch, span, f"span id must be 8 non-zero bytes, got {what}")
    start_ns = span.start_time_unix_nano
    if start_ns < MIN_NS or start_ns > MAX_NS:
        if start_ns == 0:
            return _reject(batch, span, "start time missing")
        return _reject(batch, span, f"start time {start_ns} ns is out of range (1970-2200)")
    trace_id = tid.hex()
    span_id = sid.hex()
    parent_id = None
    p = span.parent_span_id
    if p:
        if len(p) != 8:
            _note(batch, span, f"parent span id of {len(p)} bytes ignored (treated as root)")
        elif p != ZERO8:
            parent_id = p.hex()
    end_ns = span.end_time_unix_nano
    end_us = None
    if end_ns == 0:
        _note(batch, span, "end time missing (stored as open)")
    elif end_ns < start_ns:
        _note(batch, span, "end time before start time (stored as open)")
    elif end_ns > MAX_NS:
        _note(batch, span, "end time out of range (stored as open)")
    else:
        end_us = end_ns // 1000
    start_us = start_ns // 1000

    # ---- attributes: one pass ----------------------------------------------------------
    known: dict[str, Any] = {}
    meta: dict[str, Any] = {}
    groups: dict[str, list[tuple[str, Any]]] = {}
    fams = 0
    known_get = KNOWN.get
    flat_prefixes = FLAT_PREFIXES
    clip_chars = attr_cap // 4
    attributes = span.attributes
    if len(attributes) > limits.max_span_attributes:
        _note(
            batch,
            span,
            f"{len(attributes) - limits.max_span_attributes:,} attribute(s) over the limit of "
            f"{limits.max_span_attributes:,} per span dropped",
        )
        attributes = attributes[: limits.max_span_attributes]
    for kv in attributes:
        key = kv.key
        v = kv.value
        val = v.string_value
        if val:
            if "\x00" in val:
                val = val.replace("\x00", "\ufffd")
        else:  # ints and doubles are next most common; 0 / 0.0 fall through to the full check
            val = v.int_value
            if not val:
                val = v.double_value
                if not val:
                    val = any_value_to_python(v)
        bit = known_get(key)
        if bit is None:
            if key.startswith(flat_prefixes):  # a flattened family: group by its head
                j = key.find(".", key.find(".") + 1)
                bit = (key[:j], key[j + 1 :])
            else:
                if val.__class__ is str and len(val) > clip_chars:
                    val = _clip_attribute(val, key, attr_cap, batch, span)
                meta[key] = val
                continue
        elif bit.__class__ is int:
            if bit:
                known[key] = val
                fams |= bit
            else:  # a frequent metadata key (no family check needed)
                if val.__class__ is str and len(val) > clip_chars:
                    val = _clip_attribute(val, key, attr_cap, batch, span)
                meta[key] = val
            continue
        g = groups.get(bit[0])
        if g is None:
            groups[bit[0]] = [(bit[1], val)]
        else:
            g.append((bit[1], val))

    # ---- events ------------------------------------------------------------------------
    first_exception = None
    has_exception = False
    ev_input: Any = None
    ev_output: Any = None
    first_token_us: int | None = None
    if len(span.events):
        first_exception, has_exception, ev_input, ev_output, first_token_us = content.events(
            span, meta, known, attr_cap, limits.max_span_attributes
        )
        fams |= IN | OUT

    # ---- model, parameters ---------------------------------------------------------------
    model = None
    if fams & MODEL:
        for key in MODEL_KEYS:
            v = known.get(key)
            if v is not None:
                s = as_str(v)
                if s:
                    model = s
                    del known[key]  # the losers (e.g. gen_ai.request.model) stay in metadata
                    break

    params: dict[str, Any] = {}
    if groups:
        g = groups.pop("gen_ai.request", None)
        if g:
            for suffix, v in g:
                params[suffix] = v
    if fams & PARAMS:
        for key in ("llm.invocation_parameters", "embedding.invocation_parameters"):
            v = known.get(key)
            if v is not None:
                d = parse_json(v)
                if d.__class__ is dict:
                    params.update(d)
                    del known[key]
    if fams & LF:
        v = known.pop("langfuse.observation.model.parameters", None)
        if v is not None:
            d = parse_json(v)
            if d.__class__ is dict:
                params.update(d)
            else:
                meta["langfuse.observation.model.parameters"] = v
                _note(batch, span, "langfuse.observation.model.parameters is not a JSON object")

    # ---- usage and cost ------------------------------------------------------------------
    usage: dict[str, int] = {}
    cost: dict[str, float] = {}
    if groups or fams & LF:
        usage, cost = _usage_and_cost(known, groups, meta, fams, batch, span)

    # ---- input / output ----------------------------------------------------------------
    inp = out = None
    if fams & IN or groups:
        inp, problem = content.input_text(known, groups, ev_input)
        if problem is not None:
            _note(batch, span, problem)
        if inp is not None:
            inp = truncate(inp, cap)
    if fams & OUT or groups:
        out = content.output_text(known, groups, ev_output)
        if out is not None:
            out = truncate(out, cap)

    # ---- level, status, completion start, prompt ---------------------------------------
    level = None
    status_message = None
    completion_start_us = None
    prompt_name = None
    prompt_version = None
    if fams & LF:
        v = known.pop("langfuse.observation.level", None)
        if v is not None:
            s = v.upper() if v.__class__ is str else None
            if s in LEVELS:
                level = s
            else:
                meta["langfuse.observation.level"] = v
                _note(batch, span, f"unknown level {v!r} ignored")
        v = known.pop("langfuse.observation.status_message", None)
        if v is not None:
            status_message = to_text(v) or None
        v = known.pop("langfuse.observation.completion_start_time", None)
        if v is not None:
            completion_start_us = time_to_us(v)
            if completion_start_us is None:
                meta["langfuse.observation.completion_start_time"] = v
                _note(batch, span, "unparseable langfuse.observation.completion_start_time")
            elif not in_time_range(completion_start_us):
                completion_start_us = None
                meta["langfuse.observation.completion_start_time"] = v
                _note(
                    batch,
                    span,
                    "langfuse.observation.completion_start_time is out of range (1970-2200), "
                    "kept in metadata",
                )
        v = known.pop("langfuse.observation.prompt.name", None)
        if v is not None:
            prompt_name = as_str(v) or None
        v = known.pop("langfuse.observation.prompt.version", None)
        if v is not None:
            prompt_version = _prompt_version(v, "langfuse.observation.prompt.version", batch, span)
            if prompt_version is None:
                meta["langfuse.observation.prompt.version"] = v
    status = span.status
    is_error = status.code == STATUS_ERROR
    if status_message is None:
        status_message = status.message or None
        if status_message is None and (is_error or has_exception):
            status_message = first_exception
    if level is None:
        level = "ERROR" if (is_error or has_exception) else "DEFAULT"
    if fams & MISC:
        v = known.pop("gen_ai.response.time_to_first_chunk", None)
        if v is not None:
            f = as_float(v)
            us = None
            if completion_start_us is None:
                if f is not None and 0 <= f <= (MAX_US - start_us) / 1_000_000:
                    us = start_us + round(f * 1_000_000)
                if not in_time_range(us):
                    us = None
                    _note(
                        batch,
                        span,
                        f"gen_ai.response.time_to_first_chunk {v!r} is not a number of seconds "
                        "in range, kept in metadata",
                    )
            if us is None:
                meta["gen_ai.response.time_to_first_chunk"] = v
            else:
                completion_start_us = us
        if prompt_name is None:
            v = known.pop("gen_ai.prompt.name", None)
            if v is not None:
                prompt_name = as_str(v) or None
    if (
        completion_start_us is None
        and first_token_us is not None
        and start_us <= first_token_us <= MAX_US
    ):
        completion_start_us = first_token_us
    if groups:
        g = groups.pop("llm.prompt_template", None)
        if g:
            tpl = dict(g)
            meta["prompt_template"] = tpl
            if prompt_version is None and "version" in tpl:
                prompt_version = _prompt_version(
                    tpl["version"], "llm.prompt_template.version", batch, span
                )

    # ---- type ----------------------------------------------------------------------------
    obs_type = None
    if fams & LF:
        v = known.pop("langfuse.observation.type", None)
        if v is not None:
            s = v.lower() if v.__class__ is str else None
            if s in TYPES:
                obs_type = s
            else:
                meta["langfuse.observation.type"] = v
                _note(batch, span, f"unknown langfuse.observation.type {v!r} ignored")
    if obs_type is None:
        v = meta.get("openinference.span.kind")
        if v is not None and v.__class__ is str:
            obs_type = OPENINFERENCE_KINDS.get(v.upper())
    if obs_type is None:
        v = meta.get("gen_ai.operation.name")
        if v is not None and v.__class__ is str:
            obs_type = GENAI_OPERATIONS.get(v.lower())
    if obs_type is None:
        if content.has_genai_tool(meta):
            obs_type = "tool"
        elif model is not None and usage:
            obs_type = "generation"
        else:
            obs_type = "span"

    # ---- trace-level ---------------------------------------------------------------------
    is_root = parent_id is None
    name = span.name
    if len(name) * 4 > attr_cap:
        name = truncate(name, attr_cap)
    tu = TraceUpdate(project_id, trace_id, is_root)
    tu.release = res.release
    tu.environment = res.environment
    if fams & LFT:
        v = known.pop("langfuse.internal.is_app_root", None)
        if v is not None and as_bool(v):
            tu.is_root = is_root = True
        _langfuse_trace(known, groups, tu, cap)
    if is_root:
        if tu.name is None and name:
            tu.name = name
        if tu.input is None:
            tu.input = inp
        if tu.output is None:
            tu.output = out
    if fams & TRACE:
        tu.user_id = _pop_first_str(known, USER_KEYS)
        tu.session_id = _pop_first_str(known, SESSION_KEYS)
        v = known.pop("tag.tags", None)
        if v is not None:
            tu.tags = content.tags(v, tu.tags)
        v = known.pop("metadata", None)  # OpenInference: JSON object for trace and observation
        if v is not None:
            d = parse_json(v)
            if d.__class__ is dict:
                if tu.metadata is None:
                    tu.metadata = {}
                tu.metadata.update(d)
                meta.update(d)
            else:
                meta["metadata"] = v

    # ---- observation metadata ----------------------------------------------------------
    if fams & LF:
        v = known.pop("langfuse.observation.metadata", None)
        if v is not None:
            d = parse_json(v)
            if d.__class__ is dict:
                meta.update(d)
            else:
                meta["metadata"] = v
    if groups:
        g = groups.pop("langfuse.observation", None)
        if g:
            for suffix, v in g:
                meta[suffix[9:]] = _metadata_value(v)  # "metadata.X" -> "X"
        for head, g in groups.items():  # families not used (e.g. gen_ai.prompt.foo)
            for suffix, v in g:
                meta[head + "." + suffix] = _clip(v, attr_cap)
    if known:  # candidates that lost to a higher-precedence key, or had the wrong type
        for key, v in known.items():
            meta[key] = _clip(v, attr_cap)
    if res.metadata is not None:
        meta["resource"] = res.metadata.copy()
    if scope_meta is not None:
        meta["scope"] = scope_meta.copy()
    if meta and not _fits(meta, limits.max_metadata_bytes):
        meta = _bound_json(meta, "metadata", limits, batch, span)
    if params and not _fits(params, limits.max_metadata_bytes):
        params = _bound_json(params, "model parameters", limits, batch, span)
    if tu.metadata and not _fits(tu.metadata, limits.max_metadata_bytes):
        tu.metadata = _bound_json(tu.metadata, "trace metadata", limits, batch, span)
    # name-like fields: cut at the value limit (compare lengths first: this runs per span)
    longest = max(
        len(tu.name or ""), len(tu.user_id or ""), len(tu.session_id or ""),
        len(tu.release or ""), len(tu.version or ""), len(tu.environment or ""),
        len(model or ""), len(status_message or ""), len(prompt_name or ""),
        max(map(len, tu.tags)) if tu.tags else 0,
    )  # fmt: skip
    if longest > clip_chars:
        for f in ("name", "user_id", "session_id", "release", "version", "environment"):
            setattr(tu, f, _clip_str(getattr(tu, f), attr_cap))
        if tu.tags:
            tu.tags = [_clip_str(t, attr_cap) for t in tu.tags]  # type: ignore[misc]
        model = _clip_str(model, attr_cap)
        status_message = _clip_str(status_message, attr_cap)
        prompt_name = _clip_str(prompt_name, attr_cap)

    batch.observations.append(
        ObservationRecord(
            project_id,
            span_id,
            trace_id,
            parent_id,
            obs_type,
            name,
            start_us,
            end_us,
            completion_start_us,
            model,
            params or None,
            inp,
            out,
            meta,
            level,
            status_message,
            usage,
            cost,
            bool(cost),
            prompt_name,
            prompt_version,
        )
    )
    batch.traces.append(tu)


def _langfuse_trace(
    known: dict[str, Any],
    groups: dict[str, list[tuple[str, Any]]],
    tu: TraceUpdate,
    cap: int,
) -> None:
    """``langfuse.trace.*``, ``langfuse.release|version|environment`` -> the trace update."""
    v = known.pop("langfuse.release", None)
    if v is not None:
        tu.release = as_str(v) or tu.release
    v = known.pop("langfuse.version", None)
    if v is not None:
        tu.version = as_str(v)
    v = known.pop("langfuse.environment", None)
    if v is not None:
        tu.environment = as_str(v) or tu.environment
    v = known.pop("langfuse.trace.tags", None)
    if v is not None:
        tu.tags = content.tags(v, tu.tags)
    v = known.pop("langfuse.trace.public", None)
    if v is not None:
        tu.public = as_bool(v)
    v = known.pop("langfuse.trace.name", None)
    if v is not None:
        tu.name = as_str(v) or None
    v = known.pop("langfuse.trace.input", None)
    if v is not None:
        tu.input = truncate(to_text(v), cap)  # type: ignore[arg-type]
    v = known.pop("langfuse.trace.output", None)
    if v is not None:
        tu.output = truncate(to_text(v), cap)  # type: ignore[arg-type]
    v = known.pop("langfuse.trace.metadata", None)
    if v is not None:
        d = parse_json(v)
        tu.metadata = d if d.__class__ is dict else {"metadata": v}
    g = groups.pop("langfuse.trace", None)
    if g:
        if tu.metadata is None:
            tu.metadata = {}
        for suffix, v in g:
            tu.metadata[suffix[9:]] = _metadata_value(v)  # "metadata.X" -> "X"


def _metadata_value(v: Any) -> Any:
    """Langfuse SDKs send each metadata value JSON-encoded ('"pro"', '{"a": 1}'): decode it;
    text that is not JSON stays as it is."""
    parsed = parse_json(v)
    return v if parsed is INVALID else parsed


def _usage_and_cost(
    known: dict[str, Any],
    groups: dict[str, list[tuple[str, Any]]],
    meta: dict[str, Any],
    fams: int,
    batch: MappedBatch,
    span: Any,
) -> tuple[dict[str, int], dict[str, float]]:
    """Usage: Langfuse usage_details, else OpenInference llm.token_count.*, else GenAI
    gen_ai.usage.*. Cost: Langfuse cost_details, else llm.cost.*, else gen_ai.usage.cost."""
    usage: dict[str, int] = {}
    bad: dict[str, Any] = {}
    genai = groups.pop("gen_ai.usage", None)
    g = groups.pop("gen_ai.usage.cost", None)  # split off in keys.KNOWN
    genai_cost = g[-1][1] if g else None
    if fams & LF:
        v = known.pop("langfuse.observation.usage_details", None)
        if v is not None:
            d = parse_json(v)
            if d.__class__ is dict:
                usage = usage_mod.langfuse_usage(d)
            else:
                meta["langfuse.observation.usage_details"] = v
                _note(batch, span, "langfuse.observation.usage_details is not a JSON object")
    oi = groups.pop("llm.token_count", None)
    if not usage and oi:
        usage = usage_mod.openinference_usage(oi, bad)
        oi = None
    if not usage and genai:
        usage = usage_mod.genai_usage(genai, bad)
        genai = None
        total = known.pop("llm.usage.total_tokens", None)
        if total is not None:
            n = as_int(total)
            if n is None:
                bad["llm.usage.total_tokens"] = total
            else:
                usage["total"] = n
    if oi:
        for suffix, v in oi:
            meta["llm.token_count." + suffix] = v
    if genai:
        for suffix, v in genai:
            meta["gen_ai.usage." + suffix] = v

    cost: dict[str, float] = {}
    if fams & LF:
        v = known.pop("langfuse.observation.cost_details", None)
        if v is not None:
            d = parse_json(v)
            if d.__class__ is dict:
                cost = usage_mod.langfuse_cost(d)
            else:
                meta["langfuse.observation.cost_details"] = v
                _note(batch, span, "langfuse.observation.cost_details is not a JSON object")
    g = groups.pop("llm.cost", None)
    if g:
        if not cost:
            cost = usage_mod.openinference_cost(g, bad)
        else:
            for suffix, v in g:
                meta["llm.cost." + suffix] = v
    if genai_cost is not None:
        f = as_float(genai_cost)
        if f is None:
            bad["gen_ai.usage.cost"] = genai_cost
        elif not cost:
            cost = {"total": f}
        else:
            meta["gen_ai.usage.cost"] = genai_cost
    if bad:
        meta.update(bad)
        _note(batch, span, "non-numeric usage/cost kept in metadata: " + ", ".join(bad))
    notes: list[str] = []
    if usage and (min(usage.values()) < 0 or max(usage.values()) > MAX_TOKENS):
        bound_tokens(usage, notes)
    if cost and not (
        math.isfinite(sum(cost.values()))
        and min(cost.values()) >= 0
        and max(cost.values()) <= MAX_COST_USD
    ):
        bound_cost(cost, notes)
    for line in notes:
        _note(batch, span, line)
    return usage, cost


def _clip_attribute(val: str, key: str, cap: int, batch: MappedBatch, span: Any) -> str:
    cut = truncate(val, cap)
    if cut is not val:
        _note(batch, span, f"attribute {key[:200]} truncated to {cap:,} bytes")
    return cut


def _prompt_version(v: Any, key: str, batch: MappedBatch, span: Any) -> int | None:
    """A prompt version is an integer in [0, MAX_PROMPT_VERSION] (an INTEGER column)."""
    n = as_int(v)
    if n is not None and not 0 <= n <= MAX_PROMPT_VERSION:
        _note(batch, span, f"{key} {n} is out of range (0-{MAX_PROMPT_VERSION}), kept in metadata")
        return None
    return n


def _fits(d: dict[str, Any], limit: int) -> bool:
    """Whether ``d`` serialises (as the store will) within ``limit`` bytes; the fast path of
    :func:`_bound_json`, run on every span."""
    try:
        return len(_orjson_dumps(d, option=_NON_STR_KEYS, default=str)) <= limit
    except TypeError:  # nested too deeply for orjson
        return False


_orjson_dumps = orjson.dumps
_NON_STR_KEYS = orjson.OPT_NON_STR_KEYS


def _bound_json(
    d: dict[str, Any], what: str, limits: IngestLimits, batch: MappedBatch, span: Any
) -> dict[str, Any]:
    notes: list[str] = []
    out = bound_json(d, limits.max_metadata_bytes, what, notes)
    for line in notes:
        _note(batch, span, line)
    return out


def _pop_first_str(known: dict[str, Any], keys: tuple[str, ...]) -> str | None:
    """First key with a usable string wins and is consumed; the others stay in ``known``."""
    for key in keys:
        v = known.get(key)
        if v is not None:
            s = as_str(v)
            if s:
                del known[key]
                return s
    return None
