"""More of the control store on both backends: project settings, automation (evaluators,
rules, alerts, channels, analyses, runner jobs), annotation queues and datasets; each
scenario runs on the DuckDB ``EmbeddedStore`` and on ``PostgresControl`` and the transcripts
must match call by call (see :mod:`tests.support.transcript`)."""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from heron.datasets.spec import DatasetSpec, ItemSpec
from heron.store import EmbeddedStore
from heron.store import alerts as alertdb
from heron.store import datasets as datasetdb
from heron.store.postgres import PostgresControl
from tests.support.transcript import Lines, Transcript, assert_same, race

PASSWORD = "long enough password"
SECOND = timedelta(seconds=1)


def _on_both(
    scenario: Callable[[Any], Lines], postgres_url: str, tmp_path: Path
) -> tuple[Lines, Lines]:
    """The scenario's transcript on DuckDB, then on PostgreSQL."""
    duck = EmbeddedStore(tmp_path / "heron.duckdb")
    pg = PostgresControl(postgres_url, pool_size=2)
    try:
        return scenario(duck), scenario(pg)
    finally:
        duck.close()
        pg.close()


def _settings_scenario(s: Any) -> Lines:
    """A project's settings, saved views and dashboards, through the same calls."""
    t = Transcript()
    pid = t("project", lambda: s.create_project("settings"))["id"]
    price = {"id": "p1", "model": "m", "match_pattern": "^m$", "prices": {"input": 1e-6}}
    t("no prices", lambda: s.list_prices(pid))
    t("put prices", lambda: [s.put_price(pid, price), s.put_price(pid, {**price, "id": "p2"})])
    t("replace price", lambda: s.put_price(pid, {**price, "prices": {"input": 2e-6}}))
    t("prices", lambda: s.list_prices(pid))
    t("delete price", lambda: s.delete_price(pid, "p2"))
    t("delete unknown price", lambda: s.delete_price(pid, "p2"))
    t("prices after", lambda: s.list_prices(pid))

    t("feedback default", lambda: s.feedback_settings(pid))
    origins, names = ["https://app.example.com", "http://localhost:3000"], ["thumbs"]
    t("set feedback", lambda: s.set_feedback_settings(pid, origins, names))
    t("replace feedback", lambda: s.set_feedback_settings(pid, origins[:1], []))
    t("bad origin", lambda: s.set_feedback_settings(pid, ["not a url"], []))
    t("feedback of none", lambda: s.set_feedback_settings("prj_none", [], []))
    t("feedback", lambda: s.feedback_settings(pid))
    t("all feedback", s.all_feedback_settings)
    t("implicit default", lambda: s.implicit_settings(pid))
    t("set implicit", lambda: s.set_implicit_settings(pid, {"enabled": ["implicit_retry"]}))
    t("implicit", lambda: s.implicit_settings(pid))
    t("reset implicit", lambda: [s.set_implicit_settings(pid, None), s.implicit_settings(pid)])
    t("implicit of none", lambda: s.set_implicit_settings("prj_none", {}))

    config = {"id": "c1", "name": "tone", "dataType": "CATEGORICAL", "categories": [
        {"label": "good", "value": 1}, {"label": "bad", "value": 0}]}  # fmt: skip
    t("config", lambda: s.put_score_config(pid, config))
    t("numeric", lambda: s.put_score_config(pid, {"id": "c2", "name": "helpful",
                                                  "dataType": "NUMERIC", "minValue": 0,
                                                  "maxValue": 5}))  # fmt: skip
    t("archive", lambda: s.put_score_config(pid, {**config, "isArchived": True}))
    t("configs", lambda: s.list_score_configs(pid, 1, 10))
    t("configs page 2", lambda: s.list_score_configs(pid, 2, 1))
    t("configs by id", lambda: s.score_configs_by_id(pid, ["c2", "c1", "nope", "c1"]))

    t("views", lambda: s.list_saved_views(pid))
    t("save b", lambda: s.create_saved_view(pid, "v1", "beta view", "?q=1%20x", "usr_a"))
    t("save a", lambda: s.create_saved_view(pid, "v2", "Alpha view", "?name=a'b", "usr_a"))
    t("views after", lambda: s.list_saved_views(pid))
    t("view", lambda: s.get_saved_view(pid, "v2"))
    t("view elsewhere", lambda: s.get_saved_view("prj_other", "v2"))
    t("delete view", lambda: [s.delete_saved_view(pid, "v1"), s.delete_saved_view(pid, "v1")])

    spec = {"widgets": [{"id": "w1", "title": "Cost", "query": {"view": "traces"}}]}
    t("dashboards", lambda: s.list_dashboards(pid))
    t("create dashboard", lambda: s.create_dashboard(pid, "d1", "Costs", "money", spec))
    t("update dashboard", lambda: s.update_dashboard(pid, "d1", "Costs!", "", {"widgets": []}))
    t("update unknown", lambda: s.update_dashboard(pid, "d9", "x", "", spec))
    t("dashboard", lambda: s.get_dashboard(pid, "d1"))
    t("dashboards after", lambda: s.list_dashboards(pid))
    t("delete dashboard", lambda: [s.delete_dashboard(pid, "d1"), s.get_dashboard(pid, "d1")])
    return t.lines


