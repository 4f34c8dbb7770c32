"""Annotation queues, their items, leases, annotations and assignments (control data).

Functions taking a cursor, every query parameterised and scoped to one project. Specs are
checked by :mod:`heron.annotation.spec` first. Writes run inside the store's admin
transaction, under its lock (:meth:`heron.store.embedded.EmbeddedStore._admin`): that is
what makes a claim atomic, so two annotators never get the same item.

Shapes (snake_case; the public API turns them into Langfuse's camelCase):

- a queue: ``id, name, description, score_config_ids, annotations_per_item, created_at,
  updated_at``;
- an item: ``id, queue_id, object_type, object_id, status (PENDING | COMPLETED),
  completed_at, created_at, updated_at, lease_user_id, lease_until`` (the lease only while
  it runs) and ``annotations`` (how many people completed it).
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import duckdb
import orjson

from heron.errors import BadRequest, Conflict, NotFound

MAX_QUEUES = 1000  # per project
MAX_ITEMS = 1_000_000  # per queue


def now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


# -- queues ----------------------------------------------------------------------------------

_QUEUE_COLUMNS = (
    "id, name, description, score_config_ids, annotations_per_item, created_at, updated_at"
)


def _queue(row: tuple[Any, ...]) -> dict[str, Any]:
    queue_id, name, description, config_ids, per_item, created, updated = row
    return {
        "id": queue_id,
        "name": name,
        "description": description,
        "score_config_ids": orjson.loads(config_ids),
        "annotations_per_item": per_item,
        "created_at": created,
        "updated_at": updated,
    }


def list_queues(cur: duckdb.DuckDBPyConnection, project_id: str) -> list[dict[str, Any]]:
    """The project's queues, oldest first."""
    rows = cur.execute(
        f"SELECT {_QUEUE_COLUMNS} FROM annotation_queues WHERE project_id = ? "
        "ORDER BY created_at, id",
        [project_id],
    ).fetchall()
    return [_queue(r) for r in rows]


def get_queue(
    cur: duckdb.DuckDBPyConnection, project_id: str, id_or_name: str
) -> dict[str, Any] | None:
    """A queue by id, else by name."""
    rows = cur.execute(
        f"SELECT {_QUEUE_COLUMNS} FROM annotation_queues WHERE project_id = ? "
        "AND (id = ? OR name = ?) ORDER BY id = ? DESC LIMIT 1",
        [project_id, id_or_name, id_or_name, id_or_name],
    ).fetchall()
    return _queue(rows[0]) if rows else None


def _require_queue(cur: duckdb.DuckDBPyConnection, project_id: str, queue_id: str) -> None:
    row = cur.execute(
        "SELECT 1 FROM annotation_queues WHERE project_id = ? AND id = ?", [project_id, queue_id]
    ).fetchall()
    if not row:
        raise NotFound(f"annotation queue {queue_id[:100]!r} not found in this project")


def _name_taken(
    cur: duckdb.DuckDBPyConnection, project_id: str, name: str, other_than: str | None
) -> bool:
    row = cur.execute(
        "SELECT 1 FROM annotation_queues WHERE project_id = ? AND name = ? AND id IS DISTINCT "
        "FROM ?",
        [project_id, name, other_than],
    ).fetchall()
    return bool(row)


def create_queue(
    cur: duckdb.DuckDBPyConnection, project_id: str, spec: dict[str, Any]
) -> dict[str, Any]:
    """A new queue from a checked ``spec`` (``name, description, score_config_ids,
    annotations_per_item``); 409 when the project has a queue of that name, 400 when it
    has :data:`MAX_QUEUES` already."""
    (count,) = cur.execute(
        "SELECT count(*) FROM annotation_queues WHERE project_id = ?", [project_id]
    ).fetchall()[0]
    if count >= MAX_QUEUES:
        raise BadRequest(f"a project has at most {MAX_QUEUES:,} annotation queues")
    if _name_taken(cur, project_id, spec["name"], None):
        raise Conflict(f"an annotation queue named {spec['name']!r} exists in this project")
    queue_id = spec.get("id") or uuid.uuid4().hex
    at = now()
    cur.execute(
        f"INSERT INTO annotation_queues (project_id, {_QUEUE_COLUMNS}) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        [
            project_id, queue_id, spec["name"], spec.get("description"),
            orjson.dumps(list(spec.get("score_config_ids") or [])).decode(),
            int(spec.get("annotations_per_item") or 1), at, at,
        ],
    )  # fmt: skip
    found = get_queue(cur, project_id, queue_id)
    assert found is not None
    return found


