"""Metrics reads: run a compiled metrics query (always within one project)."""

from __future__ import annotations

import re
from datetime import datetime
from decimal import Decimal
from typing import Any

import duckdb

from heron.query.filters import FilterError
from heron.query.metrics import (
    CELLS_MARKER,
    MAX_ROWS,
    MetricsLimits,
    MetricsQuery,
    check_limits,
    compile_metrics,
)

_CELLS = re.compile(re.escape(CELLS_MARKER) + r"(\d+):(\d+)")


def run_metrics(
    cur: duckdb.DuckDBPyConnection,
    project_id: str,
    q: MetricsQuery,
    limits: MetricsLimits = MetricsLimits(),
) -> list[dict[str, Any]]:
    """Rows of plain JSON values: ``time`` as ISO 8601 UTC, then dimensions and metrics.

    A histogram is a list of ``[lower, upper, count]`` bins. A query over ``limits`` (or
    answering more than ``MAX_ROWS`` rows without ``config.row_limit``) is a FilterError."""
    check_limits(q, limits)
    compiled = compile_metrics(project_id, q, limits)
    try:
        rows = cur.execute(compiled.sql, compiled.params).fetchall()
    except duckdb.InvalidInputException as exc:
        cells = _CELLS.search(str(exc))
        if cells is None:
            raise
        buckets, values = int(cells[1]), int(cells[2])
        raise FilterError(
            f"the query would return {buckets:,} time buckets x {values:,} dimension values "
            f"= {buckets * values:,} rows, more than the limit of {limits.max_cells:,} "
            "(HERON_METRICS_MAX_CELLS); use a coarser granularity, a shorter window, "
            "filters, or fewer or lower-cardinality dimensions"
        ) from None
    if q.row_limit is None and len(rows) > MAX_ROWS:
        raise FilterError(
            f"the query returns more than {MAX_ROWS:,} rows; set config.row_limit (at most "
            f"{MAX_ROWS:,}), add filters or use a coarser granularity"
        )
    out = [
        {name: _plain(value) for name, value in zip(compiled.columns, row, strict=True)}
        for row in rows
    ]
    for row in out:
        for name in compiled.histograms:
            if row[name] is not None:
                row[name] = [[lo, hi, int(n)] for lo, hi, n in row[name]]
    return out


def _plain(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%dT%H:%M:%SZ")
    if isinstance(value, Decimal):
        return float(value)
    return value