def test_settings_answer_as_on_duckdb(postgres_url: str, tmp_path: Path) -> None:
    expected, got = _on_both(_settings_scenario, postgres_url, tmp_path)
    lines = dict(expected)
    assert [(p["id"], p["prices"]) for p in lines["prices after"]] == [("p1", {"input": 2e-6})]
    assert lines["delete unknown price"][0] == "NotFound"
    assert lines["feedback"]["allowed_origins"] == ["https://app.example.com"]
    assert lines["implicit"] == {"enabled": ["implicit_retry"]}
    assert [v["name"] for v in lines["views after"]] == ["Alpha view", "beta view"]
    assert lines["delete view"] == [True, False] and lines["update unknown"] is False
    assert_same(got, expected)


def _automation_scenario(s: Any) -> Lines:
    """Evaluators, LLM connections, signal rules, alerts, channels with their outbox and
    delivery log, error analyses: the calls of heron's background tasks and settings pages."""
    t = Transcript()
    pid = t("project", lambda: s.create_project("automation"))["id"]
    at = datetime(2026, 5, 1, 12, 0, 0)

    judge = {"type": "llm_judge", "connection": "judge", "prompt": "Is it right? {{output}}"}
    ev = t("evaluator", lambda: s.put_evaluator(pid, "correct", judge))[0]
    t("same spec", lambda: s.put_evaluator(pid, "correct", judge))
    t("new spec", lambda: s.put_evaluator(pid, "correct", {**judge, "prompt": "Right?"}))
    t("second", lambda: s.put_evaluator(pid, "tone", {"type": "regex", "pattern": "sorry"}))
    t("of no project", lambda: s.put_evaluator("prj_none", "x", judge))
    t("versions", lambda: s.evaluator_versions(pid, ev["id"]))
    t("pause", lambda: s.set_evaluator_status(pid, ev["id"], "paused", "budget"))
    t("active", lambda: s.list_evaluators(pid, active_only=True))
    t("all evaluators", lambda: s.list_evaluators(None))
    stats = {"project_id": pid, "evaluator_id": ev["id"], "version": 2, "scored": 3, "cost": 0.5}
    log = {"project_id": pid, "evaluator_id": ev["id"], "message": "judged", "target": "t1"}
    t("runs", lambda: s.record_evaluator_runs([stats], [log]))
    t("more runs", lambda: s.record_evaluator_runs([{**stats, "failed": 1, "last_error": "x"}], []))
    t("stats", lambda: s.evaluator_stats(pid, ev["id"]))
    t("log", lambda: s.evaluator_log(pid, ev["id"]))
    t("get", lambda: s.get_evaluator(pid, "correct"))
    t("delete", lambda: [s.delete_evaluator(pid, ev["id"]), s.delete_evaluator(pid, ev["id"])])

    spec = {"provider": "openai", "model": "gpt-4o-mini", "base_url": None}
    t("connection", lambda: s.put_connection(pid, "judge", spec, "v1:cipher", "sk-…1234"))
    t("keep key", lambda: s.put_connection(pid, "judge", {**spec, "model": "o3"}, None, None))
    t("with key", lambda: s.get_connection(pid, "judge", with_key=True))
    t("connections", lambda: s.list_connections(pid))
    t("drop connection", lambda: [s.delete_connection(pid, "judge"), s.list_connections(pid)])

    rule = {"enabled": True, "target": "traces", "filter": [], "severity": "warning"}
    t("rule", lambda: s.put_signal_rule(pid, "slow", rule))
    t("rule again", lambda: s.put_signal_rule(pid, "slow", rule))
    t("rule changed", lambda: s.put_signal_rule(pid, "slow", {**rule, "enabled": False}))
    t("rules", lambda: [s.list_signal_rules(pid), s.list_signal_rules(None)])
    t("drop rule", lambda: [s.delete_signal_rule(pid, "slow"), s.delete_signal_rule(pid, "slow")])

    webhook = {"type": "webhook", "url": "https://hooks.example.com/x"}
    t("channel", lambda: s.put_channel(pid, "oncall", webhook, "v1:secret", "whsec_…abcd"))
    t("channel unchanged", lambda: s.put_channel(pid, "oncall", webhook, None, None))
    t("channel of none", lambda: s.put_channel("prj_none", "x", webhook, None, None))
    t("channels", lambda: [s.list_channels(pid), s.get_channel(pid, "oncall", with_secret=True)])

    alert = {"query": {"view": "traces", "metric": "count"}, "threshold": 5, "channels": ["oncall"]}
    t("alert", lambda: s.put_alert(pid, "busy", alert))
    t("alert again", lambda: s.put_alert(pid, "busy", alert))
    event = {"type": "alert", "title": "busy", "text": "too many", "link": "/alerts/busy"}
    evaluation = alertdb.Evaluation(
        project_id=pid, name="busy", eval_time=at, window_start=at - timedelta(hours=1),
        value=9.0, lower=None, upper=5.0, state="firing", since=at, detail={"n": 9},
        channels=["oncall"], event=event, notified_at=at,
    )  # fmt: skip
    t("evaluate", lambda: s.record_alert_evaluation(evaluation))
    t("evaluate again", lambda: s.record_alert_evaluation(evaluation))
    five = at + timedelta(minutes=5)
    later = dataclasses.replace(
        evaluation, eval_time=five, value=1.0, state="ok", since=five, event=None
    )
    t("evaluate ok", lambda: s.record_alert_evaluation(later))
    t("alerts", lambda: [s.list_alerts(pid), s.get_alert(pid, "busy")])
    t("history", lambda: s.alert_history(pid, "busy"))
    t("history window", lambda: s.alert_history(pid, "busy", at + timedelta(minutes=1), None))

    t("enqueue", lambda: s.enqueue_notifications(pid, ["oncall"], {**event, "title": "x"}))
    t("next due", lambda: s.next_notification_due() is not None)
    claimed = t("claim", lambda: s.claim_notifications(_now(), _now() + timedelta(minutes=5), 10))
    t("claimed again", lambda: s.claim_notifications(_now(), _now(), 10))
    ids = [n["id"] for n in claimed]
    t("notifications", lambda: s.notifications(pid, ids))
    attempts = [
        {"project_id": pid, "channel": "oncall", "notification_id": ids[0], "event_type": "alert",
         "title": "busy", "attempt": 1, "attempted_at": at, "outcome": "delivered",
         "status_code": 200, "duration_ms": 12.5},
        {"project_id": pid, "channel": "oncall", "notification_id": ids[1], "event_type": "alert",
         "title": "x", "attempt": 1, "attempted_at": at + SECOND, "outcome": "retrying",
         "status_code": 503, "error": "unavailable", "duration_ms": 30,
         "next_attempt_at": at + timedelta(minutes=1)},
    ]  # fmt: skip
    t("deliveries recorded", lambda: s.record_deliveries(attempts))
    t("after delivery", lambda: s.notifications(pid, ids))
    t("delivery log", lambda: s.channel_deliveries(pid, "oncall"))
    t("release", lambda: [s.release_notifications(ids, at), s.notifications(pid, ids)])
    t("drop channel", lambda: [s.delete_channel(pid, "oncall"), s.list_channels(pid)])

    analysis = {"id": "an1", "source": "comments", "from": at, "to": None, "filter": [],
                "method": "keywords", "warnings": ["few notes"], "createdBy": "usr_x"}  # fmt: skip
    categories = [{"id": "c1", "label": "timeouts", "keywords": ["timeout"]},
                  {"id": "c2", "label": "wrong", "keywords": ["wrong", "bad"],
                   "suggestedLabel": "Wrong answers"}]  # fmt: skip
    notes = [("n1", "t1", "it timed out", "c1"), ("n2", "t2", "wrong answer", "c2"),
             ("n3", "t3", "50% wrong?", "c2")]  # fmt: skip
    t("analysis", lambda: s.create_error_analysis(pid, analysis, categories, notes))
    edits = [("rename", {"category_id": "c1", "label": "Time-outs"}),
             ("add", {"category": {"id": "c3", "label": "new", "keywords": []},
                      "after": "c1"}),
             ("move", {"note_ids": ["n3"], "category_id": "c3"})]  # fmt: skip
    t("edit", lambda: s.edit_error_analysis(pid, "an1", edits))
    t("get analysis", lambda: s.get_error_analysis(pid, "an1"))
    t("analyses", lambda: s.list_error_analyses(pid))
    return t.lines


