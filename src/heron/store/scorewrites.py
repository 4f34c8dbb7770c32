"""The one way scores are written: an upsert by ``(project_id, id)``.

Used by :meth:`heron.store.EmbeddedStore.write_scores` (the API, the SDKs) and by the
background runner's commits (:mod:`heron.store.runner`), inside their transactions.
"""

from __future__ import annotations

from collections.abc import Sequence

import duckdb
import orjson

from heron.scores import ScoreRecord


def upsert_scores(con: duckdb.DuckDBPyConnection, scores: Sequence[ScoreRecord]) -> None:
    """Store scores; a score whose id exists in its project replaces it. The caller owns the
    transaction and holds the lock that serialises score writes."""
    if not scores:
        return
    rows = [
        (s.project_id, s.id, s.trace_id, s.observation_id, s.session_id, s.name, s.value,
         s.string_value, s.data_type, s.source, s.comment, s.author, s.timestamp,
         orjson.dumps(s.metadata).decode() if s.metadata is not None else None,
         s.environment)
        for s in {(s.project_id, s.id): s for s in scores}.values()
    ]  # fmt: skip
    for project_id in {r[0] for r in rows}:
        delete_scores(con, project_id, [r[1] for r in rows if r[0] == project_id])
    con.executemany(
        "INSERT INTO scores (project_id, id, trace_id, observation_id, session_id, name, "
        "value, string_value, data_type, source, comment, author, timestamp, metadata, "
        "environment) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        rows,
    )


def delete_scores(con: duckdb.DuckDBPyConnection, project_id: str, ids: Sequence[str]) -> None:
    """Delete the project's scores with these ids."""
    if ids:
        con.execute(
            "DELETE FROM scores WHERE project_id = ? AND id IN (SELECT unnest(?::VARCHAR[]))",
            [project_id, list(ids)],
        )
