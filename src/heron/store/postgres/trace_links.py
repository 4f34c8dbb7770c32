"""What PostgreSQL keeps of traces, deleted with them (a part of ``PostgresControl``): notes
copied into error analyses, alignment results, and annotation-queue items on the traces, on
their observations or on sessions left without traces, with those items' annotations. The
same rows :func:`heron.store.deletion.delete_derived` deletes on DuckDB; here the ids of the
traces' observations and the sessions still alive come from ClickHouse (the caller's).
"""

from __future__ import annotations

from collections.abc import Sequence

from heron.store import deletion
from heron.store.postgres.transactions import Transactions

_ANY = "(SELECT unnest(?::VARCHAR[]))"


class TraceLinks(Transactions):
    """Rows of control data pointing at traces (see the module docstring)."""

    def delete_trace_links(
        self, project_id: str, trace_ids: Sequence[str], observation_ids: Sequence[str]
    ) -> None:
        """Delete what control data keeps of these traces and of these observations."""
        traces, observations = list(trace_ids), list(observation_ids)
        with self._admin() as cur:
            for table in ("error_analysis_notes", "evaluator_alignment_items"):
                cur.execute(
                    f"DELETE FROM {table} WHERE project_id = ? AND trace_id IN {_ANY}",
                    [project_id, traces],
                )
            items = cur.execute(
                "SELECT id FROM annotation_queue_items WHERE project_id = ? AND ("
                f"(object_type = 'TRACE' AND object_id IN {_ANY}) OR "
                f"(object_type = 'OBSERVATION' AND object_id IN {_ANY}))",
                [project_id, traces, observations],
            ).fetchall()
            deletion.delete_items(cur, project_id, [r[0] for r in items])  # type: ignore[arg-type]

    def session_item_targets(self, project_id: str) -> list[str]:
        """The sessions the project's annotation-queue items point at."""
        with self._read() as cur:
            rows = cur.execute(
                "SELECT DISTINCT object_id FROM annotation_queue_items "
                "WHERE project_id = ? AND object_type = 'SESSION'",
                [project_id],
            ).fetchall()
        return [r[0] for r in rows]

    def delete_session_items(self, project_id: str, session_ids: Sequence[str]) -> None:
        """Delete the annotation-queue items (and annotations) on these sessions."""
        if not session_ids:
            return
        with self._admin() as cur:
            items = cur.execute(
                "SELECT id FROM annotation_queue_items WHERE project_id = ? "
                f"AND object_type = 'SESSION' AND object_id IN {_ANY}",
                [project_id, list(session_ids)],
            ).fetchall()
            deletion.delete_items(cur, project_id, [r[0] for r in items])  # type: ignore[arg-type]
