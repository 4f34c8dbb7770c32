"""The one way scores are written: an upsert by ``(project_id, id)``.

Used by :meth:`heron.store.EmbeddedStore.write_scores` (the API, the SDKs) and by the
background runner's commits (:mod:`heron.store.runner`), inside their transactions.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

import duckdb
import orjson
import pyarrow as pa

from heron.errors import Conflict
from heron.scores import ScoreRecord
from heron.store.arrow import TS


def upsert_scores(
    con: duckdb.DuckDBPyConnection, scores: Sequence[ScoreRecord], *, replace: bool = True
) -> None:
    """Store scores; a score whose id exists in its project replaces it, keeping when it was
    first stored (``created_at``). With ``replace=False`` an existing id makes the whole call a
    409 naming it (nothing is written). The caller owns the transaction and holds the lock
    that serialises score writes. The rows go in as one Arrow table (a runner chunk writes
    hundreds; row-by-row inserts cost milliseconds each)."""
    if not scores:
        return
    unique = list({(s.project_id, s.id): s for s in scores}.values())
    created: dict[tuple[str, str], datetime] = {}
    for project_id in {s.project_id for s in unique}:
        ids = [s.id for s in unique if s.project_id == project_id]
        stored = con.execute(
            "SELECT id, created_at FROM scores "
            "WHERE project_id = ? AND id IN (SELECT unnest(?::VARCHAR[]))",
            [project_id, ids],
        ).fetchall()
        if stored and not replace:
            raise Conflict(
                f"score {stored[0][0]!r} already exists; this credential may only "
                "create scores, not replace them (send no id, or a new one)"
            )
        created.update({(project_id, i): c for i, c in stored if c is not None})
        delete_scores(con, project_id, ids)
    insert_scores(con, unique, created)


def insert_scores(
    con: duckdb.DuckDBPyConnection,
    unique: Sequence[ScoreRecord],
    created: dict[tuple[str, str], datetime] | None = None,
) -> None:
    """Insert scores whose ids are known not to be stored (see :func:`upsert_scores`);
    ``created`` holds the first-stored times of the ones that replace a stored score."""
    if not unique:
        return
    now = datetime.now(UTC).replace(tzinfo=None)
    created = created or {}
    table = pa.table(
        {
            "project_id": [s.project_id for s in unique],
            "id": [s.id for s in unique],
            "trace_id": pa.array([s.trace_id for s in unique], pa.string()),
            "observation_id": pa.array([s.observation_id for s in unique], pa.string()),
            "session_id": pa.array([s.session_id for s in unique], pa.string()),
            "name": [s.name for s in unique],
            "value": pa.array([s.value for s in unique], pa.float64()),
            "string_value": pa.array([s.string_value for s in unique], pa.string()),
            "data_type": [s.data_type for s in unique],
            "source": [s.source for s in unique],
            "comment": pa.array([s.comment for s in unique], pa.string()),
            "author": pa.array([s.author for s in unique], pa.string()),
            "timestamp": pa.array([_naive(s.timestamp) for s in unique], TS),
            "metadata": pa.array(
                [None if s.metadata is None else orjson.dumps(s.metadata).decode() for s in unique],
                pa.string(),
            ),
            "environment": pa.array([s.environment for s in unique], pa.string()),
            "config_id": pa.array([s.config_id for s in unique], pa.string()),
            "queue_id": pa.array([s.queue_id for s in unique], pa.string()),
            "dataset_run_id": pa.array([s.dataset_run_id for s in unique], pa.string()),
            "created_at": pa.array([created.get((s.project_id, s.id), now) for s in unique], TS),
            "updated_at": pa.array([now] * len(unique), TS),
        }
    )
    con.register("heron_scores_in", table)
    try:
        con.execute(f"INSERT INTO scores ({_COLUMNS}) SELECT {_COLUMNS} FROM heron_scores_in")
    finally:
        con.unregister("heron_scores_in")


_COLUMNS = (
    "project_id, id, trace_id, observation_id, session_id, name, value, string_value, "
    "data_type, source, comment, author, timestamp, metadata, environment, config_id, queue_id, "
    "dataset_run_id, created_at, updated_at"
)


def _naive(value: datetime) -> datetime:
    """Scores' times are stored as naive UTC."""
    return value.astimezone(UTC).replace(tzinfo=None) if value.tzinfo is not None else value


def delete_scores(con: duckdb.DuckDBPyConnection, project_id: str, ids: Sequence[str]) -> None:
    """Delete the project's scores with these ids."""
    if ids:
        con.execute(
            "DELETE FROM scores WHERE project_id = ? AND id IN (SELECT unnest(?::VARCHAR[]))",
            [project_id, list(ids)],
        )
