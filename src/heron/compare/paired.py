"""Paired statistics: the same items measured twice (a baseline and a candidate experiment
run over one dataset), compared item by item. Each function returns the difference
(candidate - baseline) with a ``1 - alpha`` interval and a two-sided p-value that agree by
construction: the interval excludes 0 exactly when the p-value is under ``alpha``. The
methods are described in docs/experiments.md.

- numbers: a paired bootstrap of the mean of the per-item differences (pairs resampled with
  replacement, a percentile interval, the p-value read off the same replicates);
- booleans: McNemar's exact test (a binomial test on the discordant pairs) with the
  difference of the two shares of true, its interval built from the interval the exact test
  inverts (Clopper-Pearson on the discordant pairs) scaled by the share of discordant pairs.

Holm's correction across the rows of one comparison is :func:`heron.compare.stats.holm`;
:func:`verdict` turns an estimate and its adjusted p-value into improved / regressed /
no_significant_change with the change comparison's rule (:func:`heron.compare.engine.
verdict_of`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from heron.compare.engine import verdict_of
from heron.compare.stats import betainc, wilson

ALPHA = 0.05
MIN_ALPHA, MAX_ALPHA = 0.001, 0.5
MIN_PAIRS = 20  # fewer pairs: no verdict from the bootstrap (its interval is too short)
REPLICATES = 10_000
MIN_REPLICATES = 1_000
# Resampled items per bootstrap: past 1,000 pairs the replicates drop below 10,000 so that
# a comparison of 10,000 items stays well under a second (at least 1,000 replicates).
RESAMPLE_BUDGET = 10_000_000
CHUNK = 2_000_000  # resampled items held at once (16 MB of weights)

BOOTSTRAP = "paired bootstrap"
MCNEMAR = "McNemar exact"
VERDICTS = ("improved", "regressed", "no_significant_change", "inconclusive",
            "insufficient_data")  # fmt: skip
_RENAMED = {"better": "improved", "worse": "regressed", "no_change": "no_significant_change"}


@dataclass(frozen=True)
class PairedEstimate:
    """One score or measure compared over the items both runs have it for."""

    baseline: float | None  # mean (booleans: share of true) over the pairs
    candidate: float | None
    difference: float | None  # candidate - baseline: the mean per-item difference
    ci_low: float | None
    ci_high: float | None
    p_value: float | None
    n_pairs: int
    test: str
    enough: bool  # False: too few pairs for a verdict (the values are still reported)
    replicates: int | None = None  # the bootstrap's
    discordant: tuple[int, int] | None = None  # McNemar: (false -> true, true -> false)


def check_alpha(alpha: float) -> float:
    """``alpha`` if it is a level heron tests at, else ValueError naming the bounds."""
    ok = isinstance(alpha, float | int) and not isinstance(alpha, bool)
    if not (ok and MIN_ALPHA <= alpha <= MAX_ALPHA):
        raise ValueError(f"alpha: between {MIN_ALPHA} and {MAX_ALPHA}, got {alpha!r}")
    return float(alpha)


# -- numbers: the paired bootstrap ------------------------------------------------------------


def replicates_for(n: int) -> int:
    """Bootstrap replicates for ``n`` pairs: 10,000 up to 1,000 pairs, then fewer (at least
    1,000) so that the resampled items stay within :data:`RESAMPLE_BUDGET`."""
    return max(MIN_REPLICATES, min(REPLICATES, RESAMPLE_BUDGET // max(n, 1)))


def resample_means(
    differences: np.ndarray, replicates: int, rng: np.random.Generator
) -> np.ndarray:
    """``replicates`` bootstrap means of each column of ``differences`` (n pairs x k
    columns, no NaN): each replicate draws n pairs with replacement, the same draw for every
    column. Drawn as counts per pair (a bincount of the drawn indices) times the values, a
    chunk of replicates at a time."""
    n, k = differences.shape
    out = np.empty((replicates, k))
    per_chunk = max(1, CHUNK // n)
    for start in range(0, replicates, per_chunk):
        rows = min(per_chunk, replicates - start)
        drawn = rng.integers(0, n, size=(rows, n), dtype=np.int32)
        drawn += (np.arange(rows, dtype=np.int32) * n)[:, None]  # replicate r's in block r
        counts = np.bincount(drawn.ravel(), minlength=rows * n).reshape(rows, n)
        out[start : start + rows] = (counts @ differences) / n
    return out


def percentile_test(replicates: np.ndarray, alpha: float) -> tuple[float, float, float]:
    """(low, high, p) from bootstrap replicates of a difference, consistent by construction.

    With R replicates and ``m`` the smaller of the counts at or below 0 and at or above 0,
    p = (2m + 1) / (R + 1); the interval is the k-th smallest and k-th largest replicate
    with k = ceil((alpha (R + 1) - 1) / 2), so it excludes 0 exactly when m < k, that is
    when p < alpha (k = 250 of 10,000 at alpha 0.05: the 2.5% and 97.5% points)."""
    r = len(replicates)
    k = math.ceil((alpha * (r + 1) - 1) / 2)
    if not 1 <= k <= r // 2:
        raise ValueError(f"{r} replicates cannot test at alpha {alpha}")
    ordered = np.sort(replicates)
    m = min(int((ordered <= 0).sum()), int((ordered >= 0).sum()))
    p = min(1.0, (2 * m + 1) / (r + 1))
    return float(ordered[k - 1]), float(ordered[r - k]), p


def _rng(seed: int, n: int) -> np.random.Generator:
    # a row's draws depend on the seed and its number of pairs only, never on other rows
    return np.random.default_rng([seed, n])


def paired_bootstraps(
    baseline: np.ndarray, candidate: np.ndarray, alpha: float = ALPHA, seed: int = 0
) -> list[PairedEstimate]:
    """Each column of ``baseline``/``candidate`` (items x columns, aligned by item, NaN
    where an item has no value) compared over the items with a value in both. Columns with
    the same items share one resampling."""
    alpha = check_alpha(alpha)
    present = ~(np.isnan(baseline) | np.isnan(candidate))
    out: list[PairedEstimate | None] = [None] * baseline.shape[1]
    groups: dict[bytes, list[int]] = {}
    for j in range(baseline.shape[1]):
        groups.setdefault(np.packbits(present[:, j]).tobytes(), []).append(j)
    for columns in groups.values():
        rows = present[:, columns[0]]
        n = int(rows.sum())
        b, c = baseline[rows][:, columns], candidate[rows][:, columns]
        d = c - b
        if n < MIN_PAIRS:
            for i, j in enumerate(columns):
                out[j] = _short(b[:, i], c[:, i], n)
            continue
        reps = replicates_for(n)
        means = resample_means(d, reps, _rng(seed, n))
        for i, j in enumerate(columns):
            low, high, p = percentile_test(means[:, i], alpha)
            out[j] = PairedEstimate(
                _mean(b[:, i]), _mean(c[:, i]), _mean(d[:, i]), low, high, p, n, BOOTSTRAP,
                True, reps,
            )  # fmt: skip
    return [e for e in out if e is not None]


def paired_bootstrap(
    baseline: np.ndarray, candidate: np.ndarray, alpha: float = ALPHA, seed: int = 0
) -> PairedEstimate:
    """One number compared: ``baseline[i]`` and ``candidate[i]`` are item i's values."""
    b = np.asarray(baseline, dtype=np.float64).reshape(-1, 1)
    c = np.asarray(candidate, dtype=np.float64).reshape(-1, 1)
    return paired_bootstraps(b, c, alpha, seed)[0]


