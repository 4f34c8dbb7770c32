"""A DuckDB-shaped cursor over a psycopg one: the topic modules' SQL runs on both.

The topic modules (:mod:`heron.store.users`, :mod:`heron.store.members`, ...) take a DuckDB
cursor and call ``execute(sql, params).fetchone()``, ``fetchall``, ``fetchmany``,
``executemany``, ``description`` and ``rowcount``. :class:`PgCursor` answers the same calls
on PostgreSQL:

- ``?`` placeholders become psycopg's ``%s`` and a literal ``%`` becomes ``%%``; a ``?``
  inside a string literal, a quoted name or a comment stays as it is;
- ``execute`` returns the cursor, so calls chain as on DuckDB;
- an INSERT, UPDATE or DELETE without RETURNING reads back one row, the number of rows it
  changed, as DuckDB's do.

What the adapter cannot translate (DuckDB-only functions and syntax, Arrow tables registered
as views) fails on PostgreSQL with its error; the topic modules use portable SQL instead.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from functools import lru_cache
from typing import Any

import psycopg

from heron.errors import BadRequest


@lru_cache(maxsize=4096)
def translate(sql: str) -> str:
    """``sql`` with DuckDB's ``?`` placeholders as ``%s`` and every ``%`` doubled."""
    out: list[str] = []
    i, n = 0, len(sql)
    while i < n:
        c = sql[i]
        if c in "'\"":  # a string literal or a quoted name; a doubled quote escapes one
            j = i + 1
            while j < n:
                if sql[j] == c:
                    if j + 1 < n and sql[j + 1] == c:
                        j += 2
                        continue
                    break
                j += 1
            out.append(sql[i : j + 1].replace("%", "%%"))
            i = j + 1
        elif sql.startswith("--", i):
            j = sql.find("\n", i)
            j = n if j < 0 else j
            out.append(sql[i:j].replace("%", "%%"))
            i = j
        elif sql.startswith("/*", i):
            j = sql.find("*/", i + 2)
            j = n if j < 0 else j + 2
            out.append(sql[i:j].replace("%", "%%"))
            i = j
        elif c == "?":
            out.append("%s")
            i += 1
        elif c == "%":
            out.append("%%")
            i += 1
        else:
            out.append(c)
            i += 1
    return "".join(out)


@contextmanager
def _nul_refused() -> Iterator[None]:
    """PostgreSQL stores no NUL character in text (DuckDB does): a 400 naming it, not a 500."""
    try:
        yield
    except (psycopg.DataError, psycopg.errors.CharacterNotInRepertoire) as e:
        if "NUL" not in str(e) and "0x00" not in str(e):
            raise
        raise BadRequest(
            "text contains a NUL character (\\u0000), which this store cannot keep"
        ) from None


class PgCursor:
    """A psycopg cursor answering the DuckDB cursor calls the topic modules make."""

    __slots__ = ("_count_row", "_cur")

    def __init__(self, cur: psycopg.Cursor[Any]) -> None:
        self._cur = cur
        self._count_row: list[tuple[int]] | None = None

    def execute(self, sql: str, params: Sequence[Any] | None = None) -> PgCursor:
        with _nul_refused():
            self._cur.execute(translate(sql), list(params or ()))
        self._after()
        return self

    def executemany(self, sql: str, params: Iterable[Sequence[Any]]) -> PgCursor:
        with _nul_refused():
            self._cur.executemany(translate(sql), [list(p) for p in params])
        self._count_row = None
        return self

    def _after(self) -> None:
        """A statement without a result reads back its row count, as on DuckDB."""
        has_rows = self._cur.pgresult is not None and self._cur.description is not None
        self._count_row = None if has_rows else [(max(self._cur.rowcount, 0),)]

    def fetchone(self) -> tuple[Any, ...] | None:
        if self._count_row is not None:
            return self._count_row.pop(0) if self._count_row else None
        return self._cur.fetchone()

    def fetchall(self) -> list[tuple[Any, ...]]:
        if self._count_row is not None:
            rows, self._count_row = self._count_row, []
            return rows
        return self._cur.fetchall()

    def fetchmany(self, size: int) -> list[tuple[Any, ...]]:
        if self._count_row is not None:
            rows, self._count_row = self._count_row[:size], self._count_row[size:]
            return rows
        return self._cur.fetchmany(size)

    @property
    def description(self) -> Any:
        return None if self._count_row is not None else self._cur.description

    @property
    def rowcount(self) -> int:
        return self._cur.rowcount

    def close(self) -> None:
        self._cur.close()
