"""Sessions and users on ClickHouse (traces grouped by one column), shaped as the DuckDB
``list_sessions``, ``list_users`` and ``get_session`` of :mod:`heron.store.reads`.

They group the traces view of :mod:`heron.store.clickhouse.reads` (the trace rows with their
stored aggregates), filtered by the traces' filter language and search.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from clickhouse_connect.driver.client import Client

from heron.errors import NotFound
from heron.query import TRACES
from heron.query.clickhouse import Params, compile_filters, to_us
from heron.store.clickhouse.reads import (
    _SETTINGS,
    _TRACE_COLUMNS,
    _US,
    _keyset,
    _search,
    _trace_row,
    _trace_view,
    utc,
)
from heron.store.reads import (
    MAX_LIMIT,
    ListQuery,
    Page,
    _limit,
    _maybe_json,
    encode_cursor,
    iso,
    parse_order,
    session_summary,
)

_GROUP_SORTS = {
    "timestamp": f"{_US}(g.last_time)",
    "first_seen": f"{_US}(g.first_time)",
    "traces": "g.traces",
    "cost": "g.total_cost",
    "tokens": "g.total_tokens",
    "errors": "g.errors",
}


def _group_list(
    client: Client,
    project_id: str,
    q: ListQuery,
    key: str,
    extra_sql: str,
    extra_names: Sequence[str],
) -> Page:
    limit = _limit(q.limit)
    name, desc = parse_order("groups", q.order_by)
    sort_sql = f"coalesce(toFloat64({_GROUP_SORTS[name]}), {'-1e308' if desc else '1e308'})"
    params = Params(project_id)
    where = compile_filters(q.filters, TRACES, params)
    search = _search(TRACES, q.search, params)
    keyset = _keyset(sort_sql, "g.group_key", desc, q.cursor, params)
    direction = "DESC" if desc else "ASC"
    extras = ", ".join(f"g.{n}" for n in extra_names)
    rows = client.query(
        f"SELECT g.group_key, {_US}(g.first_time), {_US}(g.last_time), g.traces, "
        f"g.total_cost, g.total_tokens, g.errors, {extras}, {sort_sql} "
        f"FROM (SELECT assumeNotNull({key}) AS group_key, min(t.start_time) AS first_time, "
        "max(coalesce(t.end_time, t.start_time)) AS last_time, count() AS traces, "
        "sum(t.total_cost) AS total_cost, sum(t.total_tokens) AS total_tokens, "
        f"sum(t.error_count) AS errors, {extra_sql} FROM ({_trace_view()}) AS t "
        f"WHERE {key} IS NOT NULL AND {where} AND {search} GROUP BY group_key) AS g "
        f"WHERE {keyset} ORDER BY {sort_sql} {direction}, g.group_key {direction} "
        f"LIMIT {limit + 1}",
        parameters=params.values,
        settings=_SETTINGS,
    ).result_rows
    names = (
        "id",
        "first_time",
        "last_time",
        "trace_count",
        "total_cost",
        "total_tokens",
        "error_count",
        *extra_names,
    )
    data = []
    for r in rows[:limit]:
        d = dict(zip(names, r[:-1], strict=True))
        d["first_time"], d["last_time"] = iso(utc(d["first_time"])), iso(utc(d["last_time"]))
        data.append(d)
    nxt = encode_cursor(rows[limit - 1][-1], rows[limit - 1][0]) if len(rows) > limit else None
    _attach_group_scores(client, project_id, key.removeprefix("t."), data)
    return Page(data, nxt)


def _attach_group_scores(
    client: Client, project_id: str, column: str, groups: list[dict[str, Any]]
) -> None:
    """Per numeric score name, the average over the group's traces' scores."""
    for g in groups:
        g["scores"] = {}
    if not groups:
        return
    by_id = {g["id"]: g for g in groups}
    rows = client.query(
        f"SELECT t.{column}, s.name, avg(s.value) FROM scores AS s FINAL "
        f"JOIN (SELECT id, {column} FROM traces FINAL WHERE project_id = {{project:String}} "
        f"AND {column} IN {{keys:Array(String)}}) AS t ON t.id = s.trace_id "
        "WHERE s.project_id = {project:String} AND s.data_type IN ('NUMERIC', 'BOOLEAN') "
        f"GROUP BY t.{column}, s.name ORDER BY s.name",
        parameters={"project": project_id, "keys": list(by_id)},
    ).result_rows
    for group_key, name, value in rows:
        by_id[group_key]["scores"][name] = value


def list_sessions(client: Client, project_id: str, q: ListQuery) -> Page:
    return _group_list(
        client,
        project_id,
        q,
        "t.session_id",
        "arraySort(groupUniqArrayIf(assumeNotNull(t.user_id), t.user_id IS NOT NULL)) AS user_ids",
        ("user_ids",),
    )


def list_users(client: Client, project_id: str, q: ListQuery) -> Page:
    return _group_list(
        client,
        project_id,
        q,
        "t.user_id",
        "uniqExactIf(t.session_id, t.session_id IS NOT NULL) AS session_count, "
        "sum(t.input_tokens) AS input_tokens, sum(t.output_tokens) AS output_tokens",
        ("session_count", "input_tokens", "output_tokens"),
    )


def get_session(
    client: Client, project_id: str, session_id: str, limit: int = MAX_LIMIT
) -> dict[str, Any]:
    rows = client.query(
        f"SELECT {_TRACE_COLUMNS}, t.input, t.output FROM ({_trace_view()}) AS t "
        "WHERE t.session_id = {session:String} ORDER BY t.start_time, t.id "
        f"LIMIT {_limit(limit)}",
        parameters={"project": project_id, "session": session_id},
        settings=_SETTINGS,
    ).result_rows
    if not rows:
        raise NotFound(f"session {session_id!r} not found in this project")
    traces = []
    for r in rows:
        d = _trace_row(r[:-2])
        d["input"], d["output"] = _maybe_json(r[-2]), _maybe_json(r[-1])
        traces.append(d)
    return session_summary(session_id, traces)


def user_days(
    client: Client, project_id: str, user_id: str, since: datetime
) -> list[dict[str, Any]]:
    """An end user's traces per UTC day since ``since``, oldest first: ``day`` (ISO date),
    ``traces``, ``cost`` and ``scores`` (per numeric score name, the day's average)."""
    parameters = {"project": project_id, "user": user_id, "since": to_us(since)}
    rows = client.query(
        f"SELECT toDate(t.start_time) AS day, count(), sum(t.total_cost) FROM ({_trace_view()}) "
        f"AS t WHERE t.user_id = {{user:String}} AND {_US}(t.start_time) >= {{since:Int64}} "
        "GROUP BY day ORDER BY day",
        parameters=parameters,
        settings=_SETTINGS,
    ).result_rows
    days = {
        d: {"day": d.isoformat(), "traces": n, "cost": cost or 0.0, "scores": {}}
        for d, n, cost in rows
    }
    scored = client.query(
        "SELECT toDate(t.start_time) AS day, s.name, avg(s.value) FROM scores AS s FINAL "
        f"JOIN ({_trace_view()}) AS t ON t.id = s.trace_id "
        "WHERE s.project_id = {project:String} AND t.user_id = {user:String} "
        f"AND {_US}(t.start_time) >= {{since:Int64}} "
        "AND s.data_type IN ('NUMERIC', 'BOOLEAN') GROUP BY day, s.name",
        parameters=parameters,
        settings=_SETTINGS,
    ).result_rows
    for d, name, value in scored:
        if d in days:
            days[d]["scores"][name] = value
    return list(days.values())
