"""What the background runner (:mod:`heron.runner`) reads and keeps in the store.

Change feed: every trace row carries ``change_seq``, the number of the batch that last wrote
it (see :meth:`heron.store.EmbeddedStore.write_batch`); batches commit in that order, so
"traces with ``change_seq`` in (a, b]" is exact whatever timestamps their spans carry. (On
the cluster backend the feed is a table in PostgreSQL: :mod:`heron.store.postgres.runner_feed`.)

Control data (on the cluster backend, in PostgreSQL): ``runner_cursors`` (per
task, the change marker up to which its work is done), ``runner_work`` (per task and
target, the version that ran and the score ids it wrote, so a redo replaces them),
``runner_due`` (targets to judge again at a time) and ``runner_jobs`` (backfills).

Functions that write take the writer's connection inside a transaction the caller opened.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import duckdb
import orjson
import pyarrow as pa

from heron.scores import ScoreRecord
from heron.store.arrow import TS
from heron.store.scorewrites import delete_scores, insert_scores

# Trace columns a task may ask for (``Task.fields``); times come back as naive UTC datetimes.
TRACE_FIELDS = (
    "id",
    "name",
    "user_id",
    "session_id",
    "release",
    "version",
    "environment",
    "tags",
    "metadata",
    "input",
    "output",
    "start_time",
    "end_time",
    "latency_ms",
    "total_cost",
    "total_tokens",
    "observation_count",
    "error_count",
    "level",
    "updated_at",
)
SCOPES = ("session", "trace")
_TARGET_COLUMN = {"session": "session_id", "trace": "id"}


class LeaseLost(Exception):
    """A runner's commit refused: another runner has taken over a lease it needs (a task's
    change cursor, a job) on the cluster backend; the runner reads the position again."""


@dataclass(slots=True)
class WorkDone:
    """One task's finished work on one target: its scores replace what it wrote before,
    except the earlier scores named in ``keep``; ``due_at`` schedules a re-check (``None``
    removes one)."""

    task: str
    version: str
    project_id: str
    target: str
    scores: list[ScoreRecord] = field(default_factory=list)
    due_at: datetime | None = None
    keep: list[str] = field(default_factory=list)


@dataclass(slots=True)
class JobProgress:
    """A backfill job's position, committed with the work it covers."""

    job_id: str
    done: int
    phase: int
    after: str | None


def change_position(con: duckdb.DuckDBPyConnection) -> int:
    row = con.execute("SELECT value FROM meta WHERE key = 'change_seq'").fetchall()
    return int(row[0][0]) if row else 0


def changed(con: duckdb.DuckDBPyConnection, after: int, upto: int) -> list[tuple[str, str, str]]:
    """(project id, trace id, session id or None) of traces last written by a batch in
    (after, upto]; the newest rows are at the table's end, so zone maps skip the rest."""
    return con.execute(
        "SELECT project_id, id, session_id FROM traces WHERE change_seq > ? AND change_seq <= ?",
        [after, upto],
    ).fetchall()


def target_traces(
    con: duckdb.DuckDBPyConnection,
    project_id: str,
    scope: str,
    targets: Sequence[str],
    fields: Sequence[str],
) -> dict[str, list[dict[str, Any]]]:
    """Each target's traces (a session's in time order; a trace alone), with ``fields``."""
    bad = [f for f in fields if f not in TRACE_FIELDS]
    if bad or scope not in SCOPES:
        raise ValueError(f"unknown trace fields {bad} or scope {scope!r}")
    column = _TARGET_COLUMN[scope]
    names = list(dict.fromkeys(["id", "start_time", *fields]))
    cur = con.execute(
        f"SELECT {column}, {', '.join(names)} FROM traces WHERE project_id = ? AND "
        f"{column} IN (SELECT unnest(?::VARCHAR[])) ORDER BY {column}, start_time, id",
        [project_id, list(targets)],
    )
    out: dict[str, list[dict[str, Any]]] = {t: [] for t in targets}
    for target, *values in cur.fetchall():
        row = dict(zip(names, values, strict=True))
        if row.get("metadata"):
            row["metadata"] = orjson.loads(row["metadata"])
        out[target].append(row)
    return out


def get_cursor(con: duckdb.DuckDBPyConnection, task: str) -> int | None:
    rows = con.execute("SELECT position FROM runner_cursors WHERE task = ?", [task]).fetchall()
    return int(rows[0][0]) if rows else None


def set_cursor(con: duckdb.DuckDBPyConnection, task: str, position: int) -> None:
    con.execute(
        "INSERT INTO runner_cursors VALUES (?, ?, now()::TIMESTAMP) ON CONFLICT (task) "
        "DO UPDATE SET position = excluded.position, updated_at = excluded.updated_at",
        [task, position],
    )


