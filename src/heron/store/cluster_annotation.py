"""Annotation on the cluster where one step needs both halves: filling a queue (candidate
traces on ClickHouse, the queue's items on PostgreSQL) and finishing an item (the note, a
comment, on ClickHouse; the completion and the next claim on PostgreSQL).

On DuckDB each is one transaction. Here the halves are written in turn, in an order that a
retry repairs: an item is completed (a 409 when another annotator holds it, nothing
written) before its note is stored, and a note has a deterministic id, so finishing again
after a failure stores it once. A fill reads the queued traces, then the candidates; two
fills of one queue at once may pick the same trace, which ``add_queue_items`` then skips.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from heron.errors import NotFound
from heron.query import Filter
from heron.store.clickhouse import annotation_reads as ch_annotation

if TYPE_CHECKING:
    from heron.store.clickhouse import ClickHouseEvents
    from heron.store.postgres import PostgresControl


class ClusterAnnotation:
    """A part of ``ClusterStore`` (``self.events``, ``self.control``)."""

    events: ClickHouseEvents
    control: PostgresControl

    def queue_fill_traces(
        self,
        project_id: str,
        queue_id: str,
        filters: Sequence[Filter],
        limit: int,
        sample: str = "newest",
        seed: int = 0,
        by: str | None = None,
        score: str | None = None,
    ) -> tuple[list[str], int]:
        """The traces matching ``filters`` a fill would add, sampled, and how many match
        (see :func:`heron.store.annotation.fill_traces`)."""
        queue = self.control.get_annotation_queue(project_id, queue_id)
        if queue is None or queue["id"] != queue_id:
            raise NotFound(f"annotation queue {queue_id[:100]!r} not found in this project")
        queued = self.control.queued_trace_ids(project_id, queue_id)
        return ch_annotation.fill_traces(
            self.events.client, project_id, queued, filters, limit, sample, seed, by, score
        )

    def finish_queue_item(
        self,
        project_id: str,
        queue_id: str,
        item_id: str,
        user_id: str,
        note: tuple[str, tuple[str, str, str | None], str],
        lease_s: float = 600,
    ) -> dict[str, Any] | None:
        """Complete the item for the user, store or remove their note (``(note id, target,
        content)``, removed when blank) and hold their next item after it."""
        done = self.control.complete_queue_item(project_id, queue_id, item_id, user_id)
        note_id, target, content = note
        if content.strip():
            self.events.put_comment(project_id, note_id, target, content, user_id)
        else:
            self.events.delete_comment(project_id, note_id)
        return self.control.claim_queue_item_after(
            project_id, queue_id, user_id, done["position"], lease_s
        )
