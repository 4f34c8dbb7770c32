"""Reads for Langfuse's public read API: traces, observations and sessions as its SDKs page
through them (``page``/``limit`` with totals, or a cursor), with inputs and outputs.

Functions taking a cursor; every query is parameterised, filtered with the shared filter
language (:mod:`heron.query`) and scoped to one project. Rows come back with heron's names;
:mod:`heron.server.langfuse_shapes` gives them Langfuse's. A page reads its rows' ids first
(a top-N over the sort key alone) and their wide columns (inputs, outputs) after, as
:func:`heron.store.reads.list_observations` does.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import duckdb

from heron.errors import BadRequest, NotFound
from heron.query import OBSERVATIONS, TRACES, Filter, compile_filters
from heron.store.reads import decode_cursor, encode_cursor

# Langfuse's orderBy fields for traces (and heron's latency and cost) -> SQL
TRACE_ORDER = {
    "timestamp": "t.start_time",
    "id": "t.id",
    "name": "t.name",
    "userId": "t.user_id",
    "sessionId": "t.session_id",
    "release": "t.release",
    "version": "t.version",
    "public": "t.public",
    "latency": "t.latency_ms",
    "totalCost": "t.total_cost",
}

_TRACE_NAMES = (
    "id", "name", "timestamp", "end_time", "user_id", "session_id", "release", "version",
    "environment", "tags", "metadata", "public", "latency_ms", "total_cost", "updated_at",
)  # fmt: skip
_TRACE_COLUMNS = ", ".join(f"t.{c}" for c in ("id", "name", "start_time", *_TRACE_NAMES[3:]))
_SAFE_COMPLETION_START = (
    "CASE WHEN o.completion_start_time BETWEEN TIMESTAMP '1970-01-01' AND TIMESTAMP '2200-01-01' "
    "THEN o.completion_start_time END"
)
_OBS_NAMES = (
    "id", "trace_id", "parent_id", "type", "name", "start_time", "end_time",
    "completion_start_time", "model", "model_parameters", "metadata", "level",
    "status_message", "usage", "cost", "total_cost", "prompt_name", "prompt_version",
    "updated_at", "trace_name", "user_id", "session_id", "release", "version", "environment",
)  # fmt: skip
_OBS_COLUMNS = ", ".join(
    _SAFE_COMPLETION_START if n == "completion_start_time" else f"o.{n}" for n in _OBS_NAMES
)


def trace_page(
    cur: duckdb.DuckDBPyConnection,
    project_id: str,
    filters: Sequence[Filter],
    order_by: str | None,
    page: int,
    limit: int,
    io: bool,
) -> tuple[list[dict[str, Any]], int]:
    """One page (from 1) of the project's matching traces in Langfuse's ``orderBy``
    (``timestamp.desc`` when None) and their total; each row with its observation and score
    ids (``observation_ids``, ``score_ids``), and its input and output when ``io``."""
    where, params = compile_filters(filters, TRACES)
    column, desc = check_order(order_by)
    direction = "DESC" if desc else "ASC"
    sort = f"ORDER BY {column} {direction} NULLS LAST, t.id {direction}"
    (total,) = cur.execute(
        f"SELECT count(*) FROM traces t WHERE t.project_id = ? AND {where}", [project_id, *params]
    ).fetchone()  # type: ignore[misc]
    extra = ", t.input, t.output" if io else ""
    rows = cur.execute(
        f"SELECT {_TRACE_COLUMNS}{extra} FROM traces t WHERE t.rowid IN ("
        f"SELECT t.rowid FROM traces t WHERE t.project_id = ? AND {where} {sort} "
        f"LIMIT ? OFFSET ?) {sort}",
        [project_id, *params, limit, (page - 1) * limit],
    ).fetchall()
    names = (*_TRACE_NAMES, "input", "output") if io else _TRACE_NAMES
    data = [dict(zip(names, r, strict=True)) for r in rows]
    _attach_ids(cur, project_id, data)
    return data, int(total)


def _attach_ids(cur: duckdb.DuckDBPyConnection, project_id: str, traces: list[dict]) -> None:
    """Each trace's observation and score ids: a look-up on each table's trace_id index
    (DuckDB uses it for the id condition alone; the project is checked on the rows found)."""
    by_id = {t["id"]: t for t in traces}
    for t in traces:
        t["observation_ids"], t["score_ids"] = [], []
    if not by_id:
        return
    ids = list(by_id)
    marks = ", ".join("?" * len(ids))
    for table, key, order in (
        ("observations", "observation_ids", "start_time"),
        ("scores", "score_ids", "timestamp"),
    ):
        rows = cur.execute(
            f"SELECT project_id, trace_id, list(id ORDER BY {order}, id) FROM {table} "
            f"WHERE trace_id IN ({marks}) GROUP BY project_id, trace_id",
            ids,
        ).fetchall()
        for project, trace_id, found in rows:
            if project == project_id:
                by_id[trace_id][key] = list(found)


def trace_detail(
    cur: duckdb.DuckDBPyConnection, project_id: str, trace_id: str
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """A trace with its input and output, and its observations, flat, oldest first, with
    theirs (404 when the project has no such trace)."""
    # by id alone (DuckDB uses the index only for a lone equality), the project checked after
    rows = cur.execute(
        f"SELECT t.project_id, {_TRACE_COLUMNS}, t.input, t.output FROM traces t WHERE t.id = ?",
        [trace_id],
    ).fetchall()
    row = next((r[1:] for r in rows if r[0] == project_id), None)
    if row is None:
        raise NotFound(f"trace {trace_id!r} not found in this project")
    trace = dict(zip((*_TRACE_NAMES, "input", "output"), row, strict=True))
    rows = cur.execute(
        f"SELECT o.project_id, {_OBS_COLUMNS}, o.input, o.output FROM observations o "
        "WHERE o.trace_id = ? ORDER BY o.start_time, o.id",
        [trace_id],
    ).fetchall()
    names = (*_OBS_NAMES, "input", "output")
    observations = [dict(zip(names, r[1:], strict=True)) for r in rows if r[0] == project_id]
    return trace, observations


def observation_page(
    cur: duckdb.DuckDBPyConnection,
    project_id: str,
    filters: Sequence[Filter],
    page: int,
    limit: int,
) -> tuple[list[dict[str, Any]], int]:
    """One page (from 1) of matching observations, newest first, with inputs and outputs,
    and their total."""
    where, params = compile_filters(filters, OBSERVATIONS)
    (total,) = cur.execute(
        f"SELECT count(*) FROM observations o WHERE o.project_id = ? AND {where}",
        [project_id, *params],
    ).fetchone()  # type: ignore[misc]
    sort = "ORDER BY o.start_time DESC, o.id DESC"
    rows = cur.execute(
        f"SELECT {_OBS_COLUMNS}, o.input, o.output FROM observations o WHERE o.rowid IN ("
        f"SELECT o.rowid FROM observations o WHERE o.project_id = ? AND {where} {sort} "
        f"LIMIT ? OFFSET ?) {sort}",
        [project_id, *params, limit, (page - 1) * limit],
    ).fetchall()
    names = (*_OBS_NAMES, "input", "output")
    return [dict(zip(names, r, strict=True)) for r in rows], int(total)


def observation(
    cur: duckdb.DuckDBPyConnection, project_id: str, observation_id: str
) -> dict[str, Any]:
    """One observation by id, with input and output (404 when the project has none).

    Observations are indexed by trace, not by id: this scans the project's ids (a column
    scan, tens of milliseconds per million observations)."""
    row = cur.execute(
        f"SELECT {_OBS_COLUMNS}, o.input, o.output FROM observations o "
        "WHERE o.project_id = ? AND o.id = ? ORDER BY o.updated_at DESC LIMIT 1",
        [project_id, observation_id],
    ).fetchone()
    if row is None:
        raise NotFound(f"observation {observation_id!r} not found in this project")
    return dict(zip((*_OBS_NAMES, "input", "output"), row, strict=True))


def observation_scan(
    cur: duckdb.DuckDBPyConnection,
    project_id: str,
    filters: Sequence[Filter],
    limit: int,
    cursor: str | None,
    io: bool,
    tags: bool,
) -> tuple[list[dict[str, Any]], str | None]:
    """Up to ``limit`` matching observations, newest first (by start time, then id), after
    ``cursor``; and the cursor of the next page (None on the last). Inputs and outputs when
    ``io``; the trace's tags when ``tags``."""
    where, params = compile_filters(filters, OBSERVATIONS)
    keyset, kparams = "TRUE", []
    if cursor:
        value, row_id = decode_cursor(cursor)
        keyset = "(epoch_us(o.start_time) < ? OR (epoch_us(o.start_time) = ? AND o.id < ?))"
        kparams = [value, value, row_id]
    sort = "ORDER BY o.start_time DESC, o.id DESC"
    extra = ", o.input, o.output" if io else ""
    rows = cur.execute(
        f"SELECT {_OBS_COLUMNS}{extra}, epoch_us(o.start_time) FROM observations o "
        f"WHERE o.rowid IN (SELECT o.rowid FROM observations o WHERE o.project_id = ? "
        f"AND {where} AND {keyset} {sort} LIMIT ?) {sort}",
        [project_id, *params, *kparams, limit + 1],
    ).fetchall()
    names = (*_OBS_NAMES, "input", "output") if io else _OBS_NAMES
    data = [dict(zip(names, r[:-1], strict=True)) for r in rows[:limit]]
    after = None
    if len(rows) > limit:
        last = rows[limit - 1]
        after = encode_cursor(last[-1], last[0])
    if tags:
        _attach_tags(cur, project_id, data)
    return data, after


