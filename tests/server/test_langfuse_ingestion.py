"""Langfuse's batch ingestion (``POST /api/public/ingestion``) over raw HTTP: each event type
mapped as the OTLP Langfuse convention maps a span, updates merged, per-event errors in a 207,
malformed and oversized bodies, scores through the score path, keys and projects; and a
batch acknowledged before ``kill -9`` found after the restart.

The SDKs themselves (v2 sending everything through this route, v3/v4 their scores) are in
tests/clients/test_langfuse_api.py."""

from __future__ import annotations

import base64
import gzip
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from fastapi.testclient import TestClient

from heron.server.app import create_app
from tests.conftest import make_settings
from tests.support.server import CONSISTENT, PUBLIC_KEY, SECRET_KEY, HeronProcess

T0 = "2026-03-01T10:00:00.000Z"
T1 = "2026-03-01T10:00:01.000Z"
T2 = "2026-03-01T10:00:02.500Z"


def ev(kind: str, body: dict[str, Any], ts: str = T0, **more: Any) -> dict[str, Any]:
    return {"id": str(uuid.uuid4()), "type": kind, "timestamp": ts, "body": body, **more}


def post(c: TestClient, *events: dict[str, Any], **headers: str) -> dict[str, Any]:
    r = c.post("/api/public/ingestion", json={"batch": list(events)}, headers=headers)
    assert r.status_code == 207, r.text
    return r.json()


def ok(c: TestClient, *events: dict[str, Any]) -> dict[str, Any]:
    body = post(c, *events)
    assert body["errors"] == [], body["errors"]
    assert {s["id"] for s in body["successes"]} == {e["id"] for e in events}
    return body


