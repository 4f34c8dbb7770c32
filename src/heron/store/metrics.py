"""Metrics reads: run a compiled metrics query (always within one project)."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

import duckdb

from heron.query.metrics import MetricsQuery, compile_metrics


def run_metrics(
    cur: duckdb.DuckDBPyConnection, project_id: str, q: MetricsQuery
) -> list[dict[str, Any]]:
    """Rows of plain JSON values: ``time`` as ISO 8601 UTC, then dimensions and metrics.

    A histogram is a list of ``[lower, upper, count]`` bins."""
    compiled = compile_metrics(project_id, q)
    rows = cur.execute(compiled.sql, compiled.params).fetchall()
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
