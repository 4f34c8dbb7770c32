"""Langfuse's batch ingestion events mapped to heron's records.

``POST /api/public/ingestion`` takes ``{"batch": [event, ...]}``; an event is
``{"id", "type", "timestamp", "body"}``. Traces and observations become the same
:class:`~heron.model.ObservationRecord` and :class:`~heron.model.TraceUpdate` an OTLP span
with Langfuse attributes does (``docs/conventions.md``), bounded the same way
(:mod:`heron.ingest.limits`), so they go through the same journal and store merge: an update
event is a later version of its observation, merged field by field. Score events are handed
back as score bodies for the one score path (:mod:`heron.scores`).

:func:`map_events` never raises for a bad event: each gets an error (status 400 and a message
naming the field) and the others are kept. Only a batch with more events than the limit is
refused whole (:class:`TooManyEvents`). The mapping is documented in ``docs/langfuse-api.md``.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any

from heron.errors import PayloadTooLarge
from heron.ingest import usage as usage_mod
from heron.ingest.keys import LEVELS, TYPES
from heron.ingest.limits import (
    MAX_COST_USD,
    MAX_PROMPT_VERSION,
    MAX_TOKENS,
    IngestLimits,
    bound_cost,
    bound_json,
    bound_tokens,
    in_time_range,
)
from heron.ingest.values import as_float, as_int, clean_text, time_to_us, to_text, truncate
from heron.model.records import ObservationRecord, TraceUpdate

MAX_ID_CHARS = 200  # the longest id (trace, observation, score) an event may carry

TRACE_EVENTS = frozenset({"trace-create"})
OBSERVATION_EVENTS: dict[str, tuple[str | None, bool]] = {  # type -> (observation type, update)
    "span-create": ("span", False),
    "span-update": ("span", True),
    "generation-create": ("generation", False),
    "generation-update": ("generation", True),
    "event-create": ("event", False),
    "observation-create": (None, False),  # the type is the body's
    "observation-update": (None, True),
}
SCORE_EVENTS = frozenset({"score-create"})
# A score-create body's fields (Langfuse's ScoreBody); others are dropped, as Langfuse drops
# them (SDK v2 sends parent_observation_id with an observation's score)
SCORE_FIELDS = frozenset({
    "id", "traceId", "sessionId", "observationId", "datasetRunId", "name", "value", "comment",
    "metadata", "dataType", "configId", "environment", "queueId", "timestamp",
})  # fmt: skip
IGNORED_EVENTS = frozenset({"sdk-log"})  # accepted, nothing stored
EVENT_TYPES = tuple(sorted({*TRACE_EVENTS, *OBSERVATION_EVENTS, *SCORE_EVENTS, *IGNORED_EVENTS}))


class TooManyEvents(PayloadTooLarge):
    """The batch holds more events than ``IngestLimits.max_request_spans``."""


class EventError(Exception):
    """An event that cannot be taken; the message names the field."""


@dataclass(slots=True)
class ScoreEvent:
    """A ``score-create`` event's body, for the score path (``timestamp`` from the event)."""

    event_id: str
    body: dict[str, Any]


@dataclass(slots=True)
class MappedEvents:
    observations: list[ObservationRecord] = field(default_factory=list)
    traces: list[TraceUpdate] = field(default_factory=list)
    scores: list[ScoreEvent] = field(default_factory=list)
    successes: list[dict[str, Any]] = field(default_factory=list)  # {"id", "status": 201}
    errors: list[dict[str, Any]] = field(default_factory=list)  # {"id", "status", "message"}

    def fail(self, event_id: str, status: int, message: str) -> None:
        self.errors.append({"id": event_id, "status": status, "message": message, "error": message})

    def succeed(self, event_id: str, notes: list[str] | None = None) -> None:
        item: dict[str, Any] = {"id": event_id, "status": 201}
        if notes:
            item["message"] = "; ".join(notes)[:2000]
        self.successes.append(item)


