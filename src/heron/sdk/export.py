"""Background export: a bounded queue of ended spans, a batching thread, a count of drops.

:class:`HeronSpanProcessor` is an OpenTelemetry ``SpanProcessor``; it can be added to any
``TracerProvider``. Ended spans go into a bounded queue on the caller's thread (an append); a
daemon thread sends them in batches through a ``SpanExporter`` (by default the OTLP/HTTP
protobuf exporter, which retries 429/502/503/504 and connection errors with exponential
backoff and honours ``Retry-After`` within its timeout). A span is *dropped* when the queue
is full or when its batch finally fails; drops are counted, never raised. Spans ending after
:meth:`shutdown` are ignored.

On start, the processor copies the trace attributes set with
:func:`heron.update_current_trace` (see :mod:`heron.sdk.context`) onto the new span, whichever
tracer created it.
"""

from __future__ import annotations

import collections
import logging
import threading
import time
from collections.abc import Sequence
from typing import Any

from opentelemetry.context import _SUPPRESS_INSTRUMENTATION_KEY, Context, attach, set_value
from opentelemetry.sdk.trace import ReadableSpan, Span, SpanProcessor
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult

from heron.sdk import context as trace_context

log = logging.getLogger("heron")

__all__ = ["HeronSpanProcessor"]


class HeronSpanProcessor(SpanProcessor):
    """Batching span processor with a bounded queue and public drop / export counters."""

    def __init__(
        self,
        exporter: SpanExporter,
        max_queue_size: int = 10_000,
        max_batch_size: int = 512,
        flush_interval: float = 1.0,
    ) -> None:
        self._exporter = exporter
        self._max_queue = max_queue_size
        self._max_batch = max_batch_size
        self._interval = flush_interval
        self._queue: collections.deque[ReadableSpan] = collections.deque()
        self._wake = threading.Event()
        self._export_lock = threading.Lock()  # one export at a time (worker or flush)
        self._count_lock = threading.Lock()
        self._shutdown = False
        self.span_attributes: dict[str, Any] = {}  # set on every span (shared providers)
        self.dropped_spans = 0  # queue full, after shutdown, or the export finally failed
        self.exported_spans = 0  # acknowledged by the server
        self.failed_exports = 0  # export requests that failed after retries
        self._thread = threading.Thread(target=self._run, name="heron-export", daemon=True)
        self._thread.start()

    # ---- SpanProcessor ---------------------------------------------------------------------

    def on_start(self, span: Span, parent_context: Context | None = None) -> None:
        if self.span_attributes:
            span.set_attributes(self.span_attributes)
        states = trace_context.STATES
        if states:
            state = states.get(span.context.trace_id)
            if state is not None and state.attributes:
                span.set_attributes(state.attributes)

    def on_end(self, span: ReadableSpan) -> None:
        if not span.context.trace_flags.sampled:
            return
        states = trace_context.STATES
        if states:  # the local root ends: forget its trace's state
            parent = span.parent
            if parent is None or parent.is_remote:
                states.pop(span.context.trace_id, None)
        if self._shutdown:  # e.g. a shared provider still running after heron.shutdown()
            return
        queue = self._queue
        if len(queue) >= self._max_queue:
            self._drop(1)
            return
        queue.append(span)
        if len(queue) >= self._max_batch:
            self._wake.set()

    def force_flush(self, timeout_millis: int = 30_000) -> bool:
        """Export everything queued now. ``False`` if spans remain after the timeout or a
        batch failed (heron unreachable: the rest stays queued for the background thread
        instead of waiting out one export timeout per batch here)."""
        if self._shutdown:
            return not self._queue
        deadline = time.monotonic() + timeout_millis / 1000
        while self._queue:
            if time.monotonic() > deadline or not self._export_batch():
                return False
        return True

    def shutdown(self, timeout: float = 30.0) -> None:
        """Stop taking spans, send what is queued (for at most about ``timeout`` seconds,
        giving up at the first failed batch), shut the exporter down; spans still queued
        then are dropped and counted. Idempotent."""
        if self._shutdown:
            return
        deadline = time.monotonic() + timeout
        self._shutdown = True  # on_end ignores new spans; the worker ends after its batch
        self._wake.set()
        self._thread.join(max(deadline - time.monotonic(), 0.0))
        while self._queue and time.monotonic() < deadline and not self._thread.is_alive():
            if not self._export_batch():
                break
        try:
            self._exporter.shutdown()  # also aborts the retries of a batch still in flight
        except Exception:
            log.debug("heron: exporter shutdown failed", exc_info=True)
        self._thread.join(1.0)
        with self._count_lock:
            left = len(self._queue)
            self._queue.clear()
        if left:
            self._drop(left)

    # ---- internals -------------------------------------------------------------------------

    @property
    def queued_spans(self) -> int:
        return len(self._queue)

    def _drop(self, n: int) -> None:
        with self._count_lock:
            self.dropped_spans += n

    def _run(self) -> None:
        # the exporter's own HTTP calls must not be traced (instrumented HTTP clients)
        attach(set_value(_SUPPRESS_INSTRUMENTATION_KEY, True))
        while not self._shutdown:
            self._wake.wait(self._interval)
            self._wake.clear()
            while self._queue and not self._shutdown:
                self._export_batch()

    def _export_batch(self) -> bool:
        """Send one batch; ``False`` if it failed (its spans are dropped and counted)."""
        with self._export_lock:
            queue = self._queue
            batch: list[ReadableSpan] = []
            try:
                for _ in range(min(self._max_batch, len(queue))):
                    batch.append(queue.popleft())
            except IndexError:  # emptied concurrently
                pass
            if not batch:
                return True
            ok = self._send(batch)
        with self._count_lock:
            if ok:
                self.exported_spans += len(batch)
            else:
                self.failed_exports += 1
                self.dropped_spans += len(batch)
        return ok

    def _send(self, batch: Sequence[ReadableSpan]) -> bool:
        try:
            return self._exporter.export(batch) is SpanExportResult.SUCCESS
        except Exception:
            log.warning("heron: span export raised", exc_info=True)
            return False


class RepeatFilter(logging.Filter):
    """Lets a given log message (by its template) through at most once per ``interval``
    seconds: an app pointed at a heron that is down logs it once a minute, not per retry."""

    def __init__(self, interval: float = 60.0) -> None:
        super().__init__("heron-repeat")
        self.interval = interval
        self._last: dict[tuple[str, object], float] = {}

    def filter(self, record: logging.LogRecord) -> bool:
        key = (record.name, record.msg)
        now = time.monotonic()
        last = self._last.get(key)
        if last is not None and now - last < self.interval:
            return False
        self._last[key] = now
        return True


_EXPORTER_LOGGERS = (
    "opentelemetry.exporter.otlp.proto.http.trace_exporter",
    "opentelemetry.exporter.otlp.common.http",
)


def quiet_exporter_logs() -> None:
    """Rate-limit the OTLP exporter's retry and failure messages (idempotent)."""
    for name in _EXPORTER_LOGGERS:
        logger = logging.getLogger(name)
        if not any(isinstance(f, RepeatFilter) for f in logger.filters):
            logger.addFilter(RepeatFilter())


def make_exporter(endpoint: str, headers: dict[str, str], timeout: float) -> Any:
    """The OTLP/HTTP protobuf exporter (imported here: it pulls in ``requests``)."""
    quiet_exporter_logs()
    from opentelemetry.exporter.otlp.proto.http import Compression
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

    return OTLPSpanExporter(
        endpoint=endpoint, headers=headers, timeout=timeout, compression=Compression.Gzip
    )
