"""Running a dashboard: every widget's rows for one window and the dashboard-wide filters.

Dashboard filters are written in the trace list's language; each is ANDed with a widget's
own filters in that widget's view (``name`` is ``trace_name`` on observations, and so on).
A filter with no meaning in a view (``latency_ms`` on scores) is left out for that widget and
reported in its ``unfiltered`` list. Widgets whose queries differ only in their metrics run
as one query; a ``number`` widget also runs the previous period of the same length.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson

from heron.dashboards.spec import DATE_RANGES, Dashboard
from heron.errors import BadRequest
from heron.query import Filter, parse_filters
from heron.query.filters import parse_time
from heron.query.metrics import TIME_COLUMN, parse_metrics_query
from heron.query.names import canonical
from heron.store import Store

# Trace-list filter columns → the same meaning in the observations and scores views.
_OBSERVATION_COLUMNS = {
    "id": "trace_id",
    "name": "trace_name",
    "user_id": "user_id",
    "session_id": "session_id",
    "release": "release",
    "version": "version",
    "environment": "environment",
    "tags": "tags",
    "model": "model",
    "models": "model",
}
_SCORE_COLUMNS = {"id": "trace_id", "session_id": "session_id", "environment": "environment"}


@dataclass
class WidgetData:
    """A widget's answer: its rows (and, for ``number``, the previous period's)."""

    id: str
    title: str
    type: str
    query: dict[str, Any]
    granularity: str | None
    dimensions: list[str]
    metrics: list[str]
    rows: list[dict[str, Any]]
    previous: list[dict[str, Any]] | None = None
    unfiltered: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "title": self.title,
            "type": self.type,
            "query": self.query,
            "granularity": self.granularity,
            "dimensions": self.dimensions,
            "metrics": self.metrics,
            "data": self.rows,
            "previous": self.previous,
            "unfiltered": self.unfiltered,
        }


@dataclass
class DashboardData:
    from_time: datetime
    to_time: datetime
    widgets: list[WidgetData]
    queries: int  # metrics queries run (widgets sharing a query count once)


def window(
    date_range: str | None,
    from_value: str | None,
    to_value: str | None,
    default_range: str,
    now: datetime | None = None,
) -> tuple[datetime, datetime]:
    """The ``[from, to)`` a dashboard shows (naive UTC): explicit times win over a preset."""
    end = parse_time(to_value, "toTimestamp") if to_value else None
    start = parse_time(from_value, "fromTimestamp") if from_value else None
    end = end or (now or datetime.now(UTC)).replace(tzinfo=None)
    if start is None:
        preset = date_range or default_range
        if preset not in DATE_RANGES:
            choices = ", ".join(DATE_RANGES)
            raise BadRequest(f"range: unknown range {preset!r}; use one of {choices}")
        start = end - timedelta(seconds=DATE_RANGES[preset][1])
    if start >= end:
        raise BadRequest("fromTimestamp: must be before toTimestamp")
    return _naive(start), _naive(end)


def _naive(value: datetime) -> datetime:
    if value.tzinfo is not None:
        value = value.astimezone(UTC).replace(tzinfo=None)
    return value


def filters_for_view(filters: list[Filter], view: str) -> tuple[list[dict[str, Any]], list[str]]:
    """Trace-list filters as filters of ``view``, and the columns that do not apply there."""
    out: list[dict[str, Any]] = []
    skipped: list[str] = []
    for f in filters:
        column, key = f.column, f.key
        if key is None and "." in column:
            column, key = column.split(".", 1)
        column = canonical(column)
        if view == "traces":
            mapped: str | None = column
        else:
            table = _OBSERVATION_COLUMNS if view == "observations" else _SCORE_COLUMNS
            # scores, scores-numeric, scores-categorical
            mapped = None if key else table.get(column)
        if mapped is None:
            skipped.append(f"{column}.{key}" if key else column)
            continue
        item: dict[str, Any] = {"column": mapped, "operator": f.operator, "value": f.value}
        if key:
            item["key"] = key
        out.append(item)
    return out, skipped


def _iso(value: datetime) -> str:
    return value.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _group_key(query: dict[str, Any], widget_type: str, widget_id: str) -> bytes:
    rest = {k: v for k, v in query.items() if k != "metrics"}
    if widget_type == "histogram":
        rest["_widget"] = widget_id  # bins are per metric: never merged
    return orjson.dumps(rest, option=orjson.OPT_SORT_KEYS)


def _run_grouped(
    store: Store, project_id: str, asked: list[tuple[int, dict[str, Any], str]], label: list[str]
) -> tuple[dict[int, list[dict[str, Any]]], int]:
    """Run each (widget index, full query, widget type), merging queries that differ only in
    their metrics; rows per widget index, and the number of queries run."""
    groups: dict[bytes, list[tuple[int, dict[str, Any]]]] = {}
    for index, query, kind in asked:
        groups.setdefault(_group_key(query, kind, str(index)), []).append((index, query))
    out: dict[int, list[dict[str, Any]]] = {}
    for members in groups.values():
        merged = copy.deepcopy(members[0][1])
        metrics: list[dict[str, Any]] = []
        for _, query in members:
            for m in query.get("metrics") or []:
                if m not in metrics:
                    metrics.append(m)
        merged["metrics"] = metrics
        try:
            parsed = parse_metrics_query(merged)
            rows = store.metrics(project_id, parsed)  # over the store's limits: a 400 too
        except BadRequest as exc:
            raise BadRequest(f"widget {label[members[0][0]]!r}: {exc.message}") from None
        for index, query in members:
            own = parse_metrics_query(query)
            keep = {TIME_COLUMN, *own.dimensions, *(m.column for m in own.metrics)}
            out[index] = [{k: v for k, v in row.items() if k in keep} for row in rows]
    return out, len(groups)


def run_dashboard(
    store: Store,
    project_id: str,
    dashboard: Dashboard,
    from_time: datetime,
    to_time: datetime,
    filters: list[dict[str, Any]] | None = None,
) -> DashboardData:
    """Every widget's rows over ``[from_time, to_time)`` (naive UTC) within the project,
    with the dashboard's filters and ``filters`` (trace-list language) ANDed to each."""
    extra = parse_filters([*dashboard.filters, *(filters or [])])
    window_ = {"fromTimestamp": _iso(from_time), "toTimestamp": _iso(to_time)}
    span = to_time - from_time
    before = {"fromTimestamp": _iso(from_time - span), "toTimestamp": _iso(from_time)}
    current: list[tuple[int, dict[str, Any], str]] = []
    previous: list[tuple[int, dict[str, Any], str]] = []
    skipped: list[list[str]] = []
    parsed_widgets = []
    for i, w in enumerate(dashboard.widgets):
        query = copy.deepcopy(w.query)
        mapped, left_out = filters_for_view(extra, str(query.get("view")))
        query["filters"] = [*(query.get("filters") or []), *mapped]
        skipped.append(left_out)
        try:
            parsed = parse_metrics_query({**query, **window_})
        except BadRequest as exc:
            raise BadRequest(f"widget {w.title!r}: {exc.message}") from None
        parsed_widgets.append(parsed)
        if parsed.granularity:  # "auto" resolved, so it can share a query with "day" etc.
            query["timeDimension"] = {"granularity": parsed.granularity}
        current.append((i, {**query, **window_}, w.type))
        if w.type == "number":
            previous.append((i, {**query, **before}, w.type))
    titles = [w.title for w in dashboard.widgets]
    rows, n_now = _run_grouped(store, project_id, current, titles)
    rows_before, n_before = _run_grouped(store, project_id, previous, titles)
    widgets = [
        WidgetData(
            w.id,
            w.title,
            w.type,
            w.query,
            parsed_widgets[i].granularity,
            parsed_widgets[i].dimensions,
            [m.column for m in parsed_widgets[i].metrics],
            rows[i],
            rows_before.get(i) if w.type == "number" else None,
            skipped[i],
        )
        for i, w in enumerate(dashboard.widgets)
    ]
    return DashboardData(from_time, to_time, widgets, n_now + n_before)
