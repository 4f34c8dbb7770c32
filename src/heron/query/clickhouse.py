"""The filter language compiled to ClickHouse SQL (the DuckDB form is :mod:`heron.query.filters`).

Same views, columns, operators, validation and error messages as the DuckDB compiler (it
is reused for all of them); only the SQL differs. Values become named, typed server-side
parameters (``{p0:String}``) held by a :class:`Params`, never SQL text. The SQL reads the
views' aliases (``t`` for traces, ``o`` for observations) from subqueries that expose the
views' column names (see :mod:`heron.store.clickhouse.reads`), and ``{project:String}`` is
the caller's project (subqueries on other tables are scoped with it).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from heron.query.filters import (
    _HIDING_VIEWS,
    HIDDEN_ENVIRONMENT_PREFIX,
    OPERATORS,
    Filter,
    FilterError,
    _as_list,
    _coerce,
    _escape_like,
)
from heron.query.names import canonical
from heron.query.views import _NEGATED, View, _json_key, _kind_for

_EPOCH = datetime(1970, 1, 1)
_TYPES = {"string": "String", "text": "String", "number": "Float64", "boolean": "Bool"}

# Columns whose ClickHouse SQL differs from the DuckDB view's (the rest read the same name
# from the same alias).
_OVERRIDES: dict[str, dict[str, str]] = {
    "observations": {
        "latency_ms": "o.latency_ms",
        "time_to_first_token_ms": "o.time_to_first_token_ms",
        "tags": "o.tags",
    },
}


class Params:
    """Named query parameters: :meth:`add` returns the ``{name:Type}`` placeholder."""

    def __init__(self, project_id: str) -> None:
        self.values: dict[str, Any] = {"project": project_id}

    def add(self, value: Any, ch_type: str) -> str:
        name = f"p{len(self.values) - 1}"
        self.values[name] = value
        return f"{{{name}:{ch_type}}}"


def to_us(value: datetime) -> int:
    """A naive UTC datetime as epoch microseconds."""
    return (value - _EPOCH) // timedelta(microseconds=1)


def compile_filters(
    filters: Sequence[Filter], view: View, params: Params, hidden: str | None = None
) -> str:
    """ClickHouse condition (``1`` when empty) for ``filters`` on ``view``; rows of heron's
    own environments are left out unless a filter is on ``environment`` (``hidden``, when
    given, is how: a condition true for hidden rows, ``{prefix}`` standing for the
    environments' prefix; the default reads the view's ``environment``)."""
    parts = [_compile_one(f, view, params) for f in filters]
    env = view.columns.get("environment")
    if (
        env is not None
        and view.name in _HIDING_VIEWS
        and not any(
            f.column == "environment" or canonical(f.column) == "environment" for f in filters
        )
    ):
        prefix = params.add(HIDDEN_ENVIRONMENT_PREFIX, "String")
        test = hidden or f"startsWith(coalesce({env.sql}, ''), {{prefix}})"
        parts.append(f"NOT {test.format(prefix=prefix)}")
    return " AND ".join(parts) if parts else "1"


def _compile_one(f: Filter, view: View, params: Params) -> str:
    column, key = f.column, f.key
    if key is None and "." in column:
        column, key = column.split(".", 1)
    if key is None and column in view.related:
        return _observation_in(view, column, f.operator, f.value, params)
    if column in view.keyed:
        if not key:
            raise FilterError(f"column {column!r} needs a key, e.g. {column}.<key>")
        if column == "metadata":
            return _metadata(view.alias, f.operator, f.value, key, params)
        return _scores(view, f.operator, f.value, key, params)
    col = view.columns.get(column) or view.columns.get(canonical(column))
    if col is None:
        raise FilterError(
            f"unknown column {f.column!r} for {view.name}; columns: "
            + ", ".join(sorted([*view.columns, *view.related, *(f"{k}.<key>" for k in view.keyed)]))
        )
    sql = _OVERRIDES.get(view.name, {}).get(col.name, col.sql)
    return compile_condition(sql, col.type, f.operator, f.value, col.name, params)


def compile_condition(sql: str, kind: str, op: str, value: Any, label: str, params: Params) -> str:
    """One condition on a ClickHouse expression of a given type (NULL never matches, as in
    DuckDB: ``!=`` and ``not in`` leave out rows without a value)."""
    if op not in OPERATORS[kind]:
        raise FilterError(
            f"operator {op!r} does not apply to {label} ({kind}); use one of "
            + ", ".join(sorted(OPERATORS[kind]))
        )
    if kind == "list":  # arrays are never NULL in ClickHouse: empty is "null"
        if op == "is null":
            return f"(length({sql}) = 0)"
        if op == "is not null":
            return f"(length({sql}) > 0)"
        if op in ("in", "not in"):
            values = [_coerce("string", v, label) for v in _as_list(value, label)]
            sql_ = f"hasAny({sql}, {params.add(values, 'Array(String)')})"
            return sql_ if op == "in" else f"NOT {sql_}"
        item = params.add(_coerce("string", value, label), "String")
        return f"has({sql}, {item})" if op in ("=", "contains") else f"NOT has({sql}, {item})"
    if op == "is null":
        return f"({sql} IS NULL)"
    if op == "is not null":
        return f"({sql} IS NOT NULL)"
    if kind == "datetime":
        sql = f"toUnixTimestamp64Micro({sql})"
    if op in ("in", "not in"):
        values = [_coerce(kind, v, label) for v in _as_list(value, label)]
        if not values:
            return "0" if op == "in" else "1"
        array = params.add(values, f"Array({_TYPES[kind]})")
        neg = "NOT " if op == "not in" else ""
        return f"({sql} IS NOT NULL AND {neg}has({array}, assumeNotNull({sql})))"
    if op in ("contains", "not contains", "starts with"):
        text = _coerce("string", value, label)
        pattern = ("" if op == "starts with" else "%") + _escape_like(text) + "%"
        neg = "NOT " if op == "not contains" else ""
        return f"coalesce({sql} {neg}ILIKE {params.add(pattern, 'String')}, {1 if neg else 0})"
    coerced = _coerce(kind, value, label)
    if kind == "datetime":
        return f"{sql} {op} {params.add(to_us(coerced), 'Int64')}"
    return f"{sql} {op} {params.add(coerced, _TYPES[kind])}"


def _metadata(alias: str, op: str, value: Any, key: str, params: Params) -> str:
    """A metadata key's value as text (numbers and booleans as their JSON text, like
    DuckDB's ``json_extract_string``)."""
    _json_key(key)  # the same keys refused as in DuckDB
    sql = metadata_value(alias, key, params)
    return compile_condition(sql, _kind_for(op), op, value, f"metadata.{key}", params)