def update_queue(
    cur: duckdb.DuckDBPyConnection, project_id: str, queue_id: str, changes: dict[str, Any]
) -> dict[str, Any]:
    """Change a queue's ``name``, ``description``, ``score_config_ids`` or
    ``annotations_per_item`` (checked first); 404 / 409 as :func:`create_queue`."""
    current = get_queue(cur, project_id, queue_id)
    if current is None or current["id"] != queue_id:
        raise NotFound(f"annotation queue {queue_id[:100]!r} not found in this project")
    merged = {**current, **{k: v for k, v in changes.items() if k in current}}
    if merged["name"] != current["name"] and _name_taken(cur, project_id, merged["name"], queue_id):
        raise Conflict(f"an annotation queue named {merged['name']!r} exists in this project")
    cur.execute(
        "UPDATE annotation_queues SET name = ?, description = ?, score_config_ids = ?, "
        "annotations_per_item = ?, updated_at = ? WHERE project_id = ? AND id = ?",
        [
            merged["name"], merged["description"],
            orjson.dumps(list(merged["score_config_ids"])).decode(),
            int(merged["annotations_per_item"]), now(), project_id, queue_id,
        ],
    )  # fmt: skip
    if merged["annotations_per_item"] != current["annotations_per_item"]:
        _recount(cur, project_id, queue_id, int(merged["annotations_per_item"]))
    found = get_queue(cur, project_id, queue_id)
    assert found is not None
    return found


def _recount(cur: duckdb.DuckDBPyConnection, project_id: str, queue_id: str, needed: int) -> None:
    """Items complete or not again after the number of annotations per item changed (an
    item completed by hand, without annotations, stays completed)."""
    at = now()
    cur.execute(
        "UPDATE annotation_queue_items i SET status = 'COMPLETED', completed_at = ?, "
        f"updated_at = ? FROM {_COUNTS} a WHERE a.item_id = i.id AND i.project_id = ? "
        "AND i.queue_id = ? AND i.status = 'PENDING' AND a.n >= ?",
        [at, at, project_id, queue_id, project_id, queue_id, needed],
    )
    cur.execute(
        "UPDATE annotation_queue_items i SET status = 'PENDING', completed_at = NULL, "
        f"updated_at = ? FROM {_COUNTS} a WHERE a.item_id = i.id AND i.project_id = ? "
        "AND i.queue_id = ? AND i.status = 'COMPLETED' AND a.n < ?",
        [at, project_id, queue_id, project_id, queue_id, needed],
    )


def delete_queue(cur: duckdb.DuckDBPyConnection, project_id: str, queue_id: str) -> bool:
    """Delete a queue with its items, annotations and assignments (scores stay)."""
    for table in (
        "annotation_queue_items",
        "annotation_queue_annotations",
        "annotation_queue_assignments",
    ):
        cur.execute(
            f"DELETE FROM {table} WHERE project_id = ? AND queue_id = ?", [project_id, queue_id]
        )
    rows = cur.execute(
        "DELETE FROM annotation_queues WHERE project_id = ? AND id = ? RETURNING id",
        [project_id, queue_id],
    ).fetchall()
    return bool(rows)


# -- items -----------------------------------------------------------------------------------

# How many people completed each item of a queue (parameters: project, queue). Counted when
# read (a hash join over the queue's annotations), never stored, so nothing can drift.
_COUNTS = (
    "(SELECT item_id, count(DISTINCT user_id) AS n FROM annotation_queue_annotations "
    "WHERE project_id = ? AND queue_id = ? GROUP BY item_id)"
)
_ITEM_SELECT = (
    "SELECT i.id, i.queue_id, i.object_type, i.object_id, i.status, i.completed_at, "
    "i.created_at, i.updated_at, i.lease_user_id, i.lease_until, i.position, "
    f"coalesce(a.n, 0) FROM annotation_queue_items i LEFT JOIN {_COUNTS} a "
    "ON a.item_id = i.id"
)


