"""Re-pricing stored observations of some models after a price was added or changed.

Each function runs inside a transaction the caller opened on the writer's connection, under
the store's write lock (as :mod:`.deletion` does), one chunk per transaction, so ingest
batches commit between chunks. Costs the client sent (``cost_source = 'client'``) are never
touched; every other observation of the models that has usage gets the cost the ``price``
function gives now (``None``: no cost, ``cost_source`` NULL). The touched traces' stored
``total_cost`` is then recomputed from all of their observations.

Chunks are walked by ``(trace_id, id)``, not by ``rowid``: DuckDB rewrites a row whose MAP
column is updated as a delete plus an insert, which gives it a new rowid.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import duckdb
import pyarrow as pa

from heron.store.arrow import COST_TYPE

# Observations per transaction: small enough that an ingest batch waits only milliseconds.
CHUNK = 2000

PriceFn = Callable[[str, dict[str, int], int], dict[str, float] | None]

_WHERE = (
    "project_id = ? AND model IN (SELECT unnest(?::VARCHAR[])) AND usage IS NOT NULL "
    "AND cardinality(usage) > 0 AND cost_source IS DISTINCT FROM 'client'"
)


def count(con: duckdb.DuckDBPyConnection, project_id: str, models: Sequence[str]) -> int:
    """How many observations of these models a re-pricing would recompute."""
    row = con.execute(
        f"SELECT count(*) FROM observations WHERE {_WHERE}", [project_id, list(models)]
    ).fetchone()
    return int(row[0]) if row else 0


def reprice_chunk(
    con: duckdb.DuckDBPyConnection,
    project_id: str,
    models: Sequence[str],
    price: PriceFn,
    after: tuple[str, str] | None,
    limit: int = CHUNK,
) -> tuple[int, tuple[str, str] | None]:
    """Recompute the costs of the next ``limit`` observations after ``after`` (a
    ``(trace_id, id)`` key); returns how many and the key to continue from (``None``: done)."""
    params: list[Any] = [project_id, list(models)]
    keyset = ""
    if after is not None:
        keyset = " AND (trace_id > ? OR (trace_id = ? AND id > ?))"
        params += [after[0], after[0], after[1]]
    cursor = con.execute(
        "SELECT trace_id, id, model, usage, epoch_us(start_time) AS start_us "
        f"FROM observations WHERE {_WHERE}{keyset} ORDER BY trace_id, id LIMIT ?",
        [*params, limit],
    )
    names = [d[0] for d in cursor.description or ()]
    rows = [dict(zip(names, r, strict=True)) for r in cursor.fetchall()]
    if not rows:
        return 0, None
    costs: list[dict[str, float] | None] = []
    for r in rows:
        usage = dict(r["usage"] or [])
        costs.append(price(r["model"], usage, r["start_us"]) or None)
    update = pa.table(
        {
            "trace_id": pa.array([r["trace_id"] for r in rows], pa.string()),
            "id": pa.array([r["id"] for r in rows], pa.string()),
            "cost": pa.array([list(c.items()) if c else None for c in costs], COST_TYPE),
            "cost_source": pa.array([("computed" if c else None) for c in costs], pa.string()),
            "total_cost": pa.array([c.get("total") if c else None for c in costs], pa.float64()),
        }
    )
    con.register("heron_reprice", update)
    try:
        con.execute(
            "UPDATE observations SET cost = u.cost, cost_source = u.cost_source, "
            "total_cost = u.total_cost FROM heron_reprice u "
            "WHERE observations.project_id = ? AND observations.trace_id = u.trace_id "
            "AND observations.id = u.id",
            [project_id],
        )
    finally:
        con.unregister("heron_reprice")
    update_trace_costs(con, project_id, sorted({r["trace_id"] for r in rows}))
    last = rows[-1]
    return len(rows), (last["trace_id"], last["id"])


def update_trace_costs(
    con: duckdb.DuckDBPyConnection, project_id: str, trace_ids: Sequence[str]
) -> None:
    """Set each trace's stored ``total_cost`` to the sum of its observations' (NULL if none
    has a cost), as the write path computes it."""
    con.execute(
        "UPDATE traces SET total_cost = s.c FROM ("
        "  SELECT trace_id, sum(total_cost) AS c FROM observations"
        "  WHERE project_id = ? AND trace_id IN (SELECT unnest(?::VARCHAR[])) GROUP BY trace_id"
        ") s WHERE traces.project_id = ? AND traces.id = s.trace_id",
        [project_id, list(trace_ids), project_id],
    )
