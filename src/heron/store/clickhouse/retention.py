"""Per-project retention on ClickHouse: ClickHouse drops expired rows itself, by TTL.

On DuckDB a sweep deletes old traces every ``retention_interval_s``. On ClickHouse deleting
rows is a mutation, costly on large tables; a TTL instead drops expired rows while ClickHouse
merges parts, which it does anyway. A table's TTL is one expression for all its rows, and
projects keep their data for different times, so the expression reads the retention from the
row itself (migrations 7 and 8, ``schema.RETENTION_TTL``)::

    TTL toDateTime(<the row's time>) + toIntervalDay(retention_days) WHERE retention_days > 0

``retention_days`` (0: forever) is a column of ``observations``, ``traces``, ``scores`` and
``signals``; the row's time is a span's start, a trace's start, a score's timestamp, the time
of what a signal matched. The writers insert
each row with its project's retention as :class:`ProjectRetention` knows it (read from
PostgreSQL's ``projects.retention_days`` at most a minute before, :func:`tagged`), so rows
expire by their TTL without any further write (a row already past its retention when it is
written is dropped as it is inserted: DuckDB's next sweep would delete it). :func:`sync`
repairs what that leaves behind: the rows stored before a project's retention changed, and
those a replica tagged from its minute-old copy meanwhile. It runs one ``ALTER TABLE ...
UPDATE`` (a mutation) per table on the rows whose value differs, after a cheap count that
finds none when all agree, whenever a project's retention changes and at each retention
sweep of a server. Rewriting a part in that mutation applies its TTL too, so rows already
expired go then; the others go at the merge that follows their expiry
(``merge_with_ttl_timeout``, 4 hours by default).

What differs from DuckDB: expired rows are dropped when ClickHouse merges, hours after the
cutoff rather than at the next sweep; each row goes by its own time, so a trace's later spans
and its scores can outlive the trace row by up to the trace's duration (or the score's delay),
and versions of a row not merged away yet expire by their own time (a trace whose start moved
earlier can show its previous version until that one expires too). Deleting data exactly at a
cutoff stays available as ``delete_traces_before``.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping

import pyarrow as pa
from clickhouse_connect.driver.client import Client

from heron.store.clickhouse.schema import RETENTION_TTL

log = logging.getLogger(__name__)

_DAYS = "transform(project_id, {ids:Array(String)}, {days:Array(UInt16)}, toUInt16(0))"
MAX_AGE_S = 60.0  # how old a replica's copy of the projects' retention may be

Days = Callable[[str], int]
"""A project's retention in days as a row's ``retention_days`` holds it (0: forever)."""


def column_value(days: int | None) -> int:
    """A retention (``None``: forever) as the UInt16 column holds it."""
    return min(int(days or 0), 65535)


def tagged(table: pa.Table, days: Days | None) -> pa.Table:
    """``table`` (with a ``project_id`` column) with each row's ``retention_days``, its
    project's; unchanged when ``days`` is None (the column's default: 0, forever)."""
    if days is None:
        return table
    projects = table.column("project_id").to_pylist()
    by_project = {p: days(p) for p in set(projects)}
    return table.append_column(
        "retention_days", pa.array([by_project[p] for p in projects], pa.uint16())
    )


class ProjectRetention:
    """Each project's retention as the writers tag rows with it: ``load()`` (the projects'
    retention from the control store) read again once the copy is ``max_age_s`` old, and
    replaced by :meth:`update` when a sync has just read it. A failed read keeps the old copy
    (a row tagged from it is repaired by the next sync), so writes never wait on it."""

    def __init__(
        self, load: Callable[[], Mapping[str, int | None]], max_age_s: float = MAX_AGE_S
    ) -> None:
        self._load, self._max_age_s = load, max_age_s
        self._days: dict[str, int] = {}
        self._read_at: float | None = None
        self._lock = threading.Lock()

    def __call__(self, project_id: str) -> int:
        with self._lock:
            now = time.monotonic()
            if self._read_at is None or now - self._read_at >= self._max_age_s:
                self._read_at = now
                try:
                    self._days = {p: column_value(d) for p, d in self._load().items()}
                except Exception as exc:  # whatever failed, the old copy stays
                    log.warning("retention: projects not read, rows tagged as before: %s", exc)
            return self._days.get(project_id, 0)

    def update(self, days: Mapping[str, int | None]) -> None:
        with self._lock:
            self._days = {p: column_value(d) for p, d in days.items()}
            self._read_at = time.monotonic()


def sync(client: Client, days_by_project: Mapping[str, int | None]) -> int:
    """Set ``retention_days`` of every events row to its project's (projects not named, and
    ``None``: 0, kept forever); returns the number of tables that needed a mutation. A
    table whose rows all agree gets none (a cheap count first)."""
    ids = sorted(days_by_project)
    params = {"ids": ids, "days": [column_value(days_by_project[p]) for p in ids]}
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
