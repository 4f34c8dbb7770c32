"""Anomaly detection on seasonal synthetic series: planted shifts fire, quiet controls
(daily peaks, low-volume counts and rates over many days) do not; exact p-values agree
with scipy.stats."""

from __future__ import annotations

import random
from datetime import datetime, timedelta

import pytest
from scipy import stats

from heron.signals import anomaly
from heron.signals.anomaly import assess, assess_series
from heron.signals.series import Point

START = datetime(2026, 10, 1)
HOUR = timedelta(hours=1)
DAYS = 35


def hours(days: int = DAYS) -> list[datetime]:
    return [START + i * HOUR for i in range(days * 24)]


def daily_level(t: datetime, night: float, peak: float) -> float:
    """``night`` most of the day, ``peak`` from 12:00 to 15:00 (the daily peak)."""
    return peak if 12 <= t.hour < 15 else night


def continuous(rng: random.Random, shift: dict[datetime, float]) -> dict[datetime, Point]:
    return {
        t: Point(daily_level(t, 100.0, 400.0) * shift.get(t, 1.0) * rng.gauss(1.0, 0.05))
        for t in hours()
    }


def counts(rng: random.Random, night: float, peak: float, shift: dict[datetime, float]):
    out = {}
    for t in hours():
        x = float(_poisson(rng, daily_level(t, night, peak) * shift.get(t, 1.0)))
        out[t] = Point(x, num=x)
    return out


def _poisson(rng: random.Random, lam: float) -> int:
    # Knuth's method in chunks (lam up to a few hundred)
    k, left = 0, lam
    while left > 0:
        step = min(left, 30.0)
        left -= step
        limit, p = pow(2.718281828459045, -step), 1.0
        while True:
            p *= rng.random()
            if p <= limit:
                break
            k += 1
    return k


def fired(points: dict[datetime, Point], kind: str, sensitivity: str = "medium") -> list[datetime]:
    times = sorted(points)
    return [
        t
        for t, (_, fire) in zip(
            times, assess_series(points, times, HOUR, kind, sensitivity), strict=True
        )
        if fire
    ]


PLANT = [START + timedelta(days=30, hours=h) for h in (3, 4, 5, 6)]


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_continuous_fires_at_2_6x_its_hour_though_ordinary_at_the_peak(seed: int) -> None:
    # 260 at 03:00 is below the daily peak of 400, yet 2.6 times the usual for 03:00
    points = continuous(random.Random(seed), {t: 2.6 for t in PLANT})
    hits = fired(points, "continuous")
    assert hits and set(hits) <= set(PLANT)
    assert PLANT[1] in hits  # the second anomalous hour completes 2 of 3
    a = assess(points, PLANT[0], HOUR, "continuous", "medium")
    assert a.anomalous and a.method == "robust_z"
    assert a.expected is not None and 90 < a.expected < 110  # the 03:00 baseline, not the day's
    assert a.upper is not None and a.upper < points[PLANT[0]].value  # type: ignore[operator]


@pytest.mark.parametrize("seed", range(5))
@pytest.mark.parametrize("sensitivity", ["low", "medium", "high"])
def test_continuous_quiet_over_weeks_including_daily_peaks(seed: int, sensitivity: str) -> None:
    assert fired(continuous(random.Random(seed), {}), "continuous", sensitivity) == []


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_counts_fire_on_a_shift_at_their_hour(seed: int) -> None:
    # 40 an hour at night, 120 at the peak: 104 at night is a shift, at noon ordinary
    points = counts(random.Random(seed), 40.0, 120.0, {t: 2.6 for t in PLANT})
    hits = fired(points, "count")
    assert hits and set(hits) <= set(PLANT)
    assessed = [assess(points, t, HOUR, "count", "medium") for t in PLANT]
    assert all(a.method == "poisson_exact" for a in assessed)
    assert sum(bool(a.anomalous) for a in assessed) >= 3


@pytest.mark.parametrize("seed", range(8))
@pytest.mark.parametrize("levels", [(0.3, 3.0), (2.0, 8.0), (20.0, 60.0), (150.0, 600.0)])
def test_counts_quiet_at_any_volume(seed: int, levels: tuple[float, float]) -> None:
    assert fired(counts(random.Random(seed), *levels, {}), "count") == []


