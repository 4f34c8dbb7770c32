"""Saved views of the trace list: validation and the query string a view keeps. Storage is
the store's (``Store.*_saved_view``), scoped to a project: another project's view id is not
found."""

from __future__ import annotations

import secrets
from typing import Any
from urllib.parse import parse_qsl, urlencode

from heron.store import Store

MAX_NAME = 100
MAX_QUERY = 4000
# Parameters a saved query never keeps: the project is the view's own, a cursor is one page.
_DROPPED = frozenset({"project", "cursor", "offset"})


def clean_query(query: str) -> str:
    """A list query string as stored: without ``project`` and ``cursor``, re-encoded."""
    items = parse_qsl(query.lstrip("?"), keep_blank_values=False)
    return urlencode([(k, v) for k, v in items if k not in _DROPPED])


def list_views(store: Store, project_id: str) -> list[dict[str, Any]]:
    return store.list_saved_views(project_id)


def get_view(store: Store, project_id: str, view_id: str) -> dict[str, Any] | None:
    return store.get_saved_view(project_id, view_id)


def create_view(
    store: Store, project_id: str, name: str, query: str, created_by: str
) -> dict[str, Any]:
    """Store a view; ``ValueError`` says what is wrong with the name or the query."""
    name = name.strip()
    if not name:
        raise ValueError("A saved view needs a name.")
    if len(name) > MAX_NAME:
        raise ValueError(f"A view's name is at most {MAX_NAME} characters.")
    if len(query) > MAX_QUERY:
        raise ValueError(f"A view's query is at most {MAX_QUERY} characters.")
    view_id = secrets.token_hex(8)
    cleaned = clean_query(query)
    store.create_saved_view(project_id, view_id, name, cleaned, created_by)
    return {"id": view_id, "name": name, "query": cleaned, "created_by": created_by}


def delete_view(store: Store, project_id: str, view_id: str) -> bool:
    """Delete a view of this project; False when there is none with that id."""
    return store.delete_saved_view(project_id, view_id)
