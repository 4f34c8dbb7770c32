"""An alert's metric at many evaluation times at once, exactly (the store's ``alert_series``).

The value at evaluation time ``t`` aggregates the rows of the alert's query (the metrics
view's measure SQL and filters, :func:`heron.query.metrics.measure_rows`) in the window
``[t - window, t)``. Evaluation times are multiples of the alert's ``every`` since the Unix
epoch, so the live evaluation and a backtest compute the same number for the same time.

- Counts, minimums, maximums, and sums and averages of whole numbers (a rate is the avg of
  a 0/1 measure) are computed from buckets of ``gcd(window, times)`` (count, non-null
  count, sum, min, max per bucket), rolled up over each window by the engine: the rows are
  read once.
- Percentiles and uniq are not decomposable: the rows are read once sorted by time and each
  window is a slice of them, computed here (:func:`sliced`), the same code for every
  backend; a percentile is :func:`heron.store.signals.interpolate` between the two order
  statistics around it (``quantile_cont``, type 7), so every backend gives the same bits.
- Sums and averages of fractional values (latency, cost, score values) are computed here
  too, from the same sorted rows, in a way that does not depend on their order
  (:func:`_window_sums`: exact, rounded once): an engine's own sum depends on the order
  it adds in, which differs between engines (and between DuckDB's threads). Sums of whole
  numbers (counts, tokens, 0/1 rates) are exact in any order, so the engine rolls them up.
- Scattered times (a live anomaly evaluation's baselines) read only the rows of their
  windows (:func:`needed_buckets`).

For counts and rates each point also carries the numerator and denominator the anomaly
tests use (events; successes of trials). This module holds the DuckDB SQL and what every
backend shares (:func:`rolled_up`, :func:`bucketing`, :func:`needed_buckets`,
:func:`points`, :func:`sliced`); ClickHouse's SQL is
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
from heron.query.metrics import PERCENTILES, VIEWS, _measure, measure_rows
from heron.store.signals import interpolate

EPOCH = datetime(1970, 1, 1)
DECOMPOSABLE = ("count", "sum", "avg", "min", "max")
# measures whose values are 0 or 1: their avg is a rate (events of trials)
RATE_MEASURES = ("error_rate", "has_score.", "has_true_score.")
# measures whose values are whole numbers: sums exact in any order (below 2**53)
WHOLE_MEASURES = (
    "count", "input_tokens", "output_tokens", "total_tokens", "observation_count",
    "error_count", "error_rate",
)  # fmt: skip


MAX_LISTED_BUCKETS = 100_000  # past this, the rows are read whole (see needed_buckets)


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


def rolled_up(query: dict[str, Any]) -> bool:
    """Whether the metric is rolled up from buckets by the engine (else :func:`sliced`)."""
    measure, aggregation = query["metric"]["measure"], query["metric"]["aggregation"]
    if aggregation in ("sum", "avg"):
        return measure in WHOLE_MEASURES or measure.startswith(RATE_MEASURES[1:])
    return aggregation in DECOMPOSABLE


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


def needed_buckets(b: Bucketing) -> list[int] | None:
    """The buckets the windows cover, when they are at most half of those between the first
    and the last (a live anomaly evaluation's scattered baselines): the rows to read; None
    when reading every row of the range is as good (a backtest's contiguous windows)."""
    if len(b.keys) * b.span > MAX_LISTED_BUCKETS:
        return None
    needed = sorted({k - i for k in b.keys for i in range(1, b.span + 1)})
    if 2 * len(needed) > b.keys[-1] - b.keys[0] + b.span:
        return None
    return needed


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
        if aggregation == "count":
            value: float | None = float(count)
        elif not nn:
            value = None
        else:  # a number (a measure that is not one is only counted)
            total, low, high = float(s), float(mn), float(mx)
            value = {"sum": total, "avg": total / nn, "min": low, "max": high}[aggregation]
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
    """Percentiles, uniq, sums and averages of each window, from the non-null values sorted
    by their time ``at`` (epoch µs): each window is a slice of them."""
    if aggregation != "uniq":
        values = values.astype(float)
    w = int(window.total_seconds()) * 1_000_000
    ends = np.array([seconds(t) * 1_000_000 for t in times], dtype=np.int64)
    lo = np.searchsorted(at, ends - w, side="left")
    hi = np.searchsorted(at, ends, side="left")
    lo, hi = lo.tolist(), hi.tolist()
    if aggregation in ("sum", "avg"):
        totals = _window_sums(values, lo, hi)
    out: dict[datetime, Point] = {}
    for n, (t, i, j) in enumerate(zip(times, lo, hi, strict=True)):
        if aggregation == "uniq":
            out[t] = Point(float(len(set(values[i:j].tolist()))))
        elif i == j:
            out[t] = Point(None)
        elif aggregation == "sum":
            out[t] = Point(totals[n])
        elif aggregation == "avg":
            out[t] = Point(totals[n] / (j - i))
        else:
            out[t] = Point(_quantile(np.sort(values[i:j]), PERCENTILES[aggregation]))
    return out


def _window_sums(values: np.ndarray, lo: Sequence[int], hi: Sequence[int]) -> list[float]:
    """The sum of ``values[i:j]`` for each window, exact and rounded once (so it does not
    depend on the order of the rows, nor on which other windows are asked for).

    Each value is split exactly into parts on coarser and finer grids (Dekker's Fast2Sum
    with a power of two ``sigma`` above 4 n max|v|): the parts of one grid sum exactly in
    doubles, so their prefix sums are exact, and a window's sum is the ``math.fsum`` of one
    exact difference per grid. Each row is read a few times (once per grid: a grid takes
    about 29 bits of the values' range at a million rows) and each window is a few
    lookups."""
    n = len(values)
    if not np.isfinite(values).all() or (
        n and not math.isfinite(16 * n * float(np.abs(values).max()))
    ):
        return [math.fsum(values[i:j]) for i, j in zip(lo, hi, strict=True)]
    prefixes = []
    rest = values
    while n and (top := float(np.abs(rest).max())) > 0:
        sigma = 2.0 ** (math.ceil(math.log2(4 * n * top)) + 1)
        high = (rest + sigma) - sigma
        rest = rest - high
        prefixes.append(np.concatenate(([0.0], np.cumsum(high))))
    return [math.fsum(float(c[j] - c[i]) for c in prefixes) for i, j in zip(lo, hi, strict=True)]


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
    base, params = measure_rows(
        project_id,
        query["view"],
        query["metric"]["measure"],
        parse_filters(query.get("filters") or []),
        times[0] - window,
        times[-1],
    )
    if rolled_up(query):
        rows = _rolled_up(cur, base, params, bucketing(window, times), numeric(query))
        return points(query, times, rows)
    b = bucketing(window, times)
    only, extra = "", []
    needed = needed_buckets(b)
    if needed is not None:
        only, extra = f" AND epoch_us(t) // {b.width_us} IN (SELECT unnest(?::BIGINT[]))", [needed]
    rows = cur.execute(
        f"SELECT epoch_us(t) AS t, v FROM ({base}) WHERE v IS NOT NULL{only} ORDER BY t",
        [*params, *extra],
    ).fetchnumpy()
    return sliced(rows["t"], rows["v"], query["metric"]["aggregation"], window, times)


def numeric(query: dict[str, Any]) -> bool:
    """Whether the measure is a number (else only counted: no sum, min or max)."""
    measure = _measure(VIEWS[query["view"]], query["metric"]["measure"])
    return measure is not None and measure.numeric


def _rolled_up(
    cur: duckdb.DuckDBPyConnection, base: str, params: list[Any], b: Bucketing, numeric: bool
) -> list[tuple[Any, ...]]:
    """Per time: rows, non-null values, sum, min, max over its window, from buckets."""
    x = "v::DOUBLE" if numeric else "NULL::DOUBLE"
    # each window's sums, minimum and maximum over the buckets before it (a RANGE frame:
    # DuckDB's segment trees, not a join of every time with every bucket)
    sql = (
        f"WITH base AS ({base}), "
        f"b AS (SELECT epoch_us(t) // {b.width_us} AS k, count(*) AS n, count(v) AS nn, "
        f"sum({x}) AS s, min({x}) AS mn, max({x}) AS mx FROM base GROUP BY k), "
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
