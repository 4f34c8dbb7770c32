"""A project's model price entries (JSON objects, :mod:`heron.cost`), oldest first.

Functions take a cursor, like :mod:`heron.store.projects`; portable SQL (DuckDB and
PostgreSQL)."""

from __future__ import annotations

from typing import Any

import duckdb
import orjson

from heron.errors import NotFound


def list_prices(cur: duckdb.DuckDBPyConnection, project_id: str) -> list[dict[str, Any]]:
    rows = cur.execute(
        "SELECT entry FROM model_prices WHERE project_id = ? ORDER BY created_at", [project_id]
    ).fetchall()
    return [orjson.loads(r[0]) for r in rows]


def put_price(cur: duckdb.DuckDBPyConnection, project_id: str, entry: dict[str, Any]) -> None:
    """Add the entry, or replace the one with its id."""
    cur.execute(
        "INSERT INTO model_prices VALUES (?, ?, ?, now()) ON CONFLICT (project_id, id) "
        "DO UPDATE SET entry = excluded.entry, created_at = excluded.created_at",
        [project_id, entry["id"], orjson.dumps(entry).decode()],
    )


def delete_price(cur: duckdb.DuckDBPyConnection, project_id: str, entry_id: str) -> None:
    gone = cur.execute(
        "DELETE FROM model_prices WHERE project_id = ? AND id = ? RETURNING id",
        [project_id, entry_id],
    ).fetchall()
    if not gone:
        raise NotFound(f"price entry {entry_id!r} not found in this project")
