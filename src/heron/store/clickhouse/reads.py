"""Trace and observation lists and details on ClickHouse, shaped as :mod:`heron.store.reads`.

Every query is scoped by ``{project:String}`` and reads ``FINAL`` (a row's latest version).
A trace's aggregates are stored on its row (``_trace_view``; the writer keeps them, see
:mod:`heron.store.clickhouse.writes`), so trace reads never regroup the spans. Lists use
the same keyset cursors as DuckDB (the sort value as a float and the id), so a cursor from
one backend pages the other. Times are read as epoch microseconds and turned into naive UTC
datetimes, as DuckDB returns them, whatever the server's time zone.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from clickhouse_connect.driver.client import Client

from heron.errors import NotFound
from heron.model.preview import preview
from heron.query import OBSERVATIONS, TRACES, View
from heron.query.clickhouse import Params, compile_condition, compile_filters
from heron.store.reads import (
    _OBS_NAMES,
    ListQuery,
    Page,
    _json,
    _limit,
    _maybe_json,
    _observation_dict,
    _trace_dict,
    build_tree,
    decode_cursor,
    encode_cursor,
    iso,
    parse_order,
)

_EPOCH = datetime(1970, 1, 1)
# NULL for a join's missing right side, as SQL means it (ClickHouse's default is a zero).
_SETTINGS = {"join_use_nulls": 1}
_US = "toUnixTimestamp64Micro"

_SORTS: dict[str, dict[str, str]] = {
    "traces": {
        "timestamp": f"{_US}(t.start_time)",
        "latency": "t.latency_ms",
        "cost": "t.total_cost",
        "tokens": "t.total_tokens",
    },
    "observations": {
        "timestamp": f"{_US}(o.start_time)",
        "latency": "o.latency_ms",
        "cost": "o.total_cost",
        "tokens": "o.total_tokens",
    },
}


def _trace_view(one_trace: bool = False) -> str:
    """The project's traces with their stored aggregates, as the traces view's columns (alias
    it ``t``); ``one_trace`` restricts it to ``{trace:String}``."""
    only = " AND id = {trace:String}" if one_trace else ""
    return (
        "SELECT project_id, id, name, user_id, session_id, release, version, environment, "
        "tags, metadata, public, input, output, input_preview, start_time, end_time, "
        "latency_ms, total_cost, input_tokens, output_tokens, total_tokens, observation_count, "
        "error_count, level, models, root_observation_id, updated_at "
        "FROM traces FINAL WHERE project_id = {project:String} AND start_time IS NOT NULL"
        f"{only}"
    )


# The observations view: each row with its computed durations and its trace's attributes.
_OBSERVATION_VIEW = (
    "SELECT o.*, "
    f"({_US}(o.end_time) - {_US}(o.start_time)) / 1000 AS latency_ms, "
    f"({_US}(o.completion_start_time) - {_US}(o.start_time)) / 1000 AS time_to_first_token_ms, "
    "tr.name AS trace_name, tr.user_id AS user_id, tr.session_id AS session_id, "
    "tr.release AS release, tr.version AS version, tr.environment AS environment, "
    "tr.tags AS tags "
    "FROM observations AS o FINAL LEFT JOIN (SELECT id, name, user_id, session_id, release, "
    "version, environment, tags FROM traces FINAL WHERE project_id = {project:String}) AS tr "
    "ON tr.id = o.trace_id WHERE o.project_id = {project:String}"
)

_TRACE_COLUMNS = (
    f"t.id, t.name, {_US}(t.start_time), {_US}(t.end_time), t.user_id, t.session_id, "
    "t.release, t.version, t.environment, t.tags, t.metadata, t.public, t.latency_ms, "
    "t.total_cost, t.input_tokens, t.output_tokens, t.total_tokens, t.observation_count, "
    "t.error_count, t.level, t.models, t.root_observation_id, t.input_preview"
)
_OBS_COLUMNS = (
    f"o.id, o.trace_id, o.parent_id, o.type, o.name, {_US}(o.start_time), {_US}(o.end_time), "
    f"{_US}(o.completion_start_time), o.model, o.model_parameters, o.metadata, o.level, "
    "o.status_message, o.usage, o.cost, o.cost_source, o.total_cost, o.prompt_name, "
    "o.prompt_version"
)
# Past what DuckDB's reads accept as a completion start (older rows may hold nonsense).
_COMPLETION_RANGE = (0, 7_258_118_400_000_000)  # 1970-01-01 .. 2200-01-01


def utc(us: int | None) -> datetime | None:
    """Epoch microseconds as a naive UTC datetime."""
    return None if us is None else _EPOCH + timedelta(microseconds=us)


def _order(view: str, order_by: str) -> tuple[str, bool]:
    name, desc = parse_order(view, order_by)
    return f"coalesce(toFloat64({_SORTS[view][name]}), {'-1e308' if desc else '1e308'})", desc


def _keyset(sort_sql: str, id_sql: str, desc: bool, cursor: str | None, params: Params) -> str:
    if not cursor:
        return "1"
    value, row_id = decode_cursor(cursor)
    cmp = "<" if desc else ">"
    v, i = params.add(float(value), "Float64"), params.add(row_id, "String")
    return f"({sort_sql} {cmp} {v} OR ({sort_sql} = {v} AND {id_sql} {cmp} {i}))"


def _search(view: View, text: str | None, params: Params) -> str:
    """Case-insensitive search in inputs and outputs (a trace's and all its observations')."""
    if not text:
        return "1"
    a = view.alias

    def contains(column: str) -> str:
        return compile_condition(column, "text", "contains", text, "search", params)

    own = f"{contains(f'{a}.input')} OR {contains(f'{a}.output')}"
    if view is OBSERVATIONS:
        return f"({own})"
    return (
        f"({own} OR t.id IN (SELECT trace_id FROM observations FINAL "
        f"WHERE project_id = {{project:String}} AND ({contains('input')} OR "
        f"{contains('output')})))"
    )


def _trace_row(row: Sequence[Any]) -> dict[str, Any]:
    values = list(row)
    values[2], values[3] = utc(values[2]), utc(values[3])
    return _trace_dict(values)


def list_traces(client: Client, project_id: str, q: ListQuery) -> Page:
    limit = _limit(q.limit)
    sort_sql, desc = _order("traces", q.order_by)
    params = Params(project_id)
    where = compile_filters(q.filters, TRACES, params)
    search = _search(TRACES, q.search, params)
    keyset = _keyset(sort_sql, "t.id", desc, q.cursor, params)
    direction = "DESC" if desc else "ASC"
    rows = client.query(
        f"SELECT {_TRACE_COLUMNS}, {sort_sql} FROM ({_trace_view()}) AS t "
        f"WHERE {where} AND {search} AND {keyset} "
        f"ORDER BY {sort_sql} {direction}, t.id {direction} LIMIT {limit + 1}",
        parameters=params.values,
        settings=_SETTINGS,
    ).result_rows
    data = [_trace_row(r[:-1]) for r in rows[:limit]]
    _attach_score_summaries(client, project_id, data)
    _attach_output_previews(client, project_id, data)
    nxt = encode_cursor(rows[limit - 1][-1], rows[limit - 1][0]) if len(rows) > limit else None
    return Page(data, nxt)


def count_traces(client: Client, project_id: str, q: ListQuery) -> int:
    """How many traces match the list's filters and search."""
    params = Params(project_id)
    where = compile_filters(q.filters, TRACES, params)
    search = _search(TRACES, q.search, params)
    rows = client.query(
        f"SELECT count() FROM ({_trace_view()}) AS t WHERE {where} AND {search}",
        parameters=params.values,
        settings=_SETTINGS,
    ).result_rows
    return int(rows[0][0])


