"""Anomaly detection on an alert's metric, with a seasonal baseline (docs/signals.md).

For an evaluation time ``t`` the baseline is the metric at the same time of day on the
past 14 days (``t - 1d``, ``t - 2d``, ...), or at the same time of week on the past 6 weeks
once the three previous weeks all have a value (weekly seasonality: weekends). Comparing
with the same time of day is what lets it fire on a metric at 2.6 times its usual level
for this hour even when that level is ordinary at another hour, and stay quiet at the
usual daily peak.

Tests by kind of metric (:func:`heron.signals.series.kind_of`):

- **continuous** (latency, cost, tokens; percentiles): robust z-score against the median
  and the MAD (scaled by 1.4826) of the baseline, the samples taken within about half an
  hour of the same time of day; the scale never falls below 5% of the median, so a
  flat history does not make every wiggle an anomaly;
- **count**: at low volume (expected count below :data:`LOW_VOLUME`) an exact test of two
  Poisson rates: given the current count ``x`` and the pooled baseline count ``S`` over
  ``K`` windows, ``x ~ Binomial(x + S, 1 / (K + 1))`` when nothing changed (this accounts
  for the uncertainty of the baseline, unlike a test against its mean); above, a robust
  z-score whose scale is at least the Poisson noise ``sqrt(median)``;
- **rate** (the avg of a 0/1 measure, e.g. the error rate): at low volume (expected events
  below :data:`LOW_VOLUME`) an exact binomial test of the current events among the current
  trials against the pooled baseline rate; above, a robust z-score with a scale of at
  least the binomial noise ``sqrt(p (1 - p) / n)``.

The largest baseline sample is left out of the pooled counts (once there are at least 5),
so one past incident does not hide the next. An evaluation is *anomalous* when its
z-score or p-value passes the sensitivity's threshold in the watched direction; the alert
*fires* when the evaluation is anomalous and at least N of the last M are (so a firing
episode ends with the anomaly). Before
:data:`MIN_HISTORY` baseline values exist it never fires.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from heron.signals.series import Point

DAY = timedelta(days=1)
WEEK = timedelta(days=7)
DAYS_BACK = 14
WEEKS_BACK = 6
WEEKS_FOR_WEEKLY = 3
MIN_HISTORY = 3  # past days (or weeks) with a value at this time before it can fire
LOW_VOLUME = 100.0
NEIGHBOUR = timedelta(minutes=15)  # continuous baselines: samples ±2 of these around t
MAD_SCALE = 1.4826  # MAD to standard deviation for normal data
MIN_RELATIVE_SCALE = 0.05


@dataclass(slots=True, frozen=True)
class Sensitivity:
    z: float  # robust z-score beyond which a value is anomalous
    alpha: float  # p-value below which a count or rate is anomalous
    n: int  # anomalous evaluations among the last m that fire
    m: int


SENSITIVITIES = {
    "low": Sensitivity(6.0, 1e-6, 3, 4),
    "medium": Sensitivity(4.5, 1e-4, 2, 3),
    "high": Sensitivity(3.5, 1e-3, 2, 3),
}


@dataclass(slots=True)
class Assessment:
    """One evaluation: ``anomalous`` (None: no data or too little history), the expected
    value and band, the statistic (``z`` or ``p``) and the method that produced it."""

    anomalous: bool | None
    expected: float | None = None
    lower: float | None = None
    upper: float | None = None
    method: str = "none"
    statistic: float | None = None
    history: int = 0
    season: str = "day"


def baseline_times(t: datetime, every: timedelta, kind: str) -> list[datetime]:
    """Every time whose value the baseline of ``t`` may read (for a live evaluation)."""
    out = [t - k * DAY for k in range(1, DAYS_BACK + 1)]
    out += [t - k * WEEK for k in range(1, WEEKS_BACK + 1)]
    if kind == "continuous":
        stride = _stride(every)
        out = [s + j * stride for s in out for j in (-2, -1, 0, 1, 2)]
    return out


def needed_times(targets: Sequence[datetime], every: timedelta, kind: str) -> set[datetime]:
    """The targets, the M - 1 evaluations before each, and their baselines' times."""
    out: set[datetime] = set()
    m = max(s.m for s in SENSITIVITIES.values())
    for t in targets:
        for j in range(m):
            u = t - j * every
            out.add(u)
            out.update(baseline_times(u, every, kind))
    return out


def _stride(every: timedelta) -> timedelta:
    return every * max(1, math.ceil(NEIGHBOUR / every))


