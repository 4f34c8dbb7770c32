"""Langfuse's public read API on ClickHouse, shaped as :mod:`heron.store.langfuse_reads`.

Traces, observations and sessions as Langfuse's SDKs page through them (``page``/``limit``
with totals, or a cursor), with inputs and outputs; the same rows, names, order and cursors
as DuckDB's, so a cursor from one backend pages the other. Every query reads ``FINAL``, is
scoped by ``{project:String}`` and filtered with the shared filter language compiled by
:mod:`heron.query.clickhouse` over the views of :mod:`heron.store.clickhouse.reads`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from clickhouse_connect.driver.client import Client

from heron.errors import NotFound
from heron.query import OBSERVATIONS, TRACES, Filter
from heron.query.clickhouse import Params, compile_filters, to_us
from heron.store.clickhouse.reads import _COMPLETION_RANGE, _OBSERVATION_VIEW, _trace_view, utc
from heron.store.langfuse_reads import _OBS_NAMES, _TRACE_NAMES, check_order
from heron.store.reads import decode_cursor, encode_cursor

_US = "toUnixTimestamp64Micro"
_SETTINGS = {"join_use_nulls": 1}
_TIMES = frozenset({"timestamp", "start_time", "end_time", "completion_start_time", "updated_at"})
_TRACE_COLUMNS = ", ".join(
    f"{_US}(t.start_time)" if n == "timestamp" else (f"{_US}(t.{n})" if n in _TIMES else f"t.{n}")
    for n in _TRACE_NAMES
)
_OBS_COLUMNS = ", ".join(f"{_US}(o.{n})" if n in _TIMES else f"o.{n}" for n in _OBS_NAMES)
_TRACE_IO = (*_TRACE_NAMES, "input", "output")
_OBS_IO = (*_OBS_NAMES, "input", "output")
# An observation's trace attributes (its names -> the trace's columns), read from the trace
# row by key where one trace is read (the observations view joins the project's traces).
_FROM_TRACE = {
    "trace_name": "name",
    **{n: n for n in ("user_id", "session_id", "release", "version", "environment")},
}
_OWN = tuple(n for n in _OBS_NAMES if n not in _FROM_TRACE)
_OWN_COLUMNS = ", ".join(f"{_US}({n})" if n in _TIMES else n for n in _OWN)


def _row(names: Sequence[str], row: Sequence[Any]) -> dict[str, Any]:
    """A row as DuckDB's reads give it: times as naive UTC datetimes (a completion start
    outside DuckDB's readable range as None), no usage or cost as None (ClickHouse's maps are
    never NULL; DuckDB stores NULL for a span without them)."""
    out = dict(zip(names, row, strict=True))
    for name in ("usage", "cost"):
        if name in out and not out[name]:
            out[name] = None
    for name in _TIMES.intersection(out):
        us = out[name]
        if name == "completion_start_time" and us is not None:
            low, high = _COMPLETION_RANGE
            us = us if low <= us <= high else None
        out[name] = utc(us)
    return out


def _query(client: Client, sql: str, params: dict[str, Any]) -> list[tuple[Any, ...]]:
    return client.query(sql, parameters=params, settings=_SETTINGS).result_rows


def trace_page(
    client: Client,
    project_id: str,
    filters: Sequence[Filter],
    order_by: str | None,
    page: int,
    limit: int,
    io: bool,
) -> tuple[list[dict[str, Any]], int]:
    """One page (from 1) of matching traces in Langfuse's ``orderBy`` and their total; each
    with its observation and score ids, and its input and output when ``io``."""
    params = Params(project_id)
    where = compile_filters(filters, TRACES, params)
    column, desc = check_order(order_by)
    direction = "DESC" if desc else "ASC"
    source = f"({_trace_view()}) AS t WHERE {where}"
    ((total,),) = _query(client, f"SELECT count() FROM {source}", params.values)
    extra = ", t.input, t.output" if io else ""
    rows = _query(
        client,
        f"SELECT {_TRACE_COLUMNS}{extra} FROM {source} "
        f"ORDER BY {column} {direction} NULLS LAST, t.id {direction} "
        f"LIMIT {int(limit)} OFFSET {int((page - 1) * limit)}",
        params.values,
    )
    data = [_row(_TRACE_IO if io else _TRACE_NAMES, r) for r in rows]
    _attach_ids(client, project_id, data)
    return data, int(total)


def _attach_ids(client: Client, project_id: str, traces: list[dict[str, Any]]) -> None:
    """Each trace's observation ids (by start time, then id) and score ids (by time, id)."""
    by_id = {t["id"]: t for t in traces}
    for t in traces:
        t["observation_ids"], t["score_ids"] = [], []
    if not by_id:
        return
    for table, key, order in (
        ("observations", "observation_ids", "start_time"),
        ("scores", "score_ids", "timestamp"),
    ):
        rows = _query(
            client,
            f"SELECT trace_id, arrayMap(x -> x.2, arraySort(groupArray(({order}, id)))) "
            f"FROM {table} FINAL WHERE project_id = {{project:String}} "
            "AND trace_id IN {ids:Array(String)} GROUP BY trace_id",
            {"project": project_id, "ids": list(by_id)},
        )
        for trace_id, found in rows:
            by_id[trace_id][key] = list(found)


