"""Two runs of one dataset compared item by item, and each run's aggregates.

Items are paired by dataset item id. Every numeric or boolean score either run has is
compared over the items that have it in both runs (numbers: paired bootstrap; booleans:
McNemar's exact test), and so are the three measures of each item's trace: latency, cost
and tokens. Holm's correction runs over all the rows of the comparison; each row's verdict
knows which way is better (:func:`direction`).
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from heron.compare import paired, stats
from heron.compare.engine import HIGHER, LOWER, score_direction
from heron.store.experiment_results import RunResults
from heron.store.reads import iso

# The measures of an item's trace: (name, unit); lower is better for all three.
MEASURES = (("latency", "ms"), ("cost", "USD"), ("tokens", "tokens"))
COMPARED_TYPES = ("NUMERIC", "BOOLEAN")
DIRECTION_NAMES = {LOWER: "lower", HIGHER: "higher"}


@dataclass(frozen=True)
class Options:
    """How to compare: the level, the bootstrap seed, and score directions the names alone
    would get wrong (a name in ``lower_is_better`` is better lower, whatever its words)."""

    alpha: float = paired.ALPHA
    seed: int = 0
    lower_is_better: frozenset[str] = field(default_factory=frozenset)
    higher_is_better: frozenset[str] = field(default_factory=frozenset)


def direction(name: str, options: Options) -> int:
    """1 when a higher score is better, -1 when lower is: the options first, then the name's
    words (as the change comparison reads them: ``error``, ``latency``, ``toxic``, ``cost``,
    ``fail``, ... mean lower is better)."""
    if name in options.lower_is_better:
        return LOWER
    if name in options.higher_is_better:
        return HIGHER
    return score_direction(name)


def score_keys(runs: Iterable[RunResults]) -> list[tuple[str, str]]:
    """The (name, data type) of every numeric and boolean score of the runs, sorted."""
    keys = {k for run in runs for k in run.scores if k[1] in COMPARED_TYPES}
    return sorted(keys)


def measure_values(run: RunResults, name: str) -> np.ndarray:
    return {"latency": run.latency, "cost": run.cost, "tokens": run.tokens}[name]


def score_values(run: RunResults, key: tuple[str, str]) -> np.ndarray:
    column = run.scores.get(key)
    return column.values if column is not None else np.full(len(run.item_ids), np.nan)


def pair_items(baseline: RunResults, candidate: RunResults) -> tuple[np.ndarray, np.ndarray]:
    """Indices into each run of the items both have (item ids are sorted in both)."""
    _, ib, ic = np.intersect1d(
        baseline.item_ids, candidate.item_ids, assume_unique=True, return_indices=True
    )
    return ib, ic


def _number(x: float | None) -> float | None:
    return None if x is None or not math.isfinite(x) else float(x)


def compare_runs(
    dataset: str, baseline: RunResults, candidate: RunResults, options: Options
) -> dict[str, Any]:
    """The per-score table: both runs' values over the paired items, the difference, its
    interval, p-values (raw and Holm-adjusted), the verdict and the test, per score and
    measure."""
    ib, ic = pair_items(baseline, candidate)
    keys = score_keys((baseline, candidate))
    # (name, kind, data type, unit, direction) per row; numbers first go to one bootstrap
    specs: list[tuple[str, str, str | None, str, int]] = []
    numbers_b, numbers_c, estimates = [], [], {}
    for name, dtype in keys:
        specs.append((name, "score", dtype, "share" if dtype == "BOOLEAN" else "score",
                      direction(name, options)))  # fmt: skip
    for name, unit in MEASURES:
        specs.append((name, "measure", None, unit, LOWER))
    for i, (name, kind, dtype, _, _) in enumerate(specs):
        if kind == "measure":
            b, c = measure_values(baseline, name)[ib], measure_values(candidate, name)[ic]
        else:
            key = (name, str(dtype))
            b, c = score_values(baseline, key)[ib], score_values(candidate, key)[ic]
        if dtype == "BOOLEAN":
            estimates[i] = paired.mcnemar(b, c, options.alpha)
        else:
            numbers_b.append((i, b))
            numbers_c.append(c)
    if numbers_b:
        matrix_b = np.column_stack([b for _, b in numbers_b])
        matrix_c = np.column_stack(numbers_c)
        found = paired.paired_bootstraps(matrix_b, matrix_c, options.alpha, options.seed)
        for (i, _), e in zip(numbers_b, found, strict=True):
            estimates[i] = e
    ordered = [estimates[i] for i in range(len(specs))]
    adjusted = stats.holm([e.p_value if e.enough else None for e in ordered])
    rows = []
    for (name, kind, dtype, unit, way), e, p_adj in zip(specs, ordered, adjusted, strict=True):
        word, significant = paired.verdict(e, p_adj, way, options.alpha)
        rows.append(
            {"name": name, "kind": kind, "data_type": dtype, "unit": unit,
             "direction": DIRECTION_NAMES[way], "baseline": _number(e.baseline),
             "candidate": _number(e.candidate), "difference": _number(e.difference),
             "ci_low": _number(e.ci_low), "ci_high": _number(e.ci_high),
             "p_value": e.p_value, "p_adjusted": p_adj, "verdict": word,
             "significant": significant, "n_pairs": e.n_pairs, "test": e.test,
             "replicates": e.replicates,
             "discordant": None if e.discordant is None
             else {"gained": e.discordant[0], "lost": e.discordant[1]}}
        )  # fmt: skip
    return {
        "dataset": dataset,
        "alpha": options.alpha,
        "seed": options.seed,
        "baseline": _run_head(baseline),
        "candidate": _run_head(candidate),
        "pairs": {
            "paired": len(ib),
            "only_baseline": len(baseline.item_ids) - len(ib),
            "only_candidate": len(candidate.item_ids) - len(ic),
        },
        "rows": rows,
    }


def _run_head(run: RunResults) -> dict[str, Any]:
    return {"name": run.name, "id": run.id, "items": len(run.item_ids)}


# -- each run on its own --------------------------------------------------------------------


def mean_interval(values: np.ndarray, alpha: float) -> dict[str, Any]:
    """Mean of the present values with Student's t interval (none under 2 values)."""
    v = np.sort(values[~np.isnan(values)])
    n = len(v)
    out: dict[str, Any] = {"stat": "mean", "value": None, "ci_low": None, "ci_high": None, "n": n}
    if n == 0:
        return out
    mean = float(v.mean())
    out["value"] = mean
    if n >= 2:
        half = stats.t_quantile(1 - alpha / 2, n - 1) * float(v.std(ddof=1)) / math.sqrt(n)
        out.update(ci_low=mean - half, ci_high=mean + half)
    return out


