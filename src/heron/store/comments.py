"""Comments on traces, observations and sessions (control data, Langfuse's shape).

Functions taking a cursor, every query parameterised and scoped to one project. A comment
names its object (``object_type``, ``object_id``); ``trace_id`` is the trace it belongs to
(the object itself for a TRACE, the observation's trace for an OBSERVATION, none for a
SESSION), so notes are read per trace and removed with their trace (:mod:`.deletion`).
Validation of what a caller sends is :mod:`heron.server.comments`'s; here the object is
checked to exist in the project, in the transaction that stores the comment.
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import duckdb

from heron.errors import BadRequest, NotFound
from heron.store.reads import iso

OBJECT_TYPES = ("TRACE", "OBSERVATION", "SESSION", "PROMPT")
COMMENTABLE = ("TRACE", "OBSERVATION", "SESSION")  # heron keeps no prompts (yet)

_COLUMNS = (
    "id, project_id, object_type, object_id, trace_id, content, author_user_id, created_at, "
    "updated_at"
)


@dataclass(frozen=True, slots=True)
class CommentFilter:
    """What a list of comments is narrowed to (every field optional, all must hold)."""

    object_type: str | None = None
    object_id: str | None = None
    author_user_id: str | None = None
    trace_id: str | None = None


def _now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


def _item(row: tuple[Any, ...]) -> dict[str, Any]:
    cid, pid, otype, oid, trace_id, content, author, created, updated = row
    return {
        "id": cid,
        "projectId": pid,
        "objectType": otype,
        "objectId": oid,
        "traceId": trace_id,  # heron's addition: the trace the object belongs to
        "content": content,
        "authorUserId": author,
        "createdAt": iso(created),
        "updatedAt": iso(updated),
    }


def object_trace(
    cur: duckdb.DuckDBPyConnection,
    project_id: str,
    object_type: str,
    object_id: str,
    trace_hint: str | None = None,
) -> str | None:
    """The trace the object belongs to (``None`` for a session); a 404 naming the object
    when the project has no such object. ``trace_hint``, an observation's trace when the
    caller knows it, turns the observation look-up into an index look-up."""
    if object_type == "TRACE":
        found = cur.execute(
            "SELECT project_id FROM traces WHERE id = ?", [object_id]
        ).fetchall()  # the lone equality uses the index; the project is checked on the rows
        if any(pid == project_id for (pid,) in found):
            return object_id
        raise NotFound(f"objectId: trace {object_id!r} not found in this project")
    if object_type == "OBSERVATION":
        sql = "SELECT trace_id FROM observations WHERE project_id = ? AND id = ?"
        params = [project_id, object_id]
        if trace_hint:
            sql += " AND trace_id = ?"
            params.append(trace_hint)
        rows = cur.execute(sql + " LIMIT 1", params).fetchall()
        if rows:
            return str(rows[0][0])
        raise NotFound(f"objectId: observation {object_id!r} not found in this project")
    if object_type == "SESSION":
        rows = cur.execute(
            "SELECT 1 FROM traces WHERE project_id = ? AND session_id = ? LIMIT 1",
            [project_id, object_id],
        ).fetchall()
        if rows:
            return None
        raise NotFound(f"objectId: session {object_id!r} not found in this project")
    raise BadRequest(f"objectType: heron comments on {', '.join(COMMENTABLE)}, not {object_type!r}")


def create_comment(
    cur: duckdb.DuckDBPyConnection,
    project_id: str,
    object_type: str,
    object_id: str,
    content: str,
    author_user_id: str | None,
    trace_hint: str | None = None,
) -> dict[str, Any]:
    """Store a comment on an object of the project (checked to exist); returns it."""
    trace_id = object_trace(cur, project_id, object_type, object_id, trace_hint)
    comment_id = secrets.token_hex(12)
    put_comment(cur, project_id, comment_id, (object_type, object_id, trace_id), content,
                author_user_id)  # fmt: skip
    found = get_comment(cur, project_id, comment_id)
    assert found is not None
    return found


def put_comment(
    cur: duckdb.DuckDBPyConnection,
    project_id: str,
    comment_id: str,
    target: tuple[str, str, str | None],
    content: str,
    author_user_id: str | None,
) -> None:
    """Create comment ``comment_id`` on ``target`` (object type, object id, trace id), or
    replace its content when it exists (its ``created_at`` kept): the annotator's note has a
    deterministic id, so a re-submission edits it."""
    now = _now()
    updated = cur.execute(
        "UPDATE comments SET content = ?, updated_at = ? WHERE project_id = ? AND id = ? "
        "RETURNING id",
        [content, now, project_id, comment_id],
    ).fetchall()
    if not updated:
        object_type, object_id, trace_id = target
        cur.execute(
            f"INSERT INTO comments ({_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [comment_id, project_id, object_type, object_id, trace_id, content, author_user_id,
             now, now],
        )  # fmt: skip


def list_comments(
    cur: duckdb.DuckDBPyConnection, project_id: str, f: CommentFilter, page: int, limit: int
) -> tuple[list[dict[str, Any]], int]:
    """One page (from 1) of the project's comments matching ``f``, newest first, and how
    many match in all."""
    where, params = ["project_id = ?"], [project_id]
    for column, value in (
        ("object_type", f.object_type),
        ("object_id", f.object_id),
        ("author_user_id", f.author_user_id),
        ("trace_id", f.trace_id),
    ):
        if value is not None:
            where.append(f"{column} = ?")
            params.append(value)
    cond = " AND ".join(where)
    row = cur.execute(f"SELECT count(*) FROM comments WHERE {cond}", params).fetchone()
    rows = cur.execute(
        f"SELECT {_COLUMNS} FROM comments WHERE {cond} "
        "ORDER BY created_at DESC, id DESC LIMIT ? OFFSET ?",
        [*params, limit, (page - 1) * limit],
    ).fetchall()
    return [_item(r) for r in rows], int(row[0]) if row else 0


def get_comment(
    cur: duckdb.DuckDBPyConnection, project_id: str, comment_id: str
) -> dict[str, Any] | None:
    rows = cur.execute(
        f"SELECT {_COLUMNS} FROM comments WHERE id = ?", [comment_id]
    ).fetchall()  # the id's index; the project is checked on the row
    found = [r for r in rows if r[1] == project_id]
    return _item(found[0]) if found else None


def update_comment(
    cur: duckdb.DuckDBPyConnection, project_id: str, comment_id: str, content: str
) -> dict[str, Any] | None:
    """Replace a comment's content; ``None`` when the project has no such comment."""
    cur.execute(
        "UPDATE comments SET content = ?, updated_at = ? WHERE project_id = ? AND id = ?",
        [content, _now(), project_id, comment_id],
    )
    return get_comment(cur, project_id, comment_id)


def delete_comment(cur: duckdb.DuckDBPyConnection, project_id: str, comment_id: str) -> bool:
    rows = cur.execute(
        "DELETE FROM comments WHERE project_id = ? AND id = ? RETURNING id",
        [project_id, comment_id],
    ).fetchall()
    return bool(rows)


def delete_session_orphans(
    con: duckdb.DuckDBPyConnection, project_id: str, session_ids: Sequence[str] | None = None
) -> int:
    """Delete SESSION comments whose session has no trace left (of ``session_ids``, or of
    every session of the project): a session is its traces, so it went with the last one."""
    only = ""
    params: list[Any] = [project_id]
    if session_ids is not None:
        if not session_ids:
            return 0
        only = "AND object_id IN (SELECT unnest(?::VARCHAR[])) "
        params.append(list(session_ids))
    row = con.execute(
        "DELETE FROM comments WHERE project_id = ? AND object_type = 'SESSION' "
        f"{only}AND object_id NOT IN (SELECT session_id FROM traces "
        "WHERE project_id = ? AND session_id IS NOT NULL)",
        [*params, project_id],
    ).fetchone()
    return int(row[0]) if row else 0
