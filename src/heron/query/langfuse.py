"""Langfuse's ``filter`` parameter (a JSON list of ``{type, column, operator, value, key}``)
as conditions of the shared filter language, for the Langfuse-compatible read API.

Langfuse names some columns and values its own way: times in seconds (``latency``,
``timeToFirstToken``; heron keeps milliseconds), observation types upper case, ``traceTags``,
``parentObservationId``, ``isRootObservation``, the ``all of`` operator on lists, ``is set``
on metadata keys. Those are translated here; every other name goes to :mod:`heron.query` as
it is (which takes camelCase), so an unknown column or operator is the same 400 naming it.
"""

from __future__ import annotations

from typing import Any

import orjson

from heron.query.filters import Filter, FilterError, parse_filters

_RENAMED = {  # Langfuse column -> heron column, either view
    "timestamp": "start_time",
    "startTime": "start_time",
    "endTime": "end_time",
    "tokens": "total_tokens",
    "traceTags": "tags",
    "parentObservationId": "parent_id",
}
_SECONDS = {"latency": "latency_ms", "timeToFirstToken": "time_to_first_token_ms"}
_OPERATORS = {"is set": "is not null", "is not set": "is null"}
_UNSUPPORTED = ("ends with", "matches")


def langfuse_filters(raw: str | None) -> list[Filter]:
    """The conditions of a Langfuse ``filter`` (FilterError naming what heron cannot take)."""
    if raw is None or raw == "":
        return []
    try:
        items = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise FilterError(f"filter: invalid JSON: {exc}") from None
    if not isinstance(items, list):
        raise FilterError("filter: expected a JSON list of {type, column, operator, value}")
    out: list[dict[str, Any]] = []
    for i, item in enumerate(items):
        if not isinstance(item, dict):
            raise FilterError(f"filter[{i}]: expected an object")
        out.extend(_translate(dict(item), i))
    return parse_filters(out)


def _translate(item: dict[str, Any], i: int) -> list[dict[str, Any]]:
    column, operator, value = item.get("column"), item.get("operator"), item.get("value")
    if isinstance(operator, str):
        if operator.lower() in _UNSUPPORTED:
            raise FilterError(f"filter[{i}]: operator {operator!r} is not supported by heron")
        operator = _OPERATORS.get(operator.lower(), operator)
        item["operator"] = operator
    if not isinstance(column, str):
        return [item]  # parse_filters names the problem
    if column in _SECONDS:
        item["column"] = _SECONDS[column]
        if isinstance(value, int | float) and not isinstance(value, bool):
            item["value"] = value * 1000
    elif column == "type" and item.get("value") is not None:
        item["value"] = (
            [v.lower() if isinstance(v, str) else v for v in value]
            if isinstance(value, list)
            else (value.lower() if isinstance(value, str) else value)
        )
    elif column == "isRootObservation":
        if not isinstance(value, bool) or operator not in ("=", "<>", "!="):
            raise FilterError(f"filter[{i}]: isRootObservation takes = or <> with true or false")
        root = value if operator == "=" else not value
        return [{"column": "parent_id", "operator": "is null" if root else "is not null"}]
    else:
        item["column"] = _RENAMED.get(column, column)
    if isinstance(operator, str) and operator.lower() == "all of":
        if not isinstance(value, list) or not value:
            raise FilterError(f"filter[{i}]: 'all of' needs a non-empty list of values")
        return [{**item, "operator": "contains", "value": v} for v in value]
    return [item]
