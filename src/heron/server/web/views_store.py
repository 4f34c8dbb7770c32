"""Saved views of the lists (traces, observations): validation and the query string a view
keeps. Storage is the store's (``Store.*_saved_view``), scoped to a project: another project's
view id is not found. A view of a list other than ``/traces`` keeps ``list=<name>`` first in
its query, so each list offers only its own views (trace views, older, carry no marker)."""

from __future__ import annotations

import secrets
from typing import Any
from urllib.parse import parse_qsl, urlencode

from heron.store import Store

MAX_NAME = 100
MAX_QUERY = 4000
# Parameters a saved query never keeps: the project is the view's own, a cursor is one page.
_DROPPED = frozenset({"project", "cursor", "offset", "list"})
TRACES = "/traces"


def _marker(path: str) -> list[tuple[str, str]]:
    return [] if path == TRACES else [("list", path.strip("/"))]


def clean_query(query: str, path: str = TRACES) -> str:
    """A list query string as stored: without ``project``, ``cursor`` and ``offset``, with
    the list's marker, re-encoded."""
    items = parse_qsl(query.lstrip("?"), keep_blank_values=False)
    return urlencode(_marker(path) + [(k, v) for k, v in items if k not in _DROPPED])


def _list_of(query: str) -> str:
    for k, v in parse_qsl(query):
        if k == "list":
            return "/" + v
    return TRACES


def list_views(store: Store, project_id: str, path: str = TRACES) -> list[dict[str, Any]]:
    """The project's saved views of this list."""
    return [v for v in store.list_saved_views(project_id) if _list_of(v["query"]) == path]


def get_view(
    store: Store, project_id: str, view_id: str, path: str = TRACES
) -> dict[str, Any] | None:
    """A saved view of this list (a view of another list is not found here)."""
    view = store.get_saved_view(project_id, view_id)
    return view if view is not None and _list_of(view["query"]) == path else None


def create_view(
    store: Store, project_id: str, name: str, query: str, created_by: str, path: str = TRACES
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
    cleaned = clean_query(query, path)
    store.create_saved_view(project_id, view_id, name, cleaned, created_by)
    return {"id": view_id, "name": name, "query": cleaned, "created_by": created_by}


def delete_view(store: Store, project_id: str, view_id: str, path: str = TRACES) -> bool:
    """Delete a view of this project and list; False when there is none with that id."""
    if get_view(store, project_id, view_id, path) is None:
        return False
    return store.delete_saved_view(project_id, view_id)
