"""What the background runner reads of the events on ClickHouse: a target's traces and the
targets of a backfill, answered as :mod:`heron.store.runner` answers them on DuckDB.

A trace row without a start (only trace attributes were sent, no span yet) is not a trace
on DuckDB, so none of these reads see it. Times are naive UTC datetimes.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

import orjson
from clickhouse_connect.driver.client import Client

from heron.store.clickhouse.reads import utc
from heron.store.runner import SCOPES, TRACE_FIELDS

_TARGET_COLUMN = {"session": "session_id", "trace": "id"}
_TIMES = ("start_time", "end_time", "updated_at")
_LIVE = "project_id = {project:String} AND start_time IS NOT NULL"


def _column(name: str) -> str:
    return f"toUnixTimestamp64Micro({name})" if name in _TIMES else name


def _range(start: datetime | None, end: datetime | None, params: dict[str, Any]) -> str:
    sql = ""
    if start is not None:
        sql += " AND toUnixTimestamp64Micro(start_time) >= {start:Int64}"
        params["start"] = _us(start)
    if end is not None:
        sql += " AND toUnixTimestamp64Micro(start_time) < {end:Int64}"
        params["end"] = _us(end)
    return sql


def _us(value: datetime) -> int:
    return (value - datetime(1970, 1, 1)) // timedelta(microseconds=1)


class RunnerReads:
    """The runner's event reads (a part of ``ClickHouseEvents``)."""

    client: Client

    def target_traces(
        self, project_id: str, scope: str, targets: Sequence[str], fields: Sequence[str]
    ) -> dict[str, list[dict[str, Any]]]:
        """Each session's (or trace's) traces in time order, with ``fields``."""
        bad = [f for f in fields if f not in TRACE_FIELDS]
        if bad or scope not in SCOPES:
            raise ValueError(f"unknown trace fields {bad} or scope {scope!r}")
        column = _TARGET_COLUMN[scope]
        names = list(dict.fromkeys(["id", "start_time", *fields]))
        out: dict[str, list[dict[str, Any]]] = {t: [] for t in targets}
        if not targets:
            return out
        rows = self.client.query(
            f"SELECT {column}, {', '.join(_column(n) for n in names)} FROM traces FINAL "
            f"WHERE {_LIVE} AND {column} IN {{targets:Array(String)}} "
            f"ORDER BY {column}, start_time, id",
            parameters={"project": project_id, "targets": list(targets)},
        ).result_rows
        for target, *values in rows:
            row = dict(zip(names, values, strict=True))
            for name in _TIMES:
                if name in row:
                    row[name] = utc(row[name])
            if row.get("metadata"):
                row["metadata"] = orjson.loads(row["metadata"])
            out[target].append(row)
        return out

    def trace_sessions(self, keys: Sequence[tuple[str, str]]) -> list[tuple[str, str, str]]:
        """(project, trace, session or None) of the stored traces among (project, trace)
        ``keys`` (the change feed's traces, with their session as it is now)."""
        by_project: dict[str, list[str]] = {}
        for project_id, trace_id in keys:
            by_project.setdefault(project_id, []).append(trace_id)
        out: list[tuple[str, str, str]] = []
        for project_id, ids in sorted(by_project.items()):
            rows = self.client.query(
                f"SELECT id, session_id FROM traces FINAL WHERE {_LIVE} "
                "AND id IN {ids:Array(String)}",
                parameters={"project": project_id, "ids": ids},
            ).result_rows
            out.extend((project_id, trace_id, session) for trace_id, session in rows)
        return out

    def count_runner_targets(
        self, project_id: str, scope: str, start: datetime | None, end: datetime | None
    ) -> int:
        column = _TARGET_COLUMN[scope]
        params: dict[str, Any] = {"project": project_id}
        where = _range(start, end, params)
        rows = self.client.query(
            f"SELECT uniqExact({column}) FROM traces FINAL WHERE {_LIVE} "
            f"AND {column} IS NOT NULL{where}",
            parameters=params,
        ).result_rows
        return int(rows[0][0]) if rows else 0

    def next_runner_targets(
        self,
        project_id: str,
        scope: str,
        start: datetime | None,
        end: datetime | None,
        after: str | None,
        limit: int,
    ) -> list[str]:
        """The next ``limit`` targets after ``after`` in id order (a job's next chunk)."""
        column = _TARGET_COLUMN[scope]
        params: dict[str, Any] = {"project": project_id, "limit": limit}
        where = _range(start, end, params)
        if after is not None:
            where += f" AND {column} > {{after:String}}"
            params["after"] = after
        rows = self.client.query(
            f"SELECT DISTINCT assumeNotNull({column}) AS target FROM traces FINAL "
            f"WHERE {_LIVE} AND {column} IS NOT NULL{where} ORDER BY target "
            "LIMIT {limit:UInt64}",
            parameters=params,
        ).result_rows
        return [r[0] for r in rows]

    def delete_runner_scores(self, project_id: str, ids: Sequence[str]) -> None:
        """Delete the project's scores ``ids`` (what a task's previous run wrote and its
        new run did not keep)."""
        if ids:
            with self._lock:  # type: ignore[attr-defined]  # not inside a score upsert
                self.client.command(
                    "DELETE FROM scores WHERE project_id = {project:String} "
                    "AND id IN {ids:Array(String)}",
                    parameters={"project": project_id, "ids": sorted(set(ids))},
                )
