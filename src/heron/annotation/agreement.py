"""Inter-annotator agreement per score config: Cohen's kappa and percent agreement.

Only items rated by two or more people count. With two raters, kappa is Cohen's over the
items both rated; with more, it is the mean of Cohen's kappa over every pair of raters
that share at least :data:`MIN_ITEMS` items (Light's kappa). Percent agreement is the share of
agreeing pairs of ratings, over every pair of ratings on the same item.

Values are compared as categories (nominal kappa): BOOLEAN 0/1, CATEGORICAL labels, and
NUMERIC values too, since annotation scales are few and discrete. NUMERIC configs also get a
quadratic-weighted kappa, where a 4 against a 5 disagrees less than a 1 against a 5: the
weight of a pair is the squared distance between the two values' ranks among the distinct
values rated (as ``sklearn.metrics.cohen_kappa_score(weights="quadratic")`` computes it).
TEXT configs have no agreement. Pure functions: no store, no server.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Hashable, Iterable, Sequence
from dataclasses import dataclass
from itertools import combinations
from typing import Any

MIN_ITEMS = 2  # fewer shared items than this is "not enough data", never a kappa
NOT_ENOUGH = "not enough data: no two people rated the same items yet"
ONE_CATEGORY = "kappa undefined: every rating is the same value (agreement by chance is 100%)"
RATED_TYPES = ("BOOLEAN", "CATEGORICAL", "NUMERIC")


@dataclass(frozen=True, slots=True)
class Rating:
    """One person's value for one item under one config."""

    item: Hashable
    rater: Hashable
    value: Hashable


def cohen_kappa(a: Sequence[Hashable], b: Sequence[Hashable], weighted: bool = False) -> float:
    """Cohen's kappa of two raters' values on the same items (``a[i]`` and ``b[i]`` rate item
    ``i``); quadratic weights over the values' ranks when ``weighted`` (values then must be
    ordered). NaN when agreement by chance is already certain (a single value everywhere)."""
    if len(a) != len(b) or not a:
        raise ValueError("cohen_kappa: two non-empty sequences of the same length")
    labels = sorted(set(a) | set(b)) if weighted else list(dict.fromkeys([*a, *b]))
    rank = {v: i for i, v in enumerate(labels)}
    k, n = len(labels), len(a)
    observed = [[0.0] * k for _ in range(k)]
    for x, y in zip(a, b, strict=True):
        observed[rank[x]][rank[y]] += 1
    rows = [sum(r) for r in observed]
    cols = [sum(observed[i][j] for i in range(k)) for j in range(k)]
    span = (k - 1) ** 2 or 1

    def weight(i: int, j: int) -> float:
        if weighted:
            return (i - j) ** 2 / span
        return 0.0 if i == j else 1.0

    seen = sum(weight(i, j) * observed[i][j] for i in range(k) for j in range(k)) / n
    chance = sum(weight(i, j) * rows[i] * cols[j] for i in range(k) for j in range(k)) / n / n
    if chance == 0:
        return float("nan")
    return 1.0 - seen / chance


def _pairs_by_raters(
    by_item: dict[Hashable, dict[Hashable, Hashable]],
) -> dict[tuple[Hashable, Hashable], tuple[list[Hashable], list[Hashable]]]:
    out: dict[tuple[Hashable, Hashable], tuple[list[Hashable], list[Hashable]]] = {}
    for ratings in by_item.values():
        for u, v in combinations(sorted(ratings, key=repr), 2):
            a, b = out.setdefault((u, v), ([], []))
            a.append(ratings[u])
            b.append(ratings[v])
    return out


def _mean_kappa(
    pairs: dict[tuple[Hashable, Hashable], tuple[list[Hashable], list[Hashable]]],
    weighted: bool,
) -> float | None:
    kappas = [cohen_kappa(a, b, weighted) for a, b in pairs.values() if len(a) >= MIN_ITEMS]
    defined = [k for k in kappas if k == k]  # NaN: a pair that used one value only
    return sum(defined) / len(defined) if defined else None


def agreement(ratings: Iterable[Rating], data_type: str) -> dict[str, Any]:
    """Agreement of the ratings of one config: ``items`` (rated by two or more), ``raters``,
    ``percentAgreement``, ``kappa``, ``weightedKappa`` (NUMERIC only) and ``reason`` when a
    figure is missing (not enough data, a single value). A rater's later rating of the same
    item replaces an earlier one."""
    data_type = data_type.upper()
    by_item: dict[Hashable, dict[Hashable, Hashable]] = defaultdict(dict)
    for r in ratings:
        by_item[r.item][r.rater] = r.value
    shared = {item: rs for item, rs in by_item.items() if len(rs) >= 2}
    result: dict[str, Any] = {
        "items": len(shared),
        "raters": len({rater for rs in shared.values() for rater in rs}),
        "percentAgreement": None,
        "kappa": None,
        "weightedKappa": None,
        "reason": None,
    }
    if data_type not in RATED_TYPES:
        result["reason"] = f"no agreement for {data_type} scores"
        return result
    if not shared:
        result["reason"] = NOT_ENOUGH
        return result
    agreeing = total = 0
    for rs in shared.values():
        for x, y in combinations(rs.values(), 2):
            total += 1
            agreeing += x == y
    result["percentAgreement"] = agreeing / total
    pairs = _pairs_by_raters(shared)
    if all(len(a) < MIN_ITEMS for a, _ in pairs.values()):
        result["reason"] = NOT_ENOUGH
        return result
    result["kappa"] = _mean_kappa(pairs, weighted=False)
    if data_type == "NUMERIC":
        result["weightedKappa"] = _mean_kappa(pairs, weighted=True)
    if result["kappa"] is None:
        result["reason"] = ONE_CATEGORY
    return result


def rating_value(score: dict[str, Any], data_type: str) -> Hashable | None:
    """What a stored score contributes to agreement: a CATEGORICAL score's label, otherwise
    its number (None for TEXT or a score without a value)."""
    if data_type == "CATEGORICAL":
        return score.get("string_value") or score.get("value")
    if data_type in ("BOOLEAN", "NUMERIC"):
        return score.get("value")
    return None


def config_agreement(
    configs: Sequence[dict[str, Any]], scores: Iterable[dict[str, Any]]
) -> list[dict[str, Any]]:
    """Agreement per config (in ``configs``' order, Langfuse-shaped configs with ``id``,
    ``name``, ``dataType``) over scores with ``config_id``, ``author`` (the rater) and an item
    key (``item``)."""
    by_config: dict[str, list[Rating]] = defaultdict(list)
    types = {c["id"]: c["dataType"] for c in configs}
    for s in scores:
        cid = s.get("config_id")
        if cid not in types or s.get("author") is None:
            continue
        value = rating_value(s, types[cid])
        if value is not None:
            by_config[cid].append(Rating(s["item"], s["author"], value))
    out = []
    for c in configs:
        found = agreement(by_config.get(c["id"], []), c["dataType"])
        out.append({"configId": c["id"], "name": c["name"], "dataType": c["dataType"], **found})
    return out
