"""What a dashboard is: a name, a description, dashboard-wide filters, a default date range
and widgets, each a metrics query (:mod:`heron.query.metrics`) without its time window.

Validation happens here, once, for the API and the pages alike: a bad part is a
:class:`~heron.errors.BadRequest` naming the widget and what is wrong with it.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any

import orjson

from heron.errors import BadRequest
from heron.query import TRACES, FilterError, compile_filters, parse_filters
from heron.query.metrics import parse_metrics_query

WIDGET_TYPES: dict[str, str] = {
    "line": "Line (over time)",
    "area": "Area (over time)",
    "bar_time": "Bars over time",
    "bar": "Bars",
    "pie": "Pie",
    "number": "Single number",
    "histogram": "Histogram",
    "pivot": "Table (pivot)",
}
TIME_TYPES = frozenset({"line", "area", "bar_time"})
DATE_RANGES: dict[str, tuple[str, int]] = {
    "1h": ("Last hour", 3600),
    "24h": ("Last 24 hours", 86_400),
    "7d": ("Last 7 days", 7 * 86_400),
    "30d": ("Last 30 days", 30 * 86_400),
}
DEFAULT_RANGE = "7d"
MAX_NAME = 100
MAX_DESCRIPTION = 1000
MAX_TITLE = 200
MAX_WIDGETS = 50
MAX_FILTERS = 50
MAX_ID = 64
# Any window works for validating a widget's shape; the dashboard supplies the real one.
_PROBE = {"fromTimestamp": "2026-01-01T00:00:00Z", "toTimestamp": "2026-01-01T01:00:00Z"}
_WINDOW_KEYS = ("fromTimestamp", "toTimestamp")


@dataclass
class Widget:
    """One chart or number: ``query`` is a metrics query without its time window."""

    id: str
    title: str
    type: str
    query: dict[str, Any]

    def to_json(self) -> dict[str, Any]:
        return {"id": self.id, "title": self.title, "type": self.type, "query": self.query}


@dataclass
class Dashboard:
    name: str
    description: str = ""
    filters: list[dict[str, Any]] = field(default_factory=list)
    date_range: str = DEFAULT_RANGE
    widgets: list[Widget] = field(default_factory=list)

    def spec(self) -> dict[str, Any]:
        """What the store keeps besides name and description."""
        return {
            "filters": self.filters,
            "date_range": self.date_range,
            "widgets": [w.to_json() for w in self.widgets],
        }

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "description": self.description, **self.spec()}


def _text(value: Any, label: str, limit: int, *, required: bool = False) -> str:
    if value is None:
        value = ""
    if not isinstance(value, str):
        raise BadRequest(f"{label}: expected a string")
    value = value.strip()
    if required and not value:
        raise BadRequest(f"{label}: required")
    if len(value) > limit:
        raise BadRequest(f"{label}: at most {limit} characters")
    return value


def parse_dashboard_filters(raw: Any, label: str = "filters") -> list[dict[str, Any]]:
    """Dashboard-wide filters: the trace list's filter language (columns of traces), decoded
    or as JSON text (a query parameter)."""
    if raw is None or raw == "":
        return []
    if isinstance(raw, str):
        try:
            raw = orjson.loads(raw)
        except orjson.JSONDecodeError as exc:
            raise BadRequest(f"{label}: invalid JSON: {exc}") from None
    if not isinstance(raw, list):
        raise BadRequest(f"{label}: expected a list of {{column, operator, value}} objects")
    if len(raw) > MAX_FILTERS:
        raise BadRequest(f"{label}: at most {MAX_FILTERS} filters")
    try:
        parsed = parse_filters(raw)
        compile_filters(parsed, TRACES)
    except FilterError as exc:
        raise BadRequest(f"{label}: {exc.message}") from None
    for f in parsed:
        if f.column.split(".", 1)[0] in ("start_time", "timestamp"):
            raise BadRequest(f"{label}: the time window is the dashboard's date range")
    return [dict(item) for item in raw]


def check_widget_query(query: dict[str, Any], widget_type: str) -> None:
    """Raise FilterError (or BadRequest) when ``query`` does not fit ``widget_type``."""
    for key in _WINDOW_KEYS:
        if key in query:
            raise BadRequest(f"query.{key}: not allowed; the dashboard supplies the window")
    q = parse_metrics_query({**query, **_PROBE})
    timed = q.granularity is not None
    aggregations = [m.aggregation for m in q.metrics]
    if widget_type in TIME_TYPES and not timed:
        raise BadRequest(f"type {widget_type!r} needs query.timeDimension (e.g. granularity auto)")
    if widget_type in ("bar", "pie", "number", "histogram") and timed:
        raise BadRequest(f"type {widget_type!r} takes no timeDimension")
    if widget_type == "pie" and len(q.dimensions) != 1:
        raise BadRequest("type 'pie' needs exactly one dimension")
    if widget_type == "number" and q.dimensions:
        raise BadRequest("type 'number' takes no dimensions")
    if widget_type == "histogram":
        if aggregations != ["histogram"]:
            raise BadRequest("type 'histogram' needs one metric with aggregation 'histogram'")
    elif "histogram" in aggregations:
        raise BadRequest("aggregation 'histogram' needs widget type 'histogram'")


def _free_id(index: int, used: set[str], taken: set[str]) -> str:
    """``w<n>`` for a widget without an id, from its position on, never one in use."""
    n = index + 1
    while f"w{n}" in used or f"w{n}" in taken:
        n += 1
    return f"w{n}"


def parse_widget(
    raw: Any, index: int, used: set[str], taken: frozenset[str] = frozenset()
) -> Widget:
    label = f"widgets[{index}]"
    if not isinstance(raw, dict):
        raise BadRequest(f"{label}: expected an object with title, type and query")
    title = _text(raw.get("title"), f"{label}.title", MAX_TITLE, required=True)
    label = f"{label} ({title!r})"
    widget_id = raw.get("id") or _free_id(index, used, taken)
    if not isinstance(widget_id, str) or len(widget_id) > MAX_ID or not widget_id.strip():
        raise BadRequest(f"{label}.id: expected a string of at most {MAX_ID} characters")
    if widget_id in used:
        raise BadRequest(f"{label}.id: {widget_id!r} is used twice")
    used.add(widget_id)
    kind = raw.get("type")
    if not isinstance(kind, str) or kind not in WIDGET_TYPES:
        choices = ", ".join(WIDGET_TYPES)
        raise BadRequest(f"{label}.type: unknown type {kind!r}; use one of {choices}")
    query = raw.get("query")
    if not isinstance(query, dict):
        raise BadRequest(f"{label}.query: expected a metrics query object")
    try:
        check_widget_query(query, kind)
    except BadRequest as exc:
        raise BadRequest(f"{label}: {exc.message}") from None
    return Widget(widget_id, title, kind, copy.deepcopy(query))


def parse_dashboard(raw: Any) -> Dashboard:
    """Validate a dashboard (decoded JSON); raises BadRequest naming the bad part."""
    if not isinstance(raw, dict):
        raise BadRequest("dashboard: expected a JSON object")
    name = _text(raw.get("name"), "name", MAX_NAME, required=True)
    description = _text(raw.get("description"), "description", MAX_DESCRIPTION)
    date_range = raw.get("date_range") or DEFAULT_RANGE
    if not isinstance(date_range, str) or date_range not in DATE_RANGES:
        raise BadRequest(f"date_range: unknown range {date_range!r}; use one of "
                         + ", ".join(DATE_RANGES))  # fmt: skip
    filters = parse_dashboard_filters(raw.get("filters"))
    widgets_raw = raw.get("widgets") or []
    if not isinstance(widgets_raw, list):
        raise BadRequest("widgets: expected a list")
    if len(widgets_raw) > MAX_WIDGETS:
        raise BadRequest(f"widgets: at most {MAX_WIDGETS} widgets")
    used: set[str] = set()
    taken = frozenset(
        w["id"] for w in widgets_raw if isinstance(w, dict) and isinstance(w.get("id"), str)
    )
    widgets = [parse_widget(w, i, used, taken) for i, w in enumerate(widgets_raw)]
    return Dashboard(name, description, filters, date_range, widgets)


def stored_dashboard(row: dict[str, Any]) -> Dashboard:
    """A dashboard as the store returns it (validated when it was saved)."""
    spec = row["spec"]
    return Dashboard(
        row["name"],
        row["description"],
        spec.get("filters") or [],
        spec.get("date_range") or DEFAULT_RANGE,
        [Widget(w["id"], w["title"], w["type"], w["query"]) for w in spec.get("widgets") or []],
    )