def flat(trace: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """heron's trace tree -> observations by name."""
    out, todo = {}, list(trace["observations"])
    while todo:
        o = todo.pop()
        out[o["name"]] = o
        todo += o["children"]
    return out


def new_id(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4()}"


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    """One app for the module (each test makes its own traces, found by id)."""
    settings = make_settings(tmp_path_factory.mktemp("ingestion"))
    with TestClient(create_app(settings), headers=CONSISTENT) as c:
        c.headers["Authorization"] = f"Bearer {SECRET_KEY}"
        yield c


def store_of(c: TestClient) -> Any:
    return c.app.state.heron.store  # type: ignore[attr-defined]


def client_with(app: TestClient, secret: str) -> TestClient:
    return TestClient(app.app, headers={**CONSISTENT, "Authorization": f"Bearer {secret}"})


# -- mapping ----------------------------------------------------------------------------------


def test_every_event_type_is_stored_as_the_otlp_convention_would(app: TestClient) -> None:
    tid = new_id("trace")
    ok(
        app,
        ev("trace-create", {
            "id": tid, "name": "support-chat", "userId": "u-1", "sessionId": "s-map",
            "release": "r-9", "version": "app-3", "environment": "staging", "tags": ["a", "b"],
            "metadata": {"plan": "pro"}, "input": {"q": "hi"}, "output": "bye", "public": True,
            "timestamp": T0,
        }),
        ev("span-create", {
            "id": "root", "traceId": tid, "name": "handle", "startTime": T0, "endTime": T2,
            "input": "plain text", "metadata": {"k": 1},
        }),
        ev("generation-create", {
            "id": "gen", "traceId": tid, "parentObservationId": "root", "name": "llm",
            "startTime": T0, "endTime": T1, "completionStartTime": "2026-03-01T10:00:00.400Z",
            "model": "gpt-4o-mini", "modelParameters": {"temperature": 0.2, "stop": ["\n"]},
            "input": [{"role": "user", "content": "hi"}], "output": {"role": "assistant"},
            "usageDetails": {"prompt_tokens": 100, "completion_tokens": 20, "total_tokens": 120,
                             "prompt_tokens_details": {"cached_tokens": 40}},
            "costDetails": {"input": 0.001, "output": 0.002},
            "promptName": "answer", "promptVersion": 4, "level": "warning",
            "statusMessage": "slow", "version": "gen-v", "environment": "staging",
        }),
        ev("event-create", {
            "id": "evt", "traceId": tid, "parentObservationId": "root", "name": "cache-miss",
            "startTime": T1, "level": "DEBUG",
        }),
        ev("observation-create", {
            "id": "agent", "traceId": tid, "parentObservationId": "root", "type": "AGENT",
            "name": "planner", "startTime": T1, "endTime": T2,
        }),
        ev("sdk-log", {"log": "hello"}),
    )  # fmt: skip
    trace = app.get(f"/api/traces/{tid}").json()
    assert (trace["name"], trace["user_id"], trace["session_id"]) == (
        "support-chat",
        "u-1",
        "s-map",
    )
    assert (trace["release"], trace["version"], trace["environment"]) == ("r-9", "gen-v", "staging")
    assert trace["tags"] == ["a", "b"] and trace["metadata"] == {"plan": "pro"}
    assert (trace["input"], trace["output"], trace["public"]) == ({"q": "hi"}, "bye", True)
    assert trace["observation_count"] == 4 and trace["latency_ms"] == 2500
    obs = flat(trace)
    assert {n: o["type"] for n, o in obs.items()} == {
        "handle": "span", "llm": "generation", "cache-miss": "event", "planner": "agent",
    }  # fmt: skip
    assert obs["handle"]["children"] and obs["handle"]["input"] == "plain text"
    gen = obs["llm"]
    assert gen["parent_id"] == "root" and gen["model"] == "gpt-4o-mini"
    assert gen["model_parameters"] == {"temperature": 0.2, "stop": ["\n"]}
    assert gen["usage"] == {"input": 100, "output": 20, "total": 120, "cached_input": 40}
    assert gen["cost"] == {"input": 0.001, "output": 0.002, "total": 0.003}
    assert gen["cost_source"] == "client"
    assert (gen["prompt_name"], gen["prompt_version"]) == ("answer", 4)
    assert (gen["level"], gen["status_message"]) == ("WARNING", "slow")
    assert gen["time_to_first_token_ms"] == 400
    assert gen["input"] == [{"role": "user", "content": "hi"}]
    assert obs["cache-miss"]["end_time"] == obs["cache-miss"]["start_time"]  # a point in time
    assert obs["cache-miss"]["level"] == "DEBUG"


def test_updates_merge_with_their_create_in_any_order_and_batch(app: TestClient) -> None:
    tid = new_id("trace")
    ok(app, ev("span-create", {"id": "s1", "traceId": tid, "name": "step", "startTime": T0,
                               "input": "question", "metadata": {"a": 1}}))  # fmt: skip
    ok(app, ev("span-update", {"id": "s1", "traceId": tid, "endTime": T2, "output": "answer",
                               "metadata": {"b": 2}, "level": "ERROR",
                               "statusMessage": "boom"}, ts=T2))  # fmt: skip
    # an update before its create: stored at once, the create's start replaces its own
    ok(app, ev("generation-update", {"id": "g1", "traceId": tid, "endTime": T2, "output": "late",
                                     "usage": {"input": 5, "output": 7}}, ts=T2))  # fmt: skip
    got = flat(app.get(f"/api/traces/{tid}").json())
    orphan = next(o for o in got.values() if o["id"] == "g1")
    assert orphan["start_time"] == orphan["end_time"] == "2026-03-01T10:00:02.500000Z"
    ok(app, ev("generation-create", {"id": "g1", "traceId": tid, "name": "llm", "startTime": T1,
                                     "model": "gpt-4o-mini"}, ts=T1))  # fmt: skip
    trace = app.get(f"/api/traces/{tid}").json()
    obs = flat(trace)
    step = obs["step"]
    assert (step["input"], step["output"]) == ("question", "answer")
    assert step["metadata"] == {"a": 1, "b": 2} and step["level"] == "ERROR"
    assert step["start_time"] == "2026-03-01T10:00:00.000000Z" and step["status_message"] == "boom"
    llm = obs["llm"]
    assert (llm["start_time"], llm["end_time"]) == (
        "2026-03-01T10:00:01.000000Z",
        "2026-03-01T10:00:02.500000Z",
    )
    assert (llm["output"], llm["model"], llm["usage"]["total"]) == ("late", "gpt-4o-mini", 12)
    assert llm["cost"]["total"] > 0  # priced at ingest: gpt-4o-mini has a built-in price
    assert trace["observation_count"] == 2 and trace["error_count"] == 1


def test_a_trace_create_alone_makes_a_trace_and_later_ones_merge(app: TestClient) -> None:
    tid = new_id("trace")
    ok(app, ev("trace-create", {"id": tid, "name": "lonely", "tags": ["x"]}, ts=T1))
    trace = app.get(f"/api/traces/{tid}").json()
    assert (trace["name"], trace["timestamp"], trace["observation_count"]) == (
        "lonely",
        "2026-03-01T10:00:01.000000Z",
        0,
    )
    # as SDK v4 adds tags to a trace: a trace-create of the id and tags only
    ok(app, ev("trace-create", {"id": tid, "tags": ["y", "x"]}, ts=T2))
    ok(app, ev("span-create", {"id": "s", "traceId": tid, "name": "late", "startTime": T2}))
    trace = app.get(f"/api/traces/{tid}").json()
    assert trace["name"] == "lonely" and trace["tags"] == ["x", "y"]
    assert trace["timestamp"] == "2026-03-01T10:00:02.500000Z"  # its observations' time now
    # an observation without a trace id gets a trace of its own, named after it
    body = ok(app, ev("span-create", {"id": new_id("solo"), "name": "solo-step"}))
    assert body["successes"][0]["status"] == 201
    listed = app.get("/api/traces", params={"name": "solo-step"}).json()["data"]
    assert len(listed) == 1 and listed[0]["observation_count"] == 1


# -- errors, limits --------------------------------------------------------------------------


def test_each_bad_event_gets_its_own_error_and_the_rest_are_kept(app: TestClient) -> None:
    tid = new_id("trace")
    good = ev("span-create", {"id": "fine", "traceId": tid, "name": "kept", "startTime": T0})
    bad = {
        "unknown type": ev("trace-delete", {"id": tid}),
        "no body": ev("span-create", None),  # type: ignore[arg-type]
        "bad time": ev("span-create", {"traceId": tid, "startTime": "yesterday"}),
        "bad envelope time": ev("trace-create", {"id": tid}, ts="soon"),
        "bad level": ev("span-create", {"traceId": tid, "level": "LOUD"}),
        "update without trace": ev("span-update", {"id": "fine", "endTime": T1}),
        "update without id": ev("generation-update", {"traceId": tid}),
        "bad tags": ev("trace-create", {"id": tid, "tags": "a,b"}),
        "bad usage": ev("generation-create", {"traceId": tid, "usage": [1, 2]}),
        "bad type": ev("observation-create", {"traceId": tid, "type": "WIDGET"}),
        "bad prompt version": ev("generation-create", {"traceId": tid, "promptVersion": -1}),
        "long id": ev("span-create", {"id": "x" * 201, "traceId": tid}),
        "score without name": ev("score-create", {"traceId": tid, "value": 1}),
    }
    body = post(app, good, *bad.values(), "not an event")  # type: ignore[arg-type]
    assert [s["id"] for s in body["successes"]] == [good["id"]]
    errors = {e["id"]: e for e in body["errors"]}
    assert len(errors) == len(bad) + 1
    expect = {
        "unknown type": "type: 'trace-delete' is not an event type",
        "no body": "body: required, an object",
        "bad time": "body.startTime: 'yesterday' is not an ISO 8601 time",
        "bad envelope time": "timestamp: 'soon' is not an ISO 8601 time",
        "bad level": "body.level: 'LOUD' is not one of",
        "update without trace": "body.traceId: required",
        "update without id": "body.id: required",
        "bad tags": "body.tags: expected a list of strings",
        "bad usage": "body.usage: expected an object",
        "bad type": "body.type: 'WIDGET' is not an observation type",
        "bad prompt version": "body.promptVersion",
        "long id": "body.id: longer than 200 characters",
        "score without name": "name: required",
    }
    for what, event in bad.items():
        error = errors[event["id"]]
        assert error["status"] == 400 and expect[what] in error["message"], (what, error)
    assert errors[f"batch[{len(bad) + 1}]"]["message"].startswith(f"batch[{len(bad) + 1}]")
    assert [o["name"] for o in app.get(f"/api/traces/{tid}").json()["observations"]] == ["kept"]


def test_bodies_that_are_not_a_batch_are_400(app: TestClient) -> None:
    for raw, message in (
        (b"{not json", "invalid JSON"),
        (b"[]", "expected a JSON object"),
        (b'{"events": []}', "batch: required, a list of events"),
        (b'{"batch": {}}', "batch: required, a list of events"),
    ):
        r = app.post("/api/public/ingestion", content=raw)
        assert r.status_code == 400 and message in r.json()["error"]["message"], r.text
    r = app.post("/api/public/ingestion", json={"batch": []})
    assert r.status_code == 207 and r.json() == {"successes": [], "errors": []}


def test_too_many_events_or_too_many_bytes_are_413_naming_the_limit(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    settings = make_settings(
        tmp_path_factory.mktemp("small"), max_request_spans=10, max_body_bytes=20_000
    )
    with TestClient(create_app(settings)) as c:
        c.headers["Authorization"] = f"Bearer {SECRET_KEY}"
        many = [ev("trace-create", {"id": f"t{i}"}) for i in range(11)]
        r = c.post("/api/public/ingestion", json={"batch": many})
        assert r.status_code == 413
        assert "11 events, over the limit of 10" in r.json()["error"]["message"]
        assert "HERON_MAX_REQUEST_SPANS" in r.json()["error"]["message"]
        big = [ev("trace-create", {"id": "big", "input": "x" * 30_000})]
        r = c.post("/api/public/ingestion", json={"batch": big})
        assert r.status_code == 413 and "limit of 20000" in r.json()["error"]["message"]
        bomb = gzip.compress(orjson.dumps({"batch": big}))
        r = c.post("/api/public/ingestion", content=bomb, headers={"Content-Encoding": "gzip"})
        assert r.status_code == 413 and "decompressed" in r.json()["error"]["message"]
        small = gzip.compress(orjson.dumps({"batch": many[:2]}))
        r = c.post("/api/public/ingestion", content=small, headers={"Content-Encoding": "gzip"})
        assert r.status_code == 207 and len(r.json()["successes"]) == 2


def test_oversized_values_are_cut_and_the_success_says_so(app: TestClient) -> None:
    tid = new_id("trace")
    huge = "é" * 700_000  # 1.4 MB of UTF-8, over HERON_MAX_IO_BYTES (1 MiB)
    body = ok(app, ev("span-create", {"id": "big", "traceId": tid, "name": "big",
                                      "startTime": T0, "input": huge,
                                      "usage": {"input": 10**12}}))  # fmt: skip
    message = body["successes"][0]["message"]
    assert "input truncated to 1,048,576 bytes" in message
    assert "usage input=1000000000000 is over 1,000,000,000" in message
    stored = app.get(f"/api/traces/{tid}").json()["observations"][0]
    assert "…[truncated by heron" in stored["input"] and len(stored["input"]) < 600_000
    assert stored["usage"]["input"] == 1_000_000_000


# -- scores --------------------------------------------------------------------------------------


def test_scores_go_through_the_score_path(app: TestClient) -> None:
    tid = new_id("trace")
    config = app.post(
        "/api/public/score-configs",
        json={"name": "stars", "dataType": "NUMERIC", "minValue": 1, "maxValue": 5},
    ).json()
    first = ev("score-create", {
        "id": "ing-score", "traceId": tid, "observationId": "o1", "name": "stars", "value": 4,
        "configId": config["id"], "comment": "fine", "metadata": {"by": "sdk"},
        "parent_observation_id": "o1",  # what SDK v2 adds: dropped, as Langfuse drops it
    }, ts=T1)  # fmt: skip
    over = ev("score-create", {"traceId": tid, "name": "stars", "value": 9,
                               "configId": config["id"]})  # fmt: skip
    text = ev("score-create", {"traceId": tid, "name": "note", "value": "long story",
                               "dataType": "TEXT"})  # fmt: skip
    body = post(app, first, over, text)
    assert {s["id"] for s in body["successes"]} == {first["id"], text["id"]}
    (error,) = body["errors"]
    assert error["id"] == over["id"] and error["status"] == 400 and "maximum" in error["message"]
    got = app.get("/api/public/scores/ing-score").json()
    assert (got["value"], got["observationId"], got["configId"]) == (4.0, "o1", config["id"])
    assert got["timestamp"] == "2026-03-01T10:00:01.000000Z"  # the event's time
    # the same id again replaces it (as POST /api/public/scores does)
    ok(app, ev("score-create", {"id": "ing-score", "traceId": tid, "name": "stars", "value": 2}))
    assert app.get("/api/public/scores/ing-score").json()["value"] == 2.0


# -- who may send, and where it goes -----------------------------------------------------------


def test_projects_keep_their_own_traces_under_the_same_ids(app: TestClient) -> None:
    store = store_of(app)
    other = client_with(
        app, store.create_key(store.create_project("elsewhere")["id"])["secret_key"]
    )
    tid = new_id("shared")
    ok(app, ev("trace-create", {"id": tid, "name": "mine", "sessionId": "sess-shared"}),
       ev("span-create", {"id": "same-obs", "traceId": tid, "name": "mine-step"}))  # fmt: skip
    ok(other, ev("trace-create", {"id": tid, "name": "theirs"}),
       ev("span-create", {"id": "same-obs", "traceId": tid, "name": "their-step"}))  # fmt: skip
    assert app.get(f"/api/public/traces/{tid}").json()["name"] == "mine"
    assert other.get(f"/api/public/traces/{tid}").json()["name"] == "theirs"
    assert app.get("/api/public/observations/same-obs").json()["name"] == "mine-step"
    assert other.get("/api/public/observations/same-obs").json()["name"] == "their-step"
    assert other.get("/api/public/sessions/sess-shared").status_code == 404
    listed = other.get("/api/public/traces", params={"name": "mine"}).json()
    assert listed["data"] == [] and listed["meta"]["totalItems"] == 0


def test_a_read_key_may_not_ingest_and_an_ingest_key_may_not_read(app: TestClient) -> None:
    store = store_of(app)
    project = store.project_by_name("test")["id"]
    read = client_with(app, store.create_key(project, scope="read")["secret_key"])
    ingest = client_with(app, store.create_key(project, scope="ingest")["secret_key"])
    batch = {"batch": [ev("trace-create", {"id": new_id("scoped")})]}
    r = read.post("/api/public/ingestion", json=batch)
    assert r.status_code == 403 and "needs scope 'ingest' or 'full'" in r.json()["error"]["message"]
    assert ingest.post("/api/public/ingestion", json=batch).status_code == 207
    r = ingest.get("/api/public/traces")
    assert r.status_code == 403 and "needs scope 'read' or 'full'" in r.json()["error"]["message"]


def test_the_public_key_alone_may_only_create_scores(app: TestClient) -> None:
    tid = new_id("trace")
    ok(app, ev("trace-create", {"id": tid, "name": "page"}))
    token = base64.b64encode(f"{PUBLIC_KEY}:".encode()).decode()
    browser = TestClient(app.app, headers={"Authorization": f"Basic {token}"})
    score = ev("score-create", {"id": f"thumb-{tid}", "traceId": tid, "name": "thumbs",
                                "value": 1})  # fmt: skip
    trace = ev("trace-create", {"id": tid, "name": "forged"})
    span = ev("span-create", {"traceId": tid, "name": "forged-step"})
    body = post(browser, score, trace, span)
    assert [s["id"] for s in body["successes"]] == [score["id"]]
    assert {e["id"]: e["status"] for e in body["errors"]} == {trace["id"]: 403, span["id"]: 403}
    assert "public key alone may only send score-create" in body["errors"][0]["message"]
    again = post(browser, ev("score-create", {**score["body"], "value": 0}))
    assert again["errors"][0]["status"] == 409 and "already exists" in again["errors"][0]["message"]
    trace_now = app.get(f"/api/traces/{tid}").json()
    assert trace_now["name"] == "page" and trace_now["observation_count"] == 0
    assert [(s["name"], s["value"]) for s in trace_now["scores"]] == [("thumbs", 1.0)]
    assert browser.get("/api/public/traces").status_code == 403


# -- durability --------------------------------------------------------------------------------


def test_acknowledged_batches_survive_kill_9(tmp_path: Path) -> None:
    """Clients post batches (a trace, a span, a generation and its update, a score) until the
    server is killed; every trace and score of a batch answered 207 is there after the
    restart, the generation's update merged."""
    server = HeronProcess(tmp_path / "data").start()
    acked: list[str] = []
    lock = threading.Lock()
    stop = threading.Event()
    problems: list[str] = []

    def batch(tid: str) -> list[dict[str, Any]]:
        return [
            ev("trace-create", {"id": tid, "name": "durable"}),
            ev("span-create", {"id": f"{tid}-s", "traceId": tid, "name": "step"}),
            ev(
                "generation-create",
                {
                    "id": f"{tid}-g",
                    "traceId": tid,
                    "name": "llm",
                    "parentObservationId": f"{tid}-s",
                },
            ),
            ev(
                "generation-update",
                {"id": f"{tid}-g", "traceId": tid, "output": "done", "endTime": T2},
            ),
            ev("score-create", {"id": f"{tid}-q", "traceId": tid, "name": "q", "value": 1}),
        ]

    def client() -> None:
        with httpx.Client(headers=server.auth, timeout=10) as http:
            while not stop.is_set():
                tids = [str(uuid.uuid4()) for _ in range(10)]
                events = [e for t in tids for e in batch(t)]
                try:
                    r = http.post(server.url + "/api/public/ingestion", json={"batch": events})
                except httpx.HTTPError:
                    return  # the server died under us: not acknowledged
                if r.status_code == 207 and not r.json()["errors"]:
                    with lock:
                        acked.extend(tids)
                elif r.status_code != 503:
                    problems.append(f"{r.status_code} {r.text[:200]}")

    threads = [threading.Thread(target=client) for _ in range(3)]
    for t in threads:
        t.start()
    deadline = time.monotonic() + 30
    while len(acked) < 300 and time.monotonic() < deadline:
        time.sleep(0.05)
    server.kill()
    stop.set()
    for t in threads:
        t.join(15)
    assert not problems, problems[:3]
    assert len(acked) >= 300, "too few acknowledgements before the kill"

    restarted = HeronProcess(tmp_path / "data").start()
    try:
        found: dict[str, int] = {}
        with httpx.Client(headers=restarted.auth, timeout=30) as http:
            for i in range(0, len(acked), 200):
                chunk = acked[i : i + 200]
                flt = orjson.dumps([{"column": "id", "operator": "in", "value": chunk}]).decode()
                r = http.get(restarted.url + "/api/traces", params={"filter": flt, "limit": 1000})
                found.update({t["id"]: t["observation_count"] for t in r.json()["data"]})
            missing = [t for t in acked if found.get(t) != 2]
            assert not missing, f"{len(missing)} of {len(acked)} acknowledged traces lost"
            last = acked[-1]
            detail = http.get(restarted.url + f"/api/public/traces/{last}").json()
            generation = next(o for o in detail["observations"] if o["type"] == "GENERATION")
            assert generation["output"] == "done"  # the update merged
            stored = 0
            for i in range(0, len(acked), 500):
                ids = ",".join(f"{t}-q" for t in acked[i : i + 500])
                r = http.get(
                    restarted.url + "/api/public/v2/scores", params={"scoreIds": ids, "limit": 1}
                )
                stored += r.json()["meta"]["totalItems"]
            assert stored == len(acked), "acknowledged scores lost"
    finally:
        restarted.stop()
