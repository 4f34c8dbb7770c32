"""Two-sample statistics for change comparison: each function compares a baseline sample with
a candidate sample and returns the difference (candidate - baseline), a 95% confidence
interval of it and a two-sided p-value. The methods and their accuracy are in docs/compare.md.

- means: Welch's t interval and test (the bootstrap distribution of a mean is normal at the
  sample sizes we accept, so resampling would only add noise and time);
- percentiles: an exact bootstrap of the type-1 sample quantile, drawn in O(replicates) after
  one sort (the k-th order statistic of n uniform draws is Beta(k, n - k + 1));
- rates: Newcombe's hybrid score interval, with the pooled two-proportion z test, or Fisher's
  exact test when an expected cell count is under 5.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

Z95 = 1.959963984540054
MIN_N = 30  # fewer values on either side: insufficient data
MIN_TAIL = 5  # a percentile needs this many values on each side of it
MIN_EVENTS = 5  # a rate needs this many events and non-events over both cohorts
REPLICATES = 10_000


@dataclass(frozen=True)
class Estimate:
    """One metric compared: both values, candidate - baseline, its 95% CI and p-value."""

    baseline: float | None
    candidate: float | None
    difference: float | None
    ci_low: float | None
    ci_high: float | None
    p_value: float | None
    n_baseline: int
    n_candidate: int
    method: str
    enough: bool  # False: too little data for a verdict (the values are still reported)


def _f(x: float | np.floating) -> float:
    return float(x)


def _insufficient(method: str, nb: int, nc: int, b: float | None, c: float | None) -> Estimate:
    diff = None if b is None or c is None else c - b
    return Estimate(b, c, diff, None, None, None, nb, nc, method, False)


# -- means ------------------------------------------------------------------------------------


def compare_means(baseline: np.ndarray, candidate: np.ndarray) -> Estimate:
    """Difference of means with Welch's t interval and test."""
    # sorted: sums do not depend on the order the rows arrived in (reproducible to the bit)
    baseline, candidate = np.sort(baseline), np.sort(candidate)
    nb, nc = len(baseline), len(candidate)
    mb = _f(baseline.mean()) if nb else None
    mc = _f(candidate.mean()) if nc else None
    if nb < MIN_N or nc < MIN_N or mb is None or mc is None:
        return _insufficient("welch", nb, nc, mb, mc)
    vb, vc = _f(baseline.var(ddof=1)) / nb, _f(candidate.var(ddof=1)) / nc
    diff = mc - mb
    se = math.sqrt(vb + vc)
    if se == 0.0:
        p = 1.0 if diff == 0 else 0.0
        return Estimate(mb, mc, diff, diff, diff, p, nb, nc, "welch", True)
    df = (vb + vc) ** 2 / (vb**2 / (nb - 1) + vc**2 / (nc - 1))
    half = t_quantile(0.975, df) * se
    p = 2.0 * t_sf(abs(diff) / se, df)
    return Estimate(mb, mc, diff, diff - half, diff + half, min(p, 1.0), nb, nc, "welch", True)


def t_sf(t: float, df: float) -> float:
    """P(T > t) for Student's t with ``df`` degrees of freedom, t >= 0."""
    if math.isinf(df) or df > 1e7:
        return 0.5 * math.erfc(t / math.sqrt(2.0))
    x = df / (df + t * t)
    return 0.5 * betainc(df / 2.0, 0.5, x)


def t_quantile(p: float, df: float) -> float:
    """The p-quantile (p > 0.5) of Student's t, by bisection on :func:`t_sf`."""
    lo, hi = 0.0, 1.0
    while t_sf(hi, df) > 1.0 - p:
        hi *= 2.0
    for _ in range(80):
        mid = (lo + hi) / 2.0
        if t_sf(mid, df) > 1.0 - p:
            lo = mid
        else:
            hi = mid
    return (lo + hi) / 2.0


def betainc(a: float, b: float, x: float) -> float:
    """The regularised incomplete beta function I_x(a, b) (Lentz's continued fraction)."""
    if x <= 0.0:
        return 0.0
    if x >= 1.0:
        return 1.0
    front = math.exp(
        math.lgamma(a + b) - math.lgamma(a) - math.lgamma(b) + a * math.log(x) + b * math.log1p(-x)
    )
    if x > (a + 1.0) / (a + b + 2.0):
        return 1.0 - betainc(b, a, 1.0 - x)
    tiny = 1e-300
    c, d = 1.0, 1.0 - (a + b) * x / (a + 1.0)
    d = 1.0 / (d if abs(d) > tiny else tiny)
    h = d
    for m in range(1, 500):
        for numerator in (
            m * (b - m) * x / ((a + 2 * m - 1) * (a + 2 * m)),
            -(a + m) * (a + b + m) * x / ((a + 2 * m) * (a + 2 * m + 1)),
        ):
            d = 1.0 + numerator * d
            d = 1.0 / (d if abs(d) > tiny else tiny)
            c = 1.0 + numerator / c
            c = c if abs(c) > tiny else tiny
            h *= d * c
        if abs(d * c - 1.0) < 1e-15:
            break
    return front * h / a


# -- percentiles ------------------------------------------------------------------------------


def quantile(sorted_values: np.ndarray, q: float) -> float:
    """Type-1 sample quantile (inverse of the empirical CDF) of sorted values."""
    n = len(sorted_values)
    k = min(max(math.ceil(n * q), 1), n)
    return _f(sorted_values[k - 1])


