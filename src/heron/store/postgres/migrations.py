"""Versioned migrations of the PostgreSQL schema, applied once however many replicas start.

``heron_schema_migrations`` records each applied version. :func:`migrate` runs in one
transaction holding a transaction-level advisory lock: the first replica applies what is
missing and commits; the others wait on the lock, then find every version recorded and do
nothing. DDL is transactional in PostgreSQL, so a failed migration leaves no half schema.
"""

from __future__ import annotations

import psycopg

from heron.store.postgres import schema, schema_runner
from heron.store.postgres.schema_dataset_runs import DATASET_RUNS_V1

#: Each migration runs once, in order; its number is its position (from 1).
MIGRATIONS: tuple[str, ...] = (schema.CONTROL_V1, DATASET_RUNS_V1, schema_runner.RUNNER_FEED)

# pg_advisory_xact_lock key: a constant of heron's own (the bytes of "heronmig"), so that no
# other application's lock on the same database collides with it by accident.
LOCK_KEY = int.from_bytes(b"heronmig", "big") - 2**63


def migrate(conn: psycopg.Connection, migrations: tuple[str, ...] = MIGRATIONS) -> list[int]:
    """Bring the schema up to date; return the versions applied now (empty: none missing)."""
    applied: list[int] = []
    with conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(%s)", [LOCK_KEY])
        conn.execute(
            "CREATE TABLE IF NOT EXISTS heron_schema_migrations ("
            "version INTEGER PRIMARY KEY, applied_at TIMESTAMP NOT NULL DEFAULT now())"
        )
        done = {r[0] for r in conn.execute("SELECT version FROM heron_schema_migrations")}
        for version, ddl in enumerate(migrations, start=1):
            if version in done:
                continue
            conn.execute(ddl.encode())  # bytes: no placeholder parsing of the DDL
            conn.execute("INSERT INTO heron_schema_migrations (version) VALUES (%s)", [version])
            applied.append(version)
    return applied


def schema_version(conn: psycopg.Connection) -> int:
    """The highest applied version (0 before the first migration)."""
    row = conn.execute(
        "SELECT coalesce(max(version), 0) FROM heron_schema_migrations"
        if _has_table(conn)
        else "SELECT 0"
    ).fetchone()
    return int(row[0]) if row else 0


def _has_table(conn: psycopg.Connection) -> bool:
    row = conn.execute("SELECT to_regclass('heron_schema_migrations') IS NOT NULL").fetchone()
    return bool(row and row[0])
