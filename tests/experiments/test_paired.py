"""Paired statistics against known answers (scipy as the reference) and their properties:
the interval and the p-value agree, swapping the runs flips the sign, identical runs show no
change, a planted effect is found."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats as sps

from heron.compare import paired
from heron.compare.engine import HIGHER, LOWER
from heron.compare.stats import holm

# -- McNemar's exact test -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("gained", "lost"), [(0, 0), (1, 0), (0, 7), (5, 1), (10, 30), (13, 13), (300, 250)]
)
def test_mcnemar_p_is_scipys_binomial_test_on_the_discordant_pairs(gained: int, lost: int) -> None:
    expected = sps.binomtest(gained, gained + lost, 0.5).pvalue if gained + lost else 1.0
    assert paired.mcnemar_p(gained, lost) == pytest.approx(expected, rel=1e-9, abs=1e-300)


@settings(max_examples=60, deadline=None)
@given(st.integers(0, 400), st.integers(0, 400))
def test_mcnemar_p_matches_scipy_everywhere(gained: int, lost: int) -> None:
    expected = sps.binomtest(gained, gained + lost, 0.5).pvalue if gained + lost else 1.0
    assert paired.mcnemar_p(gained, lost) == pytest.approx(expected, rel=1e-8, abs=1e-300)


@pytest.mark.parametrize(("x", "n"), [(0, 5), (5, 5), (3, 10), (250, 1000), (1, 2)])
def test_clopper_pearson_is_scipys_exact_interval(x: int, n: int) -> None:
    ci = sps.binomtest(x, n).proportion_ci(0.95, method="exact")
    low, high = paired.clopper_pearson(x, n, 0.05)
    assert (low, high) == pytest.approx((ci.low, ci.high), abs=1e-12)


def _table(n11: int, n10: int, n01: int, n00: int) -> tuple[np.ndarray, np.ndarray]:
    """Pairs as (baseline, candidate) booleans: n10 true -> false, n01 false -> true."""
    b = np.array([1] * n11 + [1] * n10 + [0] * n01 + [0] * n00, dtype=float)
    c = np.array([1] * n11 + [0] * n10 + [1] * n01 + [0] * n00, dtype=float)
    return b, c


def test_mcnemar_known_answer() -> None:
    # 40 pairs: 20 both true, 3 lost, 12 gained, 5 both false
    b, c = _table(20, 3, 12, 5)
    e = paired.mcnemar(b, c)
    assert e.test == "McNemar exact" and e.n_pairs == 40 and e.discordant == (12, 3)
    assert e.baseline == 23 / 40 and e.candidate == 32 / 40
    assert e.difference == pytest.approx(9 / 40)
    assert e.p_value == pytest.approx(sps.binomtest(12, 15, 0.5).pvalue)  # 0.0352
    assert e.ci_low is not None and e.ci_high is not None
    assert 0 < e.ci_low < e.difference < e.ci_high
    assert paired.verdict(e, e.p_value, HIGHER) == ("improved", True)
    assert paired.verdict(e, e.p_value, LOWER) == ("regressed", True)


def test_mcnemar_ignores_pairs_without_both_values() -> None:
    b, c = _table(20, 3, 12, 5)
    e = paired.mcnemar(np.append(b, [np.nan, 1.0]), np.append(c, [1.0, np.nan]))
    assert e.n_pairs == 40 and e.discordant == (12, 3)


def test_mcnemar_interval_covers_the_true_difference() -> None:
    """Simulated coverage of the 95% interval is at least nominal (the exact part is
    conservative) and the test's false alarms stay under 5% when nothing changed."""
    rng = np.random.default_rng(5)
    for n, gain, loss in [(40, 0.1, 0.1), (200, 0.3, 0.1), (500, 0.05, 0.08)]:
        covered = alarms = 0
        trials = 300
        for _ in range(trials):
            u = rng.random(n)
            c = (u < gain) | ((u >= gain + loss) & (u < gain + loss + 0.4))
            b = (u >= gain) & (u < gain + loss + 0.4)
            e = paired.mcnemar(b, c)
            assert e.ci_low is not None and e.ci_high is not None and e.p_value is not None
            covered += e.ci_low <= gain - loss <= e.ci_high
            alarms += e.p_value < 0.05
        assert covered / trials >= 0.94, (n, gain, loss, covered)
        if gain == loss:
            assert alarms / trials <= 0.05