def rates(rng: random.Random, n: int, p: float, shift: dict[datetime, float]):
    out = {}
    for t in hours():
        trials = _poisson(rng, n * (3 if 12 <= t.hour < 15 else 1))
        q = min(1.0, p * shift.get(t, 1.0))
        events = sum(1 for _ in range(trials) if rng.random() < q)
        out[t] = Point(events / trials if trials else None, num=events, den=trials)
    return out


@pytest.mark.parametrize("seed", range(6))
def test_low_volume_rates_quiet_and_fire_on_a_planted_rise(seed: int) -> None:
    assert fired(rates(random.Random(seed), 40, 0.02, {}), "rate") == []
    assert fired(rates(random.Random(seed), 100, 0.02, {}), "rate") == []
    points = rates(random.Random(seed), 100, 0.02, {t: 10.0 for t in PLANT})
    hits = fired(points, "rate")
    assert hits and set(hits) <= set(PLANT)


def test_no_firing_before_the_minimum_history() -> None:
    points = continuous(random.Random(7), {})
    early = [t for t in sorted(points) if t < START + timedelta(days=anomaly.MIN_HISTORY)]
    for t in early:
        points[t] = Point((points[t].value or 0) * 5)  # wild, but nothing to compare with
    assert all(not a.anomalous for a, _ in assess_series(points, early, HOUR, "continuous", "high"))
    assert assess(points, early[-1], HOUR, "continuous", "high").method == "learning"


def test_weekly_season_once_three_weeks_exist() -> None:
    # Saturdays are quiet (a tenth of the weekday level): daily baselines would call
    # every Saturday low; weekly ones (from the fourth week) do not
    points = {}
    rng = random.Random(4)
    for t in hours():
        level = 10.0 if t.weekday() == 5 else 100.0
        points[t] = Point(level * rng.gauss(1.0, 0.05))
    late_saturday = next(
        t for t in sorted(points) if t.weekday() == 5 and t > START + 3 * anomaly.WEEK
    )
    a = assess(points, late_saturday, HOUR, "continuous", "medium")
    assert a.season == "week" and not a.anomalous
    early = next(t for t in sorted(points) if t.weekday() == 5)
    assert assess(points, early, HOUR, "continuous", "medium").season == "day"


def test_count_p_values_match_scipy() -> None:
    points = counts(random.Random(11), 3.0, 9.0, {PLANT[0]: 4.0})
    a = assess(points, PLANT[0], HOUR, "count", "medium", direction="above")
    weekly = all(PLANT[0] - k * anomaly.WEEK in points for k in (1, 2, 3))
    assert weekly  # 30 days of history: the weekly baseline
    past = [points[PLANT[0] - k * anomaly.WEEK].value or 0.0 for k in range(1, 5)]
    pooled = past  # fewer than 5 samples: none is left out
    x, total, k = int(points[PLANT[0]].value or 0), int(sum(pooled)), len(pooled)
    assert a.statistic == pytest.approx(stats.binom.sf(x - 1, x + total, 1 / (k + 1)), rel=1e-9)


@pytest.mark.parametrize(
    ("x", "n", "p"), [(0, 10, 0.1), (3, 50, 0.02), (17, 40, 0.1), (500, 1000, 0.45), (1, 1, 0.5)]
)
def test_binomial_tails_match_scipy(x: int, n: int, p: float) -> None:
    assert anomaly.binom_sf(x, n, p) == pytest.approx(stats.binom.sf(x - 1, n, p), rel=1e-9)
    assert anomaly.binom_cdf(x, n, p) == pytest.approx(stats.binom.cdf(x, n, p), rel=1e-9)


@pytest.mark.parametrize(("x", "lam"), [(0, 1.0), (3, 0.2), (30, 10.0), (80, 100.0)])
def test_poisson_tails_and_band_match_scipy(x: int, lam: float) -> None:
    assert anomaly.poisson_sf(x, lam) == pytest.approx(stats.poisson.sf(x - 1, lam), rel=1e-9)
    low, high = anomaly.poisson_band(lam, 1e-4)
    assert high == stats.poisson.isf(1e-4, lam)
    # the largest l with P(X < l) < alpha: scipy's ppf is the smallest k with P(X <= k) >= a
    assert low == stats.poisson.ppf(1e-4, lam)


@pytest.mark.parametrize(("n", "p"), [(40, 0.02), (100, 0.3), (5000, 0.001)])
def test_binomial_band_matches_scipy(n: int, p: float) -> None:
    low, high = anomaly.binom_band(n, p, 1e-4)
    assert high == stats.binom.isf(1e-4, n, p) and low == stats.binom.ppf(1e-4, n, p)
