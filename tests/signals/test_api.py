"""The rules, issues and signals API on the app in process with the rules task running:
spans in through OTLP, signals and issues out; project scoping, read keys, bad input."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.conftest import CONSISTENT, SECRET_KEY, make_settings
from tests.support.otlp import new_span_id, new_trace_id, request, span

PB = {"Content-Type": "application/x-protobuf"}


def _app(tmp_path: Path) -> Iterator[TestClient]:
    from heron.server.app import create_app

    settings = make_settings(tmp_path, runner_tasks="heron.signals.task:RulesTask")
    with TestClient(create_app(settings), headers=CONSISTENT) as c:
        c.headers["Authorization"] = f"Bearer {SECRET_KEY}"
        yield c


@pytest.fixture
def app(tmp_path: Path) -> Iterator[TestClient]:
    yield from _app(tmp_path)


@pytest.fixture(scope="module")
def refusing_app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    """One app for the requests the API refuses (a refused request changes nothing)."""
    yield from _app(tmp_path_factory.mktemp("refusing"))


def wait_for(predicate: Callable[[], Any], timeout: float = 10.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError("timed out")


def failing_trace(client: TestClient, message: str, user: str = "u1") -> str:
    """A trace whose child span failed with ``message``; its hex id."""
    trace_id, root = new_trace_id(), new_span_id()
    spans = [
        span(trace_id, root, "chat", attributes={"langfuse.user.id": user}),
        span(trace_id, new_span_id(), "lookup", parent=root, error=message),
    ]
    r = client.post("/v1/traces", content=request(spans).SerializeToString(), headers=PB)
    assert r.status_code == 200, r.text
    return trace_id.hex()


def signals_of(client: TestClient, trace_id: str, **headers: str) -> list[dict[str, Any]]:
    r = client.get("/api/signals", params={"traceId": trace_id}, headers=headers)
    assert r.status_code == 200, r.text
    return r.json()["data"]


def other_project(client: TestClient, scope: str = "full") -> dict[str, str]:
    st = client.app.state.heron
    project = st.store.create_project(f"other-{scope}")
    key = st.store.create_key(project["id"], scope=scope)
    return {"Authorization": f"Bearer {key['secret_key']}"}


def test_an_error_span_becomes_a_signal_and_an_issue(app: TestClient) -> None:
    t1 = failing_trace(app, "upstream 503 after 1200ms", "alice")
    t2 = failing_trace(app, "upstream 502 after 80ms", "bob")
    [s1] = wait_for(lambda: signals_of(app, t1))
    [s2] = wait_for(lambda: signals_of(app, t2))
    assert s1["rule"] == "error" and s1["severity"] == "error" and s1["userId"] == "alice"
    assert s1["issueId"] == s2["issueId"]
    issue = app.get(f"/api/issues/{s1['issueId']}").json()
    assert issue["count"] == 2 and issue["usersAffected"] == 2 and issue["status"] == "open"
    assert sorted(issue["sampleTraceIds"]) == sorted([t1, t2])
    assert {u["id"] for u in issue["users"]} == {"alice", "bob"}
    assert len(issue["sparkline"]) == 24
    listed = app.get("/api/issues", params={"sort": "count", "rule": "error"}).json()
    assert [i["id"] for i in listed["data"]] == [s1["issueId"]]
    assert listed["meta"]["totalItems"] == 1
    r = app.get("/api/signals", params={"issueId": s1["issueId"]}).json()
    assert r["meta"]["totalItems"] == 2

    r = app.patch(f"/api/issues/{s1['issueId']}", json={"status": "resolved"})
    assert r.status_code == 200 and r.json()["status"] == "resolved"
    assert app.get("/api/issues", params={"status": "open"}).json()["data"] == []
    t3 = failing_trace(app, "upstream 500 after 3s")
    wait_for(lambda: signals_of(app, t3))
    assert app.get(f"/api/issues/{s1['issueId']}").json()["status"] == "regressed"
    r = app.post("/api/issues/status", json={"ids": [s1["issueId"]], "status": "ignored",
                                             "ignoreUntilCount": 5})  # fmt: skip
    assert r.json() == {"updated": [s1["issueId"]]}
    issue = app.get(f"/api/issues/{s1['issueId']}").json()
    assert issue["status"] == "ignored" and issue["ignoreUntilCount"] == 8


def test_rules_list_override_reset_and_user_rules(app: TestClient) -> None:
    names = [r["name"] for r in app.get("/api/rules").json()["data"]]
    assert names[:6] == ["error", "slow", "expensive", "retry_cluster", "negative_feedback",
                         "implicit"]  # fmt: skip
    r = app.put("/api/rules/error", json={"enabled": False, "severity": "critical"})
    assert r.status_code == 200 and r.json()["action"] == "created"
    assert r.json()["overridden"] and not r.json()["enabled"]
    t = failing_trace(app, "disabled")
    rule = {
        "target": "traces",
        "filter": [{"column": "name", "operator": "=", "value": "chat"}],
        "severity": "info",
        "message": "a chat",
    }
    assert app.put("/api/rules/chats", json=rule).status_code == 200
    t2 = failing_trace(app, "again")
    [s] = wait_for(lambda: signals_of(app, t2))
    assert s["rule"] == "chats" and s["message"] == "a chat"
    assert [x["rule"] for x in signals_of(app, t)] in ([], ["chats"])  # never "error"
    got = app.get("/api/rules/chats").json()
    assert got["definition"] == {"name": "chats", **rule, "notify": [], "enabled": True}
    assert app.put("/api/rules/chats", json=got["definition"]).json()["action"] == "unchanged"
    r = app.delete("/api/rules/error")
    assert r.status_code == 200 and r.json()["enabled"] and not r.json()["overridden"]
    assert app.delete("/api/rules/chats").json() == {"deleted": "chats"}
    assert app.delete("/api/rules/chats").status_code == 404
    assert app.get("/api/rules/chats").status_code == 404


@pytest.mark.parametrize(
    ("method", "path", "body", "words"),
    [
        ("put", "/api/rules/x", {"target": "spans", "filter": []}, "$.target"),
        ("put", "/api/rules/x", {"target": "traces", "filter": [], "notify": ["nowhere"]},
         "$.notify[0]: no notification channel named 'nowhere'"),
        ("put", "/api/rules/x", [1], "expected a rule object"),
        ("put", "/api/rules/x", {"name": "y", "filter": []}, "another rule"),
        ("put", "/api/rules/bad%20name", {"target": "traces", "filter": []}, "$.name"),
        ("put", "/api/rules/slow", {"args": {"percentile": "high"}}, "$.args.percentile"),
        ("patch", "/api/issues/iss_nope", {"status": "resolved"}, "not found"),
        ("post", "/api/issues/status", {"ids": [], "status": "resolved"}, "ids"),
        ("post", "/api/issues/status", {"ids": ["iss_x"], "status": "gone"}, "status"),
        ("get", "/api/issues?status=sleeping", None, "status"),
        ("get", "/api/issues?sort=age", None, "sort"),
        ("get", "/api/issues?from=yesterday", None, "from"),
        ("get", "/api/issues?limit=1000", None, "limit"),
        ("get", "/api/signals?to=soon", None, "to"),
        ("get", "/api/issues/iss_nope", None, "not found"),
    ],
)  # fmt: skip
def test_bad_input_is_a_4xx_naming_the_problem(
    refusing_app: TestClient, method: str, path: str, body: Any, words: str
) -> None:
    app = refusing_app
    r = app.request(method, path, json=body) if body is not None else app.request(method, path)
    assert 400 <= r.status_code < 500, r.text
    assert words in r.text


def test_bad_json_and_bad_patches(app: TestClient) -> None:
    r = app.put("/api/rules/x", content=b"{nope", headers={"Content-Type": "application/json"})
    assert r.status_code == 400 and "invalid JSON" in r.text
    t = failing_trace(app, "x")
    [s] = wait_for(lambda: signals_of(app, t))
    path = f"/api/issues/{s['issueId']}"
    for body, words in [
        ({"status": "ignored", "ignoreUntil": "2001-01-01T00:00:00Z"}, "future"),
        ({"status": "ignored", "ignoreUntilCount": 0}, "ignoreUntilCount"),
        ({"status": "resolved", "ignoreUntilCount": 3}, "go with status ignored"),
        ({"status": "open", "colour": "red"}, "unknown fields"),
    ]:
        r = app.patch(path, json=body)
        assert r.status_code == 400 and words in r.text, r.text


def test_another_project_sees_and_changes_nothing(app: TestClient) -> None:
    t = failing_trace(app, "ours")
    [s] = wait_for(lambda: signals_of(app, t))
    app.put("/api/rules/mine", json={"target": "traces", "filter": []})
    other = other_project(app)
    assert signals_of(app, t, **other) == []
    assert app.get("/api/issues", headers=other).json()["data"] == []
    assert app.get(f"/api/issues/{s['issueId']}", headers=other).status_code == 404
    r = app.patch(f"/api/issues/{s['issueId']}", json={"status": "resolved"}, headers=other)
    assert r.status_code == 404
    r = app.post("/api/issues/status", json={"ids": [s["issueId"]], "status": "resolved"},
                 headers=other)  # fmt: skip
    assert r.status_code == 404
    assert app.get("/api/rules/mine", headers=other).status_code == 404
    assert app.delete("/api/rules/mine", headers=other).status_code == 404
    assert app.get(f"/api/issues/{s['issueId']}").json()["status"] == "open"


def test_a_read_key_reads_but_cannot_change(app: TestClient) -> None:
    st = app.app.state.heron
    key = st.store.create_key(st.store.project_by_name("test")["id"], scope="read")
    read = {"Authorization": f"Bearer {key['secret_key']}"}
    t = failing_trace(app, "x")
    [s] = wait_for(lambda: signals_of(app, t))
    assert app.get("/api/rules", headers=read).status_code == 200
    assert app.get(f"/api/issues/{s['issueId']}", headers=read).status_code == 200
    assert app.put("/api/rules/x", json={"target": "traces", "filter": []},
                   headers=read).status_code == 403  # fmt: skip
    r = app.patch(f"/api/issues/{s['issueId']}", json={"status": "resolved"}, headers=read)
    assert r.status_code == 403
    assert app.delete("/api/rules/error", headers=read).status_code == 403


def test_a_heron_fingerprint_span_attribute_groups_signals(app: TestClient) -> None:
    ids = []
    for message in ("card declined", "bank offline"):
        trace_id, root = new_trace_id(), new_span_id()
        spans = [
            span(trace_id, root, "checkout"),
            span(trace_id, new_span_id(), "pay", parent=root, error=message,
                 attributes={"heron.fingerprint": "payments"}),
        ]  # fmt: skip
        r = app.post("/v1/traces", content=request(spans).SerializeToString(), headers=PB)
        assert r.status_code == 200
        ids.append(trace_id.hex())
    found = [wait_for(lambda t=t: signals_of(app, t))[0] for t in ids]
    assert found[0]["issueId"] == found[1]["issueId"]
    other = failing_trace(app, "bank offline")
    [s] = wait_for(lambda: signals_of(app, other))
    assert s["issueId"] != found[0]["issueId"]
