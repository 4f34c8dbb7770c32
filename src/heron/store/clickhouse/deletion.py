"""Deleting traces on ClickHouse: the rows of traces, their observations, scores, comments and
signals (a part of ``ClickHouseEvents``; the store of the cluster backend composes it with what
PostgreSQL keeps of the traces, see :mod:`heron.store.cluster_deletion`).

A deleted trace is removed with lightweight ``DELETE``\\ s of every row of its id in each
per-trace table (all its versions): ClickHouse hides them from every read at once, ``FINAL``
or not, and drops them at the next merge, so a deleted trace is never read again. The
statements wait for the delete to be applied (``lightweight_deletes_sync``' default).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager, nullcontext
from datetime import datetime

from clickhouse_connect.driver.client import Client

from heron.query.clickhouse import to_us

# Trace ids per statement: bound as one Array(String) parameter, so a chunk stays a few dozen
# kilobytes of query string.
CHUNK = 1000


def per_trace_tables() -> tuple[tuple[str, str], ...]:
    """Every ClickHouse table holding rows of a trace, as (table, trace id column), the
    ``traces`` table last: what deleting a trace deletes (as on DuckDB: dataset run items
    stay, naming the trace an experiment ran)."""
    return (
        ("observations", "trace_id"),
        ("scores", "trace_id"),
        ("comments", "trace_id"),
        ("signals", "trace_id"),
        ("traces", "id"),
    )


class Deletion:
    """Trace deletion on ClickHouse (a part of ``ClickHouseEvents``)."""

    client: Client
    _lock: threading.Lock
    _trace_lock: Callable[[Sequence[tuple[str, str]]], AbstractContextManager[object]] | None

    def existing_traces(self, project_id: str, trace_ids: Sequence[str]) -> list[str]:
        """Which of ``trace_ids`` the project has, in the order given, once each."""
        wanted = list(dict.fromkeys(trace_ids))
        found: set[str] = set()
        for i in range(0, len(wanted), CHUNK):
            rows = self.client.query(
                "SELECT DISTINCT id FROM traces WHERE project_id = {p:String} "
                "AND id IN {ids:Array(String)}",
                parameters={"p": project_id, "ids": wanted[i : i + CHUNK]},
            ).result_rows
            found.update(r[0] for r in rows)
        return [t for t in wanted if t in found]

    def traces_started_before(
        self, project_id: str, cutoff: datetime, limit: int = CHUNK
    ) -> list[str]:
        """Up to ``limit`` ids of the project's traces that started before ``cutoff``."""
        rows = self.client.query(
            "SELECT id FROM traces FINAL WHERE project_id = {p:String} "
            "AND toUnixTimestamp64Micro(ifNull(start_time, updated_at)) < {cutoff:Int64} "
            "LIMIT {n:UInt32}",
            parameters={"p": project_id, "cutoff": to_us(cutoff), "n": limit},
        ).result_rows
        return [r[0] for r in rows]

    def trace_contents(
        self, project_id: str, trace_ids: Sequence[str]
    ) -> tuple[list[str], list[str]]:
        """The ids of the observations of these traces, and their traces' sessions."""
        params = {"p": project_id, "ids": list(trace_ids)}
        observations = self.client.query(
            "SELECT DISTINCT id FROM observations WHERE project_id = {p:String} "
            "AND trace_id IN {ids:Array(String)}",
            parameters=params,
        ).result_rows
        sessions = self.client.query(
            "SELECT DISTINCT session_id FROM traces WHERE project_id = {p:String} "
            "AND id IN {ids:Array(String)} AND session_id IS NOT NULL",
            parameters=params,
        ).result_rows
        return [r[0] for r in observations], [r[0] for r in sessions]

    def delete_trace_rows(self, project_id: str, trace_ids: Sequence[str]) -> None:
        """Delete every row of these traces of the project, in every per-trace table."""
        if not trace_ids:
            return
        traces = sorted((project_id, t) for t in trace_ids)
        locked = self._trace_lock(traces) if self._trace_lock else nullcontext()
        # not between a batch's read of a trace and its insert, in this process or another
        with self._lock, locked:
            for table, column in per_trace_tables():
                self.client.command(
                    f"DELETE FROM {table} WHERE project_id = {{p:String}} "
                    f"AND {column} IN {{ids:Array(String)}}",
                    parameters={"p": project_id, "ids": list(trace_ids)},
                )

    def delete_old_signals(self, project_id: str, cutoff: datetime) -> None:
        """Delete the project's signals older than ``cutoff`` by their own time (see
        :func:`heron.store.deletion.delete_old_signals`)."""
        with self._lock:
            self.client.command(
                "DELETE FROM signals WHERE project_id = {p:String} "
                "AND toUnixTimestamp64Micro(time) < {cutoff:Int64}",
                parameters={"p": project_id, "cutoff": to_us(cutoff)},
            )

    def delete_loose_scores(self, project_id: str, cutoff: datetime) -> None:
        """Delete the project's scores of no trace (session scores) older than ``cutoff``."""
        with self._lock:
            self.client.command(
                "DELETE FROM scores WHERE project_id = {p:String} AND trace_id IS NULL "
                "AND toUnixTimestamp64Micro(timestamp) < {cutoff:Int64}",
                parameters={"p": project_id, "cutoff": to_us(cutoff)},
            )

    def delete_session_comments(
        self, project_id: str, session_ids: Sequence[str] | None = None
    ) -> None:
        """Delete SESSION comments whose session has no trace left (of ``session_ids``, or of
        every commented session of the project): a session went with its last trace."""
        if session_ids is None:
            session_ids = [
                r[0]
                for r in self.client.query(
                    "SELECT DISTINCT object_id FROM comments WHERE project_id = {p:String} "
                    "AND object_type = 'SESSION'",
                    parameters={"p": project_id},
                ).result_rows
            ]
        alive = self.sessions_with_traces(project_id, session_ids)
        gone = [s for s in session_ids if s not in alive]
        if gone:
            with self._lock:
                self.client.command(
                    "DELETE FROM comments WHERE project_id = {p:String} "
                    "AND object_type = 'SESSION' AND object_id IN {ids:Array(String)}",
                    parameters={"p": project_id, "ids": gone},
                )

    def delete_orphan_comments(self, project_id: str) -> None:
        """Delete the project's comments whose trace is gone and SESSION comments of sessions
        with no trace left: what a TTL drop of traces leaves behind."""
        with self._lock:
            self.client.command(
                "DELETE FROM comments WHERE project_id = {p:String} AND trace_id IS NOT NULL "
                "AND trace_id NOT IN (SELECT id FROM traces WHERE project_id = {p:String})",
                parameters={"p": project_id},
            )
        self.delete_session_comments(project_id)

    def sessions_with_traces(self, project_id: str, session_ids: Sequence[str]) -> set[str]:
        """Which of ``session_ids`` still have a trace in the project."""
        if not session_ids:
            return set()
        rows = self.client.query(
            "SELECT DISTINCT session_id FROM traces FINAL WHERE project_id = {p:String} "
            "AND session_id IN {ids:Array(String)}",
            parameters={"p": project_id, "ids": list(session_ids)},
        ).result_rows
        return {r[0] for r in rows}
