"""Alert definitions: every problem named with its path; export round-trips."""

from __future__ import annotations

from typing import Any

import pytest

from heron.evals.spec import Problems
from heron.signals.alerts import check_alert, export_alert

CHAT_ERRORS = {
    "name": "chat-error-rate",
    "query": {
        "view": "traces",
        "metric": {"measure": "error_rate", "aggregation": "avg"},
        "filters": [{"column": "name", "operator": "=", "value": "support-chat"}],
    },
    "window": "5m",
    "every": "1m",
    "condition": {"operator": ">", "warning": 0.05, "alert": 0.1},
    "notify": ["oncall"],
}
LATENCY = {
    "name": "chat-latency-anomaly",
    "query": {"view": "traces", "metric": {"measure": "latency", "aggregation": "p50"}},
    "window": "1h",
    "every": "5m",
    "anomaly": {"sensitivity": "medium"},
    "notify": ["oncall"],
}


def check(raw: Any, channels: set[str] | None = None) -> tuple[dict | None, list]:
    problems = Problems()
    _, spec = check_alert(raw, "alerts[0]", problems, channels=channels or {"oncall"})
    return spec, problems.items


@pytest.mark.parametrize("raw", [CHAT_ERRORS, LATENCY])
def test_the_issue_examples_check_and_export_unchanged(raw: dict) -> None:
    spec, problems = check(raw)
    assert problems == [] and spec is not None
    assert spec["lag"] == "1m" and spec["no_data"] == "no_data" and spec["renotify"] == "off"
    again, problems = check(export_alert(raw["name"], spec))
    assert problems == [] and again == spec


@pytest.mark.parametrize(
    ("change", "path", "words"),
    [
        ({"query": {"view": "nope", "metric": {}}}, "alerts[0].query.view", "one of traces"),
        (
            {"query": {"view": "traces", "metric": {"measure": "x", "aggregation": "avg"}}},
            "alerts[0].query.metric.measure",
            "a measure of the traces view",
        ),
        (
            {"query": {"view": "traces", "metric": {"measure": "latency", "aggregation": "p42"}}},
            "alerts[0].query.metric.aggregation",
            "one of count",
        ),
        (
            {
                "query": {
                    "view": "traces",
                    "metric": {"measure": "latency", "aggregation": "avg"},
                    "filters": [{"column": "nope", "operator": "=", "value": 1}],
                }
            },
            "alerts[0].query.filters",
            "nope",
        ),
        ({"window": "5 minutes"}, "alerts[0].window", "not a duration"),
        ({"window": "30d"}, "alerts[0].window", "at most 1w"),
        ({"every": "10s"}, "alerts[0].every", "at least 30s"),
        ({"lag": 5}, "alerts[0].lag", "duration"),
        ({"condition": {"operator": "!=", "alert": 1}}, "alerts[0].condition.operator", "one of"),
        (
            {"condition": {"operator": ">", "warning": 2, "alert": 1}},
            "alerts[0].condition.warning",
            "before alert",
        ),
        ({"condition": {"operator": ">"}}, "alerts[0].condition.alert", "required"),
        ({"anomaly": {"sensitivity": "low"}}, "alerts[0]", "exactly one"),
        ({"no_data": "panic"}, "alerts[0].no_data", "one of"),
        ({"renotify": "often"}, "alerts[0].renotify", "duration"),
        ({"notify": ["pager"]}, "alerts[0].notify[0]", "no channel named 'pager'"),
        ({"enabled": "yes"}, "alerts[0].enabled", "true or false"),
        ({"colour": "red"}, "alerts[0].colour", "unknown field"),
        ({"name": "no spaces allowed"}, "alerts[0].name", "a name of 1 to 64"),
    ],
)  # fmt: skip
def test_each_problem_is_named_with_its_path(change: dict, path: str, words: str) -> None:
    spec, problems = check({**CHAT_ERRORS, **change})
    assert spec is None
    assert any(p == path and words in m for p, m in problems), problems


def test_anomaly_needs_no_condition_and_has_defaults() -> None:
    spec, problems = check({**LATENCY, "anomaly": {}})
    assert problems == [] and spec["anomaly"] == {"sensitivity": "medium", "direction": "both"}
    _, problems = check({**LATENCY, "anomaly": {"sensitivity": "extreme", "direction": "up"}})
    assert [p for p, _ in problems] == [
        "alerts[0].anomaly.sensitivity",
        "alerts[0].anomaly.direction",
    ]
