"""Sentence similarity from ``wordllama``'s static embeddings (l2_supercat, 256 dimensions).

The weights (16 MB) and tokenizer ship inside the wordllama wheel; they are loaded from the
installed package with downloads disabled, so nothing is fetched at run time. An embedding is
the average of token vectors (numpy only, no torch).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

MODEL = "wordllama l2_supercat 256-d"
MAX_TOKENS = 128  # a request's gist is in its start; long pastes would only cost time
MAX_CHARS = 1000
_lock = threading.Lock()
_model: Any = None


def _load() -> Any:
    global _model
    with _lock:
        if _model is None:
            root_logger = logging.getLogger()
            level, handlers = root_logger.level, list(root_logger.handlers)
            import wordllama
            from wordllama import WordLlama

            # its import calls logging.basicConfig(level=INFO): every library's INFO lines
            # (an httpx line per request in `heron demo`) would reach the terminal
            root_logger.setLevel(level)
            root_logger.handlers[:] = handlers

            root = Path(wordllama.__file__).parent  # holds weights/ and tokenizers/
            _model = WordLlama.load(cache_dir=root, disable_download=True)
    return _model


def embed(texts: Sequence[str]) -> np.ndarray:
    """Unit-length embeddings, one row per text: the mean of the text's token vectors (as
    wordllama computes them), each text cut to its first :data:`MAX_TOKENS` tokens.

    Texts are tokenized one by one: ``encode_batch`` pads every text to the longest and
    starts threads, which costs more than it saves on the few short texts of a session."""
    model = _model if _model is not None else _load()
    tokenizer, table = model.tokenizer, model.embedding
    ids: list[int] = []
    starts: list[int] = []
    for text in texts:
        starts.append(len(ids))
        ids += tokenizer.encode(text[:MAX_CHARS], add_special_tokens=False).ids[:MAX_TOKENS]
    if not ids:
        return np.zeros((len(texts), table.shape[1]), dtype=np.float32)
    # one gather and one segmented sum for all texts; the mean's divisor cancels in the norm
    sums = np.add.reduceat(table[ids], np.minimum(starts, len(ids) - 1), axis=0)
    empty = np.diff([*starts, len(ids)]) == 0
    sums[empty] = 0.0
    norms = np.linalg.norm(sums, axis=1, keepdims=True)
    return sums / np.maximum(norms, 1e-12)


def cosine(vectors: np.ndarray, i: int, j: int) -> float:
    return float(np.dot(vectors[i], vectors[j]))
