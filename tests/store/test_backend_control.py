"""The control store on both backends: the same calls on the DuckDB ``EmbeddedStore`` (a real
file) and on ``PostgresControl`` (a real PostgreSQL server) give the same results.

Random ids, keys, tokens and times differ between two runs by nature; the transcripts
replace each by a placeholder numbered by first appearance, so equal transcripts still
mean the same values in the same places (the same user id in a membership as in the
account, the same order of creation times).
"""

from __future__ import annotations

import dataclasses
import functools
import re
import threading
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from heron.bootstrap import bootstrap, bootstrap_users
from heron.datasets.spec import DatasetSpec, ItemSpec
from heron.errors import HeronError
from heron.settings import Settings
from heron.store import EmbeddedStore
from heron.store import alerts as alertdb
from heron.store import datasets as datasetdb
from heron.store.keys import hash_secret
from heron.store.postgres import PostgresControl

PASSWORD = "long enough password"
SECOND = timedelta(seconds=1)
_RANDOM = re.compile(
    r"^(prj_|usr_|pk-hr-|sk-hr-|ntf_|dlv_)|^\d{4}-\d\d-\d\dT|^[0-9a-f]{64}$|^[0-9a-f]{16}$|^[0-9a-f]{32}$"
    r"|^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$"
    r"|^[A-Za-z0-9_-]{43}$"
)
_IDS = re.compile(r"\b(prj|usr)_[0-9a-f]{16}\b")


