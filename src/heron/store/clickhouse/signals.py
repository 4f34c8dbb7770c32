"""Signals on ClickHouse (migration 4), shaped as :mod:`heron.store.signals` answers them.

A signal is an event: one row per (rule, trace, observation or score) that matched, with a
deterministic id, never changed once written, so it lives beside the traces (a
``ReplacingMergeTree`` keyed by ``(project_id, id)``: a redo writing the same signal again is
still one row, and every read says ``FINAL``). The issues grouping them carry a status users
change, so they are control data on PostgreSQL (the ``issues`` table of its first migration);
:mod:`heron.store.cluster_signals` composes the two. An issue's counts, first and last seen,
users and sessions are computed here from its signals, never stored, as on DuckDB.

The module's functions take the client; :class:`SignalReads` holds the two ``Store``
methods that read signals alone (the events half of the cluster store).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

import pyarrow as pa
from clickhouse_connect.driver.client import Client

from heron.query.clickhouse import to_us
from heron.store.arrow import TS
from heron.store.clickhouse.reads import utc
from heron.store.clickhouse.retention import Days, tagged
from heron.store.signals import _SIGNAL_COLUMNS, Signal

_US = "toUnixTimestamp64Micro"
_SIGNALS = "signals FINAL WHERE project_id = {project:String}"
_COLUMNS = ", ".join(f"{_US}({c})" if c in ("time", "created_at") else c for c in _SIGNAL_COLUMNS)


def _row(row: Sequence[Any]) -> dict[str, Any]:
    out = dict(zip(_SIGNAL_COLUMNS, row, strict=True))
    out["time"], out["created_at"] = utc(out["time"]), utc(out["created_at"])
    return out


def stored_ids(client: Client, project_id: str, ids: Sequence[str]) -> set[str]:
    """Which of the signal ids ``ids`` the project has."""
    if not ids:
        return set()
    rows = client.query(
        f"SELECT id FROM {_SIGNALS} AND id IN {{ids:Array(String)}}",
        parameters={"project": project_id, "ids": sorted(set(ids))},
    ).result_rows
    return {r[0] for r in rows}


def insert(
    client: Client, signals: Sequence[Signal], created_us: int, days: Days | None = None
) -> None:
    """Insert signals (stamped ``created_us``; versioned by it too), each tagged with its
    project's retention (``days``, see :mod:`heron.store.clickhouse.retention`)."""
    if not signals:
        return
    columns: dict[str, pa.Array] = {}
    for c in _SIGNAL_COLUMNS:
        if c == "created_at":
            columns[c] = pa.array([created_us] * len(signals), TS)
        elif c == "time":
            columns[c] = pa.array([to_us(s.time) for s in signals], TS)
        else:
            columns[c] = pa.array([getattr(s, c) for s in signals], pa.string())
    columns["row_version"] = pa.array([created_us] * len(signals), pa.uint64())
    client.insert_arrow("signals", tagged(pa.table(columns), days))


def counts(client: Client, project_id: str, issue_ids: Sequence[str]) -> dict[str, int]:
    """How many signals each of the issues has."""
    if not issue_ids:
        return {}
    rows = client.query(
        f"SELECT issue_id, count() FROM {_SIGNALS} AND issue_id IN {{ids:Array(String)}} "
        "GROUP BY issue_id",
        parameters={"project": project_id, "ids": sorted(set(issue_ids))},
    ).result_rows
    return {i: int(n) for i, n in rows}


def issue_stats(
    client: Client,
    project_id: str,
    issue_ids: Sequence[str] | None = None,
    start: datetime | None = None,
    end: datetime | None = None,
) -> dict[str, dict[str, Any]]:
    """Per issue (all the project's, or ``issue_ids``): ``count``, ``first_seen``,
    ``last_seen``, ``users``, ``sessions`` over all its signals, and ``in_window``: whether
    one of them is in ``[start, end)`` (always true without bounds)."""
    params: dict[str, Any] = {"project": project_id}
    only = ""
    if issue_ids is not None:
        if not issue_ids:
            return {}
        only = " AND issue_id IN {ids:Array(String)}"
        params["ids"] = sorted(set(issue_ids))
    window = ["1"]
    if start is not None:
        window.append(f"{_US}(time) >= {{start:Int64}}")
        params["start"] = to_us(start)
    if end is not None:
        window.append(f"{_US}(time) < {{end:Int64}}")
        params["end"] = to_us(end)
    rows = client.query(
        f"SELECT issue_id, count(), {_US}(min(time)), {_US}(max(time)), uniqExact(user_id), "
        f"uniqExact(session_id), countIf({' AND '.join(window)}) FROM {_SIGNALS}{only} "
        "GROUP BY issue_id",
        parameters=params,
    ).result_rows
    return {
        i: {
            "count": int(n),
            "first_seen": utc(first),
            "last_seen": utc(last),
            "users": int(users),
            "sessions": int(sessions),
            "in_window": bool(inside),
        }
        for i, n, first, last, users, sessions, inside in rows
    }


