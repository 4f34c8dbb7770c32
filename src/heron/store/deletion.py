"""Deleting traces with their observations, scores, comments and signals, and what annotation
queues, error analyses and alignments keep of them: by id, or older than a cutoff. A session's
comments and queue items go when its last trace goes.

Each function runs inside a transaction the caller opened on the writer's connection, under
the store's write lock: DuckDB aborts one of two concurrent transactions that delete or
update the same rows, so deletions never overlap the apply thread's batches. The Bloom
filter of stored trace ids (:mod:`.idfilter`) needs no update: it only answers "certainly
new", and a deleted id just costs the writer a look-up that finds nothing.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import duckdb

from heron.store import comments

# Traces per transaction in a retention sweep: between two chunks, ingest batches commit.
CHUNK = 2000


def _marks(values: Sequence[object]) -> str:
    return ", ".join("?" * len(values))


def _rowids(con: duckdb.DuckDBPyConnection, table: str, column: str, project_id: str, ident: str):
    # A lone equality on the indexed column uses DuckDB's ART index; the project is checked
    # on the rows found, so another project's rows are never touched.
    rows = con.execute(f"SELECT rowid, project_id FROM {table} WHERE {column} = ?", [ident])
    return [rowid for rowid, pid in rows.fetchall() if pid == project_id]


def delete_by_ids(
    con: duckdb.DuckDBPyConnection, project_id: str, trace_ids: Sequence[str]
) -> list[str]:
    """Delete these traces of the project (index look-ups); returns the ids that existed."""
    found = {
        t: r for t in dict.fromkeys(trace_ids) if (r := _rowids(con, "traces", "id", project_id, t))
    }
    sessions: set[str] = set()
    # one pass for all the traces, before their observations go; only traces that exist (a
    # signal can name a trace that was never stored, and stays)
    delete_derived(con, project_id, list(found))
    for trace_id, traces in found.items():
        sessions.update(_sessions(con, traces))
        for table in ("observations", "scores", "comments"):
            rowids = _rowids(con, table, "trace_id", project_id, trace_id)
            if rowids:
                con.execute(f"DELETE FROM {table} WHERE rowid IN ({_marks(rowids)})", rowids)
        con.execute(f"DELETE FROM traces WHERE rowid IN ({_marks(traces)})", traces)
    comments.delete_session_orphans(con, project_id, sorted(sessions))
    delete_session_items(con, project_id, sorted(sessions))
    return list(found)


def _sessions(con: duckdb.DuckDBPyConnection, rowids: list[int]) -> list[str]:
    rows = con.execute(
        f"SELECT DISTINCT session_id FROM traces WHERE rowid IN ({_marks(rowids)}) "
        "AND session_id IS NOT NULL",
        rowids,
    ).fetchall()
    return [r[0] for r in rows]


def oldest_trace_ids(
    con: duckdb.DuckDBPyConnection, project_id: str, cutoff: datetime, limit: int = CHUNK
) -> list[str]:
    """Up to ``limit`` ids of the project's traces that started before ``cutoff``."""
    rows = con.execute(
        "SELECT id FROM traces WHERE project_id = ? AND start_time < ? LIMIT ?",
        [project_id, cutoff, limit],
    ).fetchall()
    return [r[0] for r in rows]


def delete_chunk(con: duckdb.DuckDBPyConnection, project_id: str, trace_ids: list[str]) -> int:
    """Delete many traces of the project in one pass over each table (a hash semi-join)."""
    delete_derived(con, project_id, trace_ids)
    for table, column in (
        ("observations", "trace_id"),
        ("scores", "trace_id"),
        ("comments", "trace_id"),
        ("traces", "id"),
    ):
        con.execute(
            f"DELETE FROM {table} WHERE project_id = ? AND {column} IN "
            "(SELECT unnest(?::VARCHAR[]))",
            [project_id, trace_ids],
        )
    return len(trace_ids)


def delete_derived(con: duckdb.DuckDBPyConnection, project_id: str, trace_ids: list[str]) -> None:
    """Delete what other features keep of these traces (before their observations go): the
    signals raised on them (an issue left without signals drops out of the issue lists; its
    row and status stay for the next match), the notes copied into error analyses, alignment
    results, and annotation-queue items on the traces or their observations with those
    items' annotations. Dataset run items stay, as Langfuse keeps them: they name the trace
    an experiment ran, gone or not."""
    ids = [project_id, trace_ids]
    for table in ("signals", "error_analysis_notes", "evaluator_alignment_items"):
        con.execute(
            f"DELETE FROM {table} WHERE project_id = ? AND trace_id IN "
            "(SELECT unnest(?::VARCHAR[]))",
            ids,
        )
    items = [
        r[0]
        for r in con.execute(
            "SELECT id FROM annotation_queue_items WHERE project_id = ? AND ("
            "(object_type = 'TRACE' AND object_id IN (SELECT unnest(?::VARCHAR[]))) OR "
            "(object_type = 'OBSERVATION' AND object_id IN (SELECT id FROM observations "
            "WHERE project_id = ? AND trace_id IN (SELECT unnest(?::VARCHAR[])))))",
            [*ids, *ids],
        ).fetchall()
    ]
    delete_items(con, project_id, items)


def delete_session_items(
    con: duckdb.DuckDBPyConnection, project_id: str, session_ids: Sequence[str] | None = None
) -> None:
    """Delete annotation-queue items on sessions that have no trace left (of ``session_ids``,
    or of every session of the project)."""
    only, params = "", [project_id]
    if session_ids is not None:
        if not session_ids:
            return
        only = "AND object_id IN (SELECT unnest(?::VARCHAR[])) "
        params.append(list(session_ids))
    items = con.execute(
        "SELECT id FROM annotation_queue_items WHERE project_id = ? AND object_type = 'SESSION' "
        f"{only}AND object_id NOT IN (SELECT session_id FROM traces "
        "WHERE project_id = ? AND session_id IS NOT NULL)",
        [*params, project_id],
    ).fetchall()
    delete_items(con, project_id, [r[0] for r in items])


def delete_items(con: duckdb.DuckDBPyConnection, project_id: str, items: list[str]) -> None:
    """Delete these annotation-queue items of the project with their annotations."""
    if not items:
        return
    for table, column in (
        ("annotation_queue_annotations", "item_id"),
        ("annotation_queue_items", "id"),
    ):
        con.execute(
            f"DELETE FROM {table} WHERE project_id = ? AND {column} IN "
            "(SELECT unnest(?::VARCHAR[]))",
            [project_id, items],
        )


def delete_old_signals(con: duckdb.DuckDBPyConnection, project_id: str, cutoff: datetime) -> None:
    """Signals older than ``cutoff`` by their own time, as ClickHouse's TTL drops them: those
    of deleted traces went with them; this takes those whose trace was never stored (a rule
    matched a score sent for an unknown trace id)."""
    con.execute("DELETE FROM signals WHERE project_id = ? AND time < ?", [project_id, cutoff])


def delete_loose_scores(con: duckdb.DuckDBPyConnection, project_id: str, cutoff: datetime) -> int:
    """Scores of no trace (session scores) older than ``cutoff``."""
    row = con.execute(
        "DELETE FROM scores WHERE project_id = ? AND trace_id IS NULL AND timestamp < ?",
        [project_id, cutoff],
    ).fetchone()
    return int(row[0]) if row else 0
