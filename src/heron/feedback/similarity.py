"""Sentence similarity from ``wordllama``'s static embeddings (l2_supercat, 256 dimensions).

The weights (16 MB) and tokenizer ship inside the wordllama wheel; they are loaded from the
installed package with downloads disabled, so nothing is fetched at run time. An embedding is
the average of token vectors (numpy only, no torch): about 50,000 sentences/s on one core.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

MODEL = "wordllama l2_supercat 256-d"
_lock = threading.Lock()
_model: Any = None


def _load() -> Any:
    global _model
    with _lock:
        if _model is None:
            import wordllama
            from wordllama import WordLlama

            root = Path(wordllama.__file__).parent  # holds weights/ and tokenizers/
            _model = WordLlama.load(cache_dir=root, disable_download=True)
    return _model


def embed(texts: Sequence[str]) -> np.ndarray:
    """Unit-length embeddings, one row per text."""
    model = _model if _model is not None else _load()
    return model.embed(list(texts), norm=True)


def cosine(vectors: np.ndarray, i: int, j: int) -> float:
    return float(np.dot(vectors[i], vectors[j]))
