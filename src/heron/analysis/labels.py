"""Readable labels for groups of notes: class-based TF-IDF keywords and a representative note.

c-TF-IDF treats each group as one document: a term's weight in a group is its frequency
there (per word of the group) times ``log(1 + mean words per group / the term's frequency
over all groups)``, so terms frequent in one group and rare elsewhere come first.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

import numpy as np

from heron.analysis.embed import terms

KEYWORDS = 6


def keywords(groups: Sequence[Sequence[str]], top: int = KEYWORDS) -> list[list[str]]:
    """The ``top`` keywords of each group of notes (words and word pairs; a pair replaces
    its words when it scores as high)."""
    counts = [Counter(t for note in notes for t in terms(note)) for notes in groups]
    total = Counter()
    for c in counts:
        total.update(c)
    sizes = [max(sum(c.values()), 1) for c in counts]
    mean_words = sum(sizes) / max(len(sizes), 1)
    out = []
    for c, size in zip(counts, sizes, strict=True):
        # terms found in two notes or more first (one-off words say little of a group)
        ranked = sorted(
            c,
            key=lambda t: (c[t] < 2, -(c[t] / size) * np.log(1 + mean_words / total[t]), t),
        )
        out.append(_dedupe(ranked, top))
    return out


def label_of(keywords_: Sequence[str]) -> str:
    """A short label from the first keywords (``"json / schema / format"``)."""
    return " / ".join(keywords_[:3]) if keywords_ else "unlabelled"


def representative(vectors: np.ndarray, notes: Sequence[str]) -> int:
    """Index of the note closest to the group's mean direction (the first on a tie)."""
    centre = vectors.sum(axis=0)
    sims = vectors @ centre
    return int(np.argmax(sims)) if len(notes) else -1


def _dedupe(ranked: Sequence[str], top: int) -> list[str]:
    """Keep the best terms, dropping a word already shown inside a kept pair (and a pair
    whose words are both already shown)."""
    kept: list[str] = []
    for term in ranked:
        shown = {w for k in kept for w in k.split()}
        parts = term.split()
        if len(parts) == 1 and term in shown:
            continue
        if len(parts) == 2 and all(p in shown for p in parts):
            continue
        kept = [k for k in kept if not (len(parts) == 2 and k in parts)] + [term]
        if len(kept) >= top:
            break
    return kept
