"""Custom evaluators for tests/evals/test_custom.py, imported by the worker processes."""

from __future__ import annotations

import os
import time
from typing import Any

import numpy as np

CALLS = {"count": 0}  # per process: shows that a worker keeps the imported module


def word_count(text: str, min_words: int = 0) -> dict[str, Any]:
    n = len(text.split())
    return {"value": n, "comment": f"{n} words, at least {min_words} wanted"}


def is_polite(text: str) -> bool:
    return "please" in text.lower()


def tone(text: str) -> str:
    return "angry" if "!" in text else "calm"


def calls(**_: Any) -> int:
    CALLS["count"] += 1
    return CALLS["count"]


def pid(seconds: float = 0.0, **_: Any) -> int:
    time.sleep(seconds)
    return os.getpid()


def slow(text: str, seconds: float = 30.0) -> bool:
    time.sleep(seconds)
    return True


def boom(text: str) -> bool:
    return 1 / len(text) > 0


def bad_type(text: str) -> list[str]:
    return text.split()


def bad_dict(text: str) -> dict[str, Any]:
    return {"score": 1}


def not_finite(text: str) -> float:
    return float("nan")


def numpy_scores(text: str) -> Any:
    return {"value": np.bool_(bool(text)), "comment": None}


def exits(text: str) -> bool:
    os._exit(3)


def quits(text: str) -> bool:
    raise SystemExit("bye")


class Scorer:
    @staticmethod
    def length(text: str) -> int:
        return len(text)


NOT_CALLABLE = 42
