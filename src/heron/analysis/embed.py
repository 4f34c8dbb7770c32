"""Sentence vectors for reviewers' notes, computed locally.

Two embedders, both deterministic and numpy-only:

* ``wordllama``: the static token vectors that ship inside the ``wordllama`` wheel (loaded
  offline, see :mod:`heron.implicit.similarity`), averaged per note, then centred on the
  notes' mean: what every note shares ("the answer", "the user") weighs nothing, so notes
  group by what went wrong.
* ``tfidf``: word and word-pair TF-IDF over the notes (the fallback when no model loads).

:func:`embed_notes` picks the model, falls back to TF-IDF when it cannot load, and says which
one it used.
"""

from __future__ import annotations

import re
import threading
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import pairwise

import numpy as np

MAX_CHARS = 500  # a note's first 500 characters are embedded (long notes are cut)
TFIDF_TERMS = 4096  # the most frequent terms kept as TF-IDF dimensions

STOPWORDS = frozenset(
    """
    a about above after again all also am an and any are as at be because been before
    being below between both but by can could did do does doing down during each few for
    from further had has have having he her here hers him his how i if in into is it its
    itself just me more most my no nor not of off on once only or other our ours out
    over own same she should so some such than that the their theirs them then there
    these they this those through to too under until up very was we were what when where
    which while who whom why will with would you your yours user users answer answered
    reply response model bot assistant agent said says asked ask instead
    """.split()  # noqa: SIM905
)
_WORD = re.compile(r"[a-z0-9][a-z0-9'_-]*")

_lock = threading.Lock()
_model: object | None = None
_load_seconds: float | None = None
_load_error: str | None = None


@dataclass(frozen=True, slots=True)
class Embedding:
    """The vectors (one unit-length row per note) and the embedder that made them."""

    vectors: np.ndarray
    method: str  # "wordllama" or "tfidf"
    note: str | None = None  # why the fallback was used


def words(text: str) -> list[str]:
    """Lower-case content words of a note (stopwords and one-letter words left out)."""
    return [
        w.strip("'-_")
        for w in _WORD.findall(text.lower())
        if len(w) > 1 and w not in STOPWORDS and not w.isdigit()
    ]


def load_model() -> tuple[object | None, str | None]:
    """The wordllama model, loaded once from the installed wheel (no download), or ``None``
    and the reason it could not load."""
    global _model, _load_seconds, _load_error
    with _lock:
        if _model is None and _load_error is None:
            started = time.perf_counter()
            try:
                from heron.implicit import similarity

                _model = similarity._load()
            except Exception as exc:  # any failure to load means: use the fallback
                _load_error = f"{type(exc).__name__}: {exc}"
            _load_seconds = time.perf_counter() - started
    return _model, _load_error


def load_seconds() -> float | None:
    """How long loading the model took in this process (``None`` before the first load)."""
    return _load_seconds


def embed_notes(texts: Sequence[str], method: str = "auto") -> Embedding:
    """Embed notes with ``method`` (``auto``: wordllama, else TF-IDF)."""
    if method == "tfidf":
        return Embedding(tfidf(texts), "tfidf")
    model, error = load_model()
    if model is None:
        if method == "wordllama":
            raise RuntimeError(f"the wordllama model did not load: {error}")
        return Embedding(tfidf(texts), "tfidf", f"wordllama did not load ({error})")
    return Embedding(static(texts), "wordllama")


def static(texts: Sequence[str]) -> np.ndarray:
    """Mean wordllama token vectors (:func:`heron.implicit.similarity.embed`), centred on
    the notes' mean so that what all notes share weighs nothing, unit length."""
    from heron.implicit import similarity

    return _centre_unit(similarity.embed([t[:MAX_CHARS] for t in texts]))


def tfidf(texts: Sequence[str]) -> np.ndarray:
    """Word and word-pair TF-IDF vectors (sublinear tf, smoothed idf), unit length, over the
    :data:`TFIDF_TERMS` terms found in most notes (ties by term, so the result is stable)."""
    docs = [terms(t[:MAX_CHARS]) for t in texts]
    df = Counter(term for d in docs for term in set(d))
    kept = sorted(df, key=lambda term: (-df[term], term))[:TFIDF_TERMS]
    index = {term: i for i, term in enumerate(kept)}
    n = len(texts)
    idf = np.array([np.log((1 + n) / (1 + df[t])) + 1 for t in kept], dtype=np.float32)
    out = np.zeros((n, len(kept)), dtype=np.float32)
    for row, d in enumerate(docs):
        for term, count in Counter(d).items():
            col = index.get(term)
            if col is not None:
                out[row, col] = (1 + np.log(count)) * idf[col]
    return _unit(out)


def terms(text: str) -> list[str]:
    """A note's content words and pairs of neighbouring content words."""
    ws = words(text)
    return ws + [f"{a} {b}" for a, b in pairwise(ws)]


def _unit(vectors: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return vectors / np.maximum(norms, 1e-12)


def _centre_unit(vectors: np.ndarray) -> np.ndarray:
    unit = _unit(vectors)
    present = np.linalg.norm(unit, axis=1) > 0
    if present.sum() > 1:
        unit[present] -= unit[present].mean(axis=0)
    return _unit(unit)
