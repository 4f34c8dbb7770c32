"""Comments on traces, observations and sessions on ClickHouse, shaped as
:mod:`heron.store.comments` (Langfuse's shape, built by the same ``_item``).

Comments are events: they hang off traces (``trace_id``) and are read with them, so they
live beside them (migration 5: ``comments``, a ReplacingMergeTree keyed by
``(project_id, id)``). An edit is a newer version of the row (its ``created_at`` kept), a
deletion a newer version with ``is_deleted = 1``; every read says ``FINAL`` and leaves
deleted rows out, so a deleted comment is never read again.
"""

from __future__ import annotations

import secrets
import threading
from collections.abc import Callable
from typing import Any

import pyarrow as pa
from clickhouse_connect.driver.client import Client

from heron.errors import BadRequest, NotFound
from heron.query.clickhouse import Params
from heron.store.arrow import TS
from heron.store.clickhouse.reads import utc
from heron.store.clickhouse.writes import above
from heron.store.comments import COMMENTABLE, CommentFilter, _item

_US = "toUnixTimestamp64Micro"
# The project's live comments: the latest version of each, deleted ones left out.
LIVE = "(SELECT * FROM comments FINAL WHERE project_id = {project:String} AND is_deleted = 0)"
_COLUMNS = (
    "id, project_id, object_type, object_id, trace_id, content, author_user_id, "
    f"{_US}(created_at), {_US}(updated_at)"
)


def _row(row: tuple[Any, ...]) -> dict[str, Any]:
    values = list(row)
    values[7], values[8] = utc(values[7]), utc(values[8])
    return _item(tuple(values))


def object_trace(
    client: Client,
    project_id: str,
    object_type: str,
    object_id: str,
    trace_hint: str | None = None,
) -> str | None:
    """The trace the object belongs to (None for a session); a 404 naming the object when the
    project has no such object (as :func:`heron.store.comments.object_trace`)."""
    params = {"project": project_id, "id": object_id, "hint": trace_hint or ""}
    if object_type == "TRACE":
        sql = "SELECT id FROM traces FINAL WHERE project_id = {project:String} AND id = {id:String}"
    elif object_type == "OBSERVATION":
        sql = (
            "SELECT trace_id FROM observations FINAL WHERE project_id = {project:String} "
            "AND id = {id:String}" + (" AND trace_id = {hint:String}" if trace_hint else "")
        )
    elif object_type == "SESSION":
        sql = (
            "SELECT NULL FROM traces FINAL WHERE project_id = {project:String} "
            "AND session_id = {id:String}"
        )
    else:
        raise BadRequest(
            f"objectType: heron comments on {', '.join(COMMENTABLE)}, not {object_type!r}"
        )
    rows = client.query(sql + " LIMIT 1", parameters=params).result_rows
    if not rows:
        raise NotFound(f"objectId: {object_type.lower()} {object_id!r} not found in this project")
    return rows[0][0]


def _stored(client: Client, project_id: str, comment_id: str) -> tuple[Any, ...] | None:
    """The latest version of a comment, deleted or not: (created µs, row version, deleted,
    object type, object id, trace id, author)."""
    rows = client.query(
        f"SELECT {_US}(created_at), row_version, is_deleted, object_type, object_id, trace_id, "
        "author_user_id FROM comments FINAL WHERE project_id = {project:String} "
        "AND id = {id:String}",
        parameters={"project": project_id, "id": comment_id},
    ).result_rows
    return rows[0] if rows else None


def _insert(client: Client, row: dict[str, Any]) -> None:
    types = {"created_at": TS, "updated_at": TS, "is_deleted": pa.uint8(),
             "row_version": pa.uint64()}  # fmt: skip
    client.insert_arrow(
        "comments", pa.table({k: pa.array([v], types.get(k, pa.string())) for k, v in row.items()})
    )


def put_comment(
    client: Client,
    project_id: str,
    comment_id: str,
    target: tuple[str, str, str | None],
    content: str,
    author_user_id: str | None,
    version: int,
    deleted: bool = False,
) -> None:
    """Create comment ``comment_id`` on ``target`` (object type, object id, trace id), or
    write a new version of the live one (its object, author and ``created_at`` kept) with
    ``content``, marked deleted when ``deleted``. ``version`` is the writer's clock in µs."""
    stored = _stored(client, project_id, comment_id)
    live = stored is not None and not stored[2]
    object_type, object_id, trace_id = stored[3:6] if live else target  # type: ignore[index]
    row = {
        "project_id": project_id,
        "id": comment_id,
        "object_type": object_type,
        "object_id": object_id,
        "trace_id": trace_id,
        "content": content,
        "author_user_id": stored[6] if live else author_user_id,  # type: ignore[index]
        "created_at": stored[0] if live else version,  # type: ignore[index]
        "updated_at": version,
        "is_deleted": int(deleted),
        "row_version": above(version, stored[1] if stored else None),
    }
    _insert(client, row)


