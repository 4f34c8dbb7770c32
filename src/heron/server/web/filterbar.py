"""The filter bar and time range picker shared by the trace list and the dashboards.

The bar's rows (``fc``/``fo``/``fv``) become the shared ``filter`` JSON by a redirect, so a
filtered page is one bookmarkable URL; :func:`filter_rows` turns filters back into rows.
"""

from __future__ import annotations

from typing import Any

import orjson
from starlette.requests import Request

from heron.dashboards.spec import DATE_RANGES
from heron.query import TRACES, Filter
from heron.query.filters import ALL_OPERATORS

FILTER_COLUMNS = sorted(
    [*(c for c in TRACES.columns if c not in ("start_time", "timestamp")), "metadata.", "scores."]
)
OPERATOR_CHOICES = sorted(ALL_OPERATORS, key=lambda op: (len(op) > 2, op))
# The time range picker's presets (one list for the trace list and dashboards): ``range=``
# sets ``from`` relative to now (unless ``from`` is given explicitly).
RANGES = DATE_RANGES
NO_VALUE = frozenset({"is null", "is not null"})


def rows_to_filter(request: Request) -> str | None:
    """The filter bar's rows as the shared filter JSON (rows without a column are skipped)."""
    q = request.query_params
    columns, operators, values = q.getlist("fc"), q.getlist("fo"), q.getlist("fv")
    filters = []
    for i, column in enumerate(columns):
        column = column.strip()
        if not column:
            continue
        operator = operators[i] if i < len(operators) else "="
        item: dict[str, Any] = {"column": column, "operator": operator}
        if operator not in NO_VALUE:
            item["value"] = values[i] if i < len(values) else ""
        filters.append(item)
    return orjson.dumps(filters).decode() if filters else None


def filter_rows(filters: list[Filter]) -> list[dict[str, Any]]:
    """What the filter bar shows: every filter but the time range (it has its own fields)."""
    rows = []
    for f in filters:
        if f.column == "start_time":
            continue
        column = f"{f.column}.{f.key}" if f.key else f.column
        value = f.value
        if isinstance(value, list):
            value = ",".join(str(v) for v in value)
        elif isinstance(value, bool):
            value = "true" if value else "false"
        rows.append({"column": column, "operator": f.operator, "value": value})
    return rows
