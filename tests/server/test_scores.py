"""Scores over HTTP: validation, types, upsert by id, project scoping, batch answers."""

from __future__ import annotations

import base64

import pytest
from fastapi.testclient import TestClient

from tests.support.otlp import genai_trace, request
from tests.support.server import PUBLIC_KEY, SECRET_KEY

PB = {"Content-Type": "application/x-protobuf"}


@pytest.fixture
def trace_id(client: TestClient) -> str:
    tid, spans = genai_trace()
    client.post("/v1/traces", content=request(spans).SerializeToString(), headers=PB)
    return tid.hex()


def scores_of(client: TestClient, trace_id: str) -> dict[str, dict]:
    return {s["name"]: s for s in client.get(f"/api/traces/{trace_id}").json()["scores"]}


def test_types_are_inferred_and_stored(client: TestClient, trace_id: str) -> None:
    for body in (
        {"traceId": trace_id, "name": "helpfulness", "value": 0.8, "comment": "good"},
        {"traceId": trace_id, "name": "thumbs", "value": True, "source": "eval"},
        {"traceId": trace_id, "name": "sentiment", "value": "positive"},
        {"trace_id": trace_id, "name": "note", "value": "long answer", "data_type": "TEXT"},
    ):
        r = client.post("/api/scores", json=body)
        assert r.status_code == 201, r.text
        assert r.json()["id"]
    s = scores_of(client, trace_id)
    assert (s["helpfulness"]["data_type"], s["helpfulness"]["value"]) == ("NUMERIC", 0.8)
    assert s["helpfulness"]["comment"] == "good" and s["helpfulness"]["source"] == "API"
    assert (s["thumbs"]["data_type"], s["thumbs"]["value"]) == ("BOOLEAN", 1.0)
    assert s["thumbs"]["source"] == "EVAL"
    assert (s["sentiment"]["data_type"], s["sentiment"]["string_value"]) == (
        "CATEGORICAL", "positive",
    )  # fmt: skip
    assert s["note"]["data_type"] == "TEXT" and s["note"]["string_value"] == "long answer"


def test_same_id_updates_the_score(client: TestClient, trace_id: str) -> None:
    body = {"id": "score-1", "traceId": trace_id, "name": "quality", "value": 1}
    client.post("/api/scores", json=body)
    client.post("/api/scores", json={**body, "value": 4, "comment": "revised"})
    s = client.get(f"/api/traces/{trace_id}").json()["scores"]
    assert len(s) == 1 and s[0]["value"] == 4.0 and s[0]["comment"] == "revised"


def test_filter_traces_by_score(client: TestClient, trace_id: str) -> None:
    client.post("/api/scores", json={"traceId": trace_id, "name": "quality", "value": 0.2})
    low = client.get(
        '/api/traces?filter=[{"column":"scores.quality","operator":"<","value":0.5}]'
    ).json()["data"]
    high = client.get(
        '/api/traces?filter=[{"column":"scores.quality","operator":">=","value":0.5}]'
    ).json()["data"]
    assert [t["id"] for t in low] == [trace_id] and high == []


def test_langfuse_batch_path_with_basic_auth(client: TestClient, trace_id: str) -> None:
    basic = base64.b64encode(f"{PUBLIC_KEY}:{SECRET_KEY}".encode()).decode()
    batch = [
        {"id": "a", "traceId": trace_id, "name": "accuracy", "value": 0.9, "dataType": "NUMERIC",
         "timestamp": "2026-11-27T10:00:00.000Z", "environment": "production"},
        {"id": "b", "traceId": trace_id, "name": "correct", "value": 1.0, "dataType": "BOOLEAN"},
    ]  # fmt: skip
    r = client.post("/api/public/scores", json=batch, headers={"Authorization": f"Basic {basic}"})
    assert r.status_code == 202 and r.json()["message"] == "Accepted"
    s = scores_of(client, trace_id)
    assert s["accuracy"]["timestamp"] == "2026-11-27T10:00:00.000000Z"
    assert s["correct"]["string_value"] == "True"


