"""Counters the ingest path keeps for ``GET /metrics``: plain integers, no locks.

Route counters are touched only on the event loop thread, pipeline counters only by the
thread that owns them, so an increment is one dictionary update per request or batch (never
per span) and costs nothing next to decoding.
"""

from __future__ import annotations

from bisect import bisect_left
from collections import Counter
from dataclasses import dataclass, field

# Seconds; one bucket layout for every write-path latency (journal fsync, store commit).
WRITE_BUCKETS: tuple[float, ...] = (
    0.001,
    0.0025,
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
    5.0,
    10.0,
)


@dataclass(slots=True)
class LatencyHistogram:
    """A fixed-bucket histogram written by one thread (bucket ``i`` counts values <= bound)."""

    bounds: tuple[float, ...] = WRITE_BUCKETS
    counts: list[int] = field(default_factory=list)
    total: float = 0.0

    def __post_init__(self) -> None:
        self.counts = [0] * (len(self.bounds) + 1)  # the last slot is +Inf

    def observe(self, seconds: float) -> None:
        self.counts[bisect_left(self.bounds, seconds)] += 1
        self.total += seconds

    def cumulative(self) -> list[tuple[str, int]]:
        """``(upper bound, count <= bound)`` pairs ending with ``+Inf``, as Prometheus wants."""
        out: list[tuple[str, int]] = []
        running = 0
        for bound, n in zip((*map(repr, self.bounds), "+Inf"), self.counts, strict=True):
            running += n
            out.append((bound, running))
        return out


@dataclass(slots=True)
class IngestStats:
    """What the OTLP routes saw: requests by status class and rejection reason, and spans."""

    requests: Counter[str] = field(default_factory=Counter)  # "2xx", "4xx", "5xx"
    rejected_requests: Counter[str] = field(default_factory=Counter)  # HeronError.code
    spans_received: int = 0
    spans_accepted: int = 0
    rejected_spans: Counter[str] = field(default_factory=Counter)  # reason
    project_spans_accepted: Counter[str] = field(default_factory=Counter)  # project id

    def request(self, status: int, reason: str | None = None) -> None:
        self.requests[f"{status // 100}xx"] += 1
        if reason is not None:
            self.rejected_requests[reason] += 1
