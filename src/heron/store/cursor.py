"""Store cursors that leave no query result open.

DuckDB's Python client streams results: a result read with ``fetchone()`` stays open, and
with it its transaction, until the cursor runs its next query. While any transaction that
old is open, DuckDB refuses to checkpoint, automatic checkpoints included, so the
write-ahead log grows until shutdown (restarts then replay all of it, and a damaged log
costs everything since start). A request thread that goes idle after a one-row read would do
exactly that; so every store cursor reads a whole result in ``fetchone()``.
"""

from __future__ import annotations

from typing import Any

import duckdb


class ReadCursor:
    """A DuckDB cursor whose ``fetchone()`` closes the result (meant for one-row queries)."""

    __slots__ = ("_cur",)

    def __init__(self, cur: duckdb.DuckDBPyConnection) -> None:
        self._cur = cur

    def execute(self, *args: Any, **kwargs: Any) -> ReadCursor:
        self._cur.execute(*args, **kwargs)
        return self

    def fetchone(self) -> tuple[Any, ...] | None:
        rows = self._cur.fetchall()
        return rows[0] if rows else None

    def __getattr__(self, name: str) -> Any:
        return getattr(self._cur, name)
