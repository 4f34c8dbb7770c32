"""Versioned ClickHouse migrations, recorded in ``heron_schema_migrations``.

Idempotent: each statement is ``IF NOT EXISTS``-safe and a version is recorded only after
its statements ran, so a migration interrupted half way runs again whole. Replicas starting
together pass a ``lock`` (PostgreSQL's advisory lock in the full backend) so that one
migrates while the others wait, then find nothing left to do.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager, nullcontext
from datetime import UTC, datetime

from clickhouse_connect.driver.client import Client

from heron.store.clickhouse.schema import MIGRATIONS, Migration

_LEDGER = """
CREATE TABLE IF NOT EXISTS heron_schema_migrations (
    version UInt32,
    name String,
    applied_at DateTime64(6, 'UTC')
)
ENGINE = ReplacingMergeTree
ORDER BY version
"""


def applied_versions(client: Client) -> set[int]:
    """The versions recorded as applied."""
    client.command(_LEDGER)
    rows = client.query("SELECT DISTINCT version FROM heron_schema_migrations").result_rows
    return {int(r[0]) for r in rows}


def migrate(
    client: Client,
    lock: Callable[[], AbstractContextManager[object]] | None = None,
    migrations: Sequence[Migration] = MIGRATIONS,
) -> list[int]:
    """Apply the migrations not yet recorded, in order; returns the versions applied now."""
    done: list[int] = []
    with lock() if lock is not None else nullcontext():
        applied = applied_versions(client)
        for m in sorted(migrations, key=lambda m: m.version):
            if m.version in applied:
                continue
            for statement in m.statements:
                client.command(statement)
            client.insert(
                "heron_schema_migrations",
                [[m.version, m.name, datetime.now(UTC)]],
                column_names=["version", "name", "applied_at"],
            )
            done.append(m.version)
    return done
