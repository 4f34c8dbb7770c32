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
LLM_ERROR_RATE: dict[int, float] = {3: 0.06, 4: 0.03}
# Multiplier on the duration (and time to first token) of support-chat LLM calls.
LLM_LATENCY_FACTOR: dict[int, float] = {3: 1.0, 4: 0.85}
# How support-chat answers go (besides LLM failures), by prompt version: v3 ("explain the
# background, list every option") states wrong facts more often; v4 ("if the articles do not
# cover it, say so in one sentence") gives up more often, so its users rephrase more.
WRONG_RATE: dict[int, float] = {3: 0.10, 4: 0.03}
NON_ANSWER_RATE: dict[int, float] = {3: 0.05, 4: 0.11}
WRONG_FACTOR = {"gpt-4o": 0.5, "gpt-4o-mini": 1.0}  # gpt-4o (enterprise) errs less
CLARIFY_RATE = 0.07  # the assistant asks a clarifying question (new questions only)
EMPTY_RATE = 0.015  # the model returns an empty message
# The chat front end gives up on an answer after this long (the user sees nothing; the
# app's root span ends with the client's disconnect). LLM timeouts and retries run past it.
APP_TIMEOUT_US = 20 * SECOND_US
# The output guardrail (from v1.5.0) wrongly blocks answers; v1.6.0 tuned its threshold.
REFUSAL_RATE: dict[str, float] = {"v1.4.0": 0.0, "v1.5.0": 0.04, "v1.6.0": 0.005}
# kb-search finds nothing useful, by model (v1.6.0 moves half of it to a small llama).
KB_NON_ANSWER_RATE = {"gemini-2.0-flash": 0.05, "llama-3.1-8b-instruct": 0.22}
# What the user's next message does after each outcome (when the session goes on).
REACTIONS: dict[str, tuple[tuple[str, float], ...]] = {
    "error": (("retry", 0.6), ("frustration", 0.12), ("rephrase", 0.08), ("question", 0.2)),
    "timeout": (("retry", 0.7), ("frustration", 0.12), ("question", 0.18)),
    "empty": (("retry", 0.65), ("frustration", 0.1), ("rephrase", 0.1), ("question", 0.15)),
    "refusal": (("rephrase", 0.55), ("frustration", 0.2), ("escalate", 0.1), ("question", 0.15)),
    "non_answer": (("rephrase", 0.6), ("frustration", 0.1), ("escalate", 0.1), ("question", 0.2)),
    "wrong": (("disagreement", 0.65), ("frustration", 0.1), ("question", 0.25)),
    "clarify": (("clarification_reply", 0.9), ("question", 0.1)),
    "good": (("follow_up", 0.35), ("question", 0.4), ("thanks", 0.25)),
}
# Outcomes after which leaving is abandonment (a wrong answer may look fine to the user).
BAD_OUTCOMES = frozenset({"error", "timeout", "empty", "refusal", "non_answer", "clarify"})
# User behaviours that are implicit negative feedback, and the ones that are not ("escalate",
# a calm request for a human, is neither: it may follow a bad answer or a good one).
SIGNALS = ("retry", "rephrase", "disagreement", "frustration", "abandonment")
NEGATIVE_BEHAVIOURS = (
    "question",
    "follow_up",
    "clarification_reply",
    "thanks",
    "resolved_end",
)
# Probability that a given thumbs is down: after a good answer by prompt version, else by
# outcome (an honest "not covered, shall I open a ticket?" annoys less than a wrong answer).
THUMBS_DOWN_RATE: dict[int, float] = {3: 0.35, 4: 0.06}
THUMBS_DOWN_AFTER: dict[str, float] = {"non_answer": 0.45, "clarify": 0.2}
THUMBS_DOWN_AFTER_BAD = 0.85  # the other outcomes
FEEDBACK_RATE = 0.14  # share of user turns rated (times a user factor; x1.5 after a bad answer)
RATING_RATE = 0.15  # share of conversations rated 1-5 in the closing survey
RATING_COMMENT_RATE = 0.4
COPY_RATE: dict[int, float] = {3: 0.07, 4: 0.14}  # good answers copied (v4: numbered steps)
ACCEPT_RATE = 0.08  # good answers accepted ("This solved my problem")
# Probability that a session is abandoned (its last turn answered badly), by prompt version.
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
    impatience: float  # scales how often this user gets frustrated
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

    User turns (support-chat, kb-search) have an ``outcome`` (how the answer went: good,
    wrong, non_answer, refusal, clarify, empty, timeout, error) and a ``behaviour`` (what the user's
    message does: question, follow_up, clarification_reply, thanks, escalate, retry,
    rephrase, disagreement, frustration); ``reacts_to`` is the hex id of the session's previous
    user turn, the answer the message reacts to. Background jobs have neither.
    ``rephrase_of`` is set on a rephrase (= ``reacts_to``) and ``rephrased`` on the turn it
    rephrases. ``last_user_turn`` marks the session's last user turn (jobs may follow it),
    ``abandoned`` that turn when its answer was bad.
    Explicit feedback: ``feedback`` 1 (thumbs up), 0 (down) or None; ``rating`` 1-5 (the
    closing survey, on the last user turn) with ``rating_comment``; ``copied`` and
    ``accepted`` (the answer was copied / marked as solving the problem). ``send`` posts
    them as scores (:mod:`heron.demo.scores`).
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
    outcome: str | None = None
    behaviour: str | None = None
    reacts_to: str | None = None
    rephrase_of: str | None = None
    rephrased: bool = False
    feedback: int | None = None
    rating: int | None = None
    rating_comment: str | None = None
    copied: bool = False
    accepted: bool = False
    last_user_turn: bool = False
    abandoned: bool = False
    root_export_delay_us: int = 0

    @property
    def trace_id_hex(self) -> str:
        return self.trace_id.hex()

    @property
    def expected_spans(self) -> int:
        return len(self.spans)