def _mean(values: np.ndarray) -> float:
    return float(np.sort(values).mean())  # sorted: the same sum whatever the items' order


def _short(b: np.ndarray, c: np.ndarray, n: int) -> PairedEstimate:
    if n == 0:
        return PairedEstimate(None, None, None, None, None, None, 0, BOOTSTRAP, False)
    return PairedEstimate(_mean(b), _mean(c), _mean(c - b), None, None, None, n, BOOTSTRAP, False)


# -- booleans: McNemar's exact test ---------------------------------------------------------


def binomial_cdf_half(k: int, n: int) -> float:
    """P(X <= k) for X ~ Binomial(n, 1/2)."""
    if k < 0:
        return 0.0
    if k >= n:
        return 1.0
    return betainc(n - k, k + 1, 0.5)


def mcnemar_p(gained: int, lost: int) -> float:
    """Two-sided p-value of McNemar's exact test: ``gained`` pairs went false -> true,
    ``lost`` true -> false; under no change each discordant pair is either with
    probability 1/2 (the binomial test of scipy.stats.binomtest)."""
    n = gained + lost
    if n == 0:
        return 1.0
    return min(1.0, 2.0 * binomial_cdf_half(min(gained, lost), n))


def beta_quantile(q: float, a: float, b: float) -> float:
    """The q-quantile of Beta(a, b), by bisection on :func:`betainc`."""
    lo, hi = 0.0, 1.0
    for _ in range(100):
        mid = (lo + hi) / 2.0
        if betainc(a, b, mid) < q:
            lo = mid
        else:
            hi = mid
    return (lo + hi) / 2.0


