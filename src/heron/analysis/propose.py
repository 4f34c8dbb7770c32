"""From notes to proposed failure categories: embed, group, label.

:func:`propose` is pure (no store): the API and the benchmark call it on notes read by
:mod:`heron.store.analysis`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from heron.analysis.cluster import cluster
from heron.analysis.embed import embed_notes
from heron.analysis.labels import keywords, label_of, representative

OTHER = "other"
OTHER_LABEL = "Other (unclustered)"
EXAMPLES = 5


@dataclass(frozen=True, slots=True)
class Note:
    """A reviewer's note on a trace (a comment or a TEXT score)."""

    id: str
    trace_id: str
    text: str


@dataclass
class Category:
    id: str
    label: str
    keywords: list[str]
    note_ids: list[str]
    representative: str | None = None  # the note id closest to the group's centre
    suggested_label: str | None = None  # that note's text


@dataclass
class Proposal:
    categories: list[Category]
    method: str  # the embedder used
    groups: int  # groups found (the other group not counted)
    warnings: list[str] = field(default_factory=list)


def propose(notes: Sequence[Note], method: str = "auto", min_size: int | None = None) -> Proposal:
    """Group ``notes`` into categories, largest first, and an ``other`` category for notes
    that fit no group. The result depends only on the notes (not on their order)."""
    ordered = sorted(notes, key=lambda n: (n.trace_id, n.id))
    texts = [n.text for n in ordered]
    warnings: list[str] = []
    if not ordered:
        return Proposal([], "none", 0, warnings)
    embedded = embed_notes(texts, method)
    if embedded.note:
        warnings.append(f"grouped with TF-IDF: {embedded.note}")
    size = min_size if min_size is not None else (3 if len(ordered) < 1000 else 5)
    result = cluster(embedded.vectors, min_size=size)
    labels = result.labels
    groups = int(labels.max()) + 1 if len(labels) else 0
    members = [np.flatnonzero(labels == g) for g in range(groups)]
    words = keywords([[texts[i] for i in idx] for idx in members])
    categories = []
    for g, idx in enumerate(members):
        best = int(idx[representative(embedded.vectors[idx], [texts[i] for i in idx])])
        categories.append(
            Category(
                id=f"c{g + 1}",
                label=label_of(words[g]),
                keywords=words[g],
                note_ids=[ordered[i].id for i in _by_closeness(embedded.vectors, idx)],
                representative=ordered[best].id,
                suggested_label=texts[best][:120],
            )
        )
    rest = np.flatnonzero(labels < 0)
    if len(rest):
        categories.append(Category(OTHER, OTHER_LABEL, [], [ordered[i].id for i in rest]))
    return Proposal(categories, embedded.method, groups, warnings)


def _by_closeness(vectors: np.ndarray, idx: np.ndarray) -> list[int]:
    """Members in order of closeness to their group's centre (examples come first)."""
    centre = vectors[idx].sum(axis=0)
    sims = vectors[idx] @ centre
    order = np.lexsort((idx, -sims))
    return [int(idx[i]) for i in order]