def parse_batch(body: Any, limits: IngestLimits) -> list[Any]:
    """The ``batch`` list of a request body (EventError naming the problem otherwise)."""
    if not isinstance(body, dict):
        raise EventError('body: expected a JSON object {"batch": [event, ...]}')
    batch = body.get("batch")
    if not isinstance(batch, list):
        raise EventError("batch: required, a list of events")
    if len(batch) > limits.max_request_spans:
        raise TooManyEvents(
            f"the batch holds {len(batch):,} events, over the limit of "
            f"{limits.max_request_spans:,} per request (HERON_MAX_REQUEST_SPANS); "
            "send smaller batches"
        )
    return batch


def map_events(
    batch: list[Any],
    project_id: str,
    limits: IngestLimits,
    now_us: int,
    allowed: frozenset[str] | None = None,
) -> MappedEvents:
    """Map every event of ``batch``. ``allowed``: the event types this caller may send (the
    others get a 403 each); ``now_us`` stands in for an event without a timestamp."""
    out = MappedEvents()
    for i, event in enumerate(batch):
        event_id = _event_id(event, i)
        try:
            _map_event(event, project_id, limits, now_us, allowed, out, event_id)
        except EventError as exc:
            out.fail(event_id, 400, f"batch[{i}] {exc}")
        except _Refused as exc:
            out.fail(event_id, 403, f"batch[{i}] {exc}")
        except Exception as exc:  # a bug must not fail the other events
            out.fail(event_id, 500, f"batch[{i}]: internal mapping error {type(exc).__name__}")
    return out


class _Refused(Exception):
    """An event type this caller may not send."""


def _event_id(event: Any, index: int) -> str:
    value = event.get("id") if isinstance(event, dict) else None
    if isinstance(value, str) and value:
        return value[:MAX_ID_CHARS]
    return f"batch[{index}]"


def _map_event(
    event: Any,
    project_id: str,
    limits: IngestLimits,
    now_us: int,
    allowed: frozenset[str] | None,
    out: MappedEvents,
    event_id: str,
) -> None:
    if not isinstance(event, dict):
        raise EventError(": expected an event object {id, type, timestamp, body}")
    kind = event.get("type")
    if not isinstance(kind, str) or kind not in EVENT_TYPES:
        raise EventError(
            f"type: {kind!r} is not an event type heron takes ({', '.join(EVENT_TYPES)})"
        )
    if allowed is not None and kind not in allowed:
        raise _Refused(f"type: the public key alone may only send {', '.join(sorted(allowed))}")
    body = event.get("body")
    if not isinstance(body, dict):
        raise EventError("body: required, an object")
    stamp = event.get("timestamp")
    event_us = now_us if stamp is None else _time_value(stamp, "timestamp")
    notes: list[str] = []
    if kind in IGNORED_EVENTS:
        pass
    elif kind in SCORE_EVENTS:
        score = {k: v for k, v in body.items() if k in SCORE_FIELDS}
        if score.get("timestamp") is None and stamp is not None:
            score["timestamp"] = stamp
        out.scores.append(ScoreEvent(event_id, score))
        return  # its result comes from the score path
    elif kind in TRACE_EVENTS:
        out.traces.append(_trace(_Body(body, limits, notes), project_id, event_us))
    else:
        obs_type, update = OBSERVATION_EVENTS[kind]
        _observation(_Body(body, limits, notes), project_id, obs_type, update, event_us, out)
    out.succeed(event_id, notes)