def list_comments(
    client: Client, project_id: str, f: CommentFilter | None, page: int, limit: int
) -> tuple[list[dict[str, Any]], int]:
    """One page (from 1) of the project's live comments matching ``f``, newest first, and
    how many match in all."""
    params = Params(project_id)
    where = ["1"]
    f = f or CommentFilter()
    for column, value in (
        ("object_type", f.object_type),
        ("object_id", f.object_id),
        ("author_user_id", f.author_user_id),
        ("trace_id", f.trace_id),
    ):
        if value is not None:
            where.append(f"{column} = {params.add(value, 'String')}")
    cond = " AND ".join(where)
    ((total,),) = client.query(
        f"SELECT count() FROM {LIVE} WHERE {cond}", parameters=params.values
    ).result_rows
    rows = client.query(
        f"SELECT {_COLUMNS} FROM {LIVE} WHERE {cond} ORDER BY created_at DESC, id DESC "
        f"LIMIT {int(limit)} OFFSET {int((page - 1) * limit)}",
        parameters=params.values,
    ).result_rows
    return [_row(r) for r in rows], int(total)


def get_comment(client: Client, project_id: str, comment_id: str) -> dict[str, Any] | None:
    rows = client.query(
        f"SELECT {_COLUMNS} FROM {LIVE} WHERE id = {{id:String}}",
        parameters={"project": project_id, "id": comment_id},
    ).result_rows
    return _row(rows[0]) if rows else None


class Comments:
    """Comments (a part of ``ClickHouseEvents``: ``self.client``, its write lock and clock).

    A write reads the stored version and inserts a newer one under the events' write lock;
    two replicas editing one comment at the same instant keep one whole version."""

    client: Client
    _lock: threading.Lock
    _version: Callable[[], int]

    def create_comment(
        self,
        project_id: str,
        object_type: str,
        object_id: str,
        content: str,
        author_user_id: str | None,
        trace_hint: str | None = None,
    ) -> dict[str, Any]:
        """Store a comment on a trace, observation or session of the project (404 naming the
        object when it has none); ``trace_hint`` is an observation's trace when known."""
        trace_id = object_trace(self.client, project_id, object_type, object_id, trace_hint)
        comment_id = secrets.token_hex(12)
        self.put_comment(
            project_id, comment_id, (object_type, object_id, trace_id), content, author_user_id
        )
        found = get_comment(self.client, project_id, comment_id)
        assert found is not None
        return found

    def put_comment(
        self,
        project_id: str,
        comment_id: str,
        target: tuple[str, str, str | None],
        content: str,
        author_user_id: str | None,
    ) -> None:
        """Create or edit comment ``comment_id`` (see :func:`put_comment`): the annotator's
        note has a deterministic id, so a re-submission edits it."""
        with self._lock:
            put_comment(
                self.client, project_id, comment_id, target, content, author_user_id,
                self._version(),
            )  # fmt: skip

    def list_comments(
        self, project_id: str, f: CommentFilter, page: int, limit: int
    ) -> tuple[list[dict[str, Any]], int]:
        """One page of the project's comments matching ``f``, newest first, and the total."""
        return list_comments(self.client, project_id, f, page, limit)

    def get_comment(self, project_id: str, comment_id: str) -> dict[str, Any] | None:
        return get_comment(self.client, project_id, comment_id)

    def update_comment(
        self, project_id: str, comment_id: str, content: str
    ) -> dict[str, Any] | None:
        """Replace a comment's content; None when the project has no such comment."""
        with self._lock:
            stored = _stored(self.client, project_id, comment_id)
            if stored is None or stored[2]:
                return None
            put_comment(
                self.client, project_id, comment_id, stored[3:6], content, None, self._version()
            )
        return get_comment(self.client, project_id, comment_id)

    def delete_comment(self, project_id: str, comment_id: str) -> bool:
        """Delete a comment (a newer version marked deleted); False when there is none."""
        with self._lock:
            stored = _stored(self.client, project_id, comment_id)
            if stored is None or stored[2]:
                return False
            put_comment(
                self.client, project_id, comment_id, stored[3:6], "", None, self._version(),
                deleted=True,
            )  # fmt: skip
            return True

    def annotation_note(self, project_id: str, note_id: str) -> str | None:
        found = get_comment(self.client, project_id, note_id)
        return found["content"] if found else None

    def delete_annotation_note(self, project_id: str, note_id: str) -> None:
        self.delete_comment(project_id, note_id)