def _annotation_scenario(s: Any) -> Lines:
    """Annotation queues: two annotators sharing a queue of double annotation."""
    t = Transcript()
    pid = t("project", lambda: s.create_project("annotation"))["id"]
    ann, bea = t("users", lambda: [s.create_user(f"{n}@x.test", PASSWORD)["id"] for n in "ab"])
    spec = {"name": "review", "description": "look", "score_config_ids": ["c1"],
            "annotations_per_item": 2}  # fmt: skip
    q = t("queue", lambda: s.create_annotation_queue(pid, spec))
    qid = q["id"]
    t("same name", lambda: s.create_annotation_queue(pid, spec))
    t("rename", lambda: s.update_annotation_queue(pid, qid, {"description": "look closer"}))
    t("queues", lambda: [s.list_annotation_queues(pid), s.get_annotation_queue(pid, "review")])
    objects = [("TRACE", "t1"), ("TRACE", "t2"), ("OBSERVATION", "o1"), ("TRACE", "t1")]
    t("add", lambda: s.add_queue_items(pid, qid, objects))
    t("add again", lambda: s.add_queue_items(pid, qid, [("TRACE", "t2"), ("SESSION", "s1")]))
    items = t("items", lambda: s.list_queue_items(pid, qid))[0]
    t("page 2", lambda: s.list_queue_items(pid, qid, "PENDING", 2, 2))
    t("object queues", lambda: s.object_queues(pid, "TRACE", "t1"))
    t("assign", lambda: [s.assign_queue(pid, qid, ann), s.assign_queue(pid, qid, bea),
                         s.assign_queue(pid, qid, ann)])  # fmt: skip
    t("assignments", lambda: sorted(s.queue_assignments(pid, qid)) == sorted([ann, bea]))
    first = t("ann claims", lambda: s.claim_queue_item(pid, qid, ann))
    t("ann claims again", lambda: s.claim_queue_item(pid, qid, ann))
    t("bea claims", lambda: s.claim_queue_item(pid, qid, bea))
    t("bea claims ann's", lambda: s.claim_queue_item(pid, qid, bea, item_id=first["id"]))
    t("ann completes", lambda: s.complete_queue_item(pid, qid, first["id"], ann))
    t("bea takes it", lambda: s.claim_queue_item(pid, qid, bea, item_id=first["id"]))
    t("bea completes", lambda: s.complete_queue_item(pid, qid, first["id"], bea))
    t("annotators", lambda: s.queue_annotators(pid, qid, first["id"]))
    t("progress", lambda: [s.queue_progress(pid, qid), s.queue_progress(pid, qid, ann)])
    t("release", lambda: s.release_queue_item(pid, qid, items[1]["id"], bea))
    t("archive", lambda: s.update_queue_item(pid, qid, items[2]["id"], "COMPLETED"))
    t("delete item", lambda: [s.delete_queue_item(pid, qid, items[3]["id"]),
                              s.delete_queue_item(pid, qid, items[3]["id"])])  # fmt: skip
    t("item", lambda: s.get_queue_item(pid, qid, first["id"]))
    t("neighbours", lambda: [s.queue_item_neighbour(pid, qid, 2, 1),
                             s.queue_item_neighbour(pid, qid, 2, -1),
                             s.queue_item_neighbour(pid, qid, 1, -1)])  # fmt: skip
    t("reopen", lambda: s.reopen_queue_item(pid, qid, first["id"], ann))
    t("ann claims after", lambda: s.claim_queue_item_after(pid, qid, ann, 1))
    t("bea claims after", lambda: s.claim_queue_item_after(pid, qid, bea, 0))
    t("unassign", lambda: [s.unassign_queue(pid, qid, bea), s.queue_assignments(pid, qid)])
    t("drop queue", lambda: [s.delete_annotation_queue(pid, qid), s.list_annotation_queues(pid)])
    return t.lines