_OUTPUT_HEAD = 2000


def _attach_output_previews(client: Client, project_id: str, traces: list[dict[str, Any]]) -> None:
    for t in traces:
        t["output_preview"] = None
    if not traces:
        return
    by_id = {t["id"]: t for t in traces}
    rows = client.query(
        f"SELECT id, leftUTF8(output, {_OUTPUT_HEAD}) FROM traces FINAL "
        "WHERE project_id = {project:String} AND id IN {ids:Array(String)}",
        parameters={"project": project_id, "ids": list(by_id)},
    ).result_rows
    for trace_id, head in rows:
        by_id[trace_id]["output_preview"] = preview(head)


def _attach_score_summaries(client: Client, project_id: str, traces: list[dict[str, Any]]) -> None:
    """Per score name, the average value (numeric and boolean) or the latest label."""
    for t in traces:
        t["scores"] = {}
    if not traces:
        return
    by_id = {t["id"]: t for t in traces}
    rows = client.query(
        "SELECT trace_id, name, value, string_value, data_type FROM scores FINAL "
        "WHERE project_id = {project:String} AND trace_id IN {ids:Array(String)} "
        "ORDER BY timestamp",
        parameters={"project": project_id, "ids": list(by_id)},
    ).result_rows
    sums: dict[tuple[str, str], list[float]] = {}
    for trace_id, name, value, label, data_type in rows:
        if data_type in ("NUMERIC", "BOOLEAN") and value is not None:
            sums.setdefault((trace_id, name), []).append(value)
        elif data_type == "CATEGORICAL" and label is not None:
            by_id[trace_id]["scores"][name] = label
    for (trace_id, name), values in sums.items():
        by_id[trace_id]["scores"][name] = sum(values) / len(values)