def _item(row: tuple[Any, ...], at: datetime) -> dict[str, Any]:
    (item_id, queue_id, object_type, object_id, status, completed, created, updated,
     lease_user, lease_until, position, annotations) = row  # fmt: skip
    held = lease_until is not None and lease_until > at
    return {
        "id": item_id,
        "queue_id": queue_id,
        "object_type": object_type,
        "object_id": object_id,
        "status": status,
        "completed_at": completed,
        "created_at": created,
        "updated_at": updated,
        "lease_user_id": lease_user if held else None,
        "lease_until": lease_until if held else None,
        "position": position,
        "annotations": int(annotations),
    }


def add_items(
    cur: duckdb.DuckDBPyConnection,
    project_id: str,
    queue_id: str,
    items: Sequence[tuple[str, str]],
) -> int:
    """Add ``(object_type, object_id)`` pairs in order (checked by the caller); an object
    already in the queue, or given twice, is added once. Returns how many were added; 400
    when the queue could pass :data:`MAX_ITEMS`."""
    _require_queue(cur, project_id, queue_id)
    if not items:
        return 0
    row = cur.execute(
        "SELECT coalesce(max(position), 0) FROM annotation_queue_items "
        "WHERE project_id = ? AND queue_id = ?",
        [project_id, queue_id],
    ).fetchone()
    base = int(row[0]) if row else 0
    (held,) = cur.execute(
        "SELECT count(*) FROM annotation_queue_items WHERE project_id = ? AND queue_id = ?",
        [project_id, queue_id],
    ).fetchall()[0]
    if held + len(items) > MAX_ITEMS:
        raise BadRequest(
            f"a queue holds at most {MAX_ITEMS:,} items; this one has {held:,}, and "
            f"{len(items):,} more would pass that"
        )
    at = now()
    added = cur.execute(
        "INSERT INTO annotation_queue_items (project_id, id, queue_id, object_type, object_id, "
        "status, position, created_at, updated_at) "
        "SELECT ?, replace(gen_random_uuid()::VARCHAR, '-', ''), ?, t, o, 'PENDING', ? + i, ?, ? "
        "FROM (SELECT t, o, min(i) AS i FROM (SELECT unnest(?::VARCHAR[]) AS t, "
        "unnest(?::VARCHAR[]) AS o, unnest(?::BIGINT[]) AS i) u GROUP BY t, o) n "
        "WHERE NOT EXISTS (SELECT 1 FROM annotation_queue_items x WHERE x.project_id = ? "
        "AND x.queue_id = ? AND x.object_type = n.t AND x.object_id = n.o) RETURNING id",
        [
            project_id, queue_id, base, at, at,
            [t for t, _ in items], [o for _, o in items], list(range(1, len(items) + 1)),
            project_id, queue_id,
        ],
    ).fetchall()  # fmt: skip
    return len(added)


def list_items(
    cur: duckdb.DuckDBPyConnection,
    project_id: str,
    queue_id: str,
    status: str | None,
    page: int,
    limit: int,
) -> tuple[list[dict[str, Any]], int]:
    """One page (from 1) of a queue's items in queue order, and their total."""
    where = "i.project_id = ? AND i.queue_id = ? AND (CAST(? AS VARCHAR) IS NULL OR i.status = ?)"
    args = [project_id, queue_id, status, status]
    row = cur.execute(
        f"SELECT count(*) FROM annotation_queue_items i WHERE {where}", args
    ).fetchone()
    rows = cur.execute(
        f"{_ITEM_SELECT} WHERE {where} ORDER BY i.position, i.id LIMIT ? OFFSET ?",
        [project_id, queue_id, *args, limit, (page - 1) * limit],
    ).fetchall()
    at = now()
    return [_item(r, at) for r in rows], int(row[0]) if row else 0


