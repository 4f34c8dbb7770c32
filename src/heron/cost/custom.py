"""Helpers for writing a project's own price entry: an exact pattern and a free id."""

from __future__ import annotations

import re

_ID_UNSAFE = re.compile(r"[^A-Za-z0-9._:@/+-]+")


def exact_pattern(model: str) -> str:
    """A case-insensitive RE2 pattern matching exactly this model name."""
    return "(?i)^" + re.sub(r"([^A-Za-z0-9_])", r"\\\1", model) + "$"


def entry_id_for(model: str, taken: set[str] | frozenset[str] = frozenset()) -> str:
    """An entry id made of the model name's allowed characters, not one of ``taken``."""
    base = _ID_UNSAFE.sub("-", model).strip("-")[:180] or "price"
    candidate, n = base, 2
    while candidate in taken:
        candidate, n = f"{base}-{n}", n + 1
    return candidate
