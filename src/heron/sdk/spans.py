"""Observations: an OpenTelemetry span plus heron's attribute conventions.

:class:`Observation` wraps one span. It is a context manager (``with`` makes it the current
span, and ends it on exit, recording an exception as level ERROR) and can be ended by hand
with :meth:`Observation.end`. Every method is safe on a span that is not recording (not
initialised, sampled out, already ended): it does nothing.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import datetime
from types import TracebackType
from typing import TYPE_CHECKING, Any

from opentelemetry import context as otel_context
from opentelemetry import trace as otel_trace
from opentelemetry.trace import INVALID_SPAN, Status, StatusCode

from heron.sdk import attributes as A

if TYPE_CHECKING:
    from heron.sdk.client import HeronClient

log = logging.getLogger("heron")

__all__ = ["Observation"]

_attach = otel_context.attach
_detach = otel_context.detach
_get_current = otel_context.get_current
_set_span = otel_trace.set_span_in_context


class Observation:
    """One span of a trace: a span, generation, tool call, retrieval... (see ``as_type``)."""

    __slots__ = ("_cap", "_client", "_ctx", "_mask", "_metadata_seen", "_span", "_token", "type")

    def __init__(self, client: HeronClient | None, span: Any, ctx: Any, as_type: str) -> None:
        self._client = client
        self._span = span
        self._ctx = ctx  # the context in which this span is current
        self._token: object | None = None
        self.type = as_type
        if client is not None:
            self._cap = client.config.max_field_bytes
            self._mask = client.config.mask
        else:
            self._cap = 0
            self._mask = None

    # ---- identity ----------------------------------------------------------------------

    @property
    def id(self) -> str | None:
        """The span id (16 hex digits), ``None`` when not recording."""
        sc = self._span.get_span_context()
        return format(sc.span_id, "016x") if sc.is_valid else None

    @property
    def trace_id(self) -> str | None:
        """The trace id (32 hex digits), ``None`` when not recording."""
        sc = self._span.get_span_context()
        return format(sc.trace_id, "032x") if sc.is_valid else None

    @property
    def span(self) -> Any:
        """The underlying OpenTelemetry span."""
        return self._span

    def is_recording(self) -> bool:
        return self._span.is_recording()

    # ---- updates -----------------------------------------------------------------------

    def update(
        self,
        *,
        input: Any = None,
        output: Any = None,
        metadata: Mapping[str, Any] | None = None,
        level: str | None = None,
        status_message: str | None = None,
        model: str | None = None,
        model_parameters: Mapping[str, Any] | None = None,
        usage: Any = None,
        cost: float | Mapping[str, float] | None = None,
        completion_start_time: datetime | float | str | None = None,
        prompt_name: str | None = None,
        prompt_version: int | None = None,
        name: str | None = None,
    ) -> Observation:
        """Set fields of this observation (only the ones given). Never raises."""
        span = self._span
        if not span.is_recording():
            return self
        try:
            attrs: dict[str, Any] = {}
            cap, mask = self._cap, self._mask
            if input is not None:
                attrs[A.OBS_INPUT] = A.io_value(input, cap, mask)
            if output is not None:
                attrs[A.OBS_OUTPUT] = A.io_value(output, cap, mask)
            if metadata:
                attrs.update(A.metadata_attributes(A.OBS_METADATA, metadata, cap, mask))
            if model is not None:
                # at start the requested model; an update names the model that answered
                attrs[A.RESPONSE_MODEL] = str(model)
            if model_parameters:
                attrs.update(A.params_attributes(model_parameters))
            if usage is not None:
                attrs.update(A.usage_attributes(usage))
            if cost is not None:
                attrs.update(A.cost_attributes(cost))
            if completion_start_time is not None:
                attrs[A.OBS_COMPLETION_START] = A.iso_time(completion_start_time)
            if prompt_name is not None:
                attrs[A.OBS_PROMPT_NAME] = str(prompt_name)
            if prompt_version is not None:
                attrs[A.OBS_PROMPT_VERSION] = int(prompt_version)
            if level is not None:
                lv = str(level).upper()
                if lv in A.LEVELS:
                    attrs[A.OBS_LEVEL] = lv
                    if lv == "ERROR":
                        span.set_status(Status(StatusCode.ERROR, status_message))
                else:
                    log.warning("heron: unknown level %r ignored", level)
            if status_message is not None:
                attrs[A.OBS_STATUS] = str(status_message)
            if name is not None:
                span.update_name(str(name))
            if attrs:
                span.set_attributes(attrs)
        except Exception:
            log.warning("heron: Observation.update failed", exc_info=True)
        return self

    def record_error(self, exc: BaseException) -> None:
        """Mark the observation ERROR with the exception's message (and an exception event)."""
        span = self._span
        if not span.is_recording():
            return
        try:
            text = str(exc)
            message = f"{type(exc).__name__}: {text}" if text else type(exc).__name__
            if isinstance(exc, Exception):
                level = "ERROR"
                span.set_status(Status(StatusCode.ERROR, message))
            else:  # KeyboardInterrupt, asyncio.CancelledError, GeneratorExit...
                level = "WARNING"
            span.set_attributes({A.OBS_LEVEL: level, A.OBS_STATUS: message})
            if level == "ERROR":
                span.record_exception(exc)
        except Exception:
            log.debug("heron: record_error failed", exc_info=True)

    def end(self, *, output: Any = None, end_time: int | None = None) -> None:
        """End the span (``output`` if given is set first). Idempotent."""
        if output is not None:
            self.update(output=output)
        try:
            self._span.end(end_time)
        except Exception:
            log.debug("heron: span end failed", exc_info=True)

    # ---- children ------------------------------------------------------------------------

    def start_observation(self, name: str, as_type: str = "span", **fields: Any) -> Observation:
        """A child of this observation (whatever the current span is)."""
        if self._client is None or not self._span.is_recording():
            return NOOP
        return self._client.start_observation(name, as_type, parent=self, **fields)

    # ---- context manager -------------------------------------------------------------------

    def __enter__(self) -> Observation:
        if self._ctx is not None and self._token is None:
            self._token = _attach(self._ctx)
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if exc is not None:
            self.record_error(exc)
        token, self._token = self._token, None
        if token is not None:
            _detach(token)
        self.end()

    def __repr__(self) -> str:
        return f"<Observation {self.type} {self.id or 'not recording'}>"