def get_item(
    cur: duckdb.DuckDBPyConnection, project_id: str, queue_id: str, item_id: str
) -> dict[str, Any] | None:
    rows = cur.execute(
        f"{_ITEM_SELECT} WHERE i.project_id = ? AND i.queue_id = ? AND i.id = ?",
        [project_id, queue_id, project_id, queue_id, item_id],
    ).fetchall()
    return _item(rows[0], now()) if rows else None


def _require_item(
    cur: duckdb.DuckDBPyConnection, project_id: str, queue_id: str, item_id: str
) -> dict[str, Any]:
    found = get_item(cur, project_id, queue_id, item_id)
    if found is None:
        raise NotFound(f"item {item_id[:100]!r} not found in this annotation queue")
    return found


def update_item(
    cur: duckdb.DuckDBPyConnection, project_id: str, queue_id: str, item_id: str, status: str
) -> dict[str, Any]:
    """Set an item's status by hand (COMPLETED sets ``completed_at``, PENDING clears it)."""
    _require_item(cur, project_id, queue_id, item_id)
    at = now()
    cur.execute(
        "UPDATE annotation_queue_items SET status = ?, completed_at = CASE WHEN ? = 'COMPLETED' "
        "THEN coalesce(completed_at, ?) END, updated_at = ? "
        "WHERE project_id = ? AND queue_id = ? AND id = ?",
        [status, status, at, at, project_id, queue_id, item_id],
    )
    return _require_item(cur, project_id, queue_id, item_id)


def delete_item(
    cur: duckdb.DuckDBPyConnection, project_id: str, queue_id: str, item_id: str
) -> bool:
    cur.execute(
        "DELETE FROM annotation_queue_annotations WHERE project_id = ? AND queue_id = ? "
        "AND item_id = ?",
        [project_id, queue_id, item_id],
    )
    rows = cur.execute(
        "DELETE FROM annotation_queue_items WHERE project_id = ? AND queue_id = ? AND id = ? "
        "RETURNING id",
        [project_id, queue_id, item_id],
    ).fetchall()
    return bool(rows)


def queue_objects(
    cur: duckdb.DuckDBPyConnection, project_id: str, object_type: str, object_id: str
) -> list[dict[str, Any]]:
    """The project's queues holding an object: ``[{queue_id, item_id, status}]``."""
    rows = cur.execute(
        "SELECT queue_id, id, status FROM annotation_queue_items WHERE project_id = ? "
        "AND object_type = ? AND object_id = ? ORDER BY created_at",
        [project_id, object_type, object_id],
    ).fetchall()
    return [{"queue_id": q, "item_id": i, "status": s} for q, i, s in rows]


# -- leases and annotations --------------------------------------------------------------------


def _needed(cur: duckdb.DuckDBPyConnection, project_id: str, queue_id: str) -> int:
    """The queue's annotations per item; 404 when the project has no such queue."""
    rows = cur.execute(
        "SELECT annotations_per_item FROM annotation_queues WHERE project_id = ? AND id = ?",
        [project_id, queue_id],
    ).fetchall()
    if not rows:
        raise NotFound(f"annotation queue {queue_id[:100]!r} not found in this project")
    return int(rows[0][0])


def _lease(
    cur: duckdb.DuckDBPyConnection, project_id: str, queue_id: str, item_id: str
) -> tuple[str | None, datetime | None]:
    rows = cur.execute(
        "SELECT lease_user_id, lease_until FROM annotation_queue_items "
        "WHERE project_id = ? AND queue_id = ? AND id = ?",
        [project_id, queue_id, item_id],
    ).fetchall()
    if not rows:
        raise NotFound(f"item {item_id[:100]!r} not found in this annotation queue")
    return rows[0][0], rows[0][1]


