"""The statistics of change comparison, checked against known distributions and exact values."""

from __future__ import annotations

import math

import numpy as np
import pytest

from heron.compare import stats
from heron.compare.engine import (
    CohortData,
    MetricSpec,
    _result,
    compare_cohorts,
    score_direction,
)


def test_t_distribution_matches_tabulated_values() -> None:
    # two-sided 5% critical values from standard t tables
    for df, critical in [(1, 12.706), (5, 2.571), (10, 2.228), (30, 2.042), (120, 1.980)]:
        assert stats.t_quantile(0.975, df) == pytest.approx(critical, abs=1e-3)
        assert 2 * stats.t_sf(critical, df) == pytest.approx(0.05, abs=1e-4)
    assert stats.t_sf(0.0, 7) == pytest.approx(0.5)


def test_welch_interval_covers_the_true_difference_at_its_nominal_rate() -> None:
    rng = np.random.default_rng(1)
    covered = 0
    for _ in range(400):
        b = rng.lognormal(6.0, 0.6, 200)  # latency-like, right-skewed
        c = rng.lognormal(6.0, 0.6, 150) * 0.9
        e = stats.compare_means(b, c)
        true = (0.9 - 1.0) * math.exp(6.0 + 0.6**2 / 2)
        covered += e.ci_low <= true <= e.ci_high
    assert 0.92 <= covered / 400 <= 0.98


def test_quantile_bootstrap_agrees_with_resampling_and_covers() -> None:
    rng = np.random.default_rng(2)
    values = np.sort(rng.exponential(100.0, 500))
    fast = stats.bootstrap_quantile(values, 0.9, np.random.default_rng(3), 20_000)
    slow = np.array(
        [
            np.sort(rng.choice(values, size=len(values)))[math.ceil(0.9 * len(values)) - 1]
            for _ in range(4_000)
        ]
    )
    # the same distribution: mean and spread agree to sampling error
    assert fast.mean() == pytest.approx(slow.mean(), rel=0.01)
    assert fast.std() == pytest.approx(slow.std(), rel=0.06)

    covered = 0
    true_p50 = 100.0 * math.log(2) * (0.8 - 1.0)
    for i in range(200):
        b = rng.exponential(100.0, 400)
        c = rng.exponential(80.0, 300)
        e = stats.compare_quantiles(b, c, 0.5, np.random.default_rng(i), 2_000)
        covered += e.ci_low <= true_p50 <= e.ci_high
    assert 0.91 <= covered / 200 <= 0.99


def test_rates_use_fisher_exact_for_few_events() -> None:
    # textbook 2x2 table: 1/10 vs 6/10 -> Fisher's two-sided p = 0.05728
    assert stats.fisher_exact(1, 10, 6, 10) == pytest.approx(0.057276, abs=1e-5)
    few = stats.compare_rates(0, 300, 8, 300)  # 4 events expected per side
    assert few.method == "fisher" and few.enough
    assert few.p_value == pytest.approx(stats.fisher_exact(0, 300, 8, 300))
    # P(0 of the 8 events in the baseline) doubled, by hand (the table is symmetric)
    assert few.p_value == pytest.approx(2 * math.comb(300, 8) / math.comb(600, 8))
    assert few.p_value < 0.05 and few.ci_low > 0  # candidate rate higher
    many = stats.compare_rates(100, 1000, 150, 1000)
    assert many.method == "two-proportion z"
    assert many.difference == pytest.approx(0.05)
    # Newcombe's hybrid score interval (Newcombe 1998, method 10) by hand
    lb, ub = stats.wilson(100, 1000)
    lc, uc = stats.wilson(150, 1000)
    assert many.ci_low == pytest.approx(0.05 - math.hypot(0.15 - lc, ub - 0.10))
    assert many.ci_high == pytest.approx(0.05 + math.hypot(uc - 0.15, 0.10 - lb))
    z = 0.05 / math.sqrt(0.125 * 0.875 * (2 / 1000))
    assert many.p_value == pytest.approx(math.erfc(z / math.sqrt(2)))