# -- the paired bootstrap -------------------------------------------------------------------


def test_bootstrap_replicates_are_resampled_pairs() -> None:
    """A hand computation: the same draws of n pairs with replacement, averaged."""
    rng = np.random.default_rng(1)
    b = rng.normal(size=50)
    c = b + 0.2 + rng.normal(scale=0.5, size=50)
    e = paired.paired_bootstrap(b, c, seed=7)
    draws = np.random.default_rng([7, 50]).integers(0, 50, size=(10_000, 50), dtype=np.int32)
    means = np.sort((c - b)[draws].mean(axis=1))
    k = math.ceil((0.05 * 10_001 - 1) / 2)  # 250: the 2.5% and 97.5% points
    assert (e.ci_low, e.ci_high) == pytest.approx((means[k - 1], means[10_000 - k]), rel=1e-12)
    m = min((means <= 0).sum(), (means >= 0).sum())
    assert e.p_value == pytest.approx((2 * m + 1) / 10_001)
    assert e.difference == pytest.approx((c - b).mean())
    assert e.replicates == 10_000 and e.n_pairs == 50 and e.test == "paired bootstrap"


def test_bootstrap_interval_agrees_with_scipy() -> None:
    rng = np.random.default_rng(2)
    b = rng.lognormal(size=300)
    c = b * 1.05 + rng.normal(scale=0.3, size=300)
    e = paired.paired_bootstrap(b, c)
    ref = sps.bootstrap(
        (b, c), lambda x, y, axis=-1: (y - x).mean(axis=axis), paired=True,
        method="percentile", n_resamples=10_000, random_state=0, vectorized=True,
    )  # fmt: skip
    se = float(np.std(c - b, ddof=1) / math.sqrt(300))
    assert e.ci_low == pytest.approx(ref.confidence_interval.low, abs=0.15 * se)
    assert e.ci_high == pytest.approx(ref.confidence_interval.high, abs=0.15 * se)


def test_bootstrap_coverage_is_close_to_nominal() -> None:
    rng = np.random.default_rng(3)
    covered, trials = 0, 200
    for _ in range(trials):
        b = rng.normal(size=100)
        c = b + 0.1 + rng.normal(scale=0.4, size=100)
        e = paired.paired_bootstrap(b, c, seed=int(rng.integers(1 << 30)))
        assert e.ci_low is not None and e.ci_high is not None
        covered += e.ci_low <= 0.1 <= e.ci_high
    assert 0.9 <= covered / trials <= 0.99


def test_replicates_shrink_for_large_runs_within_the_budget() -> None:
    assert paired.replicates_for(100) == paired.replicates_for(1_000) == 10_000
    assert paired.replicates_for(2_000) == 5_000
    assert paired.replicates_for(10_000) == 1_000
    assert paired.replicates_for(10**7) == paired.MIN_REPLICATES


def test_a_columns_figures_do_not_depend_on_the_other_columns() -> None:
    rng = np.random.default_rng(4)
    b = rng.normal(size=(80, 2))
    c = b + rng.normal(size=(80, 2))
    b[::3, 1] = np.nan  # the second column has fewer pairs
    both = paired.paired_bootstraps(b, c, seed=3)
    alone = [paired.paired_bootstrap(b[:, j], c[:, j], seed=3) for j in range(2)]
    assert both == alone
    assert both[1].n_pairs == 80 - len(range(0, 80, 3))


def test_too_few_pairs_give_values_but_no_verdict() -> None:
    e = paired.paired_bootstrap(np.zeros(paired.MIN_PAIRS - 1), np.ones(paired.MIN_PAIRS - 1))
    assert not e.enough and e.difference == 1.0 and e.ci_low is None and e.p_value is None
    assert paired.verdict(e, None, HIGHER) == ("insufficient_data", False)
    empty = paired.paired_bootstrap(np.array([np.nan]), np.array([1.0]))
    assert empty.n_pairs == 0 and empty.baseline is None


@pytest.mark.parametrize("alpha", [0.0, 1.0, math.nan, True, 0.0009, 0.51])
def test_alpha_out_of_bounds_is_refused(alpha: float) -> None:
    with pytest.raises(ValueError, match="alpha: between"):
        paired.check_alpha(alpha)


# -- properties of both tests ---------------------------------------------------------------