def claim(
    cur: duckdb.DuckDBPyConnection,
    project_id: str,
    queue_id: str,
    user_id: str,
    lease_s: float,
    item_id: str | None,
) -> dict[str, Any] | None:
    """Hold an item for ``user_id`` until ``lease_s`` from now (run under the admin lock).

    With ``item_id``: that item (completed ones too: they stay editable), unless another
    user holds an unexpired lease on it (None). Without: the item the user holds already,
    else the first item in queue order that is pending, that the user has not annotated,
    that has fewer than the queue's annotations per item, and that nobody else holds; None
    when there is none. A user holds one item of a queue at a time."""
    needed = _needed(cur, project_id, queue_id)
    at = now()
    if item_id is not None:
        holder, until = _lease(cur, project_id, queue_id, item_id)
        if holder not in (None, user_id) and until is not None and until > at:
            return None
        chosen = item_id
    else:
        rows = cur.execute(
            f"SELECT i.id FROM annotation_queue_items i LEFT JOIN {_COUNTS} a "
            "ON a.item_id = i.id WHERE i.project_id = ? AND i.queue_id = ? "
            "AND ((i.lease_user_id = ? AND i.lease_until > ?) OR (i.status = 'PENDING' "
            "AND (i.lease_until IS NULL OR i.lease_until <= ? OR i.lease_user_id = ?) "
            "AND coalesce(a.n, 0) < ? AND i.id NOT IN (SELECT item_id FROM "
            "annotation_queue_annotations WHERE project_id = ? AND queue_id = ? "
            "AND user_id = ?))) "
            "ORDER BY coalesce(i.lease_user_id = ? AND i.lease_until > ?, false) DESC, "
            "i.position, i.id LIMIT 1",
            [
                project_id, queue_id, project_id, queue_id, user_id, at, at, user_id, needed,
                project_id, queue_id, user_id, user_id, at,
            ],
        ).fetchall()  # fmt: skip
        if not rows:
            return None
        chosen = rows[0][0]
    held = at + timedelta(seconds=lease_s)
    cur.execute(
        "UPDATE annotation_queue_items SET lease_user_id = CASE WHEN id = ? THEN ? END, "
        "lease_until = CASE WHEN id = ? THEN ?::TIMESTAMP END "
        "WHERE project_id = ? AND queue_id = ? AND (id = ? OR lease_user_id = ?)",
        [chosen, user_id, chosen, held, project_id, queue_id, chosen, user_id],
    )  # and the user's other held item of the queue is let go
    return get_item(cur, project_id, queue_id, chosen)


def release(
    cur: duckdb.DuckDBPyConnection, project_id: str, queue_id: str, item_id: str, user_id: str
) -> bool:
    """Give up the user's lease on the item; False when the user did not hold it."""
    rows = cur.execute(
        "UPDATE annotation_queue_items SET lease_user_id = NULL, lease_until = NULL "
        "WHERE project_id = ? AND queue_id = ? AND id = ? AND lease_user_id = ? RETURNING id",
        [project_id, queue_id, item_id, user_id],
    ).fetchall()
    return bool(rows)


def complete(
    cur: duckdb.DuckDBPyConnection, project_id: str, queue_id: str, item_id: str, user_id: str
) -> dict[str, Any]:
    """Record that ``user_id`` annotated the item (once per user; again only moves the
    time), release the user's lease, and complete the item when it has the queue's number of
    distinct annotators. 409 when another user holds the item."""
    needed = _needed(cur, project_id, queue_id)
    at = now()
    holder, until = _lease(cur, project_id, queue_id, item_id)
    if holder not in (None, user_id) and until is not None and until > at:
        raise Conflict("another annotator holds this item; claim it after their lease ends")
    cur.execute(
        "DELETE FROM annotation_queue_annotations WHERE project_id = ? AND queue_id = ? "
        "AND item_id = ? AND user_id = ?",
        [project_id, queue_id, item_id, user_id],
    )
    cur.execute(
        "INSERT INTO annotation_queue_annotations VALUES (?, ?, ?, ?, ?)",
        [project_id, queue_id, item_id, user_id, at],
    )
    cur.execute(
        "UPDATE annotation_queue_items i SET updated_at = ?, "
        "lease_user_id = CASE WHEN i.lease_user_id = ? THEN NULL ELSE i.lease_user_id END, "
        "lease_until = CASE WHEN i.lease_user_id = ? THEN NULL ELSE i.lease_until END, "
        "status = CASE WHEN n.done >= ? THEN 'COMPLETED' ELSE i.status END, "
        "completed_at = CASE WHEN n.done >= ? THEN coalesce(i.completed_at, ?) "
        "ELSE i.completed_at END "
        "FROM (SELECT count(DISTINCT user_id) AS done FROM annotation_queue_annotations "
        "WHERE project_id = ? AND queue_id = ? AND item_id = ?) n "
        "WHERE i.project_id = ? AND i.queue_id = ? AND i.id = ?",
        [
            at, user_id, user_id, needed, needed, at, project_id, queue_id, item_id,
            project_id, queue_id, item_id,
        ],
    )  # fmt: skip
    return _require_item(cur, project_id, queue_id, item_id)