def _observation_row(row: Sequence[Any], names: Sequence[str] = _OBS_NAMES) -> dict[str, Any]:
    values = list(row)
    first = values[7]
    values[5], values[6] = utc(values[5]), utc(values[6])
    low, high = _COMPLETION_RANGE
    values[7] = utc(first) if first is not None and low <= first <= high else None
    return _observation_dict(values, names)


def list_observations(client: Client, project_id: str, q: ListQuery) -> Page:
    limit = _limit(q.limit)
    sort_sql, desc = _order("observations", q.order_by)
    params = Params(project_id)
    where = compile_filters(q.filters, OBSERVATIONS, params)
    search = _search(OBSERVATIONS, q.search, params)
    keyset = _keyset(sort_sql, "o.id", desc, q.cursor, params)
    direction = "DESC" if desc else "ASC"
    rows = client.query(
        f"SELECT {_OBS_COLUMNS}, {sort_sql} FROM ({_OBSERVATION_VIEW}) AS o "
        f"WHERE {where} AND {search} AND {keyset} "
        f"ORDER BY {sort_sql} {direction}, o.id {direction} LIMIT {limit + 1}",
        parameters=params.values,
        settings=_SETTINGS,
    ).result_rows
    data = [_observation_row(r[:-1]) for r in rows[:limit]]
    nxt = encode_cursor(rows[limit - 1][-1], rows[limit - 1][0]) if len(rows) > limit else None
    return Page(data, nxt)


def get_trace(client: Client, project_id: str, trace_id: str) -> dict[str, Any]:
    parameters = {"project": project_id, "trace": trace_id}
    rows = client.query(
        f"SELECT {_TRACE_COLUMNS}, t.input, t.output FROM ({_trace_view(True)}) AS t",
        parameters=parameters,
        settings=_SETTINGS,
    ).result_rows
    if not rows:
        raise NotFound(f"trace {trace_id!r} not found in this project")
    trace = _trace_row(rows[0][:-2])
    trace["input"], trace["output"] = _maybe_json(rows[0][-2]), _maybe_json(rows[0][-1])
    rows = client.query(
        f"SELECT {_OBS_COLUMNS}, o.input, o.output FROM observations AS o FINAL "
        "WHERE o.project_id = {project:String} AND o.trace_id = {trace:String} "
        "ORDER BY o.start_time, o.id",
        parameters=parameters,
    ).result_rows
    observations = [_observation_row(r, (*_OBS_NAMES, "input", "output")) for r in rows]
    trace["observations"] = build_tree(observations)
    trace["scores"] = _scores(client, project_id, trace_id)
    return trace


_SCORE_NAMES = (
    "id",
    "trace_id",
    "observation_id",
    "session_id",
    "name",
    "value",
    "string_value",
    "data_type",
    "source",
    "comment",
    "author",
    "timestamp",
    "metadata",
    "environment",
)


def _scores(client: Client, project_id: str, trace_id: str) -> list[dict[str, Any]]:
    columns = ", ".join(f"{_US}(timestamp)" if n == "timestamp" else n for n in _SCORE_NAMES)
    rows = client.query(
        f"SELECT {columns} FROM scores FINAL WHERE project_id = {{project:String}} "
        "AND trace_id = {trace:String} ORDER BY timestamp",
        parameters={"project": project_id, "trace": trace_id},
    ).result_rows
    out = []
    for r in rows:
        d = dict(zip(_SCORE_NAMES, r, strict=True))
        d["timestamp"] = iso(utc(d["timestamp"]))
        d["metadata"] = _json(d["metadata"]) or {}
        out.append(d)
    return out