def test_partly_invalid_batch_is_207(client: TestClient, trace_id: str) -> None:
    batch = [
        {"traceId": trace_id, "name": "ok", "value": 1},
        {"traceId": trace_id, "value": 1},
        {"traceId": trace_id, "name": "bad", "value": "x", "dataType": "NUMERIC"},
    ]
    r = client.post("/api/scores", json=batch)
    assert r.status_code == 207
    body = r.json()
    assert (body["accepted"], body["rejected"]) == (1, 2)
    assert [e["index"] for e in body["errors"]] == [1, 2]
    assert "[1].name" in body["errors"][0]["message"]
    assert set(scores_of(client, trace_id)) == {"ok"}


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"traceId": "t", "value": 1}, "name: required"),
        ({"name": "x", "value": 1}, "traceId, sessionId or datasetRunId"),
        ({"name": "x", "observationId": "o", "sessionId": "s", "value": 1}, "needs traceId"),
        ({"traceId": "t", "name": "x"}, "value: required"),
        ({"traceId": "t", "name": "x", "value": 1, "dataType": "PERCENT"}, "not one of"),
        ({"traceId": "t", "name": "x", "value": "yes", "dataType": "NUMERIC"}, "needs a number"),
        ({"traceId": "t", "name": "x", "value": 2, "dataType": "BOOLEAN"}, "true/false"),
        ({"traceId": "t", "name": "x", "value": 3, "dataType": "CATEGORICAL"}, "label"),
        ({"traceId": "t", "name": "x", "value": 1, "colour": "red"}, "colour: unknown field"),
        ({"traceId": "t", "name": "x", "value": 1, "timestamp": "soon"}, "ISO 8601"),
        ({"traceId": 5, "name": "x", "value": 1}, "traceId: expected a string"),
        ([], "non-empty array"),
        ("just text", "score object"),
    ],
)
def test_invalid_scores_are_400(module_client: TestClient, body: object, message: str) -> None:
    client = module_client  # one app for the module's refused requests: they change nothing
    r = client.post("/api/scores", json=body)
    assert r.status_code == 400, r.text
    assert message in r.json()["error"]["message"]


def test_scores_are_scoped_to_the_project(client: TestClient, trace_id: str) -> None:
    st = client.app.state.heron
    other = st.store.create_key(st.store.create_project("other")["id"])
    h = {"Authorization": f"Bearer {other['secret_key']}"}
    r = client.post("/api/scores", json={"traceId": trace_id, "name": "spy", "value": 1}, headers=h)
    assert r.status_code == 201  # stored in the other project, not on this trace
    assert "spy" not in scores_of(client, trace_id)
    assert client.post("/api/scores", json={"traceId": trace_id, "name": "x", "value": 1},
                       headers={"Authorization": "Bearer nope"}).status_code == 401  # fmt: skip


def test_malformed_json_is_400(client: TestClient) -> None:
    r = client.post("/api/scores", content=b"{nope", headers={"Content-Type": "application/json"})
    assert r.status_code == 400 and "invalid JSON" in r.json()["error"]["message"]


def test_trace_list_summarises_scores(client: TestClient, trace_id: str) -> None:
    for body in (
        {"traceId": trace_id, "name": "quality", "value": 0.5},
        {"traceId": trace_id, "name": "quality", "value": 1.0},
        {"traceId": trace_id, "name": "thumbs", "value": True},
        {"traceId": trace_id, "name": "mood", "value": "calm"},
        {"traceId": trace_id, "name": "mood", "value": "happy"},
    ):
        assert client.post("/api/scores", json=body).status_code == 201
    [row] = client.get("/api/traces").json()["data"]
    assert row["scores"] == {"quality": 0.75, "thumbs": 1.0, "mood": "happy"}
