"""An alert's metric at many evaluation times at once, exactly (the store's ``alert_series``).

The value at evaluation time ``t`` aggregates the rows of the alert's query (the metrics
view's measure SQL and filters, :func:`heron.query.metrics.measure_rows`) in the window
``[t - window, t)``. Evaluation times are multiples of the alert's ``every`` since the Unix
epoch, so the live evaluation and a backtest compute the same number for the same time.

- Decomposable aggregations (count, sum, avg, min, max; a rate is the avg of a 0/1
  measure) are computed from buckets of ``gcd(window, times)`` (count, non-null count, sum,
  min, max per bucket), rolled up over each window by the engine: the rows are read once.
- Percentiles and uniq are not decomposable: the rows are read once sorted by time and each
  window is a slice of them, computed here (:func:`sliced`), the same code for every
  backend; a percentile is :func:`heron.store.signals.interpolate` between the two order
  statistics around it (``quantile_cont``, type 7), so every backend gives the same bits.

For counts and rates each point also carries the numerator and denominator the anomaly
tests use (events; successes of trials). This module holds the DuckDB SQL and what every
backend shares (:func:`bucketing`, :func:`points`, :func:`sliced`); ClickHouse's SQL is
:mod:`heron.store.clickhouse.alert_series`.
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
from heron.store.signals import interpolate

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


@dataclass(slots=True, frozen=True)
class Bucketing:
    """Buckets of ``width_us`` µs (``k``: a bucket's start // width); a window is the
    ``span`` buckets before its evaluation time's key (``keys``, one per time)."""

    width_us: int
    span: int
    keys: list[int]


def bucketing(window: timedelta, times: Sequence[datetime]) -> Bucketing:
    """Buckets of ``gcd(window, times)`` seconds: a bucket never straddles a window's edge
    (every edge is a multiple of it)."""
    g = math.gcd(int(window.total_seconds()), *(seconds(t) for t in times))
    return Bucketing(
        g * 1_000_000, int(window.total_seconds()) // g, [seconds(t) // g for t in times]
    )


def points(
    query: dict[str, Any], times: Sequence[datetime], rows: Sequence[Sequence[Any]]
) -> dict[datetime, Point]:
    """The points of a decomposable metric from its rolled-up ``rows`` (rows, non-null
    values, sum, min, max over each time's window; one row per time, in order)."""
    measure, aggregation = query["metric"]["measure"], query["metric"]["aggregation"]
    kind = kind_of(query)
    out = {}
    for t, (n, nn, s, mn, mx) in zip(times, rows, strict=True):
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


def sliced(
    at: np.ndarray,
    values: np.ndarray,
    aggregation: str,
    window: timedelta,
    times: Sequence[datetime],
) -> dict[datetime, Point]:
    """Percentiles and uniq of each window, from the non-null values sorted by their time
    ``at`` (epoch µs): each window is a slice of them."""
    if aggregation != "uniq":
        values = values.astype(float)
    w = int(window.total_seconds()) * 1_000_000
    ends = np.array([seconds(t) * 1_000_000 for t in times], dtype=np.int64)
    lo = np.searchsorted(at, ends - w, side="left")
    hi = np.searchsorted(at, ends, side="left")
    out: dict[datetime, Point] = {}
    for t, i, j in zip(times, lo, hi, strict=True):
        if aggregation == "uniq":
            out[t] = Point(float(len(set(values[i:j].tolist()))))
        elif i == j:
            out[t] = Point(None)
        else:
            out[t] = Point(_quantile(np.sort(values[i:j]), PERCENTILES[aggregation]))
    return out


def _quantile(ordered: np.ndarray, q: float) -> float:
    n = len(ordered)
    rn = (n - 1) * q
    return interpolate(n, q, ordered[math.floor(rn)], ordered[math.ceil(rn)])


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
    aggregation = query["metric"]["aggregation"]
    base, params = measure_rows(
        project_id,
        query["view"],
        query["metric"]["measure"],
        parse_filters(query.get("filters") or []),
        times[0] - window,
        times[-1],
    )
    if aggregation in DECOMPOSABLE:
        return points(query, times, _rolled_up(cur, base, params, bucketing(window, times)))
    rows = cur.execute(
        f"SELECT epoch_us(t) AS t, v FROM ({base}) WHERE v IS NOT NULL ORDER BY t", params
    ).fetchnumpy()
    return sliced(rows["t"], rows["v"], aggregation, window, times)


def _rolled_up(
    cur: duckdb.DuckDBPyConnection, base: str, params: list[Any], b: Bucketing
) -> list[tuple[Any, ...]]:
    """Per time: rows, non-null values, sum, min, max over its window, from buckets."""
    # each window's sums, minimum and maximum over the buckets before it (a RANGE frame:
    # DuckDB's segment trees, not a join of every time with every bucket)
    sql = (
        f"WITH base AS ({base}), "
        f"b AS (SELECT epoch_us(t) // {b.width_us} AS k, count(*) AS n, count(v) AS nn, "
        "sum(v)::DOUBLE AS s, min(v)::DOUBLE AS mn, max(v)::DOUBLE AS mx FROM base GROUP BY k), "
        "ev AS (SELECT unnest(?::BIGINT[]) AS k), "
        "allk AS (SELECT k, n, nn, s, mn, mx, FALSE AS is_ev FROM b UNION ALL "
        "SELECT k, 0, 0, NULL, NULL, NULL, TRUE FROM ev), "
        "w AS (SELECT k, is_ev, sum(n) OVER f AS n, sum(nn) OVER f AS nn, sum(s) OVER f AS s, "
        "min(mn) OVER f AS mn, max(mx) OVER f AS mx FROM allk "
        f"WINDOW f AS (ORDER BY k RANGE BETWEEN {b.span} PRECEDING AND 1 PRECEDING)) "
        "SELECT k, n, nn, s, mn, mx FROM w WHERE is_ev"
    )
    by_key = {r[0]: r[1:] for r in cur.execute(sql, [*params, b.keys]).fetchall()}
    return [by_key[k] for k in b.keys]


def seconds(t: datetime) -> int:
    """Whole seconds since the epoch of a naive UTC time."""
    return (t - EPOCH) // timedelta(seconds=1)