def bootstrap_quantile(
    sorted_values: np.ndarray, q: float, rng: np.random.Generator, replicates: int = REPLICATES
) -> np.ndarray:
    """Bootstrap replicates of the type-1 q-quantile, exactly as resampling n values with
    replacement would give them, without resampling: the k-th smallest of n uniform draws is
    Beta(k, n - k + 1), and the k-th smallest resampled value is the value at its index."""
    n = len(sorted_values)
    k = min(max(math.ceil(n * q), 1), n)
    u = rng.beta(k, n - k + 1, size=replicates)
    idx = np.clip(np.ceil(u * n).astype(np.int64), 1, n) - 1
    return sorted_values[idx]


def compare_quantiles(
    baseline: np.ndarray,
    candidate: np.ndarray,
    q: float,
    rng: np.random.Generator,
    replicates: int = REPLICATES,
) -> Estimate:
    """Difference of q-quantiles; percentile-bootstrap CI and p-value."""
    b, c = np.sort(baseline), np.sort(candidate)
    nb, nc = len(b), len(c)
    qb = quantile(b, q) if nb else None
    qc = quantile(c, q) if nc else None
    need = max(MIN_N, math.ceil(MIN_TAIL / min(q, 1.0 - q)))
    if nb < need or nc < need or qb is None or qc is None:
        return _insufficient("bootstrap", nb, nc, qb, qc)
    diffs = bootstrap_quantile(c, q, rng, replicates) - bootstrap_quantile(b, q, rng, replicates)
    low, high = np.quantile(diffs, [0.025, 0.975])
    below, above = int((diffs <= 0).sum()), int((diffs >= 0).sum())
    p = min(1.0, 2.0 * (min(below, above) + 1) / (replicates + 1))
    return Estimate(qb, qc, qc - qb, _f(low), _f(high), p, nb, nc, "bootstrap", True)


# -- rates ------------------------------------------------------------------------------------


def wilson(x: int, n: int, z: float = Z95) -> tuple[float, float]:
    """Wilson score interval of a proportion x/n."""
    p = x / n
    denom = 1.0 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    return max(0.0, centre - half), min(1.0, centre + half)


def fisher_exact(xb: int, nb: int, xc: int, nc: int) -> float:
    """Two-sided p-value of Fisher's exact test on the 2x2 table (xb, nb-xb; xc, nc-xc)."""
    total, events = nb + nc, xb + xc

    def log_p(k: int) -> float:  # P(baseline has k events | margins), hypergeometric
        return _log_comb(events, k) + _log_comb(total - events, nb - k) - _log_comb(total, nb)

    observed = log_p(xb)
    p = 0.0
    for k in range(max(0, nb - (total - events)), min(events, nb) + 1):
        lp = log_p(k)
        if lp <= observed + 1e-7:
            p += math.exp(lp)
    return min(1.0, p)


def _log_comb(n: int, k: int) -> float:
    return math.lgamma(n + 1) - math.lgamma(k + 1) - math.lgamma(n - k + 1)


def compare_rates(xb: int, nb: int, xc: int, nc: int) -> Estimate:
    """Difference of proportions xc/nc - xb/nb: Newcombe's hybrid score interval; p-value from
    the pooled z test, or Fisher's exact test when an expected count is under 5."""
    pb = xb / nb if nb else None
    pc = xc / nc if nc else None
    events = xb + xc
    if (
        nb < MIN_N
        or nc < MIN_N
        or pb is None
        or pc is None
        or events < MIN_EVENTS
        or (nb + nc - events) < MIN_EVENTS
    ):
        return _insufficient("rate", nb, nc, pb, pc)
    lb, ub = wilson(xb, nb)
    lc, uc = wilson(xc, nc)
    diff = pc - pb
    low = diff - math.sqrt((pc - lc) ** 2 + (ub - pb) ** 2)
    high = diff + math.sqrt((uc - pc) ** 2 + (pb - lb) ** 2)
    pooled = events / (nb + nc)
    expected = min(nb, nc) * min(pooled, 1 - pooled)
    if expected < 5:
        p = fisher_exact(xb, nb, xc, nc)
        return Estimate(pb, pc, diff, low, high, p, nb, nc, "fisher", True)
    se = math.sqrt(pooled * (1 - pooled) * (1 / nb + 1 / nc))
    p = math.erfc(abs(diff) / se / math.sqrt(2.0)) if se > 0 else 1.0
    return Estimate(pb, pc, diff, low, high, p, nb, nc, "two-proportion z", True)


def compare_counts(nb: int, nc: int) -> Estimate:
    """Volumes: candidate - baseline counts, each Poisson (normal approximation)."""
    diff = float(nc - nb)
    if nb < MIN_N or nc < MIN_N:
        return _insufficient("poisson", nb, nc, float(nb), float(nc))
    se = math.sqrt(nb + nc)
    p = math.erfc(abs(diff) / se / math.sqrt(2.0))
    return Estimate(
        float(nb), float(nc), diff, diff - Z95 * se, diff + Z95 * se, p, nb, nc, "poisson", True
    )


# -- many metrics at once -----------------------------------------------------------------------


def holm(p_values: list[float | None]) -> list[float | None]:
    """Holm-adjusted p-values (family-wise error control); None stays None."""
    present = sorted((p, i) for i, p in enumerate(p_values) if p is not None)
    m = len(present)
    out: list[float | None] = [None] * len(p_values)
    running = 0.0
    for rank, (p, i) in enumerate(present):
        running = max(running, min(1.0, (m - rank) * p))
        out[i] = running
    return out
