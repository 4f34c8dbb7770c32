"""Records produced by ingest and written by the store.

Times are integers in microseconds since the Unix epoch (UTC); ids are lowercase hex strings
(32 characters for traces, 16 for observations when they come from OpenTelemetry).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any


class ObservationType(StrEnum):
    SPAN = "span"
    GENERATION = "generation"
    EVENT = "event"
    TOOL = "tool"
    RETRIEVER = "retriever"
    AGENT = "agent"
    CHAIN = "chain"
    EMBEDDING = "embedding"
    GUARDRAIL = "guardrail"
    EVALUATOR = "evaluator"


class Level(StrEnum):
    DEBUG = "DEBUG"
    DEFAULT = "DEFAULT"
    WARNING = "WARNING"
    ERROR = "ERROR"


LEVEL_RANK: dict[str, int] = {"DEBUG": 0, "DEFAULT": 1, "WARNING": 2, "ERROR": 3}


@dataclass(slots=True)
class ObservationRecord:
    """One observation (an OpenTelemetry span) as heron stores it.

    ``usage`` maps usage keys (``input``, ``output``, ``total``, ``cached_input``,
    ``reasoning``, ``cache_write``, ...) to token counts. ``cost`` maps the same keys plus
    ``total`` to USD; it is the client's cost when one was sent, else filled in by the cost
    module at ingest. ``input``/``output`` are already serialised (JSON text or plain text)
    and truncated to the configured limit.
    """

    project_id: str
    id: str
    trace_id: str
    parent_id: str | None
    type: str
    name: str
    start_us: int
    end_us: int | None = None
    completion_start_us: int | None = None
    model: str | None = None
    model_parameters: dict[str, Any] | None = None
    input: str | None = None
    output: str | None = None
    metadata: dict[str, Any] = field(default_factory=dict)
    level: str = "DEFAULT"
    status_message: str | None = None
    usage: dict[str, int] = field(default_factory=dict)
    cost: dict[str, float] = field(default_factory=dict)
    cost_from_client: bool = False
    prompt_name: str | None = None
    prompt_version: int | None = None


@dataclass(slots=True)
class TraceUpdate:
    """Trace-level attributes one span carries; ``None`` means "not set by this span".

    ``is_root`` is true when the span has no parent: a root span supplies the trace's default
    name, input and output. Explicit trace attributes (``langfuse.trace.*``) win over those.
    ``timestamp_us`` is the trace's own time (a Langfuse ``trace-create`` event): a trace
    without observations starts there; with observations, the earliest of them does.
    """

    project_id: str
    trace_id: str
    is_root: bool = False
    name: str | None = None
    user_id: str | None = None
    session_id: str | None = None
    release: str | None = None
    version: str | None = None
    environment: str | None = None
    tags: list[str] | None = None
    metadata: dict[str, Any] | None = None
    input: str | None = None
    output: str | None = None
    public: bool | None = None
    timestamp_us: int | None = None
