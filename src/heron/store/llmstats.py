"""Cumulative LLM totals of one project, for the Prometheus export (``GET /metrics``).

Totals are computed from the stored rows at scrape time, so they are exact: a re-sent span is
merged by the writer before it is counted, and nothing is lost or reset on restart. A trace
(and the model calls in it) is counted once it is *settled*: its root span has arrived (an
OpenTelemetry root span ends, and is exported, last), or nothing was written to it for a
while. Until then its name may still change, and a counter that moved from one label to
another would look like a reset to Prometheus.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import duckdb

# Seconds. Model calls take from a fraction of a second to minutes; whole traces likewise.
LATENCY_BUCKETS: tuple[float, ...] = (0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 20.0, 30.0, 60.0, 120.0)

# The observation types that are calls to a model.
MODEL_CALL_TYPES: tuple[str, ...] = ("generation", "embedding")


@dataclass(frozen=True, slots=True)
class SeriesTotals:
    """Totals of one label set. ``buckets[i]`` counts timed items with latency <= bound ``i``;
    ``timed`` is how many had a latency at all (the histogram's ``+Inf`` bucket)."""

    labels: tuple[str | None, ...]
    count: int
    errors: int
    input_tokens: int
    output_tokens: int
    cost_usd: float
    timed: int
    latency_sum_s: float
    buckets: tuple[int, ...]


def _bucket_columns(latency_s: str) -> str:
    # Bounds are constants of this module, never user input.
    return ", ".join(
        f"count(*) FILTER (WHERE {latency_s} <= {bound!r})" for bound in LATENCY_BUCKETS
    )


_CALL_LATENCY = "(epoch_us(o.end_time) - epoch_us(o.start_time)) / 1e6"
_CALLS_SQL = f"""
SELECT o.model, t.name, count(*), count(*) FILTER (WHERE o.level = 'ERROR'),
       coalesce(sum(o.input_tokens), 0), coalesce(sum(o.output_tokens), 0),
       coalesce(sum(o.total_cost), 0), count(o.end_time), coalesce(sum({_CALL_LATENCY}), 0),
       {_bucket_columns(_CALL_LATENCY)}
FROM observations o
JOIN (
    SELECT id, name FROM traces
    WHERE project_id = ? AND (root_observation_id IS NOT NULL OR updated_at < ?)
) t ON t.id = o.trace_id
WHERE o.project_id = ? AND o.type IN ({", ".join("?" for _ in MODEL_CALL_TYPES)})
GROUP BY ALL
"""
# Both sides are filtered to the project first, so the join is on the trace id alone: half
# the time of joining on (project_id, id) with a million traces stored.

_TRACE_LATENCY = "(t.latency_ms / 1e3)"
_TRACES_SQL = f"""
SELECT t.name, count(*), count(*) FILTER (WHERE t.level = 'ERROR'),
       coalesce(sum(t.input_tokens), 0), coalesce(sum(t.output_tokens), 0),
       coalesce(sum(t.total_cost), 0), count(t.latency_ms), coalesce(sum({_TRACE_LATENCY}), 0),
       {_bucket_columns(_TRACE_LATENCY)}
FROM traces t
WHERE t.project_id = ? AND (t.root_observation_id IS NOT NULL OR t.updated_at < ?)
GROUP BY ALL
"""


def model_call_totals(
    cur: duckdb.DuckDBPyConnection, project_id: str, settled_before: datetime
) -> list[SeriesTotals]:
    """Model calls of settled traces by ``(model, trace name)``; ``settled_before`` is naive
    UTC: traces without a root span count once last written before it."""
    params = [project_id, settled_before, project_id, *MODEL_CALL_TYPES]
    rows = cur.execute(_CALLS_SQL, params).fetchall()
    return [_totals(row, 2) for row in rows]


def trace_totals(
    cur: duckdb.DuckDBPyConnection, project_id: str, settled_before: datetime
) -> list[SeriesTotals]:
    """Settled traces by trace name."""
    rows = cur.execute(_TRACES_SQL, [project_id, settled_before]).fetchall()
    return [_totals(row, 1) for row in rows]


def _totals(row: tuple, n_labels: int) -> SeriesTotals:
    labels = row[:n_labels]
    count, errors, tokens_in, tokens_out, cost, timed, latency_sum, *buckets = row[n_labels:]
    return SeriesTotals(
        labels=tuple(labels),
        count=int(count),
        errors=int(errors),
        input_tokens=int(tokens_in),
        output_tokens=int(tokens_out),
        cost_usd=float(cost),
        timed=int(timed),
        latency_sum_s=float(latency_sum),
        buckets=tuple(int(b) for b in buckets),
    )
