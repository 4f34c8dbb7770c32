"""Re-pricing stored observations on ClickHouse (EmbeddedStore's ``reprice``, see
:mod:`heron.store.repricing`): insert-only, as every ClickHouse write.

A chunk of the models' observations (walked by ``(trace_id, id)``, the sorting key) is read
back whole (``FINAL``: the latest version), given the cost the ``price`` function gives now,
and inserted again as a newer version (the ReplacingMergeTree keeps that one); the chunk's
traces then get a new row whose aggregates (total cost among them) are recomputed from all
their spans, as the write path does (:func:`heron.store.clickhouse.writes._trace_rows`).
Costs the client sent are never touched. Each chunk holds the events half's write lock and
the per-trace lock of its traces (PostgreSQL's advisory locks on the cluster), so a span
re-sent meanwhile is merged before or after the chunk, never lost.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager, nullcontext
from typing import Any

import pyarrow as pa
from clickhouse_connect.driver.client import Client

from heron.store import repricing
from heron.store.arrow import TS, observations_table
from heron.store.clickhouse import writes
from heron.store.clickhouse.retention import Days, tagged
from heron.store.writes import record_from_row

_WHERE = (
    "project_id = {project:String} AND model IN {models:Array(String)} AND notEmpty(usage) "
    "AND (cost_source IS NULL OR cost_source != 'client')"
)
_KEYSET = (
    " AND (trace_id > {after_trace:String} OR (trace_id = {after_trace:String} "
    "AND id > {after_id:String}))"
)
_COLUMNS = f"{writes._FULL_COLUMNS}, toUnixTimestamp64Micro(updated_at)"


def count(client: Client, project_id: str, models: Sequence[str]) -> int:
    """How many observations of these models a re-pricing would recompute."""
    rows = client.query(
        f"SELECT count() FROM observations FINAL WHERE {_WHERE}",
        parameters={"project": project_id, "models": list(models)},
    ).result_rows
    return int(rows[0][0]) if rows else 0


def next_keys(
    client: Client,
    project_id: str,
    models: Sequence[str],
    after: tuple[str, str] | None,
    limit: int,
) -> list[tuple[str, str]]:
    """The ``(trace_id, id)`` of the next ``limit`` observations to re-price after ``after``."""
    params: dict[str, Any] = {"project": project_id, "models": list(models), "limit": limit}
    keyset = ""
    if after is not None:
        keyset = _KEYSET
        params.update(after_trace=after[0], after_id=after[1])
    rows = client.query(
        f"SELECT trace_id, id FROM observations FINAL WHERE {_WHERE}{keyset} "
        "ORDER BY trace_id, id LIMIT {limit:UInt64}",
        parameters=params,
    ).result_rows
    return [(t, i) for t, i in rows]


def reprice_keys(
    client: Client,
    project_id: str,
    models: Sequence[str],
    keys: Sequence[tuple[str, str]],
    price: repricing.PriceFn,
    version: Callable[[], int],
    days: Days | None = None,
) -> int:
    """Re-price the observations ``keys`` (still of the models, costs not the client's):
    a new version of each, then of their traces (tagged with ``days``, as the writer tags
    them). Returns how many were re-priced."""
    rows = client.query(
        f"SELECT {_COLUMNS} FROM observations FINAL WHERE {_WHERE} "
        "AND trace_id IN {traces:Array(String)} AND id IN {ids:Array(String)}",
        parameters={
            "project": project_id,
            "models": list(models),
            "traces": sorted({t for t, _ in keys}),
            "ids": sorted({i for _, i in keys}),
        },
    ).result_rows
    wanted = set(keys)
    records, versions, updated = [], [], []
    now_us = version()
    for row in rows:
        record = record_from_row(row[:-2])
        if (record.trace_id, record.id) not in wanted:
            continue
        record.cost = price(record.model or "", dict(record.usage), record.start_us) or {}
        records.append(record)
        versions.append(writes.above(now_us, row[-2]))
        updated.append(row[-1])
    if not records:
        return 0
    table = observations_table(records, now_us)
    table = table.set_column(
        table.schema.get_field_index("updated_at"), "updated_at", pa.array(updated, TS)
    )  # a re-pricing is not an update of the span
    client.insert_arrow("observations", tagged(writes._for_insert(table, versions), days))
    traces = {(project_id, r.trace_id) for r in records}
    trace_rows = writes._trace_rows(client, traces, [], now_us, version(), alone={})
    stored_updated = _trace_updated(client, project_id, [r["id"] for r in trace_rows])
    for row in trace_rows:  # the trace itself did not change either
        row["updated_at"] = stored_updated.get(row["id"], now_us)
    if trace_rows:
        client.insert_arrow("traces", tagged(writes._traces_table(trace_rows), days))
    return len(records)


def _trace_updated(client: Client, project_id: str, ids: Sequence[str]) -> dict[str, int]:
    rows = client.query(
        "SELECT id, toUnixTimestamp64Micro(updated_at) FROM traces FINAL "
        "WHERE project_id = {project:String} AND id IN {ids:Array(String)}",
        parameters={"project": project_id, "ids": list(ids)},
    ).result_rows
    return dict(rows)


TraceLock = Callable[[Sequence[tuple[str, str]]], AbstractContextManager[object]]


class Repricing:
    """``reprice`` of the events half (its client, write lock, versions and trace lock)."""

    client: Client
    _lock: Any
    _trace_lock: TraceLock | None
    _version: Callable[[], int]
    retention_days: Days | None

    def reprice(
        self,
        project_id: str,
        models: Sequence[str],
        price: repricing.PriceFn,
        progress: Callable[[int, int], None] | None = None,
        chunk: int = repricing.CHUNK,
    ) -> int:
        """Recompute the cost of the project's observations of ``models`` with ``price``
        (model, usage, start µs → cost map or ``None``), keeping costs the client sent, and
        the touched traces' total cost; a chunk at a time. ``progress(done, total)`` is
        called after each chunk. Returns the number recomputed."""
        models = sorted(set(models))
        total = count(self.client, project_id, models)
        if progress:
            progress(0, total)
        done = 0
        after: tuple[str, str] | None = None
        while True:
            keys = next_keys(self.client, project_id, models, after, chunk)
            if keys:
                traces = sorted({(project_id, t) for t, _ in keys})
                locked = self._trace_lock(traces) if self._trace_lock else nullcontext()
                with self._lock, locked:
                    done += reprice_keys(
                        self.client,
                        project_id,
                        models,
                        keys,
                        price,
                        self._version,
                        self.retention_days,
                    )
                after = keys[-1]
            if progress:
                progress(done, max(total, done))
            if len(keys) < chunk:
                return done