NOOP = Observation(None, INVALID_SPAN, None, "span")


def set_fast(span: Any, attrs: dict[str, Any]) -> None:
    """Set attributes the SDK builds itself (``str`` keys, ``str`` / ``int`` / ``bool``
    values, already capped) on a span that is being recorded.

    The OpenTelemetry SDK validates every attribute under a lock (about 1.5 µs each here),
    which alone would exceed heron's per-span budget; values built by heron need no
    validation, so they go straight into the span's attribute map. Any other span (no-op,
    another SDK, a changed SDK internal) takes the public ``set_attributes``."""
    try:
        if span._end_time is None:
            span._attributes._dict.update(attrs)
            return
    except AttributeError:
        pass
    span.set_attributes(attrs)


def begin(
    client: HeronClient,
    name: str,
    attrs: dict[str, Any] | None,
    parent_ctx: Any = None,
) -> tuple[Any, Any]:
    """Start a span as a child of ``parent_ctx`` (default: the current context), with
    ``attrs`` (built by heron, see :func:`set_fast`). Returns the span and the context in
    which it is current (carrying the trace state)."""
    if parent_ctx is None:
        parent_ctx = _get_current()
    span = client.tracer.start_span(name, parent_ctx)
    if attrs and span.is_recording():
        set_fast(span, attrs)
    return span, activate(span, parent_ctx)


def activate(span: Any, parent_ctx: Any) -> Any:
    """The context in which ``span`` is current."""
    return _set_span(span, parent_ctx)