def assess(
    points: Mapping[datetime, Point],
    t: datetime,
    every: timedelta,
    kind: str,
    sensitivity: str,
    direction: str = "both",
) -> Assessment:
    """Whether the value at ``t`` is anomalous against its seasonal baseline."""
    current = points.get(t)
    weeks = [t - k * WEEK for k in range(1, WEEKS_FOR_WEEKLY + 1)]
    weekly = len(_history(points, weeks, kind, t)) == WEEKS_FOR_WEEKLY
    anchors = _history(
        points,
        [t - k * WEEK for k in range(1, WEEKS_BACK + 1)]
        if weekly
        else [t - k * DAY for k in range(1, DAYS_BACK + 1)],
        kind,
        t,
    )
    season = "week" if weekly else "day"
    history = len(anchors)
    if kind == "continuous":
        stride = _stride(every)
        anchors = [a + j * stride for a in anchors for j in (-2, -1, 0, 1, 2)]
    past = [points[a] for a in anchors if _has(points, a)]
    if current is None or current.value is None:
        return Assessment(None, history=history, season=season)
    if history < MIN_HISTORY:
        return Assessment(None, method="learning", history=history, season=season)
    s = SENSITIVITIES[sensitivity]
    if kind == "count":
        out = _count(current, past, s, direction)
    elif kind == "rate":
        out = _rate(current, past, s, direction)
    else:
        out = _robust(current.value, [p.value for p in past], 0.0, s, direction)  # type: ignore[misc]
    out.history, out.season = history, season
    return out


def assess_series(
    points: Mapping[datetime, Point],
    targets: Sequence[datetime],
    every: timedelta,
    kind: str,
    sensitivity: str,
    direction: str = "both",
) -> list[tuple[Assessment, bool]]:
    """Each target's assessment and whether the alert fires then (it is anomalous, and N of
    the last M evaluations are; the M - 1 before a target are assessed from ``points``)."""
    s = SENSITIVITIES[sensitivity]
    cache: dict[datetime, Assessment] = {}

    def at(u: datetime) -> Assessment:
        if u not in cache:
            cache[u] = assess(points, u, every, kind, sensitivity, direction)
        return cache[u]

    out = []
    for t in targets:
        hits = sum(1 for j in range(s.m) if at(t - j * every).anomalous)
        out.append((at(t), bool(at(t).anomalous) and hits >= s.n))
    return out


def _has(points: Mapping[datetime, Point], t: datetime) -> bool:
    p = points.get(t)
    return p is not None and p.value is not None


def _history(
    points: Mapping[datetime, Point], anchors: Sequence[datetime], kind: str, t: datetime
) -> list[datetime]:
    """The anchors with a value. A count is 0 in an empty window, so for counts the
    anchors before the oldest non-zero one of ``t``'s baselines (daily and weekly) are not
    history (the data had not started), or an alert made on day one would compare with
    empty weeks."""
    found = [a for a in anchors if _has(points, a)]
    if kind == "count":
        every_anchor = [t - k * DAY for k in range(1, DAYS_BACK + 1)]
        every_anchor += [t - k * WEEK for k in range(1, WEEKS_BACK + 1)]
        started = [a for a in every_anchor if _has(points, a) and points[a].value]
        first = min(started) if started else t
        found = [a for a in found if a >= first]
    return found


def _beyond(low: bool, high: bool, direction: str) -> bool:
    return (high and direction in ("above", "both")) or (low and direction in ("below", "both"))


def _robust(
    x: float, values: Sequence[float], floor: float, s: Sensitivity, direction: str
) -> Assessment:
    med = statistics.median(values)
    mad = statistics.median([abs(v - med) for v in values]) * MAD_SCALE
    scale = max(mad, MIN_RELATIVE_SCALE * abs(med), floor, 1e-12)
    z = (x - med) / scale
    return Assessment(
        _beyond(z < -s.z, z > s.z, direction),
        med,
        med - s.z * scale,
        med + s.z * scale,
        "robust_z",
        z,
    )


def _pooled(past: Sequence[Point], key: str) -> list[Point]:
    """The baseline without its largest sample (by ``key``) once there are 5 or more."""
    if len(past) < 5:
        return list(past)
    drop = max(range(len(past)), key=lambda i: getattr(past[i], key) or 0.0)
    return [p for i, p in enumerate(past) if i != drop]


def _count(current: Point, past: Sequence[Point], s: Sensitivity, direction: str) -> Assessment:
    x = round(current.value or 0.0)
    values = [p.value or 0.0 for p in past]
    if statistics.median(values) >= LOW_VOLUME:
        return _robust(x, values, math.sqrt(statistics.median(values)), s, direction)
    pooled = _pooled(past, "value")
    k = len(pooled)
    total = round(sum(p.value or 0.0 for p in pooled))
    upper_p = binom_sf(x, x + total, 1.0 / (k + 1))
    lower_p = binom_cdf(x, x + total, 1.0 / (k + 1))
    low, high = poisson_band((total + 0.5) / k, s.alpha)
    p = min(upper_p if direction != "below" else 1.0, lower_p if direction != "above" else 1.0)
    return Assessment(
        _beyond(lower_p < s.alpha, upper_p < s.alpha, direction),
        total / k,
        float(low),
        float(high),
        "poisson_exact",
        p,
    )