def _attach_tags(cur: duckdb.DuckDBPyConnection, project_id: str, rows: list[dict]) -> None:
    ids = sorted({r["trace_id"] for r in rows})
    found: dict[str, list[str]] = {}
    if ids:
        for project, trace_id, tags in cur.execute(
            f"SELECT project_id, id, tags FROM traces WHERE id IN ({', '.join('?' * len(ids))})",
            ids,
        ).fetchall():
            if project == project_id:
                found[trace_id] = tags
    for r in rows:
        r["tags"] = list(found.get(r["trace_id"]) or [])


def session_page(
    cur: duckdb.DuckDBPyConnection,
    project_id: str,
    filters: Sequence[Filter],
    created: tuple[Any, Any],
    page: int,
    limit: int,
) -> tuple[list[dict[str, Any]], int]:
    """One page of sessions (traces sharing a session id), newest first by when each began
    (its first trace; ``created`` bounds it, from inclusive, to exclusive), and the total.
    ``filters`` apply to the traces (an environment)."""
    where, params = compile_filters(filters, TRACES)
    having, hparams = [], []
    if created[0] is not None:
        having.append("min(t.start_time) >= ?")
        hparams.append(created[0])
    if created[1] is not None:
        having.append("min(t.start_time) < ?")
        hparams.append(created[1])
    groups = (
        "SELECT t.session_id AS id, min(t.start_time) AS created_at, "
        "arg_min(t.environment, t.start_time) AS environment FROM traces t "
        f"WHERE t.project_id = ? AND t.session_id IS NOT NULL AND {where} "
        f"GROUP BY t.session_id {'HAVING ' + ' AND '.join(having) if having else ''}"
    )
    args = [project_id, *params, *hparams]
    (total,) = cur.execute(f"SELECT count(*) FROM ({groups})", args).fetchone()  # type: ignore[misc]
    rows = cur.execute(
        f"SELECT id, created_at, environment FROM ({groups}) "
        "ORDER BY created_at DESC, id DESC LIMIT ? OFFSET ?",
        [*args, limit, (page - 1) * limit],
    ).fetchall()
    data = [{"id": i, "created_at": c, "environment": e} for i, c, e in rows]
    return data, int(total)


