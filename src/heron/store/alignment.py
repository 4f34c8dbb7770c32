"""Alignment runs and their items (see :mod:`heron.store.schema_alignment`), and the human
labels they compare with. Functions taking a cursor; every query is parameterised and
scoped to one project.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import duckdb
import orjson

MAX_LABELS = 100_000  # labels read for one run (a stratified sample is taken from them)

_RUN_COLUMNS = (
    "id", "evaluator_id", "evaluator_name", "version", "spec", "score_name", "positive",
    "source", "labelled", "sampled", "job_id", "created_at",
)  # fmt: skip
_ITEM_COLUMNS = ("trace_id", "human", "predicted", "value", "reasoning", "error", "judge_trace_id")


def _run(row: tuple[Any, ...]) -> dict[str, Any]:
    out = dict(zip(_RUN_COLUMNS, row, strict=True))
    out["spec"] = orjson.loads(out["spec"])
    out["positive"] = orjson.loads(out["positive"])
    return out


def human_labels(
    cur: duckdb.DuckDBPyConnection, project_id: str, name: str, source: str
) -> list[dict[str, Any]]:
    """The latest score ``name`` of ``source`` on each trace of the project (trace-level
    scores of existing traces), at most :data:`MAX_LABELS`, by trace id."""
    rows = cur.execute(
        "SELECT trace_id, data_type, value, string_value, comment FROM ("
        "SELECT s.trace_id, s.data_type, s.value, s.string_value, s.comment, row_number() OVER "
        "(PARTITION BY s.trace_id ORDER BY s.timestamp DESC, s.id DESC) AS latest "
        "FROM scores s JOIN traces t ON t.project_id = s.project_id AND t.id = s.trace_id "
        "WHERE s.project_id = ? AND s.name = ? AND s.source = ? AND s.observation_id IS NULL"
        ") s WHERE latest = 1 ORDER BY trace_id LIMIT ?",
        [project_id, name, source, MAX_LABELS],
    ).fetchall()
    keys = ("trace_id", "data_type", "value", "string_value", "comment")
    return [dict(zip(keys, r, strict=True)) for r in rows]


def create_run(cur: duckdb.DuckDBPyConnection, project_id: str, run: dict[str, Any]) -> None:
    """Insert a run (``run``: the columns of :data:`_RUN_COLUMNS` but ``created_at``)."""
    values = {**run, "created_at": datetime.now(UTC).replace(tzinfo=None)}
    values["spec"] = orjson.dumps(values["spec"]).decode()
    values["positive"] = orjson.dumps(values["positive"]).decode()
    cur.execute(
        f"INSERT INTO evaluator_alignments (project_id, {', '.join(_RUN_COLUMNS)}) "
        f"VALUES ({', '.join('?' * (len(_RUN_COLUMNS) + 1))})",
        [project_id, *(values[c] for c in _RUN_COLUMNS)],
    )


def set_job(cur: duckdb.DuckDBPyConnection, project_id: str, run_id: str, job_id: str) -> None:
    cur.execute(
        "UPDATE evaluator_alignments SET job_id = ? WHERE project_id = ? AND id = ?",
        [job_id, project_id, run_id],
    )


def put_items(
    cur: duckdb.DuckDBPyConnection, project_id: str, run_id: str, items: Sequence[dict[str, Any]]
) -> None:
    """Record (or replace, after a redo) what the evaluator said on labelled traces; one
    statement per 100 items (DuckDB takes a row at a time slowly)."""
    width = len(_ITEM_COLUMNS) + 2
    for start in range(0, len(items), 100):
        chunk = items[start : start + 100]
        rows = ", ".join(f"({', '.join('?' * width)})" for _ in chunk)
        cur.execute(
            "INSERT INTO evaluator_alignment_items (project_id, alignment_id, "
            f"{', '.join(_ITEM_COLUMNS)}) VALUES {rows} "
            "ON CONFLICT (project_id, alignment_id, trace_id) DO UPDATE SET "
            + ", ".join(f"{c} = excluded.{c}" for c in _ITEM_COLUMNS[1:]),
            [
                v
                for item in chunk
                for v in (project_id, run_id, *(item.get(c) for c in _ITEM_COLUMNS))
            ],
        )


def get_run(cur: duckdb.DuckDBPyConnection, project_id: str, run_id: str) -> dict[str, Any] | None:
    rows = cur.execute(
        f"SELECT {', '.join(_RUN_COLUMNS)} FROM evaluator_alignments "
        "WHERE project_id = ? AND id = ?",
        [project_id, run_id],
    ).fetchall()
    return _run(rows[0]) if rows else None


def latest_run(
    cur: duckdb.DuckDBPyConnection, project_id: str, evaluator_id: str, version: int | None
) -> dict[str, Any] | None:
    """The evaluator's newest run (of ``version``; ``None``: of any version)."""
    rows = cur.execute(
        f"SELECT {', '.join(_RUN_COLUMNS)} FROM evaluator_alignments "
        "WHERE project_id = ? AND evaluator_id = ? AND (CAST(? AS INTEGER) IS NULL OR version = ?) "
        "ORDER BY created_at DESC, id DESC LIMIT 1",
        [project_id, evaluator_id, version, version],
    ).fetchall()
    return _run(rows[0]) if rows else None


def run_items(cur: duckdb.DuckDBPyConnection, project_id: str, run_id: str) -> list[dict[str, Any]]:
    """A run's items by trace id."""
    rows = cur.execute(
        f"SELECT {', '.join(_ITEM_COLUMNS)} FROM evaluator_alignment_items "
        "WHERE project_id = ? AND alignment_id = ? ORDER BY trace_id",
        [project_id, run_id],
    ).fetchall()
    return [dict(zip(_ITEM_COLUMNS, r, strict=True)) for r in rows]