class _Body:
    """Typed reads of an event body: a value of the wrong type is an EventError naming it."""

    __slots__ = ("body", "limits", "notes")

    def __init__(self, body: dict[str, Any], limits: IngestLimits, notes: list[str]) -> None:
        self.body = body
        self.limits = limits
        self.notes = notes

    def raw(self, key: str) -> Any:
        return self.body.get(key)

    def id(self, key: str) -> str | None:
        value = self.body.get(key)
        if value is None:
            return None
        if not isinstance(value, str) or not value:
            raise EventError(f"body.{key}: expected a non-empty string id")
        if len(value) > MAX_ID_CHARS:
            raise EventError(f"body.{key}: longer than {MAX_ID_CHARS} characters")
        return value

    def text(self, key: str) -> str | None:
        """A name-like string, cut at the attribute limit (noted)."""
        value = self.body.get(key)
        if value is None:
            return None
        if not isinstance(value, str):
            raise EventError(f"body.{key}: expected a string, got {type(value).__name__}")
        value = clean_text(value)
        cap = self.limits.max_attribute_bytes
        if len(value) * 4 > cap:
            cut = truncate(value, cap)
            if cut is not value:
                self.notes.append(f"{key} truncated to {cap:,} bytes")
            value = cut
        return value or None

    def flag(self, key: str) -> bool | None:
        value = self.body.get(key)
        if value is None or isinstance(value, bool):
            return value
        raise EventError(f"body.{key}: expected true or false")

    def time(self, key: str) -> int | None:
        value = self.body.get(key)
        return None if value is None else _time_value(value, f"body.{key}")

    def payload(self, key: str) -> str | None:
        """Input or output: any JSON, stored as text (strings as sent), cut at the limit."""
        value = self.body.get(key)
        if value is None:
            return None
        text = to_text(value)
        if text is None:
            return None
        cap = self.limits.max_io_bytes
        text = clean_text(text)
        cut = truncate(text, cap)
        if cut is not text:
            self.notes.append(f"{key} truncated to {cap:,} bytes")
        return cut

    def mapping(self, key: str, what: str) -> dict[str, Any] | None:
        """Metadata-like JSON: an object is bounded to the metadata limit; another value is
        kept under ``{"metadata": value}``."""
        value = self.body.get(key)
        if value is None:
            return None
        if not isinstance(value, dict):
            value = {key: value}
        return bound_json(value, self.limits.max_metadata_bytes, what, self.notes) or None

    def tags(self) -> list[str] | None:
        value = self.body.get("tags")
        if value is None:
            return None
        if not isinstance(value, list) or not all(isinstance(t, str) for t in value):
            raise EventError("body.tags: expected a list of strings")
        cap = self.limits.max_attribute_bytes
        out: list[str] = []
        for tag in value:
            tag = truncate(clean_text(tag), cap)
            if tag and tag not in out:
                out.append(tag)
        return out


def _time_value(value: Any, label: str) -> int:
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise EventError(f"{label}: expected an ISO 8601 time")
    us = time_to_us(value)
    if us is None:
        raise EventError(f"{label}: {str(value)[:60]!r} is not an ISO 8601 time")
    if not in_time_range(us):
        raise EventError(f"{label}: {str(value)[:60]!r} is outside 1970-01-02 .. 2200-01-01")
    return us


def _trace(b: _Body, project_id: str, event_us: int) -> TraceUpdate:
    trace_id = b.id("id") or str(uuid.uuid4())
    stamp = b.time("timestamp")
    return TraceUpdate(
        project_id,
        trace_id,
        is_root=False,  # explicit: a trace event's fields win over a root span's defaults
        name=b.text("name"),
        user_id=b.text("userId"),
        session_id=b.text("sessionId"),
        release=b.text("release"),
        version=b.text("version"),
        environment=b.text("environment"),
        tags=b.tags(),
        metadata=b.mapping("metadata", "trace metadata"),
        input=b.payload("input"),
        output=b.payload("output"),
        public=b.flag("public"),
        timestamp_us=stamp if stamp is not None else event_us,
    )