_values = st.lists(st.floats(-100, 100, allow_nan=False), min_size=20, max_size=60)
_alpha = st.sampled_from([0.01, 0.05, 0.1, 0.2])


@settings(max_examples=40, deadline=None)
@given(_values, st.floats(-5, 5), st.integers(0, 2**31), _alpha)
def test_bootstrap_interval_and_p_agree_and_swapping_flips_the_sign(
    values: list[float], shift: float, seed: int, alpha: float
) -> None:
    b = np.array(values)
    c = b + shift + np.random.default_rng(seed).normal(size=len(b))
    e = paired.paired_bootstrap(b, c, alpha, seed)
    assert e.ci_low is not None and e.ci_high is not None and e.p_value is not None
    assert e.ci_low <= e.ci_high
    assert (e.ci_low > 0 or e.ci_high < 0) == (e.p_value < alpha)
    s = paired.paired_bootstrap(c, b, alpha, seed)
    assert s.difference == pytest.approx(-e.difference, abs=1e-9)
    assert (s.ci_low, s.ci_high) == pytest.approx((-e.ci_high, -e.ci_low), abs=1e-9)
    assert s.p_value == e.p_value


@settings(max_examples=60, deadline=None)
@given(st.integers(0, 60), st.integers(0, 30), st.integers(0, 30), st.integers(0, 60), _alpha)
def test_mcnemar_interval_and_p_agree_and_swapping_flips_the_sign(
    n11: int, n10: int, n01: int, n00: int, alpha: float
) -> None:
    b, c = _table(n11, n10, n01, n00)
    if len(b) == 0:
        return
    e = paired.mcnemar(b, c, alpha)
    assert e.ci_low is not None and e.ci_high is not None and e.p_value is not None
    assert e.ci_low <= e.difference <= e.ci_high
    assert (e.ci_low > 0 or e.ci_high < 0) == (e.p_value < alpha)
    s = paired.mcnemar(c, b, alpha)
    assert s.difference == pytest.approx(-e.difference)
    assert (s.ci_low, s.ci_high) == pytest.approx((-e.ci_high, -e.ci_low), abs=1e-9)
    assert s.p_value == pytest.approx(e.p_value)


@settings(max_examples=20, deadline=None)
@given(_values, st.booleans())
def test_identical_runs_show_no_change(values: list[float], as_booleans: bool) -> None:
    b = np.array(values)
    if as_booleans:
        b = (b > 0).astype(float)
        e = paired.mcnemar(b, b.copy())
    else:
        e = paired.paired_bootstrap(b, b.copy())
    assert e.difference == 0 and e.p_value == 1.0
    assert e.ci_low is not None and e.ci_high is not None and e.ci_low <= 0 <= e.ci_high
    assert paired.verdict(e, e.p_value, HIGHER) == ("no_significant_change", False)


def test_a_planted_effect_is_found_in_the_right_direction() -> None:
    rng = np.random.default_rng(6)
    quality = rng.normal(3, 1, size=200)
    better = quality + 0.3 + rng.normal(scale=0.5, size=200)
    e = paired.paired_bootstrap(quality, better)
    assert e.ci_low is not None and e.ci_low > 0
    assert paired.verdict(e, e.p_value, HIGHER)[0] == "improved"
    assert paired.verdict(e, e.p_value, LOWER)[0] == "regressed"  # e.g. a latency
    correct = rng.random(300) < 0.6
    flipped = correct & (rng.random(300) < 0.2)  # a fifth of the correct answers now wrong
    m = paired.mcnemar(correct, correct & ~flipped)
    assert m.difference is not None and m.difference < 0 and m.ci_high is not None
    assert m.ci_high < 0 and paired.verdict(m, m.p_value, HIGHER)[0] == "regressed"


def test_holm_can_leave_an_interval_excluding_zero_inconclusive() -> None:
    """The verdict never contradicts the interval: an interval excluding 0 whose change
    Holm's correction makes non-significant is ``inconclusive``, not "no change"."""
    b, c = _table(20, 3, 12, 5)
    e = paired.mcnemar(b, c)  # p = 0.035
    assert e.p_value is not None and e.ci_low is not None and e.ci_low > 0
    adjusted = holm([e.p_value, 0.04, 0.5])
    assert adjusted[0] is not None and adjusted[0] >= 0.05
    assert paired.verdict(e, adjusted[0], HIGHER) == ("inconclusive", False)
