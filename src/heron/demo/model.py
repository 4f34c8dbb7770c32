"""Configuration, planted effects and the scenario objects of the demo workload.

The constants below are the ground truth later tests assert on: when the prompt version
changes, which releases ship when, and how much better the new prompt is. Fractions are of the
configured period (0 = its start, 1 = ``end_us``).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field, replace
from typing import Any

SECOND_US = 1_000_000
MINUTE_US = 60 * SECOND_US
HOUR_US = 60 * MINUTE_US
DAY_US = 24 * HOUR_US

# --- prompt management: "support-system" v3 -> v4 at 60% of the period (support-chat only) ---
PROMPT_NAME = "support-system"
PROMPT_OLD_VERSION = 3
PROMPT_NEW_VERSION = 4
PROMPT_SWITCH_FRACTION = 0.6
SUMMARY_PROMPT_NAME = "conversation-summary"
SUMMARY_PROMPT_VERSION = 2

# --- planted effects of the prompt change, keyed by prompt version ---
# Probability that one support-chat LLM call fails (and is retried), outside the incident.
LLM_ERROR_RATE: dict[int, float] = {3: 0.05, 4: 0.03}
# Multiplier on the duration (and time to first token) of support-chat LLM calls.
LLM_LATENCY_FACTOR: dict[int, float] = {3: 1.0, 4: 0.85}
# Base probability that the next turn rephrases this turn's question (support-chat turns that
# have a next turn; +REPHRASE_AFTER_ERROR when the turn had a failed span).
REPHRASE_RATE: dict[int, float] = {3: 0.20, 4: 0.10}
REPHRASE_AFTER_ERROR = 0.25
# Probability that a given feedback is a thumbs down (+FEEDBACK_DOWN_AFTER_ERROR on error
# or when the next turn rephrases).
THUMBS_DOWN_RATE: dict[int, float] = {3: 0.30, 4: 0.15}
FEEDBACK_DOWN_AFTER_ERROR = 0.35
FEEDBACK_RATE = 0.12  # share of user turns with explicit thumbs up/down (times a user factor)
# Probability that a session is abandoned (no resolution), by prompt version at its start.
ABANDON_RATE: dict[int, float] = {3: 0.14, 4: 0.08}

# LLM error rate of the other routes (ticket-triage, kb-search, summarize-conversation).
OTHER_LLM_ERROR_RATE = 0.035
# Probability that a failed LLM call's retry fails too (the trace then fails).
RETRY_FAIL_RATE = 0.08
TOOL_ERROR_RATE = 0.03
SLOW_CALL_RATE = 0.012  # LLM calls hit by the long tail (x3-x7, capped at 30 s)

# --- releases (service.version / langfuse.release); staging runs the next release early ---
RELEASES: tuple[tuple[str, float], ...] = (("v1.4.0", 0.0), ("v1.5.0", 0.3), ("v1.6.0", 0.75))
STAGING_FRACTION = 0.03

# --- an OpenAI rate-limit incident: openai calls fail far more often for a while ---
INCIDENT_FRACTION = 0.45
INCIDENT_DURATION_US = 90 * MINUTE_US
INCIDENT_ERROR_RATE = 0.30
INCIDENT_RETRY_FAIL_RATE = 0.30

ROUTES = ("support-chat", "kb-search", "ticket-triage", "summarize-conversation")
ROUTE_CONVENTION = {
    "support-chat": "otel",
    "kb-search": "otel",
    "ticket-triage": "openinference",
    "summarize-conversation": "langfuse",
}
ROUTE_SERVICE = {
    "support-chat": "acme-support-api",
    "kb-search": "acme-support-api",
    "ticket-triage": "acme-triage-worker",
    "summarize-conversation": "acme-summarizer",
}

# Span kinds of the scenario (mapped to each convention by heron.demo.otlp).
KIND_ROOT = "root"
KIND_LLM = "llm"
KIND_EMBEDDING = "embedding"
KIND_RETRIEVER = "retriever"
KIND_TOOL = "tool"
KIND_GUARDRAIL = "guardrail"
KIND_SPAN = "span"


@dataclass(frozen=True)
class DemoConfig:
    seed: int = 7
    traces: int = 2_000  # number of traces (user turns and the jobs they trigger)
    days: float = 14.0  # period covered, ending at end_us
    end_us: int | None = None  # microseconds since the epoch; default: now
    users: int | None = None  # default: ~traces/25, at least 5
    batch_spans: int = 512  # max spans per ExportTraceServiceRequest
    export_interval_s: float = 5.0  # BatchSpanProcessor schedule delay of each service
    prompt_switch_fraction: float = PROMPT_SWITCH_FRACTION
    staging_fraction: float = STAGING_FRACTION
    incident: bool = True  # plant the OpenAI rate-limit incident
    delivery_quirks: bool = True  # delayed root spans and re-sent requests

    def resolved_end_us(self) -> int:
        return self.end_us if self.end_us is not None else time.time_ns() // 1000

    def resolved(self) -> DemoConfig:
        """This config with ``end_us`` fixed (to now when unset), so all derived times agree."""
        return self if self.end_us is not None else replace(self, end_us=self.resolved_end_us())

    def period(self) -> tuple[int, int]:
        """(start_us, end_us) of the period the traces fall in."""
        end = self.resolved_end_us()
        return end - int(self.days * DAY_US), end

    def at_fraction(self, fraction: float) -> int:
        start, end = self.period()
        return start + int((end - start) * fraction)

    def prompt_switch_us(self) -> int:
        """Time from which support-chat uses prompt version 4 (traces starting at or after)."""
        return self.at_fraction(self.prompt_switch_fraction)

    def incident_window(self) -> tuple[int, int] | None:
        if not self.incident:
            return None
        start = self.at_fraction(INCIDENT_FRACTION)
        return start, start + INCIDENT_DURATION_US

    def release_starts(self) -> list[tuple[str, int]]:
        return [(name, self.at_fraction(f)) for name, f in RELEASES]

    def user_count(self) -> int:
        return self.users if self.users is not None else max(5, self.traces // 25)


def prompt_version_at(config: DemoConfig, t_us: int) -> int:
    return PROMPT_NEW_VERSION if t_us >= config.prompt_switch_us() else PROMPT_OLD_VERSION


@dataclass(frozen=True, slots=True)
class DemoUser:
    id: str
    plan: str  # free | pro | enterprise | internal
    region: str
    channel: str
    beta: bool
    seats: int
    rephrase_factor: float
    feedback_factor: float


@dataclass(slots=True, eq=False)
class DemoSpan:
    """One span of a demo trace, independent of the attribute convention it is sent in.

    Messages are tuples: ``("system"|"user"|"assistant", text)``,
    ``("tool_call", call_id, tool_name, arguments_dict)`` and
    ``("tool", call_id, tool_name, result)``.
    """

    span_id: bytes
    parent_id: bytes | None
    name: str
    kind: str
    start_us: int
    end_us: int
    status_message: str | None = None  # set when the span failed (OTel status ERROR)
    error_type: str | None = None
    input_text: str | None = None  # root, tool arguments, retriever query, guardrail input
    output_text: str | None = None
    # model calls
    model: str | None = None
    response_model: str | None = None
    provider: str | None = None
    system: str | None = None
    messages: list[tuple[Any, ...]] | None = None
    output_tool_call: tuple[str, str, dict[str, Any]] | None = None
    finish_reason: str | None = None
    response_id: str | None = None
    input_tokens: int = 0
    output_tokens: int = 0
    cached_tokens: int = 0
    reasoning_tokens: int = 0
    ttft_us: int | None = None  # time to first token of streamed calls
    temperature: float | None = None
    max_tokens: int | None = None
    prompt_name: str | None = None
    prompt_version: int | None = None
    # tools and retrieval
    tool_name: str | None = None
    tool_call_id: str | None = None
    tool_args: dict[str, Any] | None = None
    tool_result: Any = None
    documents: list[tuple[Any, float]] | None = None  # (content.Doc, score)

    @property
    def failed(self) -> bool:
        return self.status_message is not None


@dataclass(slots=True, eq=False)
class DemoTrace:
    """One trace with the facts tests can check.

    ``rephrase_of`` is the hex id of the previous trace whose question this turn rephrases;
    ``rephrased`` is true when the next turn rephrases this one (implicit negative feedback).
    ``feedback`` is 1 (thumbs up), 0 (thumbs down) or None; ``send`` posts it as the boolean
    score ``user-feedback`` (:mod:`heron.demo.scores`).
    ``abandoned`` marks the last turn of a session the user left unresolved.
    """

    index: int
    trace_id: bytes
    route: str
    convention: str
    service: str
    environment: str
    release: str
    user_id: str
    session_id: str
    turn: int
    session_turns: int
    start_us: int
    end_us: int
    topic: str
    question: str
    answer: str
    tags: tuple[str, ...]
    metadata: dict[str, str]
    prompt_name: str | None
    prompt_version: int | None
    model: str | None
    spans: list[DemoSpan] = field(default_factory=list)
    llm_calls: int = 0
    llm_errors: int = 0
    tool_errors: int = 0
    failed: bool = False
    blocked: bool = False
    slow: bool = False
    in_incident: bool = False
    rephrase_of: str | None = None
    rephrased: bool = False
    feedback: int | None = None
    abandoned: bool = False
    root_export_delay_us: int = 0

    @property
    def trace_id_hex(self) -> str:
        return self.trace_id.hex()

    @property
    def expected_spans(self) -> int:
        return len(self.spans)

    @property
    def has_error(self) -> bool:
        return self.llm_errors > 0 or self.tool_errors > 0 or self.failed
