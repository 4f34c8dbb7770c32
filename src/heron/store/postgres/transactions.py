"""Transactions on the pool: what every topic of :class:`~heron.store.postgres.PostgresControl`
runs its statements in.

Several replicas share the database, so no process lock serialises writes as the embedded
store's admin lock does. Two things stand in for it: of two writes racing past a
check-then-insert, the database's unique constraint refuses the second, which surfaces as
:class:`~heron.errors.Conflict` (409), what the check itself raises; and a write whose check
spans rows no constraint covers (the last owner of a project, the versions of an evaluator)
takes a transaction-level advisory lock on a key of what it changes (``serial``).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import psycopg

from heron.errors import Conflict
from heron.store.postgres.connect import DEFAULT_POOL_SIZE, connect, open_pool
from heron.store.postgres.cursor import PgCursor
from heron.store.postgres.migrations import migrate


class Transactions:
    """A pool of connections to a migrated database, and the read and write blocks on it.

    Opening migrates the schema (once, under an advisory lock, see :mod:`.migrations`).
    """

    def __init__(self, url: str, *, pool_size: int = DEFAULT_POOL_SIZE) -> None:
        with connect(url) as conn:
            migrate(conn)
        self._pool = open_pool(url, max_size=pool_size)

    def close(self) -> None:
        self._pool.close()

    @contextmanager
    def _read(self) -> Iterator[PgCursor]:
        with self._pool.connection() as conn, conn.cursor() as cur:
            yield PgCursor(cur)

    @contextmanager
    def _admin(self, serial: str | None = None) -> Iterator[PgCursor]:
        """One write transaction, committed at the end of the block (rolled back on an
        exception); a unique constraint's refusal is a Conflict. With ``serial``, the
        transaction first takes the advisory lock of that key, so that writes of one key run
        one at a time across replicas: what they check still holds when they write."""
        try:
            with self._pool.connection() as conn, conn.cursor() as cur:
                if serial is not None:
                    cur.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", [serial])
                yield PgCursor(cur)
        except psycopg.errors.UniqueViolation as e:
            raise Conflict(f"already exists ({e.diag.constraint_name})") from e
