"""Dashboard validation: every bad part is a BadRequest naming the widget and the part."""

from __future__ import annotations

from typing import Any

import pytest

from heron.dashboards import default_dashboard, parse_dashboard
from heron.errors import BadRequest

COUNT = {"view": "traces", "metrics": [{"measure": "count", "aggregation": "count"}]}
OVER_TIME = {**COUNT, "timeDimension": {"granularity": "auto"}}


def dashboard(*widgets: dict[str, Any], **rest: Any) -> dict[str, Any]:
    return {"name": "Ops", "widgets": list(widgets), **rest}


def widget(kind: str, query: dict[str, Any], title: str = "Volume") -> dict[str, Any]:
    return {"title": title, "type": kind, "query": query}


def refused(raw: Any) -> str:
    with pytest.raises(BadRequest) as caught:
        parse_dashboard(raw)
    return caught.value.message


def test_a_valid_dashboard_keeps_its_widgets_and_gives_ids() -> None:
    d = parse_dashboard(
        dashboard(
            widget("line", OVER_TIME),
            widget("number", COUNT, "Total"),
            widget("pie", {**COUNT, "dimensions": [{"field": "name"}]}, "Routes"),
            filters=[{"column": "environment", "operator": "=", "value": "production"}],
            date_range="24h",
        )
    )
    assert [w.id for w in d.widgets] == ["w1", "w2", "w3"]
    assert [w.type for w in d.widgets] == ["line", "number", "pie"]
    assert d.date_range == "24h" and d.filters[0]["column"] == "environment"
    assert parse_dashboard(d.to_json()).to_json() == d.to_json()  # round trip


def test_new_widgets_get_ids_not_in_use() -> None:
    d = parse_dashboard(dashboard(widget("bar", COUNT) | {"id": "w2"}, widget("bar", COUNT),
                                  widget("bar", COUNT) | {"id": "w3"}))  # fmt: skip
    assert [w.id for w in d.widgets] == ["w2", "w4", "w3"]


def test_the_default_dashboard_is_valid_in_the_same_format() -> None:
    d = default_dashboard()
    again = parse_dashboard(d.to_json())
    assert len(again.widgets) == len(d.widgets) >= 10
    kinds = {w.type for w in d.widgets}
    assert {"number", "line", "bar", "bar_time", "pivot"} <= kinds


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ([], "expected a JSON object"),
        ({"widgets": []}, "name: required"),
        ({"name": "x" * 101}, "name: at most 100"),
        (dashboard(date_range="2y"), "date_range: unknown range '2y'"),
        (dashboard(filters=[{"column": "nope", "operator": "=", "value": 1}]), "unknown column"),
        (dashboard(filters=[{"column": "start_time", "operator": ">", "value": "2026-01-01"}]),
         "date range"),
        (dashboard(widget("donut", COUNT)), "widgets[0] ('Volume').type: unknown type 'donut'"),
        (dashboard(widget("line", COUNT)), "widgets[0] ('Volume'): type 'line' needs query.time"),
        (dashboard(widget("number", OVER_TIME)), "type 'number' takes no timeDimension"),
        (dashboard(widget("pie", COUNT)), "type 'pie' needs exactly one dimension"),
        (dashboard(widget("number", {**COUNT, "dimensions": [{"field": "name"}]})),
         "type 'number' takes no dimensions"),
        (dashboard(widget("bar", {**COUNT, "view": "spans"})), "view: unknown view 'spans'"),
        (dashboard(widget("bar", {**COUNT, "metrics": [{"measure": "cost",
                                                         "aggregation": "sum"}]})),
         "metrics[0]: unknown measure 'cost'"),
        (dashboard(widget("bar", {**COUNT, "fromTimestamp": "2026-01-01T00:00:00Z"})),
         "query.fromTimestamp: not allowed"),
        (dashboard(widget("bar", COUNT), widget("bar", {**COUNT, "filters": "x"}, "Second")),
         "widgets[1] ('Second')"),
        (dashboard(widget("bar", COUNT) | {"id": "a"}, widget("bar", COUNT) | {"id": "a"}),
         "'a' is used twice"),
        (dashboard({"type": "bar", "query": COUNT}), "widgets[0].title: required"),
        (dashboard(*[widget("bar", COUNT)] * 51), "at most 50 widgets"),
        (dashboard(widget("histogram", COUNT)), "needs one metric with aggregation 'histogram'"),
        (dashboard(widget("bar", {**COUNT, "metrics": [{"measure": "latency",
                                                         "aggregation": "histogram"}]})),
         "aggregation 'histogram' needs widget type 'histogram'"),
    ],
)  # fmt: skip
def test_bad_parts_are_named(raw: Any, expected: str) -> None:
    assert expected in refused(raw)