def _rate(current: Point, past: Sequence[Point], s: Sensitivity, direction: str) -> Assessment:
    n = round(current.den or 0.0)
    x = round(current.num or 0.0)
    pooled = _pooled(past, "value")
    events = sum(p.num or 0.0 for p in pooled)
    trials = sum(p.den or 0.0 for p in pooled)
    p0 = (events + 0.5) / (trials + 1.0)  # never 0 or 1
    if n * min(p0, 1 - p0) >= LOW_VOLUME:
        noise = math.sqrt(p0 * (1 - p0) / n)
        return _robust(current.value or 0.0, [p.value or 0.0 for p in past], noise, s, direction)
    upper_p = binom_sf(x, n, p0)
    lower_p = binom_cdf(x, n, p0)
    p = min(upper_p if direction != "below" else 1.0, lower_p if direction != "above" else 1.0)
    low, high = binom_band(n, p0, s.alpha)
    return Assessment(
        _beyond(lower_p < s.alpha, upper_p < s.alpha, direction),
        p0,
        low / n,
        high / n,
        "binomial_exact",
        p,
    )


# -- exact tails (summed in log space from the far side of the mode: no cancellation) ------


def _binom_logpmf(k: int, n: int, p: float) -> float:
    return (
        math.lgamma(n + 1)
        - math.lgamma(k + 1)
        - math.lgamma(n - k + 1)
        + k * math.log(p)
        + (n - k) * math.log1p(-p)
    )


def _pois_logpmf(k: int, lam: float) -> float:
    return k * math.log(lam) - lam - math.lgamma(k + 1)


def _walk(logpmf: object, start: int, step: int, stop: int) -> float:
    """Sum of pmf from ``start`` towards ``stop`` (inclusive), moving away from the mode,
    until the terms no longer count."""
    total, k = 0.0, start
    while (step > 0 and k <= stop) or (step < 0 and k >= stop):
        term = math.exp(logpmf(k))  # type: ignore[operator]
        total += term
        if term < total * 1e-17:
            break
        k += step
    return total


def binom_sf(x: int, n: int, p: float) -> float:
    """P(X >= x) for X ~ Binomial(n, p)."""
    if x <= 0:
        return 1.0
    if x > n:
        return 0.0
    if p <= 0.0:
        return 0.0
    if p >= 1.0:
        return 1.0
    mode = math.floor((n + 1) * p)
    pmf = lambda k: _binom_logpmf(k, n, p)  # noqa: E731
    if x > mode:
        return min(1.0, _walk(pmf, x, 1, n))
    return max(0.0, 1.0 - _walk(pmf, x - 1, -1, 0))


def binom_cdf(x: int, n: int, p: float) -> float:
    """P(X <= x) for X ~ Binomial(n, p)."""
    if x < 0:
        return 0.0
    if x >= n:
        return 1.0
    return binom_sf(n - x, n, 1.0 - p)


def poisson_sf(x: int, lam: float) -> float:
    """P(X >= x) for X ~ Poisson(lam)."""
    if x <= 0:
        return 1.0
    pmf = lambda k: _pois_logpmf(k, lam)  # noqa: E731
    if x > math.floor(lam):
        return min(1.0, _walk(pmf, x, 1, 10**9))
    return max(0.0, 1.0 - _walk(pmf, x - 1, -1, 0))


def _band(logpmf: Any, low: int, high: int, alpha: float) -> tuple[int, int]:
    """``(l, u)``: the largest ``l`` with P(X < l) < alpha and the smallest ``u`` with
    P(X > u) < alpha, for a distribution whose mass lies in ``[low, high]`` (beyond it
    less than 1e-30): one pass of cumulative sums."""
    ks = range(low, high + 1)
    pmf = [math.exp(logpmf(k)) for k in ks]
    total = sum(pmf)
    below, lower = 0.0, low
    for k, p in zip(ks, pmf, strict=True):
        if below / total >= alpha:
            break
        lower = k
        below += p
    above, upper = 0.0, high
    for k, p in zip(reversed(ks), reversed(pmf), strict=True):
        if above / total >= alpha:
            break
        upper = k
        above += p
    return lower, upper


def poisson_band(lam: float, alpha: float) -> tuple[int, int]:
    """A count's expected band at ``alpha`` on each side."""
    spread = int(12 * math.sqrt(lam) + 30)
    return _band(
        lambda k: _pois_logpmf(k, lam), max(0, int(lam) - spread), int(lam) + spread, alpha
    )


def binom_band(n: int, p: float, alpha: float) -> tuple[int, int]:
    """A rate's expected band (in events of ``n``) at ``alpha`` on each side."""
    mean = n * p
    spread = int(12 * math.sqrt(mean * (1 - p)) + 30)
    low, high = max(0, int(mean) - spread), min(n, int(mean) + spread)
    return _band(lambda k: _binom_logpmf(k, n, p), low, high, alpha)
