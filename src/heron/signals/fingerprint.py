"""Fingerprints: which signals are the same issue.

A fingerprint is the rule, the name of the observation (or trace) that matched, and the
message normalised: what varies from one occurrence to the next (quoted values, UUIDs, hex,
durations, ids, numbers) is replaced by a placeholder, so ``timeout after 30s calling
'orders-7'`` and ``timeout after 2.5s calling 'orders-9'`` group together. A
``heron.fingerprint`` attribute on the span (it lands in the observation's or trace's
metadata) replaces name and message: the application says what is the same.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from functools import lru_cache
from typing import Any

MAX_CHARS = 2000  # a longer message is cut before it is normalised (bounded work)
ATTRIBUTE = "heron.fingerprint"

_STEPS: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"\"[^\"\n]{0,400}\"|'[^'\n]{0,400}'|`[^`\n]{0,400}`"), "<q>"),
    (
        re.compile(
            r"\b[0-9a-fA-F]{8}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{12}\b"
        ),
        "<uuid>",
    ),
    (
        re.compile(
            r"\b\d{4}-\d{2}-\d{2}(?:[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:Z|[+-]\d{2}:?\d{2})?)?"
        ),
        "<time>",
    ),
    (
        re.compile(
            r"\b0x[0-9a-fA-F]+\b"
            r"|\b(?=[0-9a-fA-F]*\d)(?=[0-9a-fA-F]*[a-fA-F])[0-9a-fA-F]{8,}\b"  # digits and a-f
        ),
        "<hex>",
    ),
    (
        re.compile(
            r"(?<![\w.])\d+(?:\.\d+)?\s?(?:ns|us|µs|ms|s|sec|secs|seconds?|m|mins?|minutes?|h|"
            r"hrs?|hours?|d|days?)\b"
        ),
        "<duration>",
    ),
    (re.compile(r"\b(?=[\w-]*[A-Za-z])(?=[\w-]*\d)[\w-]*\w\b"), "<id>"),
    (re.compile(r"[-+]?\d+(?:[.,]\d+)*(?:[eE][-+]?\d+)?"), "<n>"),
    (re.compile(r"\s+"), " "),
)


@lru_cache(maxsize=4096)  # rules repeat their messages: a chunk normalises few distinct ones
def normalise(message: str) -> str:
    """The message with what varies replaced by ``<q>``, ``<uuid>``, ``<time>``, ``<hex>``,
    ``<duration>``, ``<id>`` and ``<n>``, whitespace collapsed."""
    text = message[:MAX_CHARS]
    for pattern, placeholder in _STEPS:
        text = pattern.sub(placeholder, text)
    return text.strip()


def override(*metadata: Mapping[str, Any] | None) -> str | None:
    """The first ``heron.fingerprint`` value among the metadata given (an observation's,
    then its trace's), as text."""
    for meta in metadata:
        if isinstance(meta, Mapping):
            value = meta.get(ATTRIBUTE)
            if value is not None and value != "":
                return str(value)[:MAX_CHARS]
    return None


def fingerprint(rule: str, name: str | None, message: str, custom: str | None = None) -> str:
    """The fingerprint text of a signal: rule, name and normalised message, or rule and the
    application's own ``custom`` fingerprint."""
    if custom is not None:
        return f"{rule}\x00custom\x00{custom}"
    return f"{rule}\x00{name or ''}\x00{normalise(message)}"


def issue_id(project_id: str, fingerprint_text: str) -> str:
    """The issue's id: derived from project and fingerprint (24 hex characters)."""
    key = f"heron-issue\x00{project_id}\x00{fingerprint_text}"
    return "iss_" + hashlib.sha256(key.encode()).hexdigest()[:24]