def issue_traces(client: Client, project_id: str, issue_id: str) -> list[str]:
    """The traces of an issue's signals, latest signal first (then by id)."""
    rows = client.query(
        f"SELECT trace_id, max(time) AS t FROM {_SIGNALS} AND issue_id = {{issue:String}} "
        "GROUP BY trace_id ORDER BY t DESC, trace_id",
        parameters={"project": project_id, "issue": issue_id},
    ).result_rows
    return [r[0] for r in rows]


def list_signals(
    client: Client,
    project_id: str,
    *,
    rule: str | None = None,
    trace_id: str | None = None,
    issue_id: str | None = None,
    start: datetime | None = None,
    end: datetime | None = None,
    limit: int = 50,
    offset: int = 0,
) -> tuple[list[dict[str, Any]], int]:
    """A page of the project's signals, newest first, and how many match."""
    where = [_SIGNALS]
    params: dict[str, Any] = {"project": project_id}
    for column, value in (("rule", rule), ("trace_id", trace_id), ("issue_id", issue_id)):
        if value is not None:
            where.append(f"{column} = {{{column}:String}}")
            params[column] = value
    if start is not None:
        where.append(f"{_US}(time) >= {{start:Int64}}")
        params["start"] = to_us(start)
    if end is not None:
        where.append(f"{_US}(time) < {{end:Int64}}")
        params["end"] = to_us(end)
    sql = " AND ".join(where)
    total = client.query(f"SELECT count() FROM {sql}", parameters=params).result_rows[0][0]
    rows = client.query(
        f"SELECT {_COLUMNS} FROM {sql} ORDER BY time DESC, id "
        "LIMIT {limit:UInt64} OFFSET {offset:UInt64}",
        parameters={**params, "limit": max(limit, 0), "offset": max(offset, 0)},
    ).result_rows
    return [_row(r) for r in rows], int(total)


def issue_detail(
    client: Client,
    project_id: str,
    issue_id: str,
    end: datetime,
    bucket: timedelta,
    buckets: int,
    samples: int = 10,
) -> dict[str, Any]:
    """As :func:`heron.store.signals.issue_detail`: counts per bucket, sample traces, users
    and sessions affected."""
    step_us = int(bucket.total_seconds()) * 1_000_000
    start = end - bucket * buckets
    params = {"project": project_id, "issue": issue_id}
    mine = f"{_SIGNALS} AND issue_id = {{issue:String}}"
    rows = client.query(
        f"SELECT intDiv({_US}(time) - {{start:Int64}}, {{step:Int64}}) AS b, count() "
        f"FROM {mine} AND {_US}(time) >= {{start:Int64}} AND {_US}(time) < {{end:Int64}} "
        "GROUP BY b",
        parameters={**params, "start": to_us(start), "end": to_us(end), "step": step_us},
    ).result_rows
    by_bucket = {int(b): int(n) for b, n in rows}
    series = [{"start": start + bucket * i, "count": by_bucket.get(i, 0)} for i in range(buckets)]
    traces = client.query(
        f"SELECT trace_id, max(time) AS t FROM {mine} GROUP BY trace_id "
        "ORDER BY t DESC, trace_id LIMIT {samples:UInt64}",
        parameters={**params, "samples": samples},
    ).result_rows
    out: dict[str, Any] = {"series": series, "sample_trace_ids": [t for t, _ in traces]}
    for column in ("user_id", "session_id"):
        found = client.query(
            f"SELECT assumeNotNull({column}) AS v, count() AS n FROM {mine} "
            f"AND {column} IS NOT NULL GROUP BY v ORDER BY n DESC, v LIMIT 50",
            parameters=params,
        ).result_rows
        out[column] = [{"id": v, "count": int(n)} for v, n in found]
    return out


class SignalReads:
    """The signal reads of the events half (``self.client``: a clickhouse-connect client)."""

    client: Client

    def list_signals(self, project_id: str, **query: Any) -> tuple[list[dict[str, Any]], int]:
        return list_signals(self.client, project_id, **query)

    def issue_detail(
        self, project_id: str, issue_id: str, end: datetime, bucket: Any, buckets: int
    ) -> dict[str, Any]:
        return issue_detail(self.client, project_id, issue_id, end, bucket, buckets)