def test_annotation_answers_as_on_duckdb(postgres_url: str, tmp_path: Path) -> None:
    expected, got = _on_both(_annotation_scenario, postgres_url, tmp_path)
    lines = dict(expected)
    assert lines["add"] == 3 and lines["add again"] == 1
    assert lines["same name"][0] == "Conflict"
    assert lines["bea claims"]["id"] != lines["ann claims"]["id"]
    assert lines["bea claims ann's"] is None
    assert lines["item"]["status"] == "COMPLETED"
    assert_same(got, expected)


def test_annotators_claiming_at_once_get_different_items(postgres_url: str) -> None:
    """Replicas serving four annotators at once: each gets an item of its own."""
    stores = [PostgresControl(postgres_url, pool_size=1) for _ in range(4)]
    try:
        pid = stores[0].create_project("claims")["id"]
        users = [stores[0].create_user(f"a{i}@x.test", PASSWORD)["id"] for i in range(4)]
        qid = stores[0].create_annotation_queue(
            pid,
            {
                "name": "q",
                "description": None,
                "score_config_ids": [],
                "annotations_per_item": 1,
            },
        )["id"]
        stores[0].add_queue_items(pid, qid, [("TRACE", f"t{i}") for i in range(8)])
        claimed: list[str] = []
        claims = [
            functools.partial(
                lambda s, u: claimed.append(s.claim_queue_item(pid, qid, u)["id"]), s, u
            )
            for s, u in zip(stores, users, strict=True)
        ]
        assert race(*claims) == ["done"] * 4
        assert len(set(claimed)) == 4
    finally:
        for s in stores:
            s.close()


