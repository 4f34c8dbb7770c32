"""Deleting traces and keeping retention on the cluster backend (a part of ``ClusterStore``).

``delete_traces`` and ``delete_traces_before`` answer as EmbeddedStore's: the traces go from
ClickHouse with their observations, scores, comments and signals (and SESSION comments of sessions
left without traces) (:mod:`heron.store.clickhouse.deletion`), and
what PostgreSQL keeps of them goes first (:mod:`heron.store.postgres.trace_links`): error
analysis notes, alignment results, annotation-queue items on the traces, their observations,
or sessions left without traces. Other projects' rows are never touched.

Retention does not delete row by row on the cluster: ClickHouse drops expired rows by TTL
(:mod:`heron.store.clickhouse.retention`); a server's retention sweep calls
:meth:`ClusterDeletion.sync_retention` instead of ``delete_traces_before``.
"""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import AbstractContextManager
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from heron.store.clickhouse import retention
from heron.store.clickhouse.deletion import CHUNK

if TYPE_CHECKING:
    from heron.store.clickhouse import ClickHouseEvents
    from heron.store.postgres import PostgresControl


class ClusterDeletion:
    """Deletion and retention across both halves (see the module docstring)."""

    events: ClickHouseEvents
    control: PostgresControl
    project_retention: retention.ProjectRetention

    def delete_traces(self, project_id: str, trace_ids: Sequence[str]) -> list[str]:
        """Delete the project's traces with these ids, with their observations, scores and
        signals; returns the ids that were found (other projects' traces are never touched)."""
        with _unavailable():
            found = self.events.existing_traces(project_id, trace_ids)
            for i in range(0, len(found), CHUNK):
                self._delete(project_id, found[i : i + CHUNK])
        return found

    def delete_traces_before(self, project_id: str, cutoff: datetime) -> int:
        """Delete the project's traces that started before ``cutoff`` (with observations and
        scores), its session scores older than it and the queue items of sessions left
        without traces; returns the number of traces deleted."""
        if cutoff.tzinfo is not None:
            cutoff = cutoff.astimezone(UTC).replace(tzinfo=None)
        total = 0
        with _unavailable():
            while ids := self.events.traces_started_before(project_id, cutoff):
                self._delete(project_id, ids)
                total += len(ids)
            self.events.delete_loose_scores(project_id, cutoff)
            self.events.delete_old_signals(project_id, cutoff)
            targets = self.control.session_item_targets(project_id)
            alive = self.events.sessions_with_traces(project_id, targets)
            self.control.delete_session_items(project_id, [s for s in targets if s not in alive])
            self.events.delete_session_comments(project_id)
        return total

    def _delete(self, project_id: str, trace_ids: list[str]) -> None:
        observations, sessions = self.events.trace_contents(project_id, trace_ids)
        # PostgreSQL's links first: an interruption leaves traces to delete again, not links
        # to traces that are gone
        self.control.delete_trace_links(project_id, trace_ids, observations)
        self.events.delete_trace_rows(project_id, trace_ids)
        alive = self.events.sessions_with_traces(project_id, sessions)
        self.control.delete_session_items(project_id, [s for s in sessions if s not in alive])
        self.events.delete_session_comments(project_id, sessions)

    def sync_retention(self) -> int:
        """Tag every events row with its project's retention, for ClickHouse's TTL to drop
        expired rows (see :mod:`heron.store.clickhouse.retention`), and delete the comments
        left on traces it dropped; returns the number of tables that needed a mutation."""
        with _unavailable():
            projects = self.control.list_projects()
            days = {p["id"]: p.get("retention_days") for p in projects}
            self.project_retention.update(days)  # what the writers tag from now on
            mutated = retention.sync(self.events.client, days)
            for project_id, kept in days.items():
                if kept:  # comments have no TTL: those of traces the TTL dropped go now
                    self.events.delete_orphan_comments(project_id)
            return mutated


def _unavailable() -> AbstractContextManager[None]:
    """A backend that cannot be reached raised as BackendUnavailable (a 503)."""
    from heron.store.cluster import _unavailable_as_oserror  # cluster imports this module

    return _unavailable_as_oserror()