def session_traces(
    cur: duckdb.DuckDBPyConnection, project_id: str, session_id: str, limit: int = 1000
) -> list[dict[str, Any]]:
    """A session's traces (up to ``limit``, oldest first) with inputs and outputs; none when
    the project has no such session."""
    rows = cur.execute(
        f"SELECT {_TRACE_COLUMNS}, t.input, t.output FROM traces t "
        "WHERE t.project_id = ? AND t.session_id = ? ORDER BY t.start_time, t.id LIMIT ?",
        [project_id, session_id, limit],
    ).fetchall()
    return [dict(zip((*_TRACE_NAMES, "input", "output"), r, strict=True)) for r in rows]


def check_order(order_by: str | None) -> tuple[str, bool]:
    """Langfuse's ``orderBy`` (``field.asc`` / ``field.desc``) -> (SQL column, descending)."""
    if not order_by:
        return TRACE_ORDER["timestamp"], True
    name, _, direction = order_by.partition(".")
    if name not in TRACE_ORDER:
        raise BadRequest(
            f"orderBy: {name!r} is not one of {', '.join(TRACE_ORDER)} (e.g. timestamp.desc)"
        )
    if direction not in ("asc", "desc"):
        raise BadRequest(f"orderBy: the direction is asc or desc, got {direction!r}")
    return TRACE_ORDER[name], direction == "desc"