def previous_outputs(
    con: duckdb.DuckDBPyConnection, work: Sequence[WorkDone]
) -> dict[tuple[str, str, str], list[str]]:
    """The score ids the last run of each (task, project, target) of ``work`` wrote. Only
    the runner's commits change them, so its thread may read them before the transaction."""
    if not work:
        return {}
    keys = pa.table(
        {
            "task": [w.task for w in work],
            "project_id": [w.project_id for w in work],
            "target": [w.target for w in work],
        }
    )
    con.register("heron_runner_keys", keys)
    try:
        rows = con.execute(
            "SELECT w.task, w.project_id, w.target, w.outputs FROM runner_work w "
            f"SEMI JOIN heron_runner_keys k ON {_SAME}"
        ).fetchall()
    finally:
        con.unregister("heron_runner_keys")
    return {(task, project, target): list(ids) for task, project, target, ids in rows}


def commit_work(
    con: duckdb.DuckDBPyConnection,
    work: Sequence[WorkDone],
    previous: dict[tuple[str, str, str], list[str]],
) -> None:
    """Record finished work: the scores the previous runs wrote (``previous``, from
    :func:`previous_outputs`) replaced by the new ones, the outputs recorded, the due time
    set or cleared. Deterministic ids mean a new score can only exist if a previous run of
    the same (task, target) wrote it, so nothing else is looked up: first runs delete
    nothing, which keeps the write lock short."""
    if not work:
        return
    kept = {(w.task, w.project_id, w.target): set(w.keep) for w in work if w.keep}
    old: dict[str, list[str]] = {}
    for key, ids in previous.items():
        keep = kept.get(key, ())
        old.setdefault(key[1], []).extend(i for i in ids if i not in keep)
    for project_id, ids in old.items():
        delete_scores(con, project_id, ids)
    insert_scores(con, list({(s.project_id, s.id): s for w in work for s in w.scores}.values()))
    table = pa.table(
        {
            "task": [w.task for w in work],
            "project_id": [w.project_id for w in work],
            "target": [w.target for w in work],
            "version": [w.version for w in work],
            "outputs": pa.array(
                [list(dict.fromkeys([*(s.id for s in w.scores), *w.keep])) for w in work],
                pa.list_(pa.string()),
            ),
            "due_at": pa.array([w.due_at for w in work], TS),
            "seen": [(w.task, w.project_id, w.target) in previous for w in work],
        }
    )
    con.register("heron_runner_work", table)
    try:
        if previous:
            con.execute(
                "DELETE FROM runner_work w WHERE EXISTS (SELECT 1 FROM heron_runner_work k "
                f"WHERE k.seen AND {_SAME})"
            )
        con.execute(
            "DELETE FROM runner_due w WHERE EXISTS "
            f"(SELECT 1 FROM heron_runner_work k WHERE {_SAME})"
        )
        con.execute(
            "INSERT INTO runner_work SELECT task, project_id, target, version, outputs, "
            "now()::TIMESTAMP FROM heron_runner_work"
        )
        con.execute(
            "INSERT INTO runner_due SELECT task, project_id, target, due_at "
            "FROM heron_runner_work WHERE due_at IS NOT NULL"
        )
    finally:
        con.unregister("heron_runner_work")


_SAME = "w.task = k.task AND w.project_id = k.project_id AND w.target = k.target"


def due(
    con: duckdb.DuckDBPyConnection, tasks: Sequence[str], now: datetime, limit: int
) -> list[tuple[str, str, str]]:
    """(task, project id, target) whose re-check is due at ``now``, earliest first."""
    return con.execute(
        "SELECT task, project_id, target FROM runner_due WHERE due_at <= ? "
        "AND task IN (SELECT unnest(?::VARCHAR[])) ORDER BY due_at LIMIT ?",
        [now, list(tasks), limit],
    ).fetchall()


def next_due(con: duckdb.DuckDBPyConnection, tasks: Sequence[str]) -> datetime | None:
    rows = con.execute(
        "SELECT min(due_at) FROM runner_due WHERE task IN (SELECT unnest(?::VARCHAR[]))",
        [list(tasks)],
    ).fetchall()
    return rows[0][0] if rows else None


def outputs(
    con: duckdb.DuckDBPyConnection, task: str, project_id: str, targets: Sequence[str]
) -> dict[str, list[str]]:
    """The score ids the last run of ``task`` wrote on each of ``targets`` (if any)."""
    rows = con.execute(
        "SELECT target, outputs FROM runner_work WHERE task = ? AND project_id = ? "
        "AND target IN (SELECT unnest(?::VARCHAR[]))",
        [task, project_id, list(targets)],
    ).fetchall()
    return {target: list(ids) for target, ids in rows}


