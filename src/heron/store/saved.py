"""Saved views of the trace list, and the values the filter bar suggests (functions taking
a cursor, like :mod:`heron.store.reads`; every one scoped to a project)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from typing import Any

import duckdb

from heron.store.reads import iso

RECENT_TRACES = 1000
MAX_SUGGESTIONS = 200
SUGGESTED_COLUMNS = ("name", "user_id", "model", "tags", "release", "version", "environment")


def _view(row: tuple[Any, ...]) -> dict[str, Any]:
    view_id, name, query, created_by, created_at = row
    return {"id": view_id, "name": name, "query": query, "created_by": created_by,
            "created_at": iso(created_at)}  # fmt: skip


def list_views(cur: duckdb.DuckDBPyConnection, project_id: str) -> list[dict[str, Any]]:
    rows = cur.execute(
        "SELECT id, name, query, created_by, created_at FROM saved_views "
        "WHERE project_id = ? ORDER BY lower(name), created_at",
        [project_id],
    ).fetchall()
    return [_view(r) for r in rows]


def get_view(
    cur: duckdb.DuckDBPyConnection, project_id: str, view_id: str
) -> dict[str, Any] | None:
    row = cur.execute(
        "SELECT id, name, query, created_by, created_at FROM saved_views "
        "WHERE project_id = ? AND id = ?",
        [project_id, view_id],
    ).fetchone()
    return None if row is None else _view(row)


def create_view(
    cur: duckdb.DuckDBPyConnection,
    project_id: str,
    view_id: str,
    name: str,
    query: str,
    created_by: str,
) -> None:
    cur.execute(
        "INSERT INTO saved_views VALUES (?, ?, ?, ?, ?, ?)",
        [project_id, view_id, name, query, created_by, datetime.now(UTC).replace(tzinfo=None)],
    )


def delete_view(cur: duckdb.DuckDBPyConnection, project_id: str, view_id: str) -> bool:
    found = cur.execute(
        "SELECT count(*) FROM saved_views WHERE project_id = ? AND id = ?",
        [project_id, view_id],
    ).fetchone()
    if not found or not found[0]:
        return False
    cur.execute("DELETE FROM saved_views WHERE project_id = ? AND id = ?", [project_id, view_id])
    return True


def recent_values(cur: duckdb.DuckDBPyConnection, project_id: str) -> dict[str, list[str]]:
    """Filter column -> its distinct values among the project's newest traces (sorted).

    A narrow query of its own (seven columns) rather than the list query: about 3 ms at a
    million traces instead of about 60."""
    rows = cur.execute(
        "SELECT name, user_id, models, tags, release, version, environment FROM traces "
        "WHERE project_id = ? "
        "ORDER BY start_time DESC LIMIT ?",
        [project_id, RECENT_TRACES],
    ).fetchall()
    return suggestions(rows)


def suggestions(rows: Iterable[Sequence[Any]]) -> dict[str, list[str]]:
    """Filter column -> its distinct values, from (name, user_id, models, tags, release,
    version, environment) rows of traces (newest first)."""
    found: dict[str, set[str]] = {c: set() for c in SUGGESTED_COLUMNS}
    for name, user_id, models, tags, release, version, environment in rows:
        for column, value in (
            ("name", name),
            ("user_id", user_id),
            ("release", release),
            ("version", version),
            ("environment", environment),
        ):
            if value:
                found[column].add(value)
        found["model"].update(m for m in models or () if m)
        found["tags"].update(t for t in tags or () if t)
    return {c: sorted(values)[:MAX_SUGGESTIONS] for c, values in found.items()}
