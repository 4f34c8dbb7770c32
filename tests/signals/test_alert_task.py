"""Alert evaluation on a real store: each state, the no-data policies, notifications on
changes and re-notifications exactly once, the live history agreeing with a backtest."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import orjson
import pytest

from heron.evals.spec import Problems
from heron.runner import Runner
from heron.signals.alert_task import AlertTask
from heron.signals.alerts import check_alert
from heron.signals.evaluate import Plan, run_backtest
from heron.store import EmbeddedStore
from tests.support.alert_data import add_traces

T0 = datetime(2026, 11, 2, 12, 0)  # an evaluation time (a whole minute)
MIN = timedelta(minutes=1)


def put(store: EmbeddedStore, raw: dict[str, Any], project: str = "p1") -> dict[str, Any]:
    problems = Problems()
    name, spec = check_alert(raw, "alert", problems, channels={"oncall", "chat"})
    assert spec is not None and name is not None, problems
    store.put_alert(project, name, spec)
    return spec


def errors_alert(**over: Any) -> dict[str, Any]:
    return {
        "name": "errors",
        "query": {"view": "traces", "metric": {"measure": "error_rate", "aggregation": "avg"}},
        "window": "5m",
        "every": "1m",
        "lag": "1m",
        "condition": {"operator": ">", "warning": 0.2, "alert": 0.5},
        "notify": ["oncall"],
        **over,
    }


def notifications(store: EmbeddedStore, project: str = "p1") -> list[dict[str, Any]]:
    rows = (
        store.cursor()
        .execute(
            "SELECT channel, event FROM notifications WHERE project_id = ? ORDER BY created_at, id",
            [project],
        )
        .fetchall()
    )
    return [{"channel": c, **orjson.loads(e)} for c, e in rows]


def minute_traces(store: EmbeddedStore, start: datetime, minutes: int, errors: int, ok: int):
    for i in range(minutes):
        at = start + i * MIN + timedelta(seconds=10)
        add_traces(store, [at] * errors, error=True)
        add_traces(store, [at] * ok)


def run_at(store: EmbeddedStore, task: AlertTask, at: datetime) -> dict[str, Any]:
    task.run(at)
    alert = store.list_alerts("p1")[0]
    return alert


def test_each_state_and_a_notification_on_every_change(store: EmbeddedStore) -> None:
    put(store, errors_alert())
    task = AlertTask()
    task.bind(store)
    # 10 minutes: 0% errors, then 30% (warning), then 80% (alert), then none at all
    minute_traces(store, T0 - 20 * MIN, 10, 0, 10)
    minute_traces(store, T0 - 10 * MIN, 5, 3, 7)
    minute_traces(store, T0 - 5 * MIN, 5, 8, 2)
    lag = MIN
    states = {}
    for t in (T0 - 10 * MIN, T0 - 5 * MIN, T0, T0 + 10 * MIN):
        states[t] = run_at(store, task, t + lag + timedelta(seconds=5))["state"]
    assert list(states.values()) == ["OK", "WARNING", "ALERT", "NO_DATA"]
    history = store.alert_history("p1", "errors")
    assert [h["state"] for h in history] == ["NO_DATA", "ALERT", "WARNING", "OK"]
    assert [h["value"] for h in history] == [None, pytest.approx(0.8), pytest.approx(0.3), 0.0]
    assert history[1]["window_start"] == T0 - 5 * MIN and history[1]["eval_time"] == T0
    sent = notifications(store)
    # the first OK is not news; each later change is, once, to the alert's channel
    assert [
        (n["channel"], n["type"], n["alert"]["state"], n["alert"]["previous"]) for n in sent
    ] == [
        ("oncall", "alert.state_changed", "WARNING", "OK"),
        ("oncall", "alert.state_changed", "ALERT", "WARNING"),
        ("oncall", "alert.state_changed", "NO_DATA", "ALERT"),
    ]
    assert "0.8" in sent[1]["text"] and sent[1]["link"] == "/alerts/errors"


def test_an_evaluated_time_is_never_evaluated_twice(store: EmbeddedStore) -> None:
    put(store, errors_alert())
    task = AlertTask()
    task.bind(store)
    minute_traces(store, T0 - 5 * MIN, 5, 8, 2)
    at = T0 + MIN + timedelta(seconds=5)
    task.run(at)
    task.run(at + timedelta(seconds=20))  # same due time: nothing new
    alert = store.list_alerts("p1")[0]
    # a redo after a crash between the read and the write: the row exists, nothing is written
    from heron.signals.alert_task import evaluation
    from heron.signals.evaluate import evaluate_at

    plan = Plan.of(alert["spec"])
    j = evaluate_at(store, "p1", plan, [T0], None)[0]
    stale = {**alert, "state": None, "evaluated_at": None, "notified_at": None}
    assert store.record_alert_evaluation(evaluation(stale, plan, j)) is False
    assert len(store.alert_history("p1", "errors")) == 1
    assert len(notifications(store)) == 1


@pytest.mark.parametrize(
    ("policy", "state"),
    [("no_data", "NO_DATA"), ("ok", "OK"), ("alert", "ALERT"), ("keep", "ALERT")],
)
def test_no_data_policies(store: EmbeddedStore, policy: str, state: str) -> None:
    put(store, errors_alert(no_data=policy))
    task = AlertTask()
    task.bind(store)
    minute_traces(store, T0 - 5 * MIN, 5, 8, 2)
    assert run_at(store, task, T0 + MIN)["state"] == "ALERT"
    assert run_at(store, task, T0 + 20 * MIN)["state"] == state


def test_renotify_while_firing(store: EmbeddedStore) -> None:
    put(store, errors_alert(renotify="3m", window="1h"))
    task = AlertTask()
    task.bind(store)
    minute_traces(store, T0 - 30 * MIN, 40, 8, 2)
    for i in range(8):
        task.run(T0 + i * MIN + MIN)
    types = [(n["type"], n["alert"]["window"]["to"]) for n in notifications(store)]
    assert types == [
        ("alert.state_changed", "2026-11-02T12:00:00Z"),
        ("alert.firing", "2026-11-02T12:03:00Z"),
        ("alert.firing", "2026-11-02T12:06:00Z"),
    ]


def test_a_count_below_a_threshold_and_missed_times_are_not_replayed(
    store: EmbeddedStore,
) -> None:
    put(
        store,
        {
            "name": "quiet",
            "query": {"view": "traces", "metric": {"measure": "count", "aggregation": "count"}},
            "window": "5m",
            "every": "1m",
            "condition": {"operator": "<", "alert": 1},
            "notify": ["chat"],
        },
    )
    task = AlertTask()
    task.bind(store)
    assert run_at(store, task, T0 + MIN)["state"] == "ALERT"  # an empty window counts 0
    task.run(T0 + 60 * MIN)  # down for an hour: only the latest time is evaluated
    assert [h["eval_time"] for h in store.alert_history("p1", "quiet")] == [T0 + 59 * MIN, T0]


def test_disabled_alerts_and_other_projects_are_left_alone(store: EmbeddedStore) -> None:
    put(store, errors_alert(enabled=False))
    put(store, errors_alert(name="theirs"), project="p2")
    minute_traces(store, T0 - 5 * MIN, 5, 8, 2)  # p1's traces
    task = AlertTask()
    task.bind(store)
    task.run(T0 + MIN)
    assert store.alert_history("p1", "errors") == []
    assert store.alert_history("p2", "theirs")[0]["value"] is None  # p1's errors not counted


def test_the_runner_hosts_the_alert_task_and_its_due_time(store: EmbeddedStore) -> None:
    put(store, errors_alert())
    now = T0 + MIN + timedelta(seconds=30)
    task = AlertTask()
    runner = Runner(store, [task], clock=lambda: now)
    assert task.due(now) == T0 + MIN  # T0 is due one lag after it
    runner.run_until_idle()
    assert store.list_alerts("p1")[0]["evaluated_at"] == T0
    assert task.due(now) == T0 + 2 * MIN


def test_live_history_agrees_with_a_backtest(store: EmbeddedStore) -> None:
    spec = put(store, errors_alert(window="3m", every="1m"))
    for i in range(30):
        at = T0 + i * MIN + timedelta(seconds=i % 50)
        add_traces(store, [at] * (i % 4), error=True)
        add_traces(store, [at])
    task = AlertTask()
    task.bind(store)
    for i in range(1, 32):
        task.run(T0 + i * MIN + MIN)
    live = {h["eval_time"]: (h["value"], h["state"]) for h in store.alert_history("p1", "errors")}
    backtest = run_backtest(store, "p1", Plan.of(spec), T0 + MIN, T0 + 31 * MIN)
    assert len(live) == len(backtest) == 31
    assert {j.time: (j.value, j.state) for j in backtest} == live
    assert {s for _, s in live.values()} >= {"OK", "WARNING", "ALERT"}


def test_a_failing_alert_waits_for_its_next_time_and_spares_the_others(
    store: EmbeddedStore,
) -> None:
    spec = put(store, errors_alert())
    # stored from an older release that knew a measure this one does not: its query fails
    broken = {
        **spec,
        "query": {**spec["query"], "metric": {"measure": "gone", "aggregation": "avg"}},
    }
    store.put_alert("p1", "broken", broken)
    task = AlertTask()
    task.bind(store)
    at = T0 + MIN + timedelta(seconds=5)
    task.run(at)
    assert task._failed == {("p1", "broken"): T0}
    assert task.due(at) > at  # the failed time is not due again (nor is the other alert)
    assert store.alert_history("p1", "errors")[0]["eval_time"] == T0  # the other went on
    assert store.alert_history("p1", "broken") == []
    task.run(T0 + 2 * MIN + timedelta(seconds=5))
    assert task._failed == {("p1", "broken"): T0 + MIN}
