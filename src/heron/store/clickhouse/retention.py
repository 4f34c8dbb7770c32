"""Per-project retention on ClickHouse: ClickHouse drops expired rows itself, by TTL.

On DuckDB a sweep deletes old traces every ``retention_interval_s``. On ClickHouse deleting
rows is a mutation, costly on large tables; a TTL instead drops expired rows while ClickHouse
merges parts, which it does anyway. A table's TTL is one expression for all its rows, and
projects keep their data for different times, so the expression reads the retention from the
row itself (migration 7, ``schema.RETENTION_TTL``)::

    TTL toDateTime(<the row's time>) + toIntervalDay(retention_days) WHERE retention_days > 0

``retention_days`` (0: forever) is a column of ``observations``, ``traces`` and ``scores``;
the row's time is a span's start, a trace's start, a score's timestamp. :func:`sync` keeps
the column in step with the projects' retention (PostgreSQL's ``projects.retention_days``):
one ``ALTER TABLE ... UPDATE`` per table setting it on every row whose value differs, run
when a project's retention changes and at each retention sweep of a server, which tags the
rows written since the last sweep (the writer inserts them with 0). Rewriting a part in
that mutation applies its TTL too, so rows already expired go then; the others go at the
merge that follows their expiry (``merge_with_ttl_timeout``, 4 hours by default).

What differs from DuckDB: expired rows are dropped when ClickHouse merges, hours after the
cutoff rather than at the next sweep; each row goes by its own time, so a trace's later spans
and its scores can outlive the trace row by up to the trace's duration (or the score's delay),
and versions of a row not merged away yet expire by their own time (a trace whose start moved
earlier can show its previous version until that one expires too). Deleting data exactly at a
cutoff stays available as ``delete_traces_before``.
"""

from __future__ import annotations

from collections.abc import Mapping

from clickhouse_connect.driver.client import Client

from heron.store.clickhouse.schema import RETENTION_TTL

_DAYS = "transform(project_id, {ids:Array(String)}, {days:Array(UInt16)}, toUInt16(0))"


def sync(client: Client, days_by_project: Mapping[str, int | None]) -> int:
    """Set ``retention_days`` of every events row to its project's (projects not named, and
    ``None``: 0, kept forever); returns the number of tables that needed a mutation. A
    table whose rows all agree gets none (a cheap count first)."""
    ids = sorted(days_by_project)
    params = {"ids": ids, "days": [min(int(days_by_project[p] or 0), 65535) for p in ids]}
    mutated = 0
    for table in RETENTION_TTL:
        differs = f"retention_days != {_DAYS}"
        rows = client.query(
            f"SELECT count() FROM {table} WHERE {differs}", parameters=params
        ).result_rows
        if not rows or not rows[0][0]:
            continue
        client.command(
            f"ALTER TABLE {table} UPDATE retention_days = {_DAYS} WHERE {differs}",
            parameters=params,
            settings={"mutations_sync": 2},
        )
        mutated += 1
    return mutated