def metadata_value(alias: str, key: str, params: Params) -> str:
    """A metadata key's value as text, as DuckDB's ``json_extract_string`` reads it: a
    string's value, other values as their JSON text, ``NULL`` when absent."""
    k = params.add(key, "String")
    m = f"{alias}.metadata"
    return (
        f"if(JSONType(coalesce({m}, ''), {k}) = 'String', JSONExtractString({m}, {k}), "
        f"nullIf(JSONExtractRaw(coalesce({m}, ''), {k}), ''))"
    )


def _scores(view: View, op: str, value: Any, name: str, params: Params) -> str:
    """A score by name on the trace (or observation): its value or label matches."""
    column = "observation_id" if view.name == "observations" else "trace_id"
    target = f"{view.alias}.id"
    named = params.add(name, "String")
    scores = (
        f"SELECT {column} FROM scores FINAL WHERE project_id = {{project:String}} "
        f"AND name = {named} AND {column} IS NOT NULL"
    )
    if op in ("is null", "is not null"):
        neg = "NOT " if op == "is null" else ""
        return f"{target} {neg}IN ({scores})"
    numeric = isinstance(value, int | float) and not isinstance(value, bool)
    if op in OPERATORS["number"] and (numeric or op in (">", ">=", "<", "<=")):
        inner = compile_condition("value", "number", op, value, f"scores.{name}", params)
    else:
        inner = compile_condition("string_value", "string", op, value, f"scores.{name}", params)
    return f"{target} IN ({scores} AND {inner})"


def _observation_in(view: View, column: str, op: str, value: Any, params: Params) -> str:
    """A trace filter on an observation column: the trace has an observation matching it
    (negative operators: none does)."""
    kind = "number" if column == "prompt_version" else "string"
    positive = _NEGATED.get(op, op)
    inner = compile_condition(column, kind, positive, value, column, params)
    sql = (
        f"{view.alias}.id IN (SELECT trace_id FROM observations FINAL "
        f"WHERE project_id = {{project:String}} AND {inner})"
    )
    return f"NOT {sql}" if op in _NEGATED else sql