def annotators(
    cur: duckdb.DuckDBPyConnection, project_id: str, queue_id: str, item_id: str
) -> list[dict[str, Any]]:
    """Who completed the item, first first: ``[{user_id, completed_at}]``."""
    rows = cur.execute(
        "SELECT user_id, completed_at FROM annotation_queue_annotations WHERE project_id = ? "
        "AND queue_id = ? AND item_id = ? ORDER BY completed_at, user_id",
        [project_id, queue_id, item_id],
    ).fetchall()
    return [{"user_id": u, "completed_at": c} for u, c in rows]


def progress(
    cur: duckdb.DuckDBPyConnection, project_id: str, queue_id: str, user_id: str | None
) -> dict[str, int]:
    """``{total, completed, pending, mine}`` (mine: items ``user_id`` annotated)."""
    row = cur.execute(
        "SELECT count(*), count(*) FILTER (WHERE status = 'COMPLETED') "
        "FROM annotation_queue_items WHERE project_id = ? AND queue_id = ?",
        [project_id, queue_id],
    ).fetchone()
    total, completed = (int(row[0]), int(row[1])) if row else (0, 0)
    mine = 0
    if user_id is not None:
        got = cur.execute(
            "SELECT count(DISTINCT a.item_id) FROM annotation_queue_annotations a "
            "JOIN annotation_queue_items i ON i.project_id = a.project_id AND i.id = a.item_id "
            "WHERE a.project_id = ? AND a.queue_id = ? AND a.user_id = ?",
            [project_id, queue_id, user_id],
        ).fetchone()
        mine = int(got[0]) if got else 0
    return {"total": total, "completed": completed, "pending": total - completed, "mine": mine}


# -- assignments -------------------------------------------------------------------------------


def assign(cur: duckdb.DuckDBPyConnection, project_id: str, queue_id: str, user_id: str) -> bool:
    """Let a user annotate the queue; False when already assigned."""
    _require_queue(cur, project_id, queue_id)
    if user_id in assignments(cur, project_id, queue_id):
        return False
    cur.execute(
        "INSERT INTO annotation_queue_assignments VALUES (?, ?, ?, ?)",
        [project_id, queue_id, user_id, now()],
    )
    return True


def unassign(cur: duckdb.DuckDBPyConnection, project_id: str, queue_id: str, user_id: str) -> bool:
    rows = cur.execute(
        "DELETE FROM annotation_queue_assignments WHERE project_id = ? AND queue_id = ? "
        "AND user_id = ? RETURNING user_id",
        [project_id, queue_id, user_id],
    ).fetchall()
    return bool(rows)


def assignments(cur: duckdb.DuckDBPyConnection, project_id: str, queue_id: str) -> list[str]:
    """The user ids assigned to the queue, first assigned first."""
    rows = cur.execute(
        "SELECT user_id FROM annotation_queue_assignments WHERE project_id = ? "
        "AND queue_id = ? ORDER BY created_at, user_id",
        [project_id, queue_id],
    ).fetchall()
    return [r[0] for r in rows]


# -- filling: which traces a fill would add ----------------------------------------------------

# The columns a stratified sample may be taken by (a trace's first model for ``model``).
STRATA = {
    "model": "t.models[1]",
    "name": "t.name",
    "release": "t.release",
    "version": "t.version",
    "user_id": "t.user_id",
    "session_id": "t.session_id",
    "environment": "t.environment",
    "level": "t.level",
}
SAMPLES = ("newest", "random", "stratified", "lowest_scores")