def trace_detail(
    client: Client, project_id: str, trace_id: str
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """A trace with its input and output, and its observations, flat, oldest first, with
    theirs (404 when the project has no such trace)."""
    params = {"project": project_id, "trace": trace_id}
    rows = _query(
        client,
        f"SELECT {_TRACE_COLUMNS}, t.input, t.output FROM ({_trace_view(True)}) AS t",
        params,
    )
    if not rows:
        raise NotFound(f"trace {trace_id!r} not found in this project")
    trace = _row(_TRACE_IO, rows[0])
    rows = _query(
        client,
        f"SELECT {_OWN_COLUMNS}, input, output FROM observations FINAL "
        "WHERE project_id = {project:String} AND trace_id = {trace:String} "
        "ORDER BY start_time, id",
        params,
    )
    attributes = {n: trace[c] for n, c in _FROM_TRACE.items()}
    return trace, [_observation(r, attributes) for r in rows]


def _observation(row: Sequence[Any], attributes: dict[str, Any]) -> dict[str, Any]:
    """An observation read with its own columns and input and output, given its trace's
    attributes, in the observations view's order."""
    own = _row((*_OWN, "input", "output"), row)
    return {n: attributes[n] if n in _FROM_TRACE else own[n] for n in _OBS_IO}


def _trace_attributes(client: Client, project_id: str, trace_id: str) -> dict[str, Any]:
    rows = _query(
        client,
        f"SELECT {', '.join(_FROM_TRACE.values())} FROM traces FINAL "
        "WHERE project_id = {project:String} AND id = {trace:String}",
        {"project": project_id, "trace": trace_id},
    )
    return dict(zip(_FROM_TRACE, rows[0] if rows else [None] * len(_FROM_TRACE), strict=True))


def observation_page(
    client: Client, project_id: str, filters: Sequence[Filter], page: int, limit: int
) -> tuple[list[dict[str, Any]], int]:
    """One page (from 1) of matching observations, newest first, with inputs and outputs,
    and their total."""
    params = Params(project_id)
    where = compile_filters(filters, OBSERVATIONS, params)
    source = f"({_OBSERVATION_VIEW}) AS o WHERE {where}"
    ((total,),) = _query(client, f"SELECT count() FROM {source}", params.values)
    rows = _query(
        client,
        f"SELECT {_OBS_COLUMNS}, o.input, o.output FROM {source} "
        f"ORDER BY o.start_time DESC, o.id DESC LIMIT {int(limit)} "
        f"OFFSET {int((page - 1) * limit)}",
        params.values,
    )
    return [_row(_OBS_IO, r) for r in rows], int(total)


def observation(client: Client, project_id: str, observation_id: str) -> dict[str, Any]:
    """One observation by id, with input and output (404 when the project has none)."""
    rows = _query(
        client,
        f"SELECT {_OWN_COLUMNS}, input, output FROM observations FINAL "
        "WHERE project_id = {project:String} AND id = {id:String} "
        "ORDER BY updated_at DESC LIMIT 1",
        {"project": project_id, "id": observation_id},
    )
    if not rows:
        raise NotFound(f"observation {observation_id!r} not found in this project")
    trace_id = rows[0][_OWN.index("trace_id")]
    return _observation(rows[0], _trace_attributes(client, project_id, trace_id))


def observation_scan(
    client: Client,
    project_id: str,
    filters: Sequence[Filter],
    limit: int,
    cursor: str | None,
    io: bool,
    tags: bool,
) -> tuple[list[dict[str, Any]], str | None]:
    """Up to ``limit`` matching observations, newest first (start time, then id), after
    ``cursor``, and the next page's cursor (None on the last); inputs and outputs when
    ``io``, the trace's tags when ``tags``."""
    params = Params(project_id)
    where = compile_filters(filters, OBSERVATIONS, params)
    keyset = "1"
    if cursor:
        value, row_id = decode_cursor(cursor)
        # a forged value past Int64 pages as the end it is past (DuckDB compares it as is)
        us = max(min(int(value), 2**63 - 1), -(2**63))
        v, i = params.add(us, "Int64"), params.add(row_id, "String")
        start = f"{_US}(o.start_time)"
        keyset = f"({start} < {v} OR ({start} = {v} AND o.id < {i}))"
    extra = ", o.input, o.output" if io else ""
    rows = _query(
        client,
        f"SELECT {_OBS_COLUMNS}{extra}, o.tags FROM ({_OBSERVATION_VIEW}) AS o "
        f"WHERE {where} AND {keyset} ORDER BY o.start_time DESC, o.id DESC "
        f"LIMIT {int(limit) + 1}",
        params.values,
    )
    names = _OBS_IO if io else _OBS_NAMES
    data = []
    for r in rows[:limit]:
        item = _row(names, r[:-1])
        if tags:
            item["tags"] = list(r[-1] or [])
        data.append(item)
    after = None
    if len(rows) > limit:
        last = rows[limit - 1]
        after = encode_cursor(last[_OBS_NAMES.index("start_time")], last[0])
    return data, after


def session_page(
    client: Client,
    project_id: str,
    filters: Sequence[Filter],
    created: tuple[Any, Any],
    page: int,
    limit: int,
) -> tuple[list[dict[str, Any]], int]:
    """One page of sessions, newest first by when each began (its first trace; ``created``
    bounds it, from inclusive, to exclusive), and the total; ``filters`` apply to traces."""
    params = Params(project_id)
    where = compile_filters(filters, TRACES, params)
    having = []
    if created[0] is not None:
        having.append(f"{_US}(min(t.start_time)) >= {params.add(to_us(created[0]), 'Int64')}")
    if created[1] is not None:
        having.append(f"{_US}(min(t.start_time)) < {params.add(to_us(created[1]), 'Int64')}")
    groups = (
        f"SELECT assumeNotNull(t.session_id) AS sid, {_US}(min(t.start_time)) AS created, "
        f"argMin(t.environment, t.start_time) AS env FROM ({_trace_view()}) AS t "
        f"WHERE t.session_id IS NOT NULL AND {where} GROUP BY t.session_id "
        f"{'HAVING ' + ' AND '.join(having) if having else ''}"
    )
    ((total,),) = _query(client, f"SELECT count() FROM ({groups})", params.values)
    rows = _query(
        client,
        f"SELECT sid, created, env FROM ({groups}) ORDER BY created DESC, sid DESC "
        f"LIMIT {int(limit)} OFFSET {int((page - 1) * limit)}",
        params.values,
    )
    data = [{"id": i, "created_at": utc(c), "environment": e} for i, c, e in rows]
    return data, int(total)


def session_traces(
    client: Client, project_id: str, session_id: str, limit: int = 1000
) -> list[dict[str, Any]]:
    """A session's traces (up to ``limit``, oldest first) with inputs and outputs."""
    rows = _query(
        client,
        f"SELECT {_TRACE_COLUMNS}, t.input, t.output FROM ({_trace_view()}) AS t "
        "WHERE t.session_id = {session:String} ORDER BY t.start_time, t.id "
        f"LIMIT {int(limit)}",
        {"project": project_id, "session": session_id},
    )
    return [_row(_TRACE_IO, r) for r in rows]


class LangfuseReads:
    """Langfuse's read API (a part of ``ClickHouseEvents``: ``self.client``)."""

    client: Client

    def langfuse_trace_page(
        self,
        project_id: str,
        filters: Sequence[Filter],
        order_by: str | None,
        page: int,
        limit: int,
        io: bool,
    ) -> tuple[list[dict[str, Any]], int]:
        return trace_page(self.client, project_id, filters, order_by, page, limit, io)

    def langfuse_trace(
        self, project_id: str, trace_id: str
    ) -> tuple[dict[str, Any], list[dict[str, Any]]]:
        return trace_detail(self.client, project_id, trace_id)

    def langfuse_observation_page(
        self, project_id: str, filters: Sequence[Filter], page: int, limit: int
    ) -> tuple[list[dict[str, Any]], int]:
        return observation_page(self.client, project_id, filters, page, limit)

    def langfuse_observation(self, project_id: str, observation_id: str) -> dict[str, Any]:
        return observation(self.client, project_id, observation_id)

    def langfuse_observation_scan(
        self,
        project_id: str,
        filters: Sequence[Filter],
        limit: int,
        cursor: str | None,
        io: bool,
        tags: bool,
    ) -> tuple[list[dict[str, Any]], str | None]:
        return observation_scan(self.client, project_id, filters, limit, cursor, io, tags)

    def langfuse_session_page(
        self,
        project_id: str,
        filters: Sequence[Filter],
        created: tuple[Any, Any],
        page: int,
        limit: int,
    ) -> tuple[list[dict[str, Any]], int]:
        return session_page(self.client, project_id, filters, created, page, limit)

    def langfuse_session_traces(self, project_id: str, session_id: str) -> list[dict[str, Any]]:
        return session_traces(self.client, project_id, session_id)
