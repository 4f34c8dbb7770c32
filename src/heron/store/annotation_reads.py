"""What the annotator view needs of the store beyond :mod:`heron.store.annotation`: moving
through a queue (the next free item after a position, the item before or after one),
undoing one person's annotation (with the annotator's note, a comment written through
:func:`heron.store.comments.put_comment`), an object's trace, the
scores a queue collected (for agreement) and scores by id (to prefill an edited item).

Functions taking a cursor, every query parameterised and scoped to one project. Claims and
re-openings run under the store's admin lock (:meth:`EmbeddedStore._admin`), as
:func:`heron.store.annotation.claim` does, so two annotators never hold the same item.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta
from typing import Any

import duckdb

from heron.errors import NotFound
from heron.store import annotation as annodb
from heron.store import comments as commentdb

MAX_QUEUE_SCORES = 200_000  # agreement reads at most this many of a queue's scores


def claim_after(
    cur: duckdb.DuckDBPyConnection,
    project_id: str,
    queue_id: str,
    user_id: str,
    lease_s: float,
    after: int,
) -> dict[str, Any] | None:
    """Hold the first free item after queue position ``after`` (wrapping round to the start,
    the item at ``after`` itself last) that is pending, that ``user_id`` has not annotated,
    that needs more annotators and that nobody else holds; the user's other leases in the
    queue end. None when there is none."""
    queue = annodb.get_queue(cur, project_id, queue_id)
    if queue is None or queue["id"] != queue_id:
        raise NotFound(f"annotation queue {queue_id[:100]!r} not found in this project")
    # the queue's annotations counted once and joined (a correlated count per item costs
    # twice as much in DuckDB)
    rows = cur.execute(
        "SELECT i.id FROM annotation_queue_items i LEFT JOIN ("
        "SELECT item_id, count(DISTINCT user_id) AS n, bool_or(user_id = ?) AS mine "
        "FROM annotation_queue_annotations WHERE project_id = ? AND queue_id = ? "
        "GROUP BY item_id) a ON a.item_id = i.id "
        "WHERE i.project_id = ? AND i.queue_id = ? AND i.status = 'PENDING' "
        "AND (i.lease_until IS NULL OR i.lease_until <= ? OR i.lease_user_id = ?) "
        "AND NOT coalesce(a.mine, false) AND coalesce(a.n, 0) < ? "
        "ORDER BY i.position <= ?, i.position, i.id LIMIT 1",
        [user_id, project_id, queue_id, project_id, queue_id, annodb.now(), user_id,
         queue["annotations_per_item"], after],
    ).fetchall()  # fmt: skip
    if not rows:
        return None
    return _lease(cur, project_id, queue_id, user_id, rows[0][0], lease_s)


def _lease(
    cur: duckdb.DuckDBPyConnection,
    project_id: str,
    queue_id: str,
    user_id: str,
    item_id: str,
    lease_s: float,
) -> dict[str, Any] | None:
    until = annodb.now() + timedelta(seconds=lease_s)
    cur.execute(
        "UPDATE annotation_queue_items SET "
        "lease_user_id = CASE WHEN id = ? THEN ? END, lease_until = CASE WHEN id = ? THEN ? END "
        "WHERE project_id = ? AND queue_id = ? AND (id = ? OR lease_user_id = ?)",
        [item_id, user_id, item_id, until, project_id, queue_id, item_id, user_id],
    )  # the user's other leases in the queue end: one item held per user and queue
    return annodb.get_item(cur, project_id, queue_id, item_id)


def finish(
    cur: duckdb.DuckDBPyConnection,
    project_id: str,
    queue_id: str,
    item_id: str,
    user_id: str,
    lease_s: float,
    note: tuple[str, tuple[str, str, str | None], str],
) -> dict[str, Any] | None:
    """One step of the annotator view in one transaction: store or remove the user's note
    (``(note id, target, content)``, removed when the content is blank), record their
    annotation of the item (:func:`heron.store.annotation.complete`) and hold the next free
    item after it for them (:func:`claim_after`)."""
    note_id, target, content = note
    if content.strip():
        commentdb.put_comment(cur, project_id, note_id, target, content, user_id)
    else:
        commentdb.delete_comment(cur, project_id, note_id)
    done = annodb.complete(cur, project_id, queue_id, item_id, user_id)
    return claim_after(cur, project_id, queue_id, user_id, lease_s, done["position"])


def neighbour(
    cur: duckdb.DuckDBPyConnection, project_id: str, queue_id: str, position: int, step: int
) -> dict[str, Any] | None:
    """The item just before (``step`` < 0) or after position ``position``, whatever its
    status; None at either end."""
    before = step < 0
    rows = cur.execute(
        "SELECT id FROM annotation_queue_items WHERE project_id = ? AND queue_id = ? "
        f"AND position {'<' if before else '>'} ? "
        f"ORDER BY position {'DESC' if before else 'ASC'} LIMIT 1",
        [project_id, queue_id, position],
    ).fetchall()
    return annodb.get_item(cur, project_id, queue_id, rows[0][0]) if rows else None


def reopen(
    cur: duckdb.DuckDBPyConnection,
    project_id: str,
    queue_id: str,
    item_id: str,
    user_id: str,
    lease_s: float,
) -> dict[str, Any] | None:
    """Undo ``user_id``'s annotation of the item: it no longer counts, the item is pending
    again when it has too few annotators left, and the user holds it. None when another
    user holds it."""
    queue = annodb.get_queue(cur, project_id, queue_id)
    item = annodb.get_item(cur, project_id, queue_id, item_id)
    if queue is None or item is None or queue["id"] != queue_id:
        raise NotFound(f"item {item_id[:100]!r} not found in this annotation queue")
    if item["lease_user_id"] not in (None, user_id):
        return None
    cur.execute(
        "DELETE FROM annotation_queue_annotations WHERE project_id = ? AND queue_id = ? "
        "AND item_id = ? AND user_id = ?",
        [project_id, queue_id, item_id, user_id],
    )
    left = len(annodb.annotators(cur, project_id, queue_id, item_id))
    if left < queue["annotations_per_item"]:
        cur.execute(
            "UPDATE annotation_queue_items SET status = 'PENDING', completed_at = NULL, "
            "updated_at = ? WHERE project_id = ? AND queue_id = ? AND id = ?",
            [annodb.now(), project_id, queue_id, item_id],
        )
    return _lease(cur, project_id, queue_id, user_id, item_id, lease_s)


def observation_trace(
    cur: duckdb.DuckDBPyConnection, project_id: str, observation_id: str
) -> str | None:
    """The trace an observation belongs to, or None when there is no such observation."""
    rows = cur.execute(
        "SELECT trace_id FROM observations WHERE project_id = ? AND id = ? LIMIT 1",
        [project_id, observation_id],
    ).fetchall()
    return rows[0][0] if rows else None


def scores_by_ids(
    cur: duckdb.DuckDBPyConnection, project_id: str, ids: Sequence[str]
) -> dict[str, dict[str, Any]]:
    """``{id: {config_id, value, string_value, data_type}}`` of the project's scores with
    these ids."""
    if not ids:
        return {}
    rows = cur.execute(
        "SELECT id, config_id, value, string_value, data_type FROM scores "
        "WHERE project_id = ? AND id IN (SELECT unnest(?::VARCHAR[]))",
        [project_id, list(ids)],
    ).fetchall()
    return {
        i: {"config_id": c, "value": v, "string_value": s, "data_type": d} for i, c, v, s, d in rows
    }


def queue_scores(
    cur: duckdb.DuckDBPyConnection, project_id: str, queue_id: str, config_ids: Sequence[str]
) -> list[dict[str, Any]]:
    """The ANNOTATION scores carrying ``queue_id`` under these configs, for agreement:
    ``{config_id, author, value, string_value, item}`` where ``item`` is the scored object
    (trace, observation and session ids), newest last so a later rating wins."""
    rows = cur.execute(
        "SELECT config_id, author, value, string_value, trace_id, observation_id, session_id "
        "FROM scores WHERE project_id = ? AND queue_id = ? AND source = 'ANNOTATION' "
        "AND config_id IN (SELECT unnest(?::VARCHAR[])) ORDER BY updated_at, id LIMIT ?",
        [project_id, queue_id, list(config_ids), MAX_QUEUE_SCORES],
    ).fetchall()
    return [
        {"config_id": c, "author": a, "value": v, "string_value": s, "item": (t, o, ss)}
        for c, a, v, s, t, o, ss in rows
    ]
