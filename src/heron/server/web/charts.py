"""What a dashboard page hands its script for each widget: rows, labels, change markers and,
per point, the trace list link showing the traces behind it.

A link's filter is written in the trace list's language: the dashboard's filters, the
widget's own filters when the widget reads traces, the time bucket as ``from``/``to`` and
the dimension values a point stands for.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlencode

import orjson

from heron.dashboards import WidgetData
from heron.dashboards.labels import describe_metric, dimension_label
from heron.dashboards.spec import TIME_TYPES
from heron.query.filters import parse_time
from heron.query.metrics import TIME_COLUMN, parse_metrics_query
from heron.query.names import canonical

# A dimension value of a view → the trace list's filter column meaning the same.
_TRACE_FILTER = {
    "traces": {
        "name": "name", "user_id": "user_id", "session_id": "session_id", "release": "release",
        "version": "version", "environment": "environment", "level": "level", "tags": "tags",
        "model": "model", "id": "id", "prompt_name": "prompt_name",
        "prompt_version": "prompt_version",
    },
    "observations": {
        "model": "model", "trace_name": "name", "user_id": "user_id", "session_id": "session_id",
        "release": "release", "version": "version", "environment": "environment", "tags": "tags",
        "trace_id": "id", "prompt_name": "prompt_name", "prompt_version": "prompt_version",
    },
}  # fmt: skip
_SCORE_VIEWS = frozenset({"scores", "scores-numeric", "scores-categorical"})
# Histogram bins of these trace measures become a range filter on the trace list.
_TRACE_RANGE = {
    "latency": "latency_ms",
    "total_cost": "total_cost",
    "input_tokens": "input_tokens",
    "output_tokens": "output_tokens",
    "total_tokens": "total_tokens",
    "observation_count": "observation_count",
    "error_count": "error_count",
}
_STEP = {
    "minute": timedelta(minutes=1),
    "hour": timedelta(hours=1),
    "day": timedelta(days=1),
    "week": timedelta(days=7),
}


def script_json(value: Any) -> str:
    """JSON safe inside ``<script type="application/json">``: ``<``, ``>``, ``&`` escaped."""
    text = orjson.dumps(value).decode()
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def _bucket_end(start: datetime, granularity: str) -> datetime:
    if granularity == "month":
        year, month = (start.year + 1, 1) if start.month == 12 else (start.year, start.month + 1)
        return start.replace(year=year, month=month)
    return start + _STEP[granularity]


def _iso(value: datetime) -> str:
    return value.strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond // 1000:03d}Z"


class Linker:
    """Trace list links for the points of one dashboard view."""

    def __init__(
        self, project_id: str, start: datetime, end: datetime, filters: list[dict[str, Any]]
    ) -> None:
        self.project_id = project_id
        self.start = start
        self.end = end
        self.filters = filters

    def url(
        self, start: datetime, end: datetime, filters: list[dict[str, Any]] | None = None
    ) -> str:
        """``/traces`` over ``[start, end)`` with the dashboard's filters and ``filters``."""
        items = [("project", self.project_id), ("from", _iso(max(start, self.start)))]
        last = min(end, self.end) - timedelta(milliseconds=1)  # the list's "to" is inclusive
        items.append(("to", _iso(last)))
        every = [*self.filters, *(filters or [])]
        if every:
            items.append(("filter", orjson.dumps(every).decode()))
        return "/traces?" + urlencode(items)

    def row(self, w: WidgetData, row: dict[str, Any], own: list[dict[str, Any]]) -> str:
        start, end = self.start, self.end
        if w.granularity and row.get(TIME_COLUMN):
            start = parse_time(row[TIME_COLUMN], TIME_COLUMN)
            end = _bucket_end(start, w.granularity)
        filters = list(own)
        view = str(w.query.get("view"))
        columns = _TRACE_FILTER.get(view, {})
        for name in w.dimensions:
            if view in _SCORE_VIEWS and canonical(name) == "name" and row.get(name):
                # a score's points stand for the traces that have that score
                filters.append({"column": f"scores.{row[name]}", "operator": "is not null"})
                continue
            column = columns.get(canonical(name))
            if column is None:
                continue
            value = row.get(name)
            if value is None:
                filters.append({"column": column, "operator": "is null"})
            else:
                filters.append({"column": column, "operator": "=", "value": value})
        return self.url(start, end, filters)


def _empty(w: WidgetData) -> bool:
    for row in w.rows:
        for m in w.metrics:
            value = row.get(m)
            if value not in (None, 0, 0.0, []):
                return False
    return True


def payload(w: WidgetData, linker: Linker, changes: list[dict[str, Any]]) -> dict[str, Any]:
    """Everything the page's script needs to draw one widget."""
    view = str(w.query.get("view"))
    own = list(w.query.get("filters") or []) if view == "traces" else []
    out: dict[str, Any] = {
        "id": w.id,
        "title": w.title,
        "type": w.type,
        "time": TIME_COLUMN if w.granularity else None,
        "dimensions": w.dimensions,
        "metrics": [describe_metric(m) for m in w.metrics],
        "dimension_labels": [dimension_label(d) for d in w.dimensions],
        "rows": w.rows,
        "links": [linker.row(w, r, own) for r in w.rows],
        "previous": w.previous,
        "empty": _empty(w),
        "changes": [],
    }
    if w.type in TIME_TYPES:
        at_once: dict[str, list[str]] = {}  # changes of the same moment share one marker
        for c in changes:
            at_once.setdefault(c["first_seen"], []).append(c["value"])
        out["changes"] = [{"at": at, "label": ", ".join(v)} for at, v in at_once.items()]
    if w.type == "histogram":
        out["bin_links"] = _bin_links(w, linker, own)
    return out


def _bin_links(w: WidgetData, linker: Linker, own: list[dict[str, Any]]) -> list[str | None]:
    """Per bin of the first row: the traces whose measure falls in it (traces view only)."""
    if not w.rows or str(w.query.get("view")) != "traces":
        return []
    metric = parse_metrics_query(
        {**w.query, "fromTimestamp": "2026-01-01T00:00:00Z", "toTimestamp": "2026-01-02T00:00:00Z"}
    ).metrics[0]
    column = _TRACE_RANGE.get(metric.measure)
    bins = w.rows[0].get(w.metrics[0]) or []
    if column is None:
        return [linker.url(linker.start, linker.end, own) for _ in bins]
    return [
        linker.url(linker.start, linker.end, [
            *own,
            {"column": column, "operator": ">=", "value": lower},
            {"column": column, "operator": "<=", "value": upper},
        ])
        for lower, upper, _ in bins
    ]  # fmt: skip
