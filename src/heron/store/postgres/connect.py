"""Connections to PostgreSQL: a pool from a URL, every session in UTC with JSON as text.

heron's timestamps are naive UTC (``TIMESTAMP`` columns, like DuckDB's); a session in UTC
makes ``now()`` and every conversion agree with them whatever the server's time zone.
JSON and JSONB values are read back as their text, as DuckDB returns its JSON columns, so
the topic modules parse them the same way on both backends.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import psycopg
from psycopg.adapt import Loader
from psycopg.types.string import TextLoader
from psycopg_pool import ConnectionPool

DEFAULT_POOL_SIZE = 10


class NumberLoader(Loader):
    """``numeric`` as DuckDB gives its results: ``sum`` of integers an int, ``avg`` a float
    (PostgreSQL returns both as numeric; heron's tables have no numeric column)."""

    def load(self, data: Any) -> int | float:
        text = bytes(data).decode()
        if "." in text or "e" in text.lower() or text in ("NaN", "Infinity", "-Infinity"):
            return float(Decimal(text))
        return int(text)


def configure(conn: psycopg.Connection) -> None:
    """What every connection needs: JSON loaded as text, numeric as int or float (the
    session's time zone is set by the connection's options)."""
    for name in ("json", "jsonb"):
        conn.adapters.register_loader(name, TextLoader)
    conn.adapters.register_loader("numeric", NumberLoader)


def connect(url: str) -> psycopg.Connection:
    """One connection outside the pool (migrations, tests), configured like the pool's."""
    conn = psycopg.connect(url, options="-c timezone=UTC")
    configure(conn)
    return conn


def open_pool(url: str, *, max_size: int = DEFAULT_POOL_SIZE) -> ConnectionPool:
    """A pool of connections to ``url`` (transactions, not autocommit: a ``with
    pool.connection()`` block commits at its end and rolls back on an exception)."""
    pool = ConnectionPool(
        url,
        min_size=1,
        max_size=max_size,
        kwargs={"options": "-c timezone=UTC"},
        configure=configure,
        open=False,
    )
    pool.open(wait=True, timeout=30)
    return pool
