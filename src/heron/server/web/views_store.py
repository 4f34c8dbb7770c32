"""Saved views of the trace list: a name and the list's query string, per project.

Interim storage: the ``saved_views`` table is created lazily here (``CREATE TABLE IF NOT
EXISTS``) through the embedded store's admin cursor, until it is folded into the store's
migrations. Every function is scoped to a project: a view id of another project is not found.
"""

from __future__ import annotations

import secrets
import threading
import weakref
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qsl, urlencode

MAX_NAME = 100
MAX_QUERY = 4000
# Parameters a saved query never keeps: the project is the view's own, a cursor is one page.
_DROPPED = frozenset({"project", "cursor"})

_CREATE = (
    "CREATE TABLE IF NOT EXISTS saved_views (project_id VARCHAR, id VARCHAR, name VARCHAR, "
    "query VARCHAR, created_by VARCHAR, created_at TIMESTAMP)"
)
_ready: weakref.WeakSet[Any] = weakref.WeakSet()
_ready_lock = threading.Lock()


def _ensure(store: Any) -> None:
    if store in _ready:
        return
    with _ready_lock:
        if store in _ready:
            return
        with store._admin() as cur:
            cur.execute(_CREATE)
        _ready.add(store)


def clean_query(query: str) -> str:
    """A list query string as stored: without ``project`` and ``cursor``, re-encoded."""
    items = parse_qsl(query.lstrip("?"), keep_blank_values=False)
    return urlencode([(k, v) for k, v in items if k not in _DROPPED])


def _row(row: tuple[Any, ...]) -> dict[str, Any]:
    view_id, name, query, created_by, created_at = row
    return {
        "id": view_id,
        "name": name,
        "query": query,
        "created_by": created_by,
        "created_at": created_at.isoformat() + "Z" if created_at else None,
    }


def list_views(store: Any, project_id: str) -> list[dict[str, Any]]:
    _ensure(store)
    rows = (
        store.cursor()
        .execute(
            "SELECT id, name, query, created_by, created_at FROM saved_views "
            "WHERE project_id = ? ORDER BY lower(name), created_at",
            [project_id],
        )
        .fetchall()
    )
    return [_row(r) for r in rows]


def get_view(store: Any, project_id: str, view_id: str) -> dict[str, Any] | None:
    _ensure(store)
    row = (
        store.cursor()
        .execute(
            "SELECT id, name, query, created_by, created_at FROM saved_views "
            "WHERE project_id = ? AND id = ?",
            [project_id, view_id],
        )
        .fetchone()
    )
    return None if row is None else _row(row)


def create_view(
    store: Any, project_id: str, name: str, query: str, created_by: str
) -> dict[str, Any]:
    """Store a view; ``ValueError`` says what is wrong with the name or the query."""
    name = name.strip()
    if not name:
        raise ValueError("A saved view needs a name.")
    if len(name) > MAX_NAME:
        raise ValueError(f"A view's name is at most {MAX_NAME} characters.")
    if len(query) > MAX_QUERY:
        raise ValueError(f"A view's query is at most {MAX_QUERY} characters.")
    _ensure(store)
    view_id = secrets.token_hex(8)
    cleaned = clean_query(query)
    now = datetime.now(UTC).replace(tzinfo=None)
    with store._admin() as cur:
        cur.execute(
            "INSERT INTO saved_views VALUES (?, ?, ?, ?, ?, ?)",
            [project_id, view_id, name, cleaned, created_by, now],
        )
    return {"id": view_id, "name": name, "query": cleaned, "created_by": created_by}


def delete_view(store: Any, project_id: str, view_id: str) -> bool:
    """Delete a view of this project; False when there is none with that id."""
    _ensure(store)
    with store._admin() as cur:
        found = cur.execute(
            "SELECT count(*) FROM saved_views WHERE project_id = ? AND id = ?",
            [project_id, view_id],
        ).fetchone()
        if not found or not found[0]:
            return False
        cur.execute(
            "DELETE FROM saved_views WHERE project_id = ? AND id = ?", [project_id, view_id]
        )
    return True