def _datasets_scenario(s: Any) -> Lines:
    """Datasets with versioned items, the runner's backfill jobs, alignment runs."""
    t = Transcript()
    pid = t("project", lambda: s.create_project("datasets"))["id"]
    schema = {"type": "object", "required": ["q"]}
    ds = t("dataset", lambda: s.create_dataset(pid, DatasetSpec("qa", "questions", {"k": 1},
                                                               input_schema=schema)))  # fmt: skip
    t("update dataset", lambda: s.create_dataset(pid, DatasetSpec("qa", metadata={"k": 2})))
    t("second", lambda: s.create_dataset(pid, DatasetSpec("other")))
    t("datasets", lambda: s.list_datasets(pid, 1, 10))
    t("by name and id", lambda: [s.get_dataset(pid, "qa"), s.get_dataset_by_id(pid, ds["id"])])
    items = [ItemSpec("i1", {"q": "2+2", "b": [1, {"x": None}]}, "4", {"src": "hand"}),
             ItemSpec("i2", {"q": "capital of France"}, {"a": "Paris"}),
             ItemSpec(None, {"q": "it's 50%?"}, source_trace_id="t9")]  # fmt: skip
    t("put items", lambda: s.put_dataset_items(pid, "qa", items)[1])
    t("bad item", lambda: s.put_dataset_items(pid, "qa", [ItemSpec("i4", {"nope": 1})]))
    t("new version", lambda: s.put_dataset_item(pid, "qa", ItemSpec("i1", expected_output="four")))
    t("archive", lambda: s.set_dataset_item_status(pid, "i2", "ARCHIVED"))
    t("item", lambda: s.get_dataset_item(pid, "i1"))
    f = datasetdb.ItemFilter(dataset_id=ds["id"])
    t("items", lambda: s.list_dataset_items(pid, f, 1, 10))
    t("active oldest first", lambda: s.list_dataset_items(
        pid, dataclasses.replace(f, status="ACTIVE"), 1, 10, oldest_first=True))  # fmt: skip
    t("delete", lambda: [s.delete_dataset_item(pid, "i2"), s.delete_dataset_item(pid, "i2")])
    t("items after", lambda: s.list_dataset_items(pid, f, 1, 10))
    t("unknown dataset", lambda: s.put_dataset_items(pid, "nope", items))

    t("no cursor", lambda: s.runner_cursor("evals"))
    t("job", lambda: s.create_runner_job("job1", pid, {"task": "evals", "scope": "all"}))
    t("job 2", lambda: s.create_runner_job("job2", pid, {"task": "signals"}))
    t("running", lambda: s.update_runner_job("job1", status="running", total=10, after="t5"))
    t("cancel", lambda: s.update_runner_job("job2", status="cancelled"))
    t("after end", lambda: s.update_runner_job("job2", status="running"))
    t("jobs", lambda: [s.runner_jobs(pid), s.runner_jobs(None, active=True), s.runner_job("job1")])

    run = {"id": "al1", "evaluator_id": "ev1", "evaluator_name": "correct", "version": 2,
           "spec": {"type": "llm_judge"}, "score_name": "correct", "positive": [True, "yes"],
           "source": "ANNOTATION", "labelled": 3, "sampled": 2, "job_id": None}  # fmt: skip
    t("alignment", lambda: s.create_alignment(pid, run))
    t("job set", lambda: s.set_alignment_job(pid, "al1", "job1"))
    judged = [
        {"trace_id": "t1", "human": True, "predicted": True, "value": "yes"},
        {"trace_id": "t2", "human": False, "predicted": None, "error": "timeout"},
    ]
    t("judged", lambda: s.put_alignment_items(pid, "al1", judged))
    t("redo", lambda: s.put_alignment_items(pid, "al1", [{**judged[1], "predicted": False}]))
    t("alignment read", lambda: [s.get_alignment(pid, "al1"), s.alignment_items(pid, "al1")])
    t("latest", lambda: [s.latest_alignment(pid, "ev1", None), s.latest_alignment(pid, "ev1", 1)])
    return t.lines


