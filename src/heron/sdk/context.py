"""Trace attributes shared by every span of one trace in this process.

:func:`heron.update_current_trace` stores them in a :class:`TraceState` registered under the
trace id; heron's span processor copies them onto every span of that trace started afterwards
(whichever tracer or thread starts it), and the call sets them on the current span too. The
state is forgotten when the trace's local root span ends (a span without a parent, or with a
remote one); at most ``MAX_TRACES`` states are kept (the oldest go first), so traces whose
root is never seen by heron cannot grow memory.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from opentelemetry import trace as otel_trace

from heron.sdk import attributes as A

__all__ = [
    "TraceState",
    "get_current_observation_id",
    "get_current_trace_id",
    "state_for",
]

MAX_TRACES = 10_000


class TraceState:
    """Attributes (already in span-attribute form) set for one trace."""

    __slots__ = ("attributes", "trace_id")

    def __init__(self, trace_id: int) -> None:
        self.trace_id = trace_id
        self.attributes: dict[str, Any] = {}


STATES: dict[int, TraceState] = {}  # trace id -> state; dict operations are atomic


def state_for(trace_id: int) -> TraceState:
    """The state of a trace, created (and registered) on first use."""
    state = STATES.get(trace_id)
    if state is None:
        while len(STATES) >= MAX_TRACES:
            try:
                del STATES[next(iter(STATES))]
            except (KeyError, StopIteration, RuntimeError):  # a concurrent change
                break
        state = STATES.setdefault(trace_id, TraceState(trace_id))
    return state


def get_current_trace_id() -> str | None:
    """The current trace id as 32 lowercase hex digits, or ``None`` outside a trace."""
    sc = otel_trace.get_current_span().get_span_context()
    return format(sc.trace_id, "032x") if sc.is_valid else None


def get_current_observation_id() -> str | None:
    """The current span (observation) id as 16 lowercase hex digits, or ``None``."""
    sc = otel_trace.get_current_span().get_span_context()
    return format(sc.span_id, "016x") if sc.is_valid else None


def trace_attributes(
    cap: int,
    mask: Any,
    *,
    name: str | None = None,
    user_id: str | None = None,
    session_id: str | None = None,
    tags: Sequence[str] | None = None,
    release: str | None = None,
    version: str | None = None,
    environment: str | None = None,
    metadata: Mapping[str, Any] | None = None,
    input: Any = None,
    output: Any = None,
    public: bool | None = None,
) -> dict[str, Any]:
    """Trace fields as span attributes (only the ones given)."""
    out: dict[str, Any] = {}
    if name is not None:
        out[A.TRACE_NAME] = str(name)
    if user_id is not None:
        out[A.USER_ID] = str(user_id)
    if session_id is not None:
        out[A.SESSION_ID] = str(session_id)
    if tags is not None:
        out[A.TRACE_TAGS] = [tags] if isinstance(tags, str) else [str(t) for t in tags]
    if release is not None:
        out[A.RELEASE] = str(release)
    if version is not None:
        out[A.VERSION] = str(version)
    if environment is not None:
        out[A.ENVIRONMENT] = str(environment)
    if metadata:
        out.update(A.metadata_attributes(A.TRACE_METADATA, metadata, cap, mask))
    if input is not None:
        out[A.TRACE_INPUT] = A.io_value(input, cap, mask)
    if output is not None:
        out[A.TRACE_OUTPUT] = A.io_value(output, cap, mask)
    if public is not None:
        out[A.TRACE_PUBLIC] = bool(public)
    return out


def merge_trace_attributes(state: TraceState, new: Mapping[str, Any]) -> None:
    """Later values win; tags accumulate without duplicates."""
    attrs = state.attributes
    for k, v in new.items():
        if k == A.TRACE_TAGS and k in attrs:
            old = attrs[k]
            v = old + [t for t in v if t not in old]
        attrs[k] = v
