"""Langfuse's names for columns, dimensions, measures and operators, mapped to heron's.

heron's names are snake_case (``user_id``, ``total_cost``); clients written for Langfuse send
camelCase (``userId``, ``totalCost``) and a few names of their own (``providedModelName``).
Both are accepted everywhere a name is looked up: filters, metric dimensions and measures.
"""

from __future__ import annotations

import re

ALIASES: dict[str, str] = {
    "providedModelName": "model",
    "traceRelease": "release",
    "traceVersion": "version",
    "observationsCount": "observation_count",
    "outputTokensPerSecond": "tokens_per_second",
}
OPERATOR_ALIASES: dict[str, str] = {
    "any of": "in",
    "none of": "not in",
    "does not contain": "not contains",
    "<>": "!=",
}
_CAMEL = re.compile(r"(?<=[a-z0-9])([A-Z])")


def canonical(name: str) -> str:
    """heron's name for ``name`` (unchanged when it already is one)."""
    return ALIASES.get(name) or _CAMEL.sub(r"_\1", name).lower()
