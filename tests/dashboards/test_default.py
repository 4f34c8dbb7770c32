"""The default monitoring dashboard on a real store with known numbers (sent as OTLP)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import pytest
from fastapi.testclient import TestClient

from heron.dashboards import default_dashboard, parse_dashboard, run_dashboard
from heron.dashboards.run import DashboardData
from heron.errors import BadRequest
from heron.server.state import ServerState

START, END = datetime(2026, 11, 19), datetime(2026, 11, 26)


def state(client: TestClient) -> ServerState:
    return client.app.state.heron  # type: ignore[attr-defined]


@pytest.fixture
def project_id(seeded: TestClient) -> str:
    return state(seeded).store.project_by_name("test")["id"]


def by_id(data: DashboardData) -> dict[str, Any]:
    return {w.id: w for w in data.widgets}


def go(client: TestClient, project_id: str, **kw: Any) -> DashboardData:
    return run_dashboard(state(client).store, project_id, default_dashboard(), START, END, **kw)


def test_default_dashboard_values(seeded: TestClient, project_id: str) -> None:
    data = go(seeded, project_id)
    w = by_id(data)
    assert w["traces-total"].rows == [{"count_count": 5}]
    assert w["traces-total"].previous == [{"count_count": 0}]
    assert w["cost-total"].rows[0]["sum_total_cost"] == pytest.approx(0.63)
    assert w["errors-total"].rows[0]["avg_error_rate"] == pytest.approx(0.2)
    daily = {r["time_dimension"][:10]: r["count_count"] for r in w["traces"].rows}
    assert daily == {"2026-11-19": 0, "2026-11-20": 2, "2026-11-21": 1, "2026-11-22": 2,
                     "2026-11-23": 0, "2026-11-24": 0, "2026-11-25": 0}  # fmt: skip
    assert sum(r["sum_observation_count"] or 0 for r in w["observations"].rows) == 10
    day0 = next(r for r in w["latency"].rows if r["time_dimension"].startswith("2026-11-20"))
    assert day0["p50_latency"] == pytest.approx(1500)
    assert {r["p50_time_to_first_token"] for r in w["ttft"].rows} - {None} == {100.0}
    assert sum(r["sum_input_tokens"] or 0 for r in w["tokens"].rows) == 500
    per_model = {r["model"]: r["sum_total_cost"] for r in w["cost-per-model"].rows}
    assert per_model == pytest.approx({"gpt-4o": 0.60, "gpt-4o-mini": 0.03})
    per_route = [(r["name"], r["sum_total_cost"]) for r in w["cost-per-route"].rows]
    assert per_route == [("support-chat", pytest.approx(0.6)), ("search", pytest.approx(0.03))]
    users = [(r["user_id"], r["sum_total_cost"], r["count_count"]) for r in w["top-users"].rows]
    assert users == [("carol", pytest.approx(0.3), 1), ("bob", pytest.approx(0.22), 2),
                     ("alice", pytest.approx(0.11), 2)]  # fmt: skip
    bins = w["latency-histogram"].rows[0]["histogram_latency"]
    assert len(bins) == 20 and sum(b[2] for b in bins) == 5
    assert bins[0][0] == pytest.approx(400) and bins[-1][1] == pytest.approx(3000)
    scores = {(r["time_dimension"][:10], r["name"]): r["avg_value"] for r in w["scores"].rows}
    assert scores[("2026-11-20", "helpfulness")] == pytest.approx(0.5)
    assert scores[("2026-11-22", "correct")] == pytest.approx(1.0)
    assert scores[("2026-11-21", "helpfulness")] is None


def test_default_dashboard_runs_few_queries(seeded: TestClient, project_id: str) -> None:
    data = go(seeded, project_id)
    # 23 widgets: numbers (1 + previous period 1), traces over time (with cost per day: auto
    # is a day here), time to first token, latency histogram, per model, per route, users,
    # scores; user feedback adds 7 widgets and 3 queries (by model, release, prompt version):
    # its numbers and its charts over time join the queries above
    assert len(data.widgets) == 23
    assert data.queries == 12


def test_dashboard_filters_apply_to_every_view(seeded: TestClient, project_id: str) -> None:
    data = go(seeded, project_id, filters=[{"column": "name", "operator": "=",
                                            "value": "search"}])  # fmt: skip
    w = by_id(data)
    assert w["traces-total"].rows == [{"count_count": 2}]
    assert sum(r["sum_observation_count"] or 0 for r in w["observations"].rows) == 4
    assert {r["model"] for r in w["cost-per-model"].rows} == {"gpt-4o-mini"}  # trace_name
    assert {r["model"] for r in w["cost-per-model"].rows} == {"gpt-4o-mini"}
    assert w["scores"].unfiltered == ["name"]  # no trace name on scores: said, not guessed
    assert w["traces"].unfiltered == []


def test_custom_widgets_share_a_query_only_when_they_can(
    seeded: TestClient, project_id: str
) -> None:
    count = {"view": "traces", "metrics": [{"measure": "count", "aggregation": "count"}]}
    cost = {"view": "traces", "metrics": [{"measure": "total_cost", "aggregation": "sum"}]}
    d = parse_dashboard({"name": "x", "widgets": [
        {"title": "a", "type": "number", "query": count},
        {"title": "b", "type": "number", "query": cost},
        {"title": "c", "type": "bar", "query": {**cost, "dimensions": [{"field": "user_id"}]}},
    ]})  # fmt: skip
    data = run_dashboard(state(seeded).store, project_id, d, START, END)
    assert data.queries == 3  # a+b now, c, and a+b over the previous period
    a, b, c = data.widgets
    assert a.rows == [{"count_count": 5}] and b.rows == [{"sum_total_cost": pytest.approx(0.63)}]
    assert {r["user_id"] for r in c.rows} == {"alice", "bob", "carol"}


def test_a_widget_failing_at_run_time_is_named(seeded: TestClient, project_id: str) -> None:
    minute = {"view": "traces", "metrics": [{"measure": "count", "aggregation": "count"}],
              "timeDimension": {"granularity": "minute"}}  # fmt: skip
    d = parse_dashboard({"name": "x", "widgets": [{"title": "Busy", "type": "line",
                                                   "query": minute}]})  # fmt: skip
    with pytest.raises(BadRequest, match=r"widget 'Busy': timeDimension\.granularity"):
        run_dashboard(state(seeded).store, project_id, d, START, END)


def test_another_project_sees_nothing(seeded: TestClient) -> None:
    other = state(seeded).store.create_project("other")
    data = go(seeded, other["id"])
    assert by_id(data)["traces-total"].rows == [{"count_count": 0}]
    assert by_id(data)["cost-per-route"].rows == []
