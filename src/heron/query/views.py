"""The filterable views and their columns. Each view's SQL reads from one table alias."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from heron.query.filters import OPERATORS, Column, FilterError, compile_condition

KeyedCompiler = Callable[[str, Any, str], tuple[str, list[Any]]]
RelatedCompiler = Callable[[str, Any], tuple[str, list[Any]]]


@dataclass(frozen=True)
class View:
    name: str
    alias: str
    columns: dict[str, Column]
    keyed: dict[str, KeyedCompiler] = field(default_factory=dict)
    # columns of related rows ("a trace has an observation with ..."), compiled as EXISTS
    related: dict[str, RelatedCompiler] = field(default_factory=dict)


def _columns(alias: str, specs: list[tuple[str, str, str]]) -> dict[str, Column]:
    return {name: Column(name, sql.format(a=alias), kind) for name, sql, kind in specs}


def _metadata(alias: str) -> KeyedCompiler:
    def compile_(op: str, value: Any, key: str) -> tuple[str, list[Any]]:
        path = "$." + _json_key(key)
        sql, params = compile_condition(
            f"json_extract_string({alias}.metadata, ?)",
            _kind_for(op),
            op,
            value,
            f"metadata.{key}",
        )
        return sql, [path, *params]

    return compile_


def _kind_for(op: str) -> str:
    if op in (">", ">=", "<", "<="):
        raise FilterError(f"metadata values are text; operator {op!r} is not supported")
    return "string"


def _json_key(key: str) -> str:
    if not key or any(c in key for c in '"\\'):
        raise FilterError(f"metadata key {key!r} is not supported")
    return '"' + key + '"'


def _scores(alias: str, trace_col: str, observation: bool) -> KeyedCompiler:
    def compile_(op: str, value: Any, name: str) -> tuple[str, list[Any]]:
        numeric = isinstance(value, int | float) and not isinstance(value, bool)
        if op in ("is null", "is not null"):
            exists = (
                f"EXISTS (SELECT 1 FROM scores s WHERE s.project_id = {alias}.project_id "
                f"AND s.{'observation_id' if observation else 'trace_id'} = {trace_col} "
                "AND s.name = ?)"
            )
            return (exists if op == "is not null" else f"NOT {exists}"), [name]
        if op in OPERATORS["number"] and (numeric or op in (">", ">=", "<", "<=")):
            inner, params = compile_condition("s.value", "number", op, value, f"scores.{name}")
        else:
            inner, params = compile_condition(
                "s.string_value", "string", op, value, f"scores.{name}"
            )
        sql = (
            f"EXISTS (SELECT 1 FROM scores s WHERE s.project_id = {alias}.project_id "
            f"AND s.{'observation_id' if observation else 'trace_id'} = {trace_col} "
            f"AND s.name = ? AND {inner})"
        )
        return sql, [name, *params]

    return compile_


# Trace attributes the observations view offers. The scalar ones are copied onto each
# observation row at write time (heron.store.arrow.TRACE_ATTRIBUTES, same names).
TRACE_LEVEL: tuple[tuple[str, str], ...] = (
    ("trace_name", "string"),
    ("user_id", "string"),
    ("session_id", "string"),
    ("release", "string"),
    ("version", "string"),
    ("environment", "string"),
)


# Negative operators on a related column mean "no related row matches the positive one":
# prompt_version != 4 is a trace without any observation of prompt version 4.
_NEGATED = {"!=": "=", "not in": "in", "not contains": "contains", "is null": "is not null"}


def _observation_exists(alias: str, column: str, kind: str) -> RelatedCompiler:
    """A trace filter on an observation column: the trace has an observation matching it."""

    def compile_(op: str, value: Any) -> tuple[str, list[Any]]:
        positive = _NEGATED.get(op, op)
        inner, params = compile_condition(f"ox.{column}", kind, positive, value, column)
        sql = (
            f"EXISTS (SELECT 1 FROM observations ox WHERE ox.project_id = {alias}.project_id "
            f"AND ox.trace_id = {alias}.id AND {inner})"
        )
        return (f"NOT {sql}" if op in _NEGATED else sql), params

    return compile_


# The trace's tags, read from the trace (a list is not copied onto observations).
_TRACE_TAGS = (
    "(SELECT tr.tags FROM traces tr WHERE tr.project_id = {a}.project_id AND tr.id = {a}.trace_id)"
)


TRACES = View(
    "traces",
    "t",
    _columns(
        "t",
        [
            ("id", "{a}.id", "string"),
            ("name", "{a}.name", "string"),
            ("user_id", "{a}.user_id", "string"),
            ("session_id", "{a}.session_id", "string"),
            ("release", "{a}.release", "string"),
            ("version", "{a}.version", "string"),
            ("environment", "{a}.environment", "string"),
            ("tags", "{a}.tags", "list"),
            ("models", "{a}.models", "list"),
            ("model", "{a}.models", "list"),
            ("level", "{a}.level", "string"),
            ("start_time", "{a}.start_time", "datetime"),
            ("timestamp", "{a}.start_time", "datetime"),
            ("end_time", "{a}.end_time", "datetime"),
            ("latency_ms", "{a}.latency_ms", "number"),
            ("total_cost", "{a}.total_cost", "number"),
            ("input_tokens", "{a}.input_tokens", "number"),
            ("output_tokens", "{a}.output_tokens", "number"),
            ("total_tokens", "{a}.total_tokens", "number"),
            ("observation_count", "{a}.observation_count", "number"),
            ("error_count", "{a}.error_count", "number"),
            ("has_error", "({a}.error_count > 0)", "boolean"),
            ("public", "{a}.public", "boolean"),
            ("input", "{a}.input", "text"),
            ("output", "{a}.output", "text"),
        ],
    ),
    {"metadata": _metadata("t"), "scores": _scores("t", "t.id", observation=False)},
    {
        "prompt_name": _observation_exists("t", "prompt_name", "string"),
        "prompt_version": _observation_exists("t", "prompt_version", "number"),
    },
)

OBSERVATIONS = View(
    "observations",
    "o",
    _columns(
        "o",
        [
            ("id", "{a}.id", "string"),
            ("trace_id", "{a}.trace_id", "string"),
            ("parent_id", "{a}.parent_id", "string"),
            ("type", "{a}.type", "string"),
            ("name", "{a}.name", "string"),
            ("model", "{a}.model", "string"),
            ("level", "{a}.level", "string"),
            ("status_message", "{a}.status_message", "string"),
            ("prompt_name", "{a}.prompt_name", "string"),
            ("prompt_version", "{a}.prompt_version", "number"),
            ("start_time", "{a}.start_time", "datetime"),
            ("timestamp", "{a}.start_time", "datetime"),
            ("end_time", "{a}.end_time", "datetime"),
            ("latency_ms", "(epoch_us({a}.end_time) - epoch_us({a}.start_time)) / 1000", "number"),
            (
                "time_to_first_token_ms",
                "(epoch_us({a}.completion_start_time) - epoch_us({a}.start_time)) / 1000",
                "number",
            ),
            ("input_tokens", "{a}.input_tokens", "number"),
            ("output_tokens", "{a}.output_tokens", "number"),
            ("total_tokens", "{a}.total_tokens", "number"),
            ("total_cost", "{a}.total_cost", "number"),
            ("has_error", "({a}.level = 'ERROR')", "boolean"),
            ("input", "{a}.input", "text"),
            ("output", "{a}.output", "text"),
            *((name, f"{{a}}.{name}", kind) for name, kind in TRACE_LEVEL),
            ("tags", _TRACE_TAGS, "list"),
        ],
    ),
    {"metadata": _metadata("o"), "scores": _scores("o", "o.id", observation=True)},
)

SCORES = View(
    "scores",
    "s",
    _columns(
        "s",
        [
            ("id", "{a}.id", "string"),
            ("trace_id", "{a}.trace_id", "string"),
            ("observation_id", "{a}.observation_id", "string"),
            ("session_id", "{a}.session_id", "string"),
            ("name", "{a}.name", "string"),
            ("value", "{a}.value", "number"),
            ("string_value", "{a}.string_value", "string"),
            ("data_type", "{a}.data_type", "string"),
            ("source", "{a}.source", "string"),
            ("environment", "{a}.environment", "string"),
            ("author", "{a}.author", "string"),
            ("comment", "{a}.comment", "text"),
            ("timestamp", "{a}.timestamp", "datetime"),
        ],
    ),
    {"metadata": _metadata("s")},
)
