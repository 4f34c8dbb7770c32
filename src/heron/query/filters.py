"""The filter language, defined once.

A filter is ``{"column": ..., "operator": ..., "value": ...}``; a list of filters is a
conjunction. Columns belong to a view (traces, observations, ...) which says how each one is
read in SQL and what type it has; ``metadata.<key>`` reads a metadata key and
``scores.<name>`` the value of a score by name. Everything is validated here and compiled to
parameterised SQL: values never reach the SQL text.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import orjson

from heron.errors import BadRequest
from heron.query.names import OPERATOR_ALIASES, canonical

if TYPE_CHECKING:
    from heron.query.views import View

OPERATORS: dict[str, frozenset[str]] = {
    "string": frozenset(
        {
            "=",
            "!=",
            "in",
            "not in",
            "contains",
            "not contains",
            "starts with",
            "is null",
            "is not null",
        }
    ),
    "text": frozenset({"contains", "not contains", "is null", "is not null"}),
    "number": frozenset(
        {"=", "!=", ">", ">=", "<", "<=", "in", "not in", "is null", "is not null"}
    ),
    "datetime": frozenset({"=", "!=", ">", ">=", "<", "<=", "is null", "is not null"}),
    "boolean": frozenset({"=", "!=", "is null", "is not null"}),
    "list": frozenset(
        {"=", "!=", "in", "not in", "contains", "not contains", "is null", "is not null"}
    ),
}
ALL_OPERATORS = frozenset().union(*OPERATORS.values())


class FilterError(BadRequest):
    """A filter that cannot be used: names the column, operator or value at fault."""


@dataclass(frozen=True, slots=True)
class Column:
    """A filterable column: its public name, SQL expression and value type."""

    name: str
    sql: str
    type: str
    description: str = ""


@dataclass(frozen=True, slots=True)
class Filter:
    column: str
    operator: str
    value: Any = None
    key: str | None = None


def parse_filters(raw: str | Sequence[Any] | None) -> list[Filter]:
    """Parse the JSON (text or already decoded) form; structure only, columns are checked later."""
    if raw is None or raw == "":
        return []
    if isinstance(raw, str | bytes):
        try:
            raw = orjson.loads(raw)
        except orjson.JSONDecodeError as exc:
            raise FilterError(f"filter: invalid JSON: {exc}") from exc
    if not isinstance(raw, list):
        raise FilterError("filter: expected a JSON list of {column, operator, value} objects")
    out = []
    for i, item in enumerate(raw):
        if not isinstance(item, dict):
            raise FilterError(f"filter[{i}]: expected an object")
        column, operator = item.get("column"), item.get("operator")
        if not isinstance(column, str) or not column:
            raise FilterError(f"filter[{i}]: 'column' is required")
        if isinstance(operator, str):
            operator = OPERATOR_ALIASES.get(operator.lower(), operator)
        if not isinstance(operator, str) or operator.lower() not in ALL_OPERATORS:
            raise FilterError(
                f"filter[{i}]: unknown operator {operator!r}; use one of "
                + ", ".join(sorted(ALL_OPERATORS))
            )
        key = item.get("key")
        if key is not None and not isinstance(key, str):
            raise FilterError(f"filter[{i}]: 'key' must be a string")
        out.append(Filter(column, operator.lower(), item.get("value"), key))
    return out


# Environments named heron-... hold heron's own traces (an LLM judge's calls are in
# heron-evaluation): lists, metrics and comparisons of traces and observations leave them out
# unless a filter names the environment.
HIDDEN_ENVIRONMENT_PREFIX = "heron-"
_HIDING_VIEWS = ("traces", "observations")


def compile_filters(filters: Sequence[Filter], view: View) -> tuple[str, list[Any]]:
    """SQL condition (``TRUE`` when empty) and its parameters for ``filters`` on ``view``.
    On traces and observations, rows of heron's own environments (``heron-...``) are left
    out unless a filter is on ``environment``."""
    parts: list[str] = []
    params: list[Any] = []
    for f in filters:
        sql, p = _compile_one(f, view)
        parts.append(sql)
        params.extend(p)
    env = view.columns.get("environment")
    if (
        env is not None
        and view.name in _HIDING_VIEWS
        and not any(
            f.column == "environment" or canonical(f.column) == "environment" for f in filters
        )
    ):
        parts.append(f"NOT starts_with(coalesce({env.sql}, ''), ?)")
        params.append(HIDDEN_ENVIRONMENT_PREFIX)
    return (" AND ".join(parts) if parts else "TRUE"), params


def _compile_one(f: Filter, view: View) -> tuple[str, list[Any]]:
    column, key = f.column, f.key
    if key is None and "." in column:
        column, key = column.split(".", 1)
    if key is None and column in view.related:
        return view.related[column](f.operator, f.value)
    if column in view.keyed:
        if not key:
            raise FilterError(f"column {column!r} needs a key, e.g. {column}.<key>")
        return view.keyed[column](f.operator, f.value, key)
    col = view.columns.get(column) or view.columns.get(canonical(column))
    if col is None:
        raise FilterError(
            f"unknown column {f.column!r} for {view.name}; columns: "
            + ", ".join(sorted([*view.columns, *view.related, *(f"{k}.<key>" for k in view.keyed)]))
        )
    return compile_condition(col.sql, col.type, f.operator, f.value, col.name)


def compile_condition(
    sql: str, kind: str, op: str, value: Any, label: str
) -> tuple[str, list[Any]]:
    """One condition on a SQL expression of a given type."""
    if op not in OPERATORS[kind]:
        raise FilterError(
            f"operator {op!r} does not apply to {label} ({kind}); use one of "
            + ", ".join(sorted(OPERATORS[kind]))
        )
    if op == "is null":
        return (f"(len({sql}) = 0 OR {sql} IS NULL)" if kind == "list" else f"{sql} IS NULL"), []
    if op == "is not null":
        return (f"len({sql}) > 0" if kind == "list" else f"{sql} IS NOT NULL"), []
    if kind == "list":
        if op in ("in", "not in"):
            values = [_coerce("string", v, label) for v in _as_list(value, label)]
            sql_ = f"list_has_any({sql}, ?::VARCHAR[])"
            return (sql_ if op == "in" else f"NOT {sql_}"), [values]
        item = _coerce("string", value, label)
        return (
            f"list_contains({sql}, ?)"
            if op in ("=", "contains")
            else f"NOT list_contains({sql}, ?)"
        ), [item]
    if op in ("in", "not in"):
        values = [_coerce(kind, v, label) for v in _as_list(value, label)]
        if not values:
            return ("FALSE" if op == "in" else "TRUE"), []
        neg = "NOT " if op == "not in" else ""
        return f"{sql} {neg}IN ({', '.join('?' * len(values))})", values
    if op in ("contains", "not contains", "starts with"):
        text = _coerce("string", value, label)
        pattern = ("" if op == "starts with" else "%") + _escape_like(text) + "%"
        neg = "NOT " if op == "not contains" else ""
        return f"coalesce({sql} {neg}ILIKE ? ESCAPE '\\', {'TRUE' if neg else 'FALSE'})", [pattern]
    return f"{sql} {op} ?", [_coerce(kind, value, label)]


def _as_list(value: Any, label: str) -> list[Any]:
    if isinstance(value, str):
        return [v for v in value.split(",") if v]
    if not isinstance(value, list):
        raise FilterError(f"{label}: 'in' needs a list of values")
    return value


def _coerce(kind: str, value: Any, label: str) -> Any:
    if value is None:
        raise FilterError(f"{label}: a value is required (use 'is null' to match missing)")
    if kind in ("string", "text", "list"):
        if isinstance(value, bool) or not isinstance(value, str | int | float):
            raise FilterError(f"{label}: expected a string, got {type(value).__name__}")
        return str(value)
    if kind == "number":
        if isinstance(value, bool):
            raise FilterError(f"{label}: expected a number, got a boolean")
        try:
            return float(value)
        except (TypeError, ValueError):
            raise FilterError(f"{label}: expected a number, got {value!r}") from None
    if kind == "boolean":
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in ("true", "false", "1", "0"):
            return value.lower() in ("true", "1")
        raise FilterError(f"{label}: expected true or false, got {value!r}")
    if kind == "datetime":
        return parse_time(value, label)
    raise FilterError(f"{label}: unsupported type {kind}")  # pragma: no cover


def parse_time(value: Any, label: str) -> datetime:
    """ISO 8601 text (``Z`` or an offset; naive means UTC) or epoch seconds -> naive UTC."""
    try:
        if isinstance(value, bool):
            raise ValueError
        if isinstance(value, int | float):
            dt = datetime.fromtimestamp(float(value), tz=UTC)
        else:
            text = str(value).strip()
            dt = datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
    except (ValueError, OverflowError, OSError):
        raise FilterError(f"{label}: expected an ISO 8601 time, got {value!r}") from None
    if dt.tzinfo is not None:
        dt = dt.astimezone(UTC).replace(tzinfo=None)
    return dt


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
