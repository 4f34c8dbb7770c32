"""The default dashboard's user-feedback section on the known workload plus feedback scores
sent through the API; expected rates are counted from the tables below."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.dashboards.data import TRACES, WINDOW, trace_id

# explicit thumbs per trace (several values: the trace counts with their mean)
THUMBS = {"t1": [1], "t2": [0], "t4": [1, 0, 1]}
# implicit signals: the traces that show them
IMPLICIT = {
    "implicit_retry": ["t2", "t3"],
    "implicit_rephrase": ["t2"],
    "implicit_disagreement": ["t4"],
    "implicit_abandonment": ["t5"],
}
DAYS = {0: "2026-11-20", 1: "2026-11-21", 2: "2026-11-22"}


def feedback_scores() -> list[dict[str, Any]]:
    out = [
        {"traceId": trace_id(t).hex(), "name": "user_feedback", "value": v, "dataType": "BOOLEAN",
         "timestamp": "2026-11-22T12:00:00Z"}
        for t, values in THUMBS.items() for v in values
    ]  # fmt: skip
    out += [
        {"traceId": trace_id(t).hex(), "name": name, "value": 1, "dataType": "BOOLEAN",
         "timestamp": "2026-11-22T12:00:00Z"}
        for name, traces in IMPLICIT.items() for t in traces
    ]  # fmt: skip
    return out


@pytest.fixture
def widgets(seeded: TestClient) -> dict[str, dict[str, Any]]:
    r = seeded.post("/api/scores", json=feedback_scores())
    assert r.status_code == 202, r.text
    r = seeded.get("/api/dashboards/default/data", params=WINDOW)
    assert r.status_code == 200, r.text
    return {w["id"]: w for w in r.json()["widgets"]}


def rate(traces: list[str], name: str) -> float:
    return sum(1 for t in traces if t in IMPLICIT[name]) / len(traces)


def groups(index: int) -> dict[Any, list[str]]:
    out: dict[Any, list[str]] = defaultdict(list)
    for row in TRACES:
        out[row[index]].append(row[0])
    return out


def test_explicit_positive_rate_and_response_rate(widgets: dict[str, dict[str, Any]]) -> None:
    per_trace = [sum(v) / len(v) for v in THUMBS.values()]
    [positive] = widgets["feedback-positive"]["data"]
    [response] = widgets["feedback-response"]["data"]
    assert positive["avg_scores.user_feedback"] == pytest.approx(sum(per_trace) / len(per_trace))
    assert response["avg_has_score.user_feedback"] == pytest.approx(len(THUMBS) / len(TRACES))
    assert widgets["feedback-positive"]["previous"] == [{"avg_scores.user_feedback": None}]
    by_day = {r["time_dimension"][:10]: r for r in widgets["feedback-explicit"]["data"]}
    for day, traces in groups(1).items():
        rated = [t for t in traces if t in THUMBS]
        row = by_day[DAYS[day]]
        assert row["avg_has_score.user_feedback"] == pytest.approx(len(rated) / len(traces))
        if rated:
            means = [sum(THUMBS[t]) / len(THUMBS[t]) for t in rated]
            assert row["avg_scores.user_feedback"] == pytest.approx(sum(means) / len(means))
        else:
            assert row["avg_scores.user_feedback"] is None


def test_implicit_rates_over_time(widgets: dict[str, dict[str, Any]]) -> None:
    by_day = {r["time_dimension"][:10]: r for r in widgets["feedback-implicit"]["data"]}
    assert len(by_day) == 7  # every day of the window
    for day, traces in groups(1).items():
        for name in IMPLICIT:
            assert by_day[DAYS[day]][f"avg_has_score.{name}"] == pytest.approx(
                rate(traces, name)
            ), (day, name)
    assert by_day["2026-11-19"]["avg_has_score.implicit_retry"] is None  # no traces that day


@pytest.mark.parametrize(
    ("widget", "dimension", "index"),
    [("feedback-by-model", "model", 4), ("feedback-by-release", "release", 8)],
)
def test_implicit_rates_by_model_and_release(
    widgets: dict[str, dict[str, Any]], widget: str, dimension: str, index: int
) -> None:
    rows = {r[dimension]: r for r in widgets[widget]["data"]}
    want = groups(index)
    assert set(rows) == set(want)
    for value, traces in want.items():
        for name in IMPLICIT:
            assert rows[value][f"avg_has_score.{name}"] == pytest.approx(rate(traces, name))


def test_implicit_rates_by_prompt_version(widgets: dict[str, dict[str, Any]]) -> None:
    rows = {
        (r["prompt_name"], r["prompt_version"]): r for r in widgets["feedback-by-prompt"]["data"]
    }
    want = {k: v for k, v in groups(9).items() if k is not None}  # traces without a prompt: out
    assert set(rows) == {("support-system", k) for k in want}
    for version, traces in want.items():
        for name in IMPLICIT:
            got = rows[("support-system", version)][f"avg_has_score.{name}"]
            assert got == pytest.approx(rate(traces, name)), (version, name)