def rate_interval(values: np.ndarray, alpha: float) -> dict[str, Any]:
    """Share of true among the present values with Wilson's interval."""
    v = values[~np.isnan(values)]
    n = len(v)
    out: dict[str, Any] = {"stat": "rate", "value": None, "ci_low": None, "ci_high": None, "n": n}
    if n == 0:
        return out
    x = int((v > 0.5).sum())
    low, high = stats.wilson(x, n, paired.normal_quantile(1 - alpha / 2))
    out.update(value=x / n, ci_low=low, ci_high=high)
    return out


def summarize_run(run: RunResults, run_scores: list[dict[str, Any]], options: Options) -> dict:
    """One run's aggregates: mean (booleans: rate) of each score and measure, with its
    ``1 - alpha`` interval and n, and the run-level scores."""
    metrics = []
    for name, dtype in score_keys((run,)):
        values = score_values(run, (name, dtype))
        agg = rate_interval if dtype == "BOOLEAN" else mean_interval
        metrics.append({"name": name, "kind": "score", "data_type": dtype,
                        "unit": "share" if dtype == "BOOLEAN" else "score",
                        "direction": DIRECTION_NAMES[direction(name, options)],
                        **agg(values, options.alpha)})  # fmt: skip
    for name, unit in MEASURES:
        metrics.append({"name": name, "kind": "measure", "data_type": None, "unit": unit,
                        "direction": "lower",
                        **mean_interval(measure_values(run, name), options.alpha)})  # fmt: skip
    return {
        "name": run.name,
        "id": run.id,
        "created_at": iso(run.created_at),
        "items": len(run.item_ids),
        "metrics": metrics,
        "run_scores": [{**s, "timestamp": iso(s["timestamp"])} for s in run_scores],
    }


def summarize_runs(
    dataset: str,
    runs: list[RunResults],
    run_scores: dict[str, list[dict[str, Any]]],
    options: Options,
) -> dict[str, Any]:
    """Each run's aggregates (:func:`summarize_run`), in the order given."""
    return {
        "dataset": dataset,
        "alpha": options.alpha,
        "runs": [summarize_run(r, run_scores.get(r.id, []), options) for r in runs],
    }
