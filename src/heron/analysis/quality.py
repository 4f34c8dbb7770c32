"""How well proposed groups match labelled notes (docs/error-analysis.md defines the figures).

* purity: of the notes put in a group (not in ``other``), the share whose true category is
  their group's most common true category;
* coverage: the share of notes put in a group rather than in ``other``;
* recall: for each true category, the share of its notes found in the one group holding most
  of them, averaged over notes (inverse purity; low when a category is split up);
* found: how many true categories are the majority of at least one group.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence

from heron.analysis.propose import OTHER, Category


def score(categories: Sequence[Category], truth: Mapping[str, str]) -> dict[str, float]:
    """Purity, coverage, recall and found (as a share of true categories) of ``categories``
    against ``truth`` (note id -> true category)."""
    total = len(truth)
    grouped = [c for c in categories if c.id != OTHER]
    in_groups = sum(len(c.note_ids) for c in grouped)
    majority = 0
    found: set[str] = set()
    best_share: dict[str, int] = Counter()
    for c in grouped:
        counts = Counter(truth[n] for n in c.note_ids)
        if not counts:
            continue
        top, n = min(counts.items(), key=lambda kv: (-kv[1], kv[0]))
        majority += n
        found.add(top)
        for cat, m in counts.items():
            best_share[cat] = max(best_share[cat], m)
    kinds = set(truth.values())
    return {
        "purity": majority / in_groups if in_groups else 0.0,
        "coverage": in_groups / total if total else 0.0,
        "recall": sum(best_share.values()) / total if total else 0.0,
        "found": len(found) / len(kinds) if kinds else 0.0,
        "groups": float(len(grouped)),
    }
