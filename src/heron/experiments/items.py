"""Runs of a dataset side by side, item by item, the items that got worse first.

The first run is the baseline; each later run is compared with it per item: the difference
of every numeric and boolean score and of latency, cost and tokens, and the item's
**change**, the sum over its scores of the difference in the good direction divided by that
score's standard deviation over all items of the runs shown (so a score on a 1-5 scale and a
boolean weigh alike). Items are ordered by their lowest change against the baseline, worst
first, then by item id; items some run lacks come last.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import numpy as np

from heron.experiments.compare import MEASURES, Options, direction, measure_values, score_keys
from heron.store.experiment_results import RunResults
from heron.store.reads import iso


@dataclass
class Ranking:
    """The items of some runs in page order, with their change against the first run."""

    item_ids: np.ndarray  # str, ordered worst first
    positions: np.ndarray  # runs x items: the item's index in each run, -1 when absent
    change: np.ndarray  # candidates x items (NaN: the item is not in both runs)
    keys: list[tuple[str, str]]  # the compared scores
    scales: np.ndarray  # per key: its standard deviation (1 when it has none)


def _positions(run: RunResults, ids: np.ndarray) -> np.ndarray:
    at = np.searchsorted(run.item_ids, ids)
    at = np.minimum(at, max(len(run.item_ids) - 1, 0))
    found = (run.item_ids[at] == ids) if len(run.item_ids) else np.zeros(len(ids), dtype=bool)
    return np.where(found, at, -1)


def _aligned(values: np.ndarray, pos: np.ndarray) -> np.ndarray:
    """``values`` of a run at ``pos`` (NaN where the item is absent)."""
    out = np.full(len(pos), np.nan)
    present = pos >= 0
    out[present] = values[pos[present]]
    return out


def rank_items(runs: list[RunResults], options: Options) -> Ranking:
    """Every item of the runs, worst change first (the module's rule)."""
    ids = np.unique(np.concatenate([r.item_ids for r in runs])) if runs else np.array([], str)
    positions = np.array([_positions(r, ids) for r in runs]).reshape(len(runs), len(ids))
    keys = score_keys(runs)
    values = [[_aligned(_score(r, k), positions[i]) for k in keys] for i, r in enumerate(runs)]
    scales = np.ones(len(keys))
    for j in range(len(keys)):
        pooled = np.concatenate([v[j] for v in values])
        pooled = pooled[~np.isnan(pooled)]
        sd = float(pooled.std()) if len(pooled) else 0.0
        scales[j] = sd if sd > 0 else 1.0
    ways = np.array([direction(name, options) for name, _ in keys], dtype=np.float64)
    change = np.full((max(len(runs) - 1, 0), len(ids)), np.nan)
    for c in range(1, len(runs)):
        both = (positions[0] >= 0) & (positions[c] >= 0)
        total = np.zeros(len(ids))
        for j in range(len(keys)):
            d = (values[c][j] - values[0][j]) * ways[j] / scales[j]
            total += np.nan_to_num(d, nan=0.0)
        change[c - 1] = np.where(both, total, np.nan)
    worst = change.min(axis=0) if len(change) else np.zeros(len(ids))
    worst = np.where(np.isnan(worst), np.inf, worst)  # incomplete items last
    order = np.argsort(worst, kind="stable")  # ids are sorted: ties stay in id order
    return Ranking(ids[order], positions[:, order], change[:, order], keys, scales)


def _score(run: RunResults, key: tuple[str, str]) -> np.ndarray:
    column = run.scores.get(key)
    return column.values if column is not None else np.full(len(run.item_ids), np.nan)


def page_ids(ranking: Ranking, page: int, limit: int) -> list[str]:
    """The item ids of one page (``page`` from 1)."""
    return [str(x) for x in ranking.item_ids[(page - 1) * limit : page * limit]]


def _labels(runs: list[RunResults]) -> dict[tuple[str, str], str]:
    """Each score's display name: its name, with the data type when two types share it."""
    keys = sorted({k for r in runs for k in r.scores})
    names = [name for name, _ in keys]
    return {(n, t): n if names.count(n) == 1 else f"{n} ({t})" for n, t in keys}


def _value(x: float) -> float | None:
    return None if math.isnan(x) else float(x)


def _version(rows: list[dict[str, Any]], wanted: datetime | None) -> dict[str, Any] | None:
    """The item version a run ran against, else the current one, else the latest."""
    for row in rows:
        if wanted is not None and row["valid_from"] == wanted:
            return row
    current = [r for r in rows if r["valid_to"] is None]
    return (current or rows or [None])[-1]


def item_page(
    ranking: Ranking,
    runs: list[RunResults],
    page: int,
    limit: int,
    details: dict[str, Any],
    options: Options,
) -> list[dict[str, Any]]:
    """One page of items side by side; ``details`` from ``Store.experiment_items`` for
    :func:`page_ids` (inputs, expected outputs, outputs)."""
    labels = _labels(runs)
    start = (page - 1) * limit
    out = []
    for offset, item_id in enumerate(page_ids(ranking, page, limit)):
        at = start + offset
        pos = ranking.positions[:, at]
        per_run = []
        for r, run in enumerate(runs):
            p = int(pos[r])
            if p < 0:
                per_run.append({"run": run.name, "present": False})
                continue
            found = details["outputs"].get((run.id, item_id), {})
            scores: dict[str, Any] = {}
            for key, column in sorted(run.scores.items()):
                if column.labels is not None:
                    if column.labels[p] is not None:
                        scores[labels[key]] = column.labels[p]
                elif not math.isnan(column.values[p]):
                    scores[labels[key]] = float(column.values[p])
            per_run.append(
                {"run": run.name, "present": True, "trace_id": run.trace_ids[p],
                 "observation_id": found.get("observation_id"), "output": found.get("output"),
                 "item_version": iso(run.versions[p]),
                 **{m: _value(measure_values(run, m)[p]) for m, _ in MEASURES},
                 "scores": scores}
            )  # fmt: skip
        differences = []
        base = int(pos[0])
        for c in range(1, len(runs)):
            if base < 0 or pos[c] < 0:
                continue
            diffs, worse, better = {}, [], []
            for key in ranking.keys:
                d = _score(runs[c], key)[pos[c]] - _score(runs[0], key)[base]
                if math.isnan(d):
                    continue
                diffs[labels[key]] = float(d)
                good = d * direction(key[0], options)
                if good < 0:
                    worse.append(labels[key])
                elif good > 0:
                    better.append(labels[key])
            differences.append(
                {"run": runs[c].name, "change": _value(ranking.change[c - 1, at]),
                 "worse": worse, "better": better, "scores": diffs,
                 **{m: _value(measure_values(runs[c], m)[pos[c]]
                              - measure_values(runs[0], m)[base]) for m, _ in MEASURES}}
            )  # fmt: skip
        versions = [run.versions[int(pos[r])] for r, run in enumerate(runs) if pos[r] >= 0]
        first = next((v for v in versions if v is not None), None)
        item = _version(details["items"].get(item_id, []), first)
        changes = [d["change"] for d in differences if d["change"] is not None]
        out.append(
            {"item_id": item_id,
             "item": None if item is None else
             {"input": item["input"], "expected_output": item["expected_output"],
              "metadata": item["metadata"], "status": item["status"],
              "version": iso(item["valid_from"])},
             "versions_differ": len({v for v in versions if v is not None}) > 1,
             "change": min(changes) if changes else None,
             "runs": per_run, "differences": differences}
        )  # fmt: skip
    return out
