"""JSON responses rendered with orjson (datetimes, non-str keys and numpy-free speed).

Costs are sums of floats, so they carry representation noise (``0.30000000000000004``);
every float under a key naming a cost (``total_cost``, the ``cost`` map, ``sum_totalCost``)
is rounded to 12 significant digits on the way out. User data (inputs, outputs, metadata)
is never walked or changed.
"""

from __future__ import annotations

from typing import Any

import orjson
from fastapi.responses import JSONResponse

COST_DIGITS = 12
# user-supplied JSON: sent back exactly as stored
_OPAQUE = frozenset({"input", "output", "metadata", "attributes", "tags", "expected_output",
                     "expectedOutput", "inputSchema", "expectedOutputSchema"})  # fmt: skip
_is_cost: dict[Any, bool] = {}


def _cost_key(key: Any) -> bool:
    known = _is_cost.get(key)
    if known is None:
        known = isinstance(key, str) and "cost" in key.lower()
        if len(_is_cost) < 10_000:
            _is_cost[key] = known
    return known


def _round(value: Any) -> Any:
    if type(value) is float:
        return float(f"{value:.{COST_DIGITS}g}")
    if isinstance(value, dict):
        return {k: _round(v) for k, v in value.items()}
    return value


def round_costs(content: Any) -> Any:
    """Round cost floats in place, in the dicts and lists of a response body."""
    if isinstance(content, list):
        _round_rows(content)
    elif isinstance(content, dict):
        for key, value in content.items():
            if _cost_key(key):
                content[key] = _round(value)
            elif isinstance(value, (dict, list)) and key not in _OPAQUE:
                round_costs(value)
    return content


def _round_rows(rows: list[Any]) -> None:
    """A list, usually of rows with the same keys: plan the keys to visit once per shape."""
    shape: Any = None
    costs: list[Any] = []
    nested: list[Any] = []
    for row in rows:
        if not isinstance(row, dict):
            if isinstance(row, list):
                _round_rows(row)
            continue
        keys = row.keys()
        if keys != shape:
            shape = keys
            costs = [k for k in keys if _cost_key(k)]
            # rows of one shape come from one query: a column that holds a scalar in one
            # row holds a scalar (or None) in every row
            nested = [
                k
                for k, v in row.items()
                if not _cost_key(k) and k not in _OPAQUE and not isinstance(v, (str, int, float))
            ]
        for key in costs:
            row[key] = _round(row[key])
        for key in nested:
            value = row[key]
            if isinstance(value, (dict, list)):
                round_costs(value)


class JSON(JSONResponse):
    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        return orjson.dumps(round_costs(content), option=orjson.OPT_NON_STR_KEYS)