def clopper_pearson(x: int, n: int, alpha: float) -> tuple[float, float]:
    """The exact (Clopper-Pearson) ``1 - alpha`` interval of a proportion x/n."""
    if n == 0:
        return 0.0, 1.0
    low = 0.0 if x == 0 else beta_quantile(alpha / 2, x, n - x + 1)
    high = 1.0 if x == n else beta_quantile(1 - alpha / 2, x + 1, n - x)
    return low, high


def normal_quantile(p: float) -> float:
    """The p-quantile (p > 0.5) of the standard normal, by bisection on ``erfc``."""
    lo, hi = 0.0, 40.0
    for _ in range(100):
        mid = (lo + hi) / 2.0
        if 0.5 * math.erfc(mid / math.sqrt(2.0)) > 1.0 - p:
            lo = mid
        else:
            hi = mid
    return (lo + hi) / 2.0


def mcnemar(baseline: np.ndarray, candidate: np.ndarray, alpha: float = ALPHA) -> PairedEstimate:
    """Shares of true compared over pairs (``baseline[i]``, ``candidate[i]`` are item i's
    booleans, as 0/1 or bool; NaN: no value). The difference of the shares is
    (gained - lost) / n = d (2 pi - 1), with d the share of discordant pairs and pi the
    share of them that went false -> true. Its interval combines the exact interval of pi
    (Clopper-Pearson: the one McNemar's exact test inverts, so it excludes 1/2, and the
    difference's interval excludes 0, exactly when p < alpha) with Wilson's interval of d,
    each end taking the d that makes it widest."""
    alpha = check_alpha(alpha)
    b = np.asarray(baseline, dtype=np.float64)
    c = np.asarray(candidate, dtype=np.float64)
    rows = ~(np.isnan(b) | np.isnan(c))
    b, c = b[rows] > 0.5, c[rows] > 0.5
    n = len(b)
    if n == 0:
        return PairedEstimate(None, None, None, None, None, None, 0, MCNEMAR, False)
    gained, lost = int((~b & c).sum()), int((b & ~c).sum())
    discordant = gained + lost
    pi_low, pi_high = clopper_pearson(gained, discordant, alpha)
    d_low, d_high = wilson(discordant, n, normal_quantile(1 - alpha / 2))
    low = (2 * pi_low - 1) * (d_high if pi_low < 0.5 else d_low)
    high = (2 * pi_high - 1) * (d_high if pi_high > 0.5 else d_low)
    difference = (gained - lost) / n
    # at the edges Wilson's bound rounds a bit inside the estimate (0.9999999999999999 for
    # every pair gained): the interval always holds the estimate
    low, high = min(low, difference), max(high, difference)
    return PairedEstimate(
        float(b.mean()), float(c.mean()), difference, low, high,
        mcnemar_p(gained, lost), n, MCNEMAR, True, discordant=(gained, lost),
    )  # fmt: skip


# -- verdicts ---------------------------------------------------------------------------------


def verdict(
    e: PairedEstimate, p_adjusted: float | None, direction: int, alpha: float = ALPHA
) -> tuple[str, bool]:
    """(verdict, significant): ``improved`` / ``regressed`` when the interval excludes 0 and
    the Holm-adjusted p-value is under ``alpha`` (``direction``: 1 higher is better, -1
    lower); ``no_significant_change`` when the interval holds 0; ``inconclusive`` when it
    does not but Holm's correction keeps the change from being significant;
    ``insufficient_data`` for too few pairs."""
    word, significant = verdict_of(
        e.enough, e.difference, e.ci_low, e.ci_high, p_adjusted, direction, alpha
    )
    return _RENAMED.get(word, word), significant
