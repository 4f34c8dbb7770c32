"""An alert's metric at many evaluation times at once, exactly.

The value at evaluation time ``t`` aggregates the rows of the alert's query (the metrics
view's measure SQL and filters, :func:`heron.query.metrics.measure_rows`) in the window
``[t - window, t)``. Evaluation times are multiples of ``every`` since the Unix epoch, so
the live evaluation and a backtest compute the same number for the same time.

- Decomposable aggregations (count, sum, avg, min, max; a rate is the avg of a 0/1
  measure) are computed from buckets of ``gcd(window, every)`` (count, non-null count, sum,
  min, max per bucket), rolled up over each window: the rows are read once.
- Percentiles and uniq are not decomposable: the rows are read once sorted by time and each
  window is a slice of them (linear interpolation between order statistics, as DuckDB's
  ``quantile_cont``).

For counts and rates each point also carries the numerator and denominator the anomaly
tests use (events; successes of trials).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import duckdb
import numpy as np

from heron.query.filters import parse_filters
from heron.query.metrics import PERCENTILES, measure_rows

EPOCH = datetime(1970, 1, 1)
DECOMPOSABLE = ("count", "sum", "avg", "min", "max")
# measures whose values are 0 or 1: their avg is a rate (events of trials)
RATE_MEASURES = ("error_rate", "has_score.", "has_true_score.")


@dataclass(slots=True, frozen=True)
class Point:
    """The metric at one evaluation time: ``value`` (None: no data in the window), and for
    counts and rates ``num`` (events) and ``den`` (trials; None for a count)."""

    value: float | None
    num: float | None = None
    den: float | None = None


def kind_of(query: dict[str, Any]) -> str:
    """``count``, ``rate`` or ``continuous``: which anomaly test fits the metric."""
    measure, aggregation = query["metric"]["measure"], query["metric"]["aggregation"]
    if aggregation == "count" or (aggregation == "sum" and measure in ("count", "error_count")):
        return "count"
    if aggregation == "avg" and (measure in RATE_MEASURES or measure.startswith(RATE_MEASURES[1:])):
        return "rate"
    return "continuous"


def aligned(t: datetime, every: timedelta, up: bool = False) -> datetime:
    """The evaluation time at or before ``t`` (``up``: at or after)."""
    step = int(every.total_seconds())
    s = (t - EPOCH) // timedelta(seconds=1)
    k = s // step if not up else -(-s // step)
    return EPOCH + timedelta(seconds=k * step)


def evaluation_times(start: datetime, end: datetime, every: timedelta) -> list[datetime]:
    """The evaluation times in ``[start, end]``."""
    t = aligned(start, every, up=True)
    out = []
    while t <= end:
        out.append(t)
        t += every
    return out


def series(
    cur: duckdb.DuckDBPyConnection,
    project_id: str,
    query: dict[str, Any],
    window: timedelta,
    times: Iterable[datetime],
) -> dict[datetime, Point]:
    """The metric of ``query`` over ``[t - window, t)`` for each of ``times`` (aligned)."""
    times = sorted(set(times))
    if not times:
        return {}
    measure, aggregation = query["metric"]["measure"], query["metric"]["aggregation"]
    base, params = measure_rows(
        project_id,
        query["view"],
        measure,
        parse_filters(query.get("filters") or []),
        times[0] - window,
        times[-1],
    )
    kind = kind_of(query)
    if aggregation in DECOMPOSABLE:
        rows = _rolled_up(cur, base, params, window, times)
        out = {}
        for t, n, nn, s, mn, mx in rows:
            n, nn = int(n or 0), int(nn or 0)
            count = n if measure == "count" else nn
            value = {
                "count": float(count),
                "sum": None if not nn else float(s),
                "avg": None if not nn else float(s) / nn,
                "min": None if not nn else float(mn),
                "max": None if not nn else float(mx),
            }[aggregation]
            if kind == "count":
                out[t] = Point(value, num=value, den=None)
            elif kind == "rate":
                out[t] = Point(value, num=float(s or 0.0), den=float(nn))
            else:
                out[t] = Point(value)
        return out
    return {t: Point(v) for t, v in _sliced(cur, base, params, aggregation, window, times)}


def _rolled_up(
    cur: duckdb.DuckDBPyConnection,
    base: str,
    params: list[Any],
    window: timedelta,
    times: Sequence[datetime],
) -> list[tuple[Any, ...]]:
    """Per time: rows, non-null values, sum, min, max over its window, from buckets."""
    g = math.gcd(int(window.total_seconds()), *(_seconds(t) for t in times))
    # a bucket never straddles a window's edge: every edge is a multiple of g seconds
    width = g * 1_000_000
    span = int(window.total_seconds()) // g
    keys = [_seconds(t) // g for t in times]
    # each window's sums, minimum and maximum over the buckets before it (a RANGE frame:
    # DuckDB's segment trees, not a join of every time with every bucket)
    sql = (
        f"WITH base AS ({base}), "
        f"b AS (SELECT epoch_us(t) // {width} AS k, count(*) AS n, count(v) AS nn, "
        "sum(v)::DOUBLE AS s, min(v)::DOUBLE AS mn, max(v)::DOUBLE AS mx FROM base GROUP BY k), "
        "ev AS (SELECT unnest(?::BIGINT[]) AS k), "
        "allk AS (SELECT k, n, nn, s, mn, mx, FALSE AS is_ev FROM b UNION ALL "
        "SELECT k, 0, 0, NULL, NULL, NULL, TRUE FROM ev), "
        "w AS (SELECT k, is_ev, sum(n) OVER f AS n, sum(nn) OVER f AS nn, sum(s) OVER f AS s, "
        "min(mn) OVER f AS mn, max(mx) OVER f AS mx FROM allk "
        f"WINDOW f AS (ORDER BY k RANGE BETWEEN {span} PRECEDING AND 1 PRECEDING)) "
        "SELECT k, n, nn, s, mn, mx FROM w WHERE is_ev"
    )
    by_key = {r[0]: r[1:] for r in cur.execute(sql, [*params, keys]).fetchall()}
    return [(t, *by_key[k]) for t, k in zip(times, keys, strict=True)]


def _sliced(
    cur: duckdb.DuckDBPyConnection,
    base: str,
    params: list[Any],
    aggregation: str,
    window: timedelta,
    times: Sequence[datetime],
) -> list[tuple[datetime, float | None]]:
    """Percentiles and uniq: the rows sorted by time once, each window a slice of them
    (``numpy``'s linear interpolation is DuckDB's ``quantile_cont``)."""
    rows = cur.execute(
        f"SELECT epoch_us(t) AS t, v FROM ({base}) WHERE v IS NOT NULL ORDER BY t", params
    ).fetchnumpy()
    at, values = rows["t"], rows["v"]
    if aggregation != "uniq":
        values = values.astype(float)
    w = int(window.total_seconds()) * 1_000_000
    ends = np.array([_seconds(t) * 1_000_000 for t in times], dtype=np.int64)
    lo = np.searchsorted(at, ends - w, side="left")
    hi = np.searchsorted(at, ends, side="left")
    out: list[tuple[datetime, float | None]] = []
    for t, i, j in zip(times, lo, hi, strict=True):
        if aggregation == "uniq":
            out.append((t, float(len(set(values[i:j].tolist())))))
        elif i == j:
            out.append((t, None))
        else:
            q = PERCENTILES[aggregation]
            out.append((t, float(np.quantile(values[i:j], q))))
    return out


def _seconds(t: datetime) -> int:
    return (t - EPOCH) // timedelta(seconds=1)
