"""How far ``heron demo`` is in sending its traces, shared with the server it runs.

``heron demo`` runs the server in the same process (uvicorn in a thread) and sends the
workload to it over OTLP from the main thread; the sender advances a :class:`LoadProgress`
that the app holds (``app.state.demo_progress``), so pages show "Loading demo data: n of N
traces" until the data is in.
"""

from __future__ import annotations

import threading

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest


class LoadProgress:
    """Traces sent so far out of ``total``; thread-safe."""

    def __init__(self, total: int) -> None:
        self.total = max(0, total)
        self._done = 0
        self._finished = False
        self._lock = threading.Lock()

    def advance(self, traces: int) -> None:
        """Count ``traces`` more as sent (capped at the total)."""
        with self._lock:
            self._done = min(self.total, self._done + max(0, traces))

    def finish(self) -> None:
        """Loading is over (done or failed): pages stop showing the banner."""
        with self._lock:
            self._finished = True

    def loading(self) -> dict[str, int] | None:
        """``{"done": n, "total": N}`` while loading, None once finished."""
        with self._lock:
            if self._finished:
                return None
            return {"done": self._done, "total": self.total}


def root_spans(req: ExportTraceServiceRequest) -> int:
    """Spans without a parent in ``req``: one per trace, sent with the trace's last span."""
    return sum(
        1
        for rs in req.resource_spans
        for ss in rs.scope_spans
        for span in ss.spans
        if not span.parent_span_id
    )
