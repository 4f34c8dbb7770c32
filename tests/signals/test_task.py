"""The rules task on a real store and runner: each built-in rule kind, user rules, scores
arriving later, exactly-once signals and notifications across a redo, the issue
lifecycle, and the score feed not making any task loop."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import orjson

from heron.implicit.task import FeedbackTask
from heron.signals.rules import builtin_spec
from heron.store import EmbeddedStore
from tests.signals.support import NOW, obs, rules_runner, score, signals, tid, trace


def notifications(store: EmbeddedStore) -> list[dict[str, Any]]:
    rows = (
        store.cursor()
        .execute("SELECT channel, event FROM notifications ORDER BY created_at, id")
        .fetchall()
    )
    return [{"channel": c, **orjson.loads(e)} for c, e in rows]


def override(store: EmbeddedStore, name: str, **changes: Any) -> None:
    spec = builtin_spec(name)
    args = changes.pop("args", {})
    spec.update(changes)
    spec["args"].update(args)
    store.put_signal_rule("p1", name, spec)


def by_rule(store: EmbeddedStore, rule: str) -> list[dict[str, Any]]:
    return [s for s in signals(store) if s["rule"] == rule]


def test_error_rule_signals_each_failed_observation_and_groups_by_message(
    store: EmbeddedStore,
) -> None:
    runner = rules_runner(store)
    trace(store, tid(1), obs(tid(1), 1, level="ERROR", status="timeout after 30s on 'db-1'"))
    trace(store, tid(2), obs(tid(2), 1, level="ERROR", status="timeout after 4.5s on 'db-7'"))
    trace(store, tid(3), obs(tid(3), 1, level="ERROR", status="permission denied"))
    trace(store, tid(4), obs(tid(4), 1, level="WARNING", status="slow disk"))
    runner.run_until_idle()
    found = by_rule(store, "error")
    assert sorted(s["trace_id"] for s in found) == [tid(1), tid(2), tid(3)]
    assert {s["message"] for s in found} >= {"permission denied"}
    issues, total = store.list_issues("p1")
    assert total == 2
    counts = sorted(i["count"] for i in issues)
    assert counts == [1, 2]


def test_a_trace_with_old_timestamps_is_still_judged(store: EmbeddedStore) -> None:
    runner = rules_runner(store)
    old = NOW - timedelta(days=400)
    trace(store, tid(1), obs(tid(1), 1, level="ERROR", at=old, status="boom"), at=old)
    runner.run_until_idle()
    assert [s["trace_id"] for s in by_rule(store, "error")] == [tid(1)]


def test_slow_and_expensive_use_the_trailing_percentile_per_trace_name(
    store: EmbeddedStore,
) -> None:
    for n in range(30):  # the baseline: 30 ordinary traces of each name in the last days
        at = NOW - timedelta(hours=n + 1)
        trace(store, tid(100 + n), name="chat", at=at, ms=1000 + n, cost=0.01 + n / 1000)
        trace(store, tid(200 + n), name="search", at=at, ms=60_000, cost=1.0)
    override(store, "slow", args={"min_traces": 10})
    override(store, "expensive", args={"min_traces": 10})
    runner = rules_runner(store)
    trace(store, tid(1), name="chat", ms=50_000, cost=0.02)  # slow for chat, not expensive
    trace(store, tid(2), name="search", ms=50_000, cost=5.0)  # ordinary latency for search
    trace(store, tid(3), name="new-name", ms=900_000, cost=100.0)  # no baseline yet
    runner.run_until_idle()
    assert [s["trace_id"] for s in by_rule(store, "slow")] == [tid(1)]
    assert [s["trace_id"] for s in by_rule(store, "expensive")] == [tid(2)]
    assert "above the p99 of chat" in by_rule(store, "slow")[0]["message"]


def test_below_the_minimum_history_slow_never_fires(store: EmbeddedStore) -> None:
    for n in range(30):
        trace(store, tid(100 + n), at=NOW - timedelta(hours=n + 1), ms=1000)
    runner = rules_runner(store)  # default min_traces is 100
    trace(store, tid(1), ms=500_000)
    runner.run_until_idle()
    assert by_rule(store, "slow") == []


def test_retry_cluster_needs_three_calls_from_a_failure(store: EmbeddedStore) -> None:
    runner = rules_runner(store)

    def tool(t: str, n: int, level: str = "DEFAULT") -> Any:
        return obs(t, n, type="tool", name="search", level=level)

    trace(store, tid(1), tool(tid(1), 1, "ERROR"), tool(tid(1), 2, "ERROR"), tool(tid(1), 3))
    trace(store, tid(2), tool(tid(2), 1), tool(tid(2), 2), tool(tid(2), 3))  # no failure
    trace(store, tid(3), tool(tid(3), 1), tool(tid(3), 2, "ERROR"), tool(tid(3), 3))  # two
    gen = [
        obs(tid(4), n, type="generation", name=f"call-{n}", model="gpt-x", level=lvl)
        for n, lvl in ((1, "ERROR"), (2, "DEFAULT"), (3, "DEFAULT"), (4, "DEFAULT"))
    ]
    trace(store, tid(4), *gen)
    runner.run_until_idle()
    found = {s["trace_id"]: s for s in by_rule(store, "retry_cluster")}
    assert sorted(found) == [tid(1), tid(4)]
    assert found[tid(4)]["message"] == "model gpt-x called 4 times after 1 failures"
    assert found[tid(1)]["observation_id"] == obs(tid(1), 3).id


def test_negative_feedback_from_people_arriving_after_the_trace(store: EmbeddedStore) -> None:
    runner = rules_runner(store)
    for n in range(1, 6):
        trace(store, tid(n), user=f"u{n}", session=f"s{n}")
    runner.run_until_idle()
    assert by_rule(store, "negative_feedback") == []
    score(store, tid(1), "user_feedback", 0, data_type="BOOLEAN")  # thumbs down
    score(store, tid(2), "user_feedback", 1, data_type="BOOLEAN")  # thumbs up
    score(store, tid(3), "user_rating", 2)  # at the threshold
    score(store, tid(4), "user_rating", 3)
    score(store, tid(5), "user_feedback", 0, data_type="BOOLEAN", source="EVAL")  # no person
    runner.run_until_idle()
    found = {s["trace_id"]: s for s in by_rule(store, "negative_feedback")}
    assert sorted(found) == [tid(1), tid(3)]
    assert found[tid(3)]["message"] == "negative feedback: user_rating 2"
    assert found[tid(1)]["user_id"] == "u1" and found[tid(1)]["session_id"] == "s1"
    override(store, "negative_feedback", args={"rating_at_most": 3.0})
    runner.tasks["rules"].refresh()
    score(store, tid(4), "user_rating", 3, sid="again")  # a later rating of the same trace
    runner.run_until_idle()
    assert tid(4) in {s["trace_id"] for s in by_rule(store, "negative_feedback")}


def test_implicit_scores_signal_one_issue_per_score_name(store: EmbeddedStore) -> None:
    runner = rules_runner(store)
    for n in range(1, 4):
        trace(store, tid(n))
    score(store, tid(1), "implicit_abandoned", 1, data_type="BOOLEAN", source="EVAL")
    score(store, tid(2), "implicit_abandoned", 1, data_type="BOOLEAN", source="EVAL")
    score(store, tid(3), "implicit_rephrase", 1, data_type="BOOLEAN", source="EVAL")
    score(store, tid(3), "implicit_other", 0, data_type="BOOLEAN", source="EVAL", sid="x")
    runner.run_until_idle()
    found = by_rule(store, "implicit")
    assert sorted(s["trace_id"] for s in found) == [tid(1), tid(2), tid(3)]
    issues, _ = store.list_issues("p1", rule="implicit")
    assert sorted((i["name"], i["count"]) for i in issues) == [
        ("implicit_abandoned", 2),
        ("implicit_rephrase", 1),
    ]


def test_user_rules_on_traces_and_observations_with_a_score_filter(store: EmbeddedStore) -> None:
    base = {"severity": "critical", "notify": [], "enabled": True}
    store.put_signal_rule(
        "p1",
        "low-quality",
        {**base, "target": "traces", "message": "quality below 0.5",
         "filter": [{"column": "scores.quality", "operator": "<", "value": 0.5}]},
    )  # fmt: skip
    store.put_signal_rule(
        "p1",
        "refund-tool",
        {**base, "target": "observations",
         "filter": [{"column": "name", "operator": "=", "value": "refund"}]},
    )  # fmt: skip
    store.put_signal_rule("p1", "off", {**base, "enabled": False, "target": "traces", "filter": []})
    runner = rules_runner(store)
    trace(store, tid(1), obs(tid(1), 1, type="tool", name="refund"))
    trace(store, tid(2))
    runner.run_until_idle()
    assert [s["trace_id"] for s in by_rule(store, "refund-tool")] == [tid(1)]
    assert by_rule(store, "low-quality") == [] and by_rule(store, "off") == []
    score(store, tid(2), "quality", 0.2)  # an evaluator's or the API's score, later
    runner.run_until_idle()
    [low] = by_rule(store, "low-quality")
    assert low["trace_id"] == tid(2) and low["severity"] == "critical"
    assert low["message"] == "quality below 0.5"


def test_a_redo_writes_no_second_signal_and_no_second_notification(store: EmbeddedStore) -> None:
    override(store, "error", notify=["oncall", "chat"])
    runner = rules_runner(store)
    trace(store, tid(1), obs(tid(1), 1, level="ERROR", status="db down"))
    trace(store, tid(2), obs(tid(2), 1, level="ERROR", status="db down"))
    runner.run_until_idle()
    assert len(by_rule(store, "error")) == 2
    sent = notifications(store)
    assert sorted(n["channel"] for n in sent) == ["chat", "oncall"]  # one issue, two channels
    assert sent[0]["type"] == "issue.opened" and sent[0]["link"].startswith("/issues/iss_")
    # a backfill over processed data (what a redo after a crash does), and a later change
    job = runner.start_job("p1", ["rules"])
    runner.run_until_idle()
    assert store.runner_job(job["id"])["status"] == "done"
    trace(store, tid(1), obs(tid(1), 5, name="late child"))
    runner.run_until_idle()
    assert len(by_rule(store, "error")) == 2
    assert len(notifications(store)) == 2
    # the very same chunk judged twice by the task itself
    task = runner.tasks["rules"]
    targets = [t for t in _targets(store, runner, [tid(1), tid(2)])]
    task.run_many(targets, NOW)
    task.run_many(targets, NOW)
    assert len(by_rule(store, "error")) == 2 and len(notifications(store)) == 2


def _targets(store: EmbeddedStore, runner: Any, ids: list[str]) -> list[Any]:
    from heron.runner import Target

    task = runner.tasks["rules"]
    traces = store.target_traces("p1", "trace", ids, task.fields)
    return [Target("rules", "1", "p1", "trace", i, traces[i]) for i in ids]


def test_issue_lifecycle_resolved_regresses_and_ignore_until_count(store: EmbeddedStore) -> None:
    override(store, "error", notify=["oncall"])
    runner = rules_runner(store)
    n = 0

    def fail() -> None:
        nonlocal n
        n += 1
        trace(store, tid(n), obs(tid(n), 1, level="ERROR", status=f"quota exceeded ({n} req)"))
        runner.run_until_idle()

    fail()
    [issue] = store.list_issues("p1")[0]
    assert issue["status"] == "open"
    fail()  # open stays open, no notification
    assert [e["type"] for e in notifications(store)] == ["issue.opened"]
    store.set_issue_status("p1", [issue["id"]], "resolved")
    fail()
    issue = store.get_issue("p1", issue["id"])
    assert issue["status"] == "regressed" and issue["count"] == 3
    assert [e["type"] for e in notifications(store)] == ["issue.opened", "issue.regressed"]
    store.set_issue_status("p1", [issue["id"]], "ignored", more=2)
    fail()
    assert store.get_issue("p1", issue["id"])["status"] == "ignored"
    fail()
    assert store.get_issue("p1", issue["id"])["status"] == "open"
    assert notifications(store)[-1]["type"] == "issue.reopened"
    assert store.get_issue("p1", issue["id"])["count"] == 5


def test_ignore_until_a_date_reads_open_once_it_passes(store: EmbeddedStore) -> None:
    runner = rules_runner(store)
    trace(store, tid(1), obs(tid(1), 1, level="ERROR", status="x"))
    runner.run_until_idle()
    [issue] = store.list_issues("p1")[0]
    from datetime import UTC, datetime

    now = datetime.now(UTC).replace(tzinfo=None)
    store.set_issue_status("p1", [issue["id"]], "ignored", until=now + timedelta(hours=1))
    assert store.get_issue("p1", issue["id"])["status"] == "ignored"
    assert store.list_issues("p1", status=["ignored"])[1] == 1
    store.set_issue_status("p1", [issue["id"]], "ignored", until=now - timedelta(seconds=1))
    assert store.get_issue("p1", issue["id"])["status"] == "open"
    assert store.list_issues("p1", status=["open"])[1] == 1


def test_heron_fingerprint_attribute_overrides_the_grouping(store: EmbeddedStore) -> None:
    runner = rules_runner(store)
    meta = {"heron.fingerprint": "payments-down"}
    trace(store, tid(1), obs(tid(1), 1, level="ERROR", status="card declined", metadata=meta))
    trace(store, tid(2), obs(tid(2), 1, name="other", level="ERROR", status="bank offline"),
          metadata=meta)  # fmt: skip
    trace(store, tid(3), obs(tid(3), 1, level="ERROR", status="bank offline"))
    runner.run_until_idle()
    issues, total = store.list_issues("p1")
    assert total == 2
    assert sorted(i["count"] for i in issues) == [1, 2]


def test_projects_are_apart(store: EmbeddedStore) -> None:
    store.put_signal_rule(
        "p2", "everything", {"target": "traces", "filter": [], "severity": "info",
                             "notify": [], "enabled": True}
    )  # fmt: skip
    runner = rules_runner(store)
    trace(store, tid(1))
    trace(store, tid(2), project="p2")
    runner.run_until_idle()
    assert signals(store, "p1") == []
    assert [s["trace_id"] for s in signals(store, "p2")] == [tid(2)]
    assert store.list_issues("p1")[1] == 0


def test_the_score_feed_makes_no_task_loop(store: EmbeddedStore) -> None:
    """The implicit detectors write scores under change markers; neither they nor the rules
    task run again because of them more than once, and the runner goes idle."""
    runner = rules_runner(store, FeedbackTask())
    for n in range(1, 4):
        trace(store, tid(n), session="s1", at=NOW + timedelta(seconds=n))
    passes = 0
    while runner.step():
        passes += 1
        assert passes < 20, "the runner did not go idle"
    head = store.change_position()
    assert not runner.step() and store.change_position() == head


def test_the_score_feed_forgets_what_every_follower_passed(
    store: EmbeddedStore, monkeypatch: Any
) -> None:
    import heron.runner.engine as engine

    monkeypatch.setattr(engine, "_PRUNE_SCORE_FEED_S", 0.0)
    runner = rules_runner(store)
    trace(store, tid(1))
    score(store, tid(1), "user_rating", 1)
    feed = "SELECT count(*) FROM score_changes"
    assert store.cursor().execute(feed).fetchone()[0] == 1
    runner.run_until_idle()
    assert [s["rule"] for s in signals(store)] == ["negative_feedback"]
    runner.step()
    assert store.cursor().execute(feed).fetchone()[0] == 0
