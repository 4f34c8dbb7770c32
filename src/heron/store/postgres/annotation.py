"""Annotation queues on PostgreSQL: the queues, their items, leases, completions and
assignments (:mod:`heron.store.annotation`, :mod:`heron.store.annotation_reads`; filling a
queue from traces, and finishing an item with a note, touch the events' store and are not
here).

Every write of a queue's items runs under the queue's advisory lock (``serial``): a claim
checks who holds what, a completion counts annotators, an addition counts the items, then
each writes; on DuckDB the store's admin lock makes these atomic, here the lock does, across
replicas."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from heron.store import annotation as annodb
from heron.store import annotation_reads as annoreads
from heron.store import evaluators as evaldb
from heron.store.postgres.transactions import Transactions


class Annotation(Transactions):
    """Annotation queues (a part of ``PostgresControl``)."""

    def create_annotation_queue(self, project_id: str, spec: dict[str, Any]) -> dict[str, Any]:
        """A new queue from a checked spec (:func:`heron.annotation.spec.check_queue`)."""
        with self._admin() as cur:
            evaldb.require_project(cur, project_id)
            return annodb.create_queue(cur, project_id, spec)

    def update_annotation_queue(
        self, project_id: str, queue_id: str, changes: dict[str, Any]
    ) -> dict[str, Any]:
        with self._admin(_queue(project_id, queue_id)) as cur:
            return annodb.update_queue(cur, project_id, queue_id, changes)

    def delete_annotation_queue(self, project_id: str, queue_id: str) -> bool:
        with self._admin(_queue(project_id, queue_id)) as cur:
            return annodb.delete_queue(cur, project_id, queue_id)

    def list_annotation_queues(self, project_id: str) -> list[dict[str, Any]]:
        with self._read() as cur:
            return annodb.list_queues(cur, project_id)

    def get_annotation_queue(self, project_id: str, queue_id_or_name: str) -> dict[str, Any] | None:
        with self._read() as cur:
            return annodb.get_queue(cur, project_id, queue_id_or_name)

    def add_queue_items(
        self, project_id: str, queue_id: str, items: Sequence[tuple[str, str]]
    ) -> int:
        """Add ``(object_type, object_id)`` pairs; objects already queued are skipped."""
        with self._admin(_queue(project_id, queue_id)) as cur:
            return annodb.add_items(cur, project_id, queue_id, items)

    def list_queue_items(
        self,
        project_id: str,
        queue_id: str,
        status: str | None = None,
        page: int = 1,
        limit: int = 50,
    ) -> tuple[list[dict[str, Any]], int]:
        with self._read() as cur:
            return annodb.list_items(cur, project_id, queue_id, status, page, limit)

    def get_queue_item(self, project_id: str, queue_id: str, item_id: str) -> dict[str, Any] | None:
        with self._read() as cur:
            return annodb.get_item(cur, project_id, queue_id, item_id)

    def update_queue_item(
        self, project_id: str, queue_id: str, item_id: str, status: str
    ) -> dict[str, Any]:
        with self._admin(_queue(project_id, queue_id)) as cur:
            return annodb.update_item(cur, project_id, queue_id, item_id, status)

    def delete_queue_item(self, project_id: str, queue_id: str, item_id: str) -> bool:
        with self._admin(_queue(project_id, queue_id)) as cur:
            return annodb.delete_item(cur, project_id, queue_id, item_id)

    def object_queues(
        self, project_id: str, object_type: str, object_id: str
    ) -> list[dict[str, Any]]:
        """The queues holding an object: ``[{queue_id, item_id, status}]``."""
        with self._read() as cur:
            return annodb.queue_objects(cur, project_id, object_type, object_id)

    def claim_queue_item(
        self,
        project_id: str,
        queue_id: str,
        user_id: str,
        lease_s: float = 600,
        item_id: str | None = None,
    ) -> dict[str, Any] | None:
        """Hold an item for one annotator (see :func:`heron.store.annotation.claim`)."""
        with self._admin(_queue(project_id, queue_id)) as cur:
            return annodb.claim(cur, project_id, queue_id, user_id, lease_s, item_id)

    def release_queue_item(
        self, project_id: str, queue_id: str, item_id: str, user_id: str
    ) -> bool:
        with self._admin(_queue(project_id, queue_id)) as cur:
            return annodb.release(cur, project_id, queue_id, item_id, user_id)

    def complete_queue_item(
        self, project_id: str, queue_id: str, item_id: str, user_id: str
    ) -> dict[str, Any]:
        """Record the user's annotation; the item completes with enough annotators."""
        with self._admin(_queue(project_id, queue_id)) as cur:
            return annodb.complete(cur, project_id, queue_id, item_id, user_id)

    def queue_progress(
        self, project_id: str, queue_id: str, user_id: str | None = None
    ) -> dict[str, int]:
        with self._read() as cur:
            return annodb.progress(cur, project_id, queue_id, user_id)

    def queue_annotators(
        self, project_id: str, queue_id: str, item_id: str
    ) -> list[dict[str, Any]]:
        with self._read() as cur:
            return annodb.annotators(cur, project_id, queue_id, item_id)

    def assign_queue(self, project_id: str, queue_id: str, user_id: str) -> bool:
        with self._admin(_queue(project_id, queue_id)) as cur:
            return annodb.assign(cur, project_id, queue_id, user_id)

    def unassign_queue(self, project_id: str, queue_id: str, user_id: str) -> bool:
        with self._admin(_queue(project_id, queue_id)) as cur:
            return annodb.unassign(cur, project_id, queue_id, user_id)

    def queue_assignments(self, project_id: str, queue_id: str) -> list[str]:
        with self._read() as cur:
            return annodb.assignments(cur, project_id, queue_id)

    def claim_queue_item_after(
        self, project_id: str, queue_id: str, user_id: str, after: int, lease_s: float = 600
    ) -> dict[str, Any] | None:
        """Hold the next free item after a queue position (see
        :func:`heron.store.annotation_reads.claim_after`)."""
        with self._admin(_queue(project_id, queue_id)) as cur:
            return annoreads.claim_after(cur, project_id, queue_id, user_id, lease_s, after)

    def queue_item_neighbour(
        self, project_id: str, queue_id: str, position: int, step: int
    ) -> dict[str, Any] | None:
        with self._read() as cur:
            return annoreads.neighbour(cur, project_id, queue_id, position, step)

    def reopen_queue_item(
        self, project_id: str, queue_id: str, item_id: str, user_id: str, lease_s: float = 600
    ) -> dict[str, Any] | None:
        """Undo the user's annotation of an item and hold it for them (None: held by
        another)."""
        with self._admin(_queue(project_id, queue_id)) as cur:
            return annoreads.reopen(cur, project_id, queue_id, item_id, user_id, lease_s)

    def queued_trace_ids(self, project_id: str, queue_id: str) -> list[str]:
        """The traces a queue holds (the cluster's fill leaves them out of its candidates)."""
        with self._read() as cur:
            rows = cur.execute(
                "SELECT object_id FROM annotation_queue_items WHERE project_id = ? "
                "AND queue_id = ? AND object_type = 'TRACE'",
                [project_id, queue_id],
            ).fetchall()
        return [r[0] for r in rows]


def _queue(project_id: str, queue_id: str) -> str:
    """The serial key of a queue's items (see ``Transactions._admin``)."""
    return f"queue:{project_id}:{queue_id}"