def work_done(
    con: duckdb.DuckDBPyConnection, task: str, project_id: str, target: str
) -> dict[str, Any] | None:
    rows = con.execute(
        "SELECT version, outputs, done_at FROM runner_work WHERE task = ? AND project_id = ? "
        "AND target = ?",
        [task, project_id, target],
    ).fetchall()
    if not rows:
        return None
    version, outputs, done_at = rows[0]
    return {"version": version, "outputs": list(outputs), "done_at": done_at}


# -- backfill jobs ------------------------------------------------------------------------

_JOB_COLUMNS = (
    "id, project_id, spec, status, done, total, phase, after, error, created_at, finished_at"
)


def _job(row: tuple[Any, ...]) -> dict[str, Any]:
    names = [c.strip() for c in _JOB_COLUMNS.split(",")]
    job = dict(zip(names, row, strict=True))
    job["spec"] = orjson.loads(job["spec"])
    return job


def insert_job(con: duckdb.DuckDBPyConnection, job_id: str, project_id: str, spec: dict) -> None:
    con.execute(
        "INSERT INTO runner_jobs VALUES (?, ?, ?, 'queued', 0, NULL, 0, NULL, NULL, "
        "now()::TIMESTAMP, NULL)",
        [job_id, project_id, orjson.dumps(spec).decode()],
    )


def list_jobs(
    con: duckdb.DuckDBPyConnection, project_id: str | None, active: bool = False, limit: int = 100
) -> list[dict[str, Any]]:
    """Jobs newest first; ``active``: only queued and running ones, oldest first."""
    where = " AND status IN ('queued', 'running')" if active else ""
    order = "created_at, id" if active else "created_at DESC, id"
    rows = con.execute(
        f"SELECT {_JOB_COLUMNS} FROM runner_jobs "
        f"WHERE (CAST(? AS VARCHAR) IS NULL OR project_id = ?){where} "
        f"ORDER BY {order} LIMIT ?",
        [project_id, project_id, limit],
    ).fetchall()
    return [_job(r) for r in rows]


def get_job(con: duckdb.DuckDBPyConnection, job_id: str) -> dict[str, Any] | None:
    rows = con.execute(f"SELECT {_JOB_COLUMNS} FROM runner_jobs WHERE id = ?", [job_id]).fetchall()
    return _job(rows[0]) if rows else None


_ENDED = ("done", "cancelled", "failed")


def update_job(con: duckdb.DuckDBPyConnection, job_id: str, **values: Any) -> bool:
    """Change a job that is still queued or running (a cancelled job stays cancelled);
    returns whether it was."""
    allowed = {"status", "total", "phase", "after", "error"}
    if not values or set(values) - allowed:
        raise ValueError(f"job fields: {sorted(values)}")
    sets = ", ".join(f"{k} = ?" for k in values)
    ended = ", finished_at = now()::TIMESTAMP" if values.get("status") in _ENDED else ""
    rows = con.execute(
        f"UPDATE runner_jobs SET {sets}{ended} WHERE id = ? AND status IN ('queued', 'running') "
        "RETURNING id",
        [*values.values(), job_id],
    ).fetchall()
    return bool(rows)


def save_progress(con: duckdb.DuckDBPyConnection, progress: JobProgress) -> None:
    con.execute(
        "UPDATE runner_jobs SET done = ?, phase = ?, after = ? WHERE id = ?",
        [progress.done, progress.phase, progress.after, progress.job_id],
    )


def _range(start: datetime | None, end: datetime | None) -> tuple[str, list[Any]]:
    sql, params = "", []
    if start is not None:
        sql += " AND start_time >= ?"
        params.append(start)
    if end is not None:
        sql += " AND start_time < ?"
        params.append(end)
    return sql, params


def count_targets(
    con: duckdb.DuckDBPyConnection,
    project_id: str,
    scope: str,
    start: datetime | None,
    end: datetime | None,
) -> int:
    column = _TARGET_COLUMN[scope]
    where, params = _range(start, end)
    row = con.execute(
        f"SELECT count(DISTINCT {column}) FROM traces WHERE project_id = ? "
        f"AND {column} IS NOT NULL{where}",
        [project_id, *params],
    ).fetchall()
    return int(row[0][0]) if row else 0


def next_targets(
    con: duckdb.DuckDBPyConnection,
    project_id: str,
    scope: str,
    start: datetime | None,
    end: datetime | None,
    after: str | None,
    limit: int,
) -> list[str]:
    """The next ``limit`` targets (sessions or traces with a trace in the range) after
    ``after``, in id order: a job resumes from its last committed target."""
    column = _TARGET_COLUMN[scope]
    where, params = _range(start, end)
    if after is not None:
        where += f" AND {column} > ?"
        params.append(after)
    rows = con.execute(
        f"SELECT DISTINCT {column} FROM traces WHERE project_id = ? AND {column} IS NOT NULL"
        f"{where} ORDER BY {column} LIMIT ?",
        [project_id, *params, limit],
    ).fetchall()
    return [r[0] for r in rows]