def test_datasets_answer_as_on_duckdb(postgres_url: str, tmp_path: Path) -> None:
    expected, got = _on_both(_datasets_scenario, postgres_url, tmp_path)
    lines = dict(expected)
    assert lines["put items"] == 3 and lines["bad item"][0] == "Invalid"
    assert lines["item"]["expectedOutput"] == "four"
    assert lines["after end"] is False and lines["delete"] == [True, False]
    assert [i["predicted"] for i in lines["alignment read"][1]] == [True, False]
    assert_same(got, expected)
    assert list(dict(got)["item"]["input"]) == ["q", "b"]  # kept as sent (JSON, not JSONB)


def _now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


def test_automation_answers_as_on_duckdb(postgres_url: str, tmp_path: Path) -> None:
    expected, got = _on_both(_automation_scenario, postgres_url, tmp_path)
    lines = dict(expected)
    assert [e["name"] for e in lines["all evaluators"]] == ["correct", "tone"]
    assert lines["evaluate again"] is False and lines["evaluate"] is True
    assert len(lines["claim"]) == 2 and lines["claimed again"] == []
    assert [len(lines["delivery log"])] == [2]
    assert [c["label"] for c in lines["get analysis"]["categories"]] == [
        "Time-outs",
        "new",
        "wrong",
    ]
    assert_same(got, expected)
