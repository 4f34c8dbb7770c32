"""Turn the scenario into ExportTraceServiceRequests the way OpenTelemetry SDKs send them.

Each service (resource: service, environment, release) has its own BatchSpanProcessor: spans
are queued when they end and exported every ``export_interval_s`` or as soon as
``batch_spans`` are queued, so the spans of one trace are often split over several requests
and the root span (which ends last) usually comes last. With ``delivery_quirks`` a few root
spans are exported minutes late (``DemoTrace.root_export_delay_us``) and a few requests are
sent twice (an exporter retrying after a lost response). Requests come out in time order.
"""

from __future__ import annotations

import heapq
import random
from collections.abc import Iterator

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.resource.v1.resource_pb2 import Resource

from heron.demo.model import DemoConfig, DemoSpan, DemoTrace
from heron.demo.otlp import FILLERS, resource, scope_for
from heron.demo.workload import iter_traces

DUPLICATE_REQUEST_RATE = 0.003
_INF = 1 << 62


class _Exporter:
    __slots__ = ("flush_at", "phase", "queue", "resource")

    def __init__(self, res: Resource, phase: int) -> None:
        self.resource = res
        self.phase = phase
        self.queue: list[tuple[DemoSpan, DemoTrace]] = []
        self.flush_at = 0


def _build(ex: _Exporter) -> ExportTraceServiceRequest:
    req = ExportTraceServiceRequest()
    rs = req.resource_spans.add()
    rs.resource.CopyFrom(ex.resource)
    scopes: dict[tuple[str, str], object] = {}
    for sp, tr in ex.queue:
        key = scope_for(tr, sp)
        ss = scopes.get(key)
        if ss is None:
            ss = scopes[key] = rs.scope_spans.add()
            ss.scope.name = key[0]
            ss.scope.version = key[1]
        FILLERS[tr.convention](ss.spans.add(), sp, tr)
    ex.queue = []
    return req


def generate_timed(config: DemoConfig) -> Iterator[tuple[int, ExportTraceServiceRequest]]:
    """(send time in µs, request) in time order; see :func:`generate`."""
    config = config.resolved()
    rng = random.Random(config.seed * 1_000_003 + 17)  # independent of the scenario's draws
    interval = max(1, int(config.export_interval_s * 1_000_000))
    limit = config.batch_spans
    if limit < 1:
        raise ValueError("batch_spans must be at least 1")
    quirks = config.delivery_quirks
    exporters: dict[tuple[str, str, str], _Exporter] = {}
    pending: list[tuple[int, int, DemoSpan, DemoTrace]] = []  # by export time
    flushes: list[tuple[int, int, _Exporter]] = []  # scheduled timer flushes
    seq = 0

    def emit(ex: _Exporter, at: int) -> Iterator[tuple[int, ExportTraceServiceRequest]]:
        req = _build(ex)
        yield at, req
        if quirks and rng.random() < DUPLICATE_REQUEST_RATE:
            yield at, req

    def advance(until: int) -> Iterator[tuple[int, ExportTraceServiceRequest]]:
        nonlocal seq
        while True:
            while flushes and flushes[0][2].flush_at != flushes[0][0]:
                heapq.heappop(flushes)  # stale: that exporter flushed early (queue full)
            t_span = pending[0][0] if pending else _INF
            t_flush = flushes[0][0] if flushes else _INF
            if min(t_span, t_flush) > until:
                return
            if t_flush <= t_span:
                _, _, ex = heapq.heappop(flushes)
                ex.flush_at = 0
                yield from emit(ex, t_flush)
                continue
            t, _, sp, tr = heapq.heappop(pending)
            key = (tr.service, tr.environment, tr.release)
            ex = exporters.get(key)
            if ex is None:
                res = resource(tr.service, tr.environment, tr.release, tr.convention)
                ex = exporters[key] = _Exporter(res, rng.randrange(interval))
            ex.queue.append((sp, tr))
            if len(ex.queue) >= limit:
                ex.flush_at = 0
                yield from emit(ex, t)
            elif not ex.flush_at:
                ex.flush_at = t - (t - ex.phase) % interval + interval
                seq += 1
                heapq.heappush(flushes, (ex.flush_at, seq, ex))

    for tr in iter_traces(config):
        yield from advance(tr.start_us)
        delay = tr.root_export_delay_us
        for sp in tr.spans:
            seq += 1
            t = sp.end_us + delay if sp.parent_id is None else sp.end_us
            heapq.heappush(pending, (t, seq, sp, tr))
    yield from advance(_INF - 1)


def generate(config: DemoConfig) -> Iterator[ExportTraceServiceRequest]:
    """OTLP requests carrying the scenario's spans, deterministic for a seed and ``end_us``.

    With the default ``end_us=None`` the period ends now, so the output changes with time.
    """
    for _, req in generate_timed(config):
        yield req