def fill_traces(
    cur: duckdb.DuckDBPyConnection,
    project_id: str,
    queue_id: str,
    where: str,
    params: list[Any],
    limit: int,
    sample: str = "newest",
    seed: int = 0,
    by: str | None = None,
    score: str | None = None,
) -> tuple[list[str], int]:
    """The traces a fill would add, in the order they would be annotated, and how many
    candidates there are: traces matching ``where`` (compiled by :mod:`heron.query`, over
    alias ``t``) not in the queue yet. ``sample``: ``newest`` first; ``random`` (the same
    ``seed``, the same pick); ``stratified`` by a column of :data:`STRATA`, taking from
    each value in turn (random within it); ``lowest_scores``: the traces with the lowest
    average score ``score`` first (traces without it are not candidates)."""
    _require_queue(cur, project_id, queue_id)
    base = (
        f"FROM traces t WHERE t.project_id = ? AND {where} AND NOT EXISTS (SELECT 1 FROM "
        "annotation_queue_items x WHERE x.project_id = t.project_id AND x.queue_id = ? "
        "AND x.object_type = 'TRACE' AND x.object_id = t.id)"
    )
    args: list[Any] = [project_id, *params, queue_id]
    # md5, not hash: ClickHouse's fill shuffles alike (the same seed, the same pick)
    shuffle = "md5(t.id || ?::VARCHAR)"
    if sample == "lowest_scores":
        base += (
            " AND EXISTS (SELECT 1 FROM scores s WHERE s.project_id = t.project_id "
            "AND s.trace_id = t.id AND s.name = ? AND s.value IS NOT NULL)"
        )
        args.append(score)
    (total,) = cur.execute(f"SELECT count(*) {base}", args).fetchall()[0]
    if sample == "random":
        sql = f"SELECT t.id {base} ORDER BY {shuffle}, t.id LIMIT ?"
        values = [*args, seed, limit]
    elif sample == "stratified":
        sql = (
            f"SELECT id FROM (SELECT t.id, {shuffle} AS h, row_number() OVER (PARTITION BY "
            f"coalesce({STRATA[by or '']}::VARCHAR, '') ORDER BY {shuffle}, t.id) AS turn "
            f"{base}) ORDER BY turn, h, id LIMIT ?"
        )
        values = [seed, seed, *args, limit]
    elif sample == "lowest_scores":
        sql = (
            f"SELECT t.id {base} ORDER BY (SELECT avg(s.value) FROM scores s WHERE "
            "s.project_id = t.project_id AND s.trace_id = t.id AND s.name = ?), "
            "t.start_time DESC, t.id LIMIT ?"
        )
        values = [*args, score, limit]
    else:
        sql = f"SELECT t.id {base} ORDER BY t.start_time DESC, t.id LIMIT ?"
        values = [*args, limit]
    return [r[0] for r in cur.execute(sql, values).fetchall()], int(total)


def issue_traces(
    cur: duckdb.DuckDBPyConnection, project_id: str, queue_id: str, issue_id: str, limit: int
) -> tuple[list[str], int]:
    """The traces of an issue's signals not in the queue yet, latest signal first, and how
    many there are."""
    _require_queue(cur, project_id, queue_id)
    base = (
        "FROM signals g WHERE g.project_id = ? AND g.issue_id = ? AND NOT EXISTS (SELECT 1 "
        "FROM annotation_queue_items x WHERE x.project_id = g.project_id AND x.queue_id = ? "
        "AND x.object_type = 'TRACE' AND x.object_id = g.trace_id)"
    )
    args = [project_id, issue_id, queue_id]
    (total,) = cur.execute(f"SELECT count(DISTINCT g.trace_id) {base}", args).fetchall()[0]
    rows = cur.execute(
        f"SELECT g.trace_id {base} GROUP BY g.trace_id ORDER BY max(g.time) DESC, g.trace_id "
        "LIMIT ?",
        [*args, limit],
    ).fetchall()
    return [r[0] for r in rows], int(total)