def _observation(
    b: _Body,
    project_id: str,
    obs_type: str | None,
    update: bool,
    event_us: int,
    out: MappedEvents,
) -> None:
    if obs_type is None:
        raw = b.raw("type")
        obs_type = raw.lower() if isinstance(raw, str) else None
        if obs_type not in TYPES:
            raise EventError(
                f"body.type: {raw!r} is not an observation type ({', '.join(sorted(TYPES))}, "
                "upper or lower case)"
            )
    observation_id = b.id("id")
    if observation_id is None:
        if update:
            raise EventError("body.id: required, the id of the observation to update")
        observation_id = str(uuid.uuid4())
    trace_id = b.id("traceId")
    new_trace = None
    if trace_id is None:
        if update:
            raise EventError("body.traceId: required (heron finds the observation by its trace)")
        trace_id = str(uuid.uuid4())  # as Langfuse does: the observation gets its own trace
        new_trace = TraceUpdate(project_id, trace_id, name=b.text("name"), timestamp_us=event_us)
    start = b.time("startTime")
    if start is None:
        start = 0 if update else event_us  # 0: an update leaves the start as it was
    end = b.time("endTime")
    if obs_type == "event" and end is None and not update:
        end = start  # an event is a point in time
    if end is not None and start and end < start:
        b.notes.append("endTime before startTime (stored as open)")
        end = None
    level = b.raw("level")
    if level is not None:
        if not isinstance(level, str) or level.upper() not in LEVELS:
            raise EventError(f"body.level: {level!r} is not one of {', '.join(sorted(LEVELS))}")
        level = level.upper()
    params = b.raw("modelParameters")
    if params is not None and not isinstance(params, dict):
        raise EventError("body.modelParameters: expected an object")
    usage, cost = _usage_and_cost(b)
    prompt_version = b.raw("promptVersion")
    if prompt_version is not None:
        n = as_int(prompt_version)
        if isinstance(prompt_version, bool) or n is None or not 0 <= n <= MAX_PROMPT_VERSION:
            raise EventError(f"body.promptVersion: an integer in 0..{MAX_PROMPT_VERSION}")
        prompt_version = n
    out.observations.append(
        ObservationRecord(
            project_id,
            observation_id,
            trace_id,
            b.id("parentObservationId"),
            obs_type,
            b.text("name") or "",
            start,
            end,
            completion_start_us=b.time("completionStartTime"),
            model=b.text("model"),
            model_parameters=(
                bound_json(params, b.limits.max_metadata_bytes, "model parameters", b.notes)
                if params
                else None
            ),
            input=b.payload("input"),
            output=b.payload("output"),
            metadata=b.mapping("metadata", "metadata") or {},
            level=level or "DEFAULT",
            status_message=b.text("statusMessage"),
            usage=usage,
            cost=cost,
            cost_from_client=bool(cost),
            prompt_name=b.text("promptName"),
            prompt_version=prompt_version,
        )
    )
    if new_trace is not None:
        out.traces.append(new_trace)
    version, environment = b.text("version"), b.text("environment")
    if version is not None or environment is not None:
        out.traces.append(
            TraceUpdate(project_id, trace_id, version=version, environment=environment)
        )


# Langfuse's older usage object: {input, output, total, unit, inputCost, outputCost, totalCost},
# or OpenAI's names in camelCase or snake_case.
_LEGACY_USAGE = {
    "input": "input", "output": "output", "total": "total",
    "promptTokens": "input", "prompt_tokens": "input",
    "completionTokens": "output", "completion_tokens": "output",
    "totalTokens": "total", "total_tokens": "total",
}  # fmt: skip
_LEGACY_COST = {
    "inputCost": "input", "input_cost": "input", "outputCost": "output",
    "output_cost": "output", "totalCost": "total", "total_cost": "total",
}  # fmt: skip


def _usage_and_cost(b: _Body) -> tuple[dict[str, int], dict[str, float]]:
    """``usageDetails`` (any shape Langfuse takes) wins over the older ``usage``;
    ``costDetails`` over ``usage``'s costs. Counts and costs are bounded as for spans."""
    details, legacy, cost_details = b.raw("usageDetails"), b.raw("usage"), b.raw("costDetails")
    for key, value in (("usageDetails", details), ("usage", legacy), ("costDetails", cost_details)):
        if value is not None and not isinstance(value, dict):
            raise EventError(f"body.{key}: expected an object")
    usage: dict[str, int] = {}
    cost: dict[str, float] = {}
    if details:
        usage = usage_mod.langfuse_usage(details)
    elif legacy:
        usage = usage_mod.additive(_renamed(legacy, _LEGACY_USAGE, as_int), as_int)
    if cost_details:
        cost = usage_mod.langfuse_cost(cost_details)
    elif legacy:
        cost = usage_mod.additive(_renamed(legacy, _LEGACY_COST, as_float), as_float)
    if usage and (min(usage.values()) < 0 or max(usage.values()) > MAX_TOKENS):
        bound_tokens(usage, b.notes)
    if cost and not all(0 <= v <= MAX_COST_USD for v in cost.values()):
        bound_cost(cost, b.notes)
    return usage, cost


def _renamed(d: dict[str, Any], names: dict[str, str], conv: Any) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, name in names.items():
        if key in d and conv(d[key]) is not None:
            out.setdefault(name, d[key])
    return out