@pytest.fixture(params=["duckdb", "postgres"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Any]:
    if request.param == "duckdb":
        s: Any = EmbeddedStore(tmp_path / "heron.duckdb")
    else:
        s = PostgresControl(request.getfixturevalue("postgres_url"), pool_size=2)
    yield s
    s.close()


class Transcript:
    """What each call returned or raised, with random values as numbered placeholders."""

    def __init__(self) -> None:
        self.lines: list[tuple[str, Any]] = []
        self._names: dict[str, str] = {}

    def _norm(self, value: Any) -> Any:
        if isinstance(value, dict):
            return {self._norm(k): self._norm(v) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return [self._norm(v) for v in value]
        if isinstance(value, datetime):
            value = value.isoformat()
        if isinstance(value, str) and _RANDOM.search(value):
            return self._names.setdefault(value, f"<{len(self._names)}>")
        return value

    def __call__(self, label: str, call: Callable[[], Any]) -> Any:
        try:
            result = call()
        except HeronError as e:
            message = _IDS.sub(lambda m: self._norm(m.group()), str(e))
            self.lines.append((label, (type(e).__name__, message)))
            return None
        self.lines.append((label, self._norm(result)))
        return result


def _scenario(s: Any) -> list[tuple[str, Any]]:
    """Projects, keys, users, members, invitations, sessions and login tokens: the calls the
    server makes, including the refused ones."""
    t = Transcript()
    admin = t("admin", lambda: s.create_user("Root@X.test", PASSWORD, is_admin=True))
    alpha = t("alpha", lambda: s.create_project("alpha"))
    alice = t("alice", lambda: s.create_user("alice@x.test", PASSWORD, project_ids=[alpha["id"]]))
    beta = t("beta", lambda: s.create_project(" beta ", owner_id=alice["id"]))
    t("dup project", lambda: s.create_project("alpha"))
    t("empty project", lambda: s.create_project("  "))
    t("dup user", lambda: s.create_user("alice@X.test", PASSWORD))
    t("bad email", lambda: s.create_user("nobody", PASSWORD))
    t("short password", lambda: s.create_user("b@x.test", "short"))
    t("unknown project", lambda: s.create_user("c@x.test", PASSWORD, project_ids=["prj_no"]))
    t("projects", s.list_projects)
    t("by name", lambda: s.project_by_name("beta"))
    t("by name none", lambda: s.project_by_name("gamma"))

    fixed = t("fixed key", lambda: s.create_key(alpha["id"], "pk-hr-fixed", "sk-hr-fixed-secret"))
    t("random key", lambda: s.create_key(beta["id"], scope="ingest"))
    t("dup key", lambda: s.create_key(beta["id"], "pk-hr-fixed", "sk-hr-other"))
    t("dup secret", lambda: s.create_key(beta["id"], "pk-hr-other", "sk-hr-fixed-secret"))
    t("bad scope", lambda: s.create_key(beta["id"], scope="root"))
    t("key of no project", lambda: s.create_key("prj_none"))
    t("keys", s.list_keys)
    t("keys of beta", lambda: s.list_keys(beta["id"]))
    t("key table", lambda: sorted(s.key_table().values()))
    t("hash looked up", lambda: s.key_table()[hash_secret("sk-hr-fixed-secret")])
    t("has key", lambda: [s.has_key("pk-hr-fixed"), s.has_key("pk-hr-none")])
    t("revoke elsewhere", lambda: s.revoke_key(beta["id"], fixed["public_key"]))
    t("revoke", lambda: s.revoke_key(alpha["id"], fixed["public_key"]))
    t("revoked", lambda: [s.has_key("pk-hr-fixed"), s.list_keys(alpha["id"])])
    t("retention", lambda: s.set_retention(alpha["id"], 30))
    t("bad retention", lambda: s.set_retention(alpha["id"], 0))
    t("retention of none", lambda: s.set_retention("prj_none", 3))
    t("rename", lambda: s.rename_project(alpha["id"], "alpha two"))
    t("rename clash", lambda: s.rename_project(alpha["id"], "beta"))
    t("projects after", s.list_projects)

    bob = t("bob", lambda: s.create_user("bob@x.test", PASSWORD))
    t("add bob", lambda: s.add_member(beta["id"], bob["id"], "viewer"))
    t("bad role", lambda: s.add_member(beta["id"], bob["id"], "boss"))
    t("add nobody", lambda: s.add_member(beta["id"], "usr_none", "viewer"))
    t("demote last owner", lambda: s.set_member_role(beta["id"], alice["id"], "member"))
    t("remove last owner", lambda: s.remove_member(beta["id"], alice["id"]))
    t("bob owner", lambda: s.add_member(beta["id"], bob["id"], "owner"))
    t("demote alice", lambda: s.set_member_role(beta["id"], alice["id"], "member"))
    t("members", lambda: s.list_members(beta["id"]))
    t("remove alice", lambda: s.remove_member(beta["id"], alice["id"]))
    t("remove non-member", lambda: s.remove_member(beta["id"], alice["id"]))
    t("members after", lambda: s.list_members(beta["id"]))
    t("alice projects", lambda: s.user_projects(alice["id"]))
    t("admin projects", lambda: s.user_projects(admin["id"]))

    invite = t("invite", lambda: s.create_invite(beta["id"], "member", bob["id"]))
    t("bad invite", lambda: s.create_invite(beta["id"], "boss"))
    t("peek", lambda: s.peek_invite(invite["token"]))
    t("peek unknown", lambda: s.peek_invite("nope"))
    t("accept", lambda: s.accept_invite(invite["token"], email="carol@x.test", password=PASSWORD))
    t("accept again", lambda: s.accept_invite(invite["token"], user_id=alice["id"]))
    invite2 = t("invite 2", lambda: s.create_invite(beta["id"], "viewer"))
    t("accept existing", lambda: s.accept_invite(invite2["token"], user_id=alice["id"]))
    t("members with invited", lambda: s.list_members(beta["id"]))

    t("accounts", s.list_accounts)
    t("by email", lambda: s.user_by_email(" ALICE@x.test"))
    t("by email none", lambda: s.user_by_email("zed@x.test"))
    t("login", lambda: s.check_login("alice@x.test", PASSWORD))
    t("login wrong", lambda: s.check_login("alice@x.test", "wrong password"))
    t("login unknown", lambda: s.check_login("zed@x.test", PASSWORD))
    session = t("session", lambda: s.create_web_session(alice["id"], 3600))
    t("session user", lambda: s.web_session(session["token"]))
    t("session unknown", lambda: s.web_session("nope"))
    t("new password", lambda: s.set_password("alice@x.test", "another long password"))
    t("password ends sessions", lambda: s.web_session(session["token"]))
    t("old password", lambda: s.check_login("alice@x.test", PASSWORD))
    t("new login", lambda: s.check_login("alice@x.test", "another long password"))
    t("password of nobody", lambda: s.set_password("zed@x.test", "another long password"))
    session2 = t("session 2", lambda: s.create_web_session(bob["id"], 3600))
    t("logout", lambda: s.delete_web_session(session2["token"]))
    t("logged out", lambda: s.web_session(session2["token"]))
    t("expired session", lambda: s.web_session(s.create_web_session(bob["id"], -1)["token"]))
    token = t("login token", lambda: s.create_login_token(bob["id"], 600))
    t("use token", lambda: s.use_login_token(token))
    t("use token again", lambda: s.use_login_token(token))
    t("expired token", lambda: s.use_login_token(s.create_login_token(bob["id"], -1)))

    t("meta none", lambda: s.get_meta("k"))
    t("meta set", lambda: [s.set_meta("k", "1"), s.set_meta("k", "2"), s.get_meta("k")])
    return t.lines


def _settings_scenario(s: Any) -> list[tuple[str, Any]]:
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
    duck = EmbeddedStore(tmp_path / "heron.duckdb")
    pg = PostgresControl(postgres_url, pool_size=2)
    try:
        expected, got = _settings_scenario(duck), _settings_scenario(pg)
    finally:
        duck.close()
        pg.close()
    lines = dict(expected)
    assert [(p["id"], p["prices"]) for p in lines["prices after"]] == [("p1", {"input": 2e-6})]
    assert lines["delete unknown price"][0] == "NotFound"
    assert lines["feedback"]["allowed_origins"] == ["https://app.example.com"]
    assert lines["implicit"] == {"enabled": ["implicit_retry"]}
    assert [v["name"] for v in lines["views after"]] == ["Alpha view", "beta view"]
    assert lines["delete view"] == [True, False] and lines["update unknown"] is False
    assert [label for label, _ in got] == [label for label, _ in expected]
    for (label, p), (_, d) in zip(got, expected, strict=True):
        assert p == d, label


def _automation_scenario(s: Any) -> list[tuple[str, Any]]:
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


def _annotation_scenario(s: Any) -> list[tuple[str, Any]]:
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
    duck = EmbeddedStore(tmp_path / "heron.duckdb")
    pg = PostgresControl(postgres_url, pool_size=2)
    try:
        expected, got = _annotation_scenario(duck), _annotation_scenario(pg)
    finally:
        duck.close()
        pg.close()
    lines = dict(expected)
    assert lines["add"] == 3 and lines["add again"] == 1
    assert lines["same name"][0] == "Conflict"
    assert lines["bea claims"]["id"] != lines["ann claims"]["id"]
    assert lines["bea claims ann's"] is None
    assert lines["item"]["status"] == "COMPLETED"
    assert [label for label, _ in got] == [label for label, _ in expected]
    for (label, p), (_, d) in zip(got, expected, strict=True):
        assert p == d, label


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
        assert _race(*claims) == ["done"] * 4
        assert len(set(claimed)) == 4
    finally:
        for s in stores:
            s.close()


def _datasets_scenario(s: Any) -> list[tuple[str, Any]]:
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
    duck = EmbeddedStore(tmp_path / "heron.duckdb")
    pg = PostgresControl(postgres_url, pool_size=2)
    try:
        expected, got = _datasets_scenario(duck), _datasets_scenario(pg)
    finally:
        duck.close()
        pg.close()
    lines = dict(expected)
    assert lines["put items"] == 3 and lines["bad item"][0] == "Invalid"
    assert lines["item"]["expectedOutput"] == "four"
    assert lines["after end"] is False and lines["delete"] == [True, False]
    assert [i["predicted"] for i in lines["alignment read"][1]] == [True, False]
    assert [label for label, _ in got] == [label for label, _ in expected]
    for (label, p), (_, d) in zip(got, expected, strict=True):
        assert p == d, label


def _now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


def test_automation_answers_as_on_duckdb(postgres_url: str, tmp_path: Path) -> None:
    duck = EmbeddedStore(tmp_path / "heron.duckdb")
    pg = PostgresControl(postgres_url, pool_size=2)
    try:
        expected, got = _automation_scenario(duck), _automation_scenario(pg)
    finally:
        duck.close()
        pg.close()
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
    assert [label for label, _ in got] == [label for label, _ in expected]
    for (label, p), (_, d) in zip(got, expected, strict=True):
        assert p == d, label


@pytest.fixture(scope="module")
def duckdb_transcript(tmp_path_factory: pytest.TempPathFactory) -> list[tuple[str, Any]]:
    s = EmbeddedStore(tmp_path_factory.mktemp("duck") / "heron.duckdb")
    try:
        return _scenario(s)
    finally:
        s.close()


def test_postgres_answers_as_duckdb(
    postgres_url: str, duckdb_transcript: list[tuple[str, Any]]
) -> None:
    s = PostgresControl(postgres_url, pool_size=2)
    try:
        got = _scenario(s)
    finally:
        s.close()
    assert [label for label, _ in got] == [label for label, _ in duckdb_transcript]
    for (label, pg), (_, duck) in zip(got, duckdb_transcript, strict=True):
        assert pg == duck, label


def test_scenario_checks_what_it_should(duckdb_transcript: list[tuple[str, Any]]) -> None:
    """The transcript holds the refusals and results the comparison relies on (a scenario
    that silently did nothing would compare equal too)."""
    lines = dict(duckdb_transcript)
    assert lines["dup project"] == ("Conflict", "project 'alpha' already exists")
    assert lines["demote last owner"][0] == "Conflict"
    assert lines["has key"] == [True, False]
    assert lines["revoked"] == [False, []]
    assert lines["use token again"] is None and lines["use token"]["email"] == "bob@x.test"
    assert lines["password ends sessions"] is None
    assert [p["name"] for p in lines["projects after"]] == ["alpha two", "beta"]
    assert [m["email"] for m in lines["members with invited"]] == [
        "root@x.test",
        "alice@x.test",
        "bob@x.test",
        "carol@x.test",
    ]
    assert lines["meta set"] == [None, None, "2"]


def test_racing_creates_are_conflicts(store: Any) -> None:
    """Of two writes racing past the check, the second is refused as a Conflict, never
    a duplicate: on PostgreSQL the unique constraints do what DuckDB's lock does."""
    pid = store.create_project("p")["id"]
    results: list[str] = []
    barrier = threading.Barrier(4)

    def create(i: int) -> None:
        barrier.wait()
        try:
            store.create_key(pid, f"pk-hr-race-{i % 2}", f"sk-hr-race-secret-{i}")
            results.append("created")
        except HeronError as e:
            results.append(type(e).__name__)

    threads = [threading.Thread(target=create, args=(i,)) for i in range(4)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert sorted(results) == ["Conflict", "Conflict", "created", "created"]
    assert sorted(k["public_key"] for k in store.list_keys(pid)) == [
        "pk-hr-race-0",
        "pk-hr-race-1",
    ]


INIT = Settings(
    init_project="shared",
    init_public_key="pk-hr-init",
    init_secret_key="sk-hr-init-secret",
    init_admin_email="ops@x.test",
    init_admin_password=PASSWORD,
)


@pytest.mark.parametrize("replicas", [2, 4])
def test_replicas_starting_together_create_the_init_set_once(
    postgres_url: str, replicas: int
) -> None:
    """Replicas, each with its own pool, run the first-start set-up at once on one database:
    one project, one key, one admin; exactly one replica reports creating each."""
    stores = [PostgresControl(postgres_url, pool_size=1) for _ in range(replicas)]
    barrier = threading.Barrier(replicas)
    created: list[tuple[list[dict[str, str]], list[dict[str, Any]]]] = []
    errors: list[BaseException] = []

    def start(s: PostgresControl) -> None:
        barrier.wait()
        try:
            created.append((bootstrap(s, INIT), bootstrap_users(s, INIT)))
        except BaseException as e:
            errors.append(e)

    threads = [threading.Thread(target=start, args=(s,)) for s in stores]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    try:
        assert errors == []
        s = stores[0]
        assert [p["name"] for p in s.list_projects()] == ["shared"]
        assert [k["public_key"] for k in s.list_keys()] == ["pk-hr-init"]
        assert [u["email"] for u in s.list_accounts()] == ["ops@x.test"]
        assert sum(len(keys) for keys, _ in created) == 1
        assert sum(len(users) for _, users in created) == 1
        assert s.check_login("ops@x.test", PASSWORD) is not None
        # a replica starting later finds everything and creates nothing
        assert bootstrap(s, INIT) == [] and bootstrap_users(s, INIT) == []
    finally:
        for s in stores:
            s.close()


def test_replicas_without_init_create_one_default_project(postgres_url: str) -> None:
    stores = [PostgresControl(postgres_url, pool_size=1) for _ in range(3)]
    barrier = threading.Barrier(3)
    created: list[list[dict[str, str]]] = []

    def start(s: PostgresControl) -> None:
        barrier.wait()
        created.append(bootstrap(s, Settings()))

    threads = [threading.Thread(target=start, args=(s,)) for s in stores]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    try:
        assert len(created) == 3
        assert [p["name"] for p in stores[0].list_projects()] == ["default"]
        assert len(stores[0].list_keys()) == 1
        assert sum(len(c) for c in created) == 1
    finally:
        for s in stores:
            s.close()


def _race(*calls: Callable[[], Any]) -> list[str]:
    """Run the calls at once, one thread each; what each did ("done" or the error's name)."""
    barrier = threading.Barrier(len(calls))
    outcomes: list[str] = []

    def run(call: Callable[[], Any]) -> None:
        barrier.wait()
        try:
            call()
            outcomes.append("done")
        except HeronError as e:
            outcomes.append(type(e).__name__)

    threads = [threading.Thread(target=run, args=(c,)) for c in calls]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    return sorted(outcomes)


def test_two_owners_demoting_each_other_at_once_leave_one_owner(store: Any) -> None:
    """The last-owner rule holds across concurrent writers (on PostgreSQL a per-project
    advisory lock serialises member writes, as DuckDB's admin lock does)."""
    users = [store.create_user(f"o{i}@x.test", PASSWORD)["id"] for i in range(2)]
    for round_ in range(8):
        pid = store.create_project(f"owners {round_}", owner_id=users[0])["id"]
        store.add_member(pid, users[1], "owner")
        demotions = [functools.partial(store.set_member_role, pid, u, "member") for u in users]
        outcomes = _race(*demotions)
        assert outcomes == ["Conflict", "done"], round_
        assert [m["role"] for m in store.list_members(pid)].count("owner") == 1


def test_every_method_has_the_embedded_stores_signature() -> None:
    """PostgresControl stands in for EmbeddedStore method by method: same names, same
    parameters, same defaults, same annotations."""
    import inspect

    mine = {n for n in dir(PostgresControl) if not n.startswith("_") and n != "close"}
    assert len(mine) > 100
    for name in sorted(mine):
        expected = getattr(EmbeddedStore, name, None)
        assert expected is not None, f"{name} is no EmbeddedStore method"
        assert inspect.signature(getattr(PostgresControl, name)) == inspect.signature(expected), (
            name
        )