def test_small_samples_are_insufficient_data() -> None:
    small = np.arange(29, dtype=float)
    enough = np.arange(30, dtype=float)
    assert not stats.compare_means(small, enough).enough
    assert stats.compare_means(enough, enough + 1).enough
    # p95 needs 5 values above it: 100 per side
    assert not stats.compare_quantiles(enough, enough, 0.95, np.random.default_rng(0)).enough
    many = np.arange(100, dtype=float)
    assert stats.compare_quantiles(many, many, 0.95, np.random.default_rng(0)).enough
    assert not stats.compare_rates(1, 500, 2, 500).enough  # 3 events in all
    assert not stats.compare_rates(5, 20, 10, 40).enough  # 20 on the baseline side
    e = stats.compare_means(small, enough)
    assert e.baseline == pytest.approx(14.0) and e.ci_low is None and e.p_value is None


def test_holm_adjusts_in_step_down_order() -> None:
    adjusted = stats.holm([0.01, None, 0.04, 0.03, 0.005])
    assert adjusted == pytest.approx([0.03, None, 0.06, 0.06, 0.02], abs=1e-12)  # type: ignore[arg-type]


def _verdict(direction: int, b: np.ndarray, c: np.ndarray) -> str:
    spec = MetricSpec("m", "x", "mean", direction, "ms")
    return _result(spec, stats.compare_means(b, c), 0.001).verdict


def test_verdict_knows_which_direction_is_good() -> None:
    rng = np.random.default_rng(5)
    b = rng.normal(100, 10, 500)
    lower = b - 20
    assert _verdict(-1, b, lower) == "better"  # latency down
    assert _verdict(-1, lower, b) == "worse"
    assert _verdict(1, b, lower) == "worse"  # a score down
    assert _verdict(1, lower, b) == "better"
    assert _verdict(0, b, lower) == "decreased"  # no good direction (e.g. token counts)
    assert _verdict(0, lower, b) == "increased"
    assert _verdict(-1, b, rng.normal(100, 10, 500)) == "no_change"
    assert score_direction("helpfulness") == 1 and score_direction("user-feedback") == 1
    assert score_direction("toxicity") == -1 and score_direction("hallucination_rate") == -1


def test_scores_numeric_boolean_and_labels_are_compared() -> None:
    rng = np.random.default_rng(6)

    def cohort(n: int, quality: float, p_good: float, offset: int) -> CohortData:
        ids = np.array([f"r{offset + i}" for i in range(n)], dtype=object)
        good = rng.random(n) < p_good
        return CohortData(
            {"latency": rng.normal(100, 5, n)},
            {
                "record_id": np.concatenate([ids, ids, ids]),
                "name": np.array(["quality"] * n + ["thumbs"] * n + ["topic"] * n, dtype=object),
                "data_type": np.array(
                    ["NUMERIC"] * n + ["BOOLEAN"] * n + ["CATEGORICAL"] * n, dtype=object
                ),
                "label": np.array(
                    [None] * (2 * n) + ["billing" if g else "login" for g in good], dtype=object
                ),
                "value": np.concatenate(
                    [rng.normal(quality, 0.1, n), good.astype(float), np.full(n, np.nan)]
                ),
            },
        )

    results = {
        r.metric: r
        for r in compare_cohorts(cohort(400, 0.5, 0.3, 0), cohort(400, 0.7, 0.6, 1000), "traces", 0)
    }
    assert results["scores.quality"].verdict == "better"
    assert results["scores.quality"].difference == pytest.approx(0.2, abs=0.03)
    assert results["scores.thumbs"].verdict == "better"
    assert results["scores.thumbs"].method == "two-proportion z"
    billing = results["scores.topic=billing"]
    assert billing.significant and billing.verdict == "increased" and billing.direction == "none"
    assert billing.n_baseline == 400 and billing.baseline == pytest.approx(0.3, abs=0.06)
