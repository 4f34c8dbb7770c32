"""Reading and deleting scores in Langfuse's shapes: filters, pages, items, project scoping."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from heron.settings import Settings
from tests.support.otlp import new_span_id, new_trace_id, request, span
from tests.support.server import CONSISTENT, SECRET_KEY

PB = {"Content-Type": "application/x-protobuf"}
ITEM_KEYS = {
    "id", "name", "source", "timestamp", "createdAt", "updatedAt", "authorUserId", "comment",
    "metadata", "configId", "queueId", "environment", "traceId", "sessionId", "observationId",
    "datasetRunId", "value", "stringValue", "dataType", "trace",
}  # fmt: skip


def _trace(client: TestClient, user: str, tags: list[str], session: str) -> tuple[str, str]:
    tid, sid = new_trace_id(), new_span_id()
    attributes = {"user.id": user, "session.id": session, "langfuse.trace.tags": tags}
    s = span(tid, sid, "turn", attributes=attributes)
    r = client.post("/v1/traces", content=request([s]).SerializeToString(), headers=PB)
    assert r.status_code == 200, r.text
    return tid.hex(), sid.hex()


@pytest.fixture(scope="module")
def client(module_client: TestClient) -> TestClient:
    """One app for the tests that only read the planted scores; the tests that change them
    (delete, replace, another project) use their own (``fresh``)."""
    return module_client


@pytest.fixture(scope="module")
def seeded(client: TestClient) -> dict[str, str]:
    return plant(client)


@pytest.fixture
def fresh(settings: Settings) -> Iterator[TestClient]:
    from heron.server.app import create_app

    with TestClient(create_app(settings), headers=CONSISTENT) as c:
        c.headers["Authorization"] = f"Bearer {SECRET_KEY}"
        yield c


def plant(client: TestClient) -> dict[str, str]:
    """Two traces (users ana and bo), an observation score, a session score, five in all."""
    t1, o1 = _trace(client, "ana", ["prod", "beta"], "sess-1")
    t2, _ = _trace(client, "bo", ["prod"], "sess-2")
    scores = [
        {"id": "s1", "traceId": t1, "name": "helpfulness", "value": 0.9, "comment": "good",
         "metadata": {"judge": "gpt"}, "timestamp": "2026-01-01T10:00:00Z", "author": "u-7"},
        {"id": "s2", "traceId": t1, "observationId": o1, "name": "correct", "value": True,
         "timestamp": "2026-01-02T10:00:00Z", "source": "EVAL"},
        {"id": "s3", "traceId": t2, "name": "helpfulness", "value": 0.2,
         "timestamp": "2026-01-03T10:00:00Z", "environment": "staging"},
        {"id": "s4", "sessionId": "sess-1", "name": "tone", "value": "calm",
         "timestamp": "2026-01-04T10:00:00Z"},
        {"id": "s5", "traceId": t2, "name": "note", "value": "too long", "dataType": "TEXT",
         "timestamp": "2026-01-05T10:00:00Z"},
    ]  # fmt: skip
    r = client.post("/api/public/scores", json=scores)
    assert r.status_code == 202, r.text
    return {"t1": t1, "t2": t2, "o1": o1}


def ids(client: TestClient, query: str = "", path: str = "/api/public/v2/scores") -> list[str]:
    r = client.get(f"{path}?{query}")
    assert r.status_code == 200, r.text
    return [s["id"] for s in r.json()["data"]]


def test_items_are_in_langfuse_shape(client: TestClient, seeded: dict[str, str]) -> None:
    body = client.get("/api/public/v2/scores").json()
    assert body["meta"] == {"page": 1, "limit": 50, "totalItems": 5, "totalPages": 1}
    items = {s["id"]: s for s in body["data"]}
    assert [s["id"] for s in body["data"]] == ["s5", "s4", "s3", "s2", "s1"]  # newest first
    s1 = items["s1"]
    assert set(s1) == ITEM_KEYS
    assert (s1["value"], s1["dataType"], s1["source"]) == (0.9, "NUMERIC", "API")
    assert (s1["comment"], s1["metadata"], s1["authorUserId"]) == ("good", {"judge": "gpt"}, "u-7")
    assert s1["timestamp"].startswith("2026-01-01T10:00:00") and s1["environment"] == "default"
    trace = s1["trace"]
    assert {**trace, "tags": sorted(trace["tags"])} == {
        "userId": "ana", "tags": ["beta", "prod"], "environment": "default", "sessionId": "sess-1",
    }  # fmt: skip
    s2 = items["s2"]
    assert (s2["value"], s2["stringValue"], s2["dataType"]) == (1.0, "True", "BOOLEAN")
    assert s2["observationId"] == seeded["o1"] and s2["source"] == "EVAL"
    s4 = items["s4"]
    assert (s4["sessionId"], s4["traceId"], s4["trace"]) == ("sess-1", None, None)
    assert (s4["value"], s4["stringValue"], s4["dataType"]) == (0, "calm", "CATEGORICAL")
    assert items["s5"]["stringValue"] == "too long" and items["s5"]["dataType"] == "TEXT"
    # the v1 path and the single item answer the same items
    assert client.get("/api/public/scores").json()["data"] == body["data"]
    assert client.get("/api/public/scores/s1").json() == s1
    assert client.get("/api/public/v2/scores/s1").json() == s1


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("userId=ana", ["s2", "s1"]),
        ("name=helpfulness", ["s3", "s1"]),
        ("fromTimestamp=2026-01-02T10:00:00Z&toTimestamp=2026-01-04T10:00:00Z", ["s3", "s2"]),
        ("environment=staging", ["s3"]),
        ("environment=staging&environment=default", ["s5", "s4", "s3", "s2", "s1"]),
        ("source=eval", ["s2"]),
        ("operator=>=&value=0.5", ["s2", "s1"]),
        ("operator=<&value=0.5", ["s3"]),
        ("scoreIds=s1,s4,nope", ["s4", "s1"]),
        ("sessionId=sess-1", ["s4"]),
        ("dataType=boolean", ["s2"]),
        ("traceTags=prod", ["s5", "s3", "s2", "s1"]),
        ("traceTags=prod&traceTags=beta", ["s2", "s1"]),
        ("queueId=q1", []),
        ("datasetRunId=r1", []),
        ("configId=c1", []),
        ("name=helpfulness&userId=bo", ["s3"]),
    ],
)
def test_filters(
    client: TestClient, seeded: dict[str, str], query: str, expected: list[str]
) -> None:
    assert ids(client, query.replace(">", "%3E").replace("<", "%3C")) == expected


def test_trace_and_observation_filters(client: TestClient, seeded: dict[str, str]) -> None:
    assert ids(client, f"traceId={seeded['t1']}") == ["s2", "s1"]
    assert ids(client, f"traceId={seeded['t1']}&observationId={seeded['o1']}") == ["s2"]


def test_pages(client: TestClient, seeded: dict[str, str]) -> None:
    first = client.get("/api/public/v2/scores?limit=2").json()
    assert first["meta"] == {"page": 1, "limit": 2, "totalItems": 5, "totalPages": 3}
    assert ids(client, "limit=2&page=2") == ["s3", "s2"]
    assert ids(client, "limit=2&page=3") == ["s1"]
    assert ids(client, "limit=2&page=4") == []
    assert client.get("/api/public/v2/scores?limit=100").status_code == 200


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("limit=101", "limit: between 1 and 100, got 101"),
        ("limit=0", "limit: between 1 and 100"),
        ("page=0", "page: starts at 1"),
        ("page=99999999999", "page: starts at 1"),
        ("operator=%3E", "operator and value"),
        ("value=3", "operator and value"),
        ("operator=like&value=1", "operator: 'like' is not one of"),
        ("value=nan&operator=%3D", "value"),
        ("dataType=BOOL", "dataType: 'BOOL' is not one of"),
        ("fromTimestamp=yesterday", "fromTimestamp: expected an ISO 8601 time"),
        ("fromTimestamp=0001-01-01T00:00:00%2B14:00", "fromTimestamp: '0001-01-01T00:00:00+14"),
        ("toTimestamp=9999-12-31T23:59:59-14:00", "toTimestamp: '9999-12-31T23:59:59-14:00' is"),
        ("limit=ten", "limit"),
    ],
)
def test_bad_queries_are_400(client: TestClient, query: str, message: str) -> None:
    r = client.get(f"/api/public/v2/scores?{query}")
    assert r.status_code == 400, r.text
    assert message in r.json()["error"]["message"]


def test_delete(fresh: TestClient) -> None:
    client = fresh
    plant(client)
    r = client.delete("/api/public/scores/s1")
    assert r.status_code == 202, r.text
    assert "s1" not in ids(client)
    assert client.get("/api/public/scores/s1").status_code == 404
    assert client.delete("/api/public/scores/s1").status_code == 404
    assert client.delete("/api/public/scores/never").status_code == 404


def test_another_projects_scores_are_invisible_and_undeletable(fresh: TestClient) -> None:
    client = fresh
    plant(client)
    st = client.app.state.heron
    other = st.store.create_key(st.store.create_project("other")["id"])
    h = {"Authorization": f"Bearer {other['secret_key']}"}
    body = {"id": "x1", "traceId": "t", "name": "n", "value": 1}
    r = client.post("/api/public/scores", json=body, headers=h)
    assert r.status_code == 201
    assert "x1" not in ids(client)
    assert client.get("/api/public/scores/x1").status_code == 404
    assert client.delete("/api/public/scores/x1").status_code == 404
    seen = client.get("/api/public/v2/scores", headers=h).json()
    assert [s["id"] for s in seen["data"]] == ["x1"] and seen["meta"]["totalItems"] == 1
    assert client.get("/api/public/scores/s1", headers=h).status_code == 404
    assert client.delete("/api/public/scores/s1", headers=h).status_code == 404
    assert "s1" in ids(client)  # still there


def test_a_replaced_score_keeps_created_at(fresh: TestClient) -> None:
    client, seeded = fresh, plant(fresh)
    before = client.get("/api/public/scores/s1").json()
    r = client.post("/api/public/scores", json={"id": "s1", "traceId": seeded["t1"],
                                                "name": "helpfulness", "value": 0.1})  # fmt: skip
    assert r.status_code == 201
    after = client.get("/api/public/scores/s1").json()
    assert after["value"] == 0.1 and after["createdAt"] == before["createdAt"]
    assert after["updatedAt"] > before["updatedAt"]


def test_reads_need_a_key(client: TestClient) -> None:
    r = client.get("/api/public/v2/scores", headers={"Authorization": "Bearer nope"})
    assert r.status_code == 401


# -- v3 (what the Langfuse SDK's scores.get_many reads) -------------------------------------


def test_v3_items_fields_and_cursor(client: TestClient, seeded: dict[str, str]) -> None:
    body = client.get("/api/public/v3/scores?limit=2").json()
    assert [s["id"] for s in body["data"]] == ["s5", "s4"] and body["meta"]["limit"] == 2
    first = body["data"][0]
    assert set(first) == {
        "id", "projectId", "name", "value", "dataType", "source", "timestamp", "environment",
        "createdAt", "updatedAt",
    }  # fmt: skip
    assert first["value"] == "too long"  # TEXT: the text
    seen = [s["id"] for s in body["data"]]
    while "cursor" in body["meta"]:
        body = client.get(f"/api/public/v3/scores?limit=2&cursor={body['meta']['cursor']}").json()
        seen += [s["id"] for s in body["data"]]
    assert seen == ["s5", "s4", "s3", "s2", "s1"]
    full = client.get("/api/public/v3/scores?fields=details,subject,annotation").json()["data"]
    items = {s["id"]: s for s in full}
    assert items["s2"]["value"] is True and items["s1"]["value"] == 0.9
    assert items["s4"]["value"] == "calm"
    assert items["s1"]["metadata"] == {"judge": "gpt"} and items["s1"]["authorUserId"] == "u-7"
    assert items["s2"]["subject"] == {
        "kind": "observation", "id": seeded["o1"], "traceId": seeded["t1"],
    }  # fmt: skip
    assert items["s1"]["subject"] == {"kind": "trace", "id": seeded["t1"]}
    assert items["s4"]["subject"] == {"kind": "session", "id": "sess-1"}


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("name=helpfulness,tone", ["s4", "s3", "s1"]),
        ("dataType=numeric&valueMin=0.5", ["s1"]),
        ("dataType=NUMERIC&value=0.2,0.9", ["s3", "s1"]),
        ("dataType=BOOLEAN&value=true", ["s2"]),
        ("dataType=CATEGORICAL&value=calm", ["s4"]),
        ("source=eval", ["s2"]),
        ("environment=staging", ["s3"]),
        ("authorUserId=u-7", ["s1"]),
        ("id=s1,s2", ["s2", "s1"]),
        ("sessionId=sess-1", ["s4"]),
        ("experimentId=r1", []),
    ],
)
def test_v3_filters(
    client: TestClient, seeded: dict[str, str], query: str, expected: list[str]
) -> None:
    assert ids(client, query, "/api/public/v3/scores") == expected


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("limit=101", "limit: between 1 and 100"),
        ("fields=everything", "fields: 'everything' is not one of"),
        ("value=1", "value: needs one dataType"),
        ("dataType=BOOLEAN&value=yes", "a BOOLEAN value is true or false"),
        ("valueMin=1", "valueMin/valueMax: need dataType=NUMERIC"),
        ("observationId=o", "observationId: needs traceId"),
        ("sessionId=s&traceId=t", "sessionId: not together"),
        ("cursor=nonsense", "cursor: not a cursor"),
    ],
)
def test_v3_bad_queries_are_400(client: TestClient, query: str, message: str) -> None:
    r = client.get(f"/api/public/v3/scores?{query}")
    assert r.status_code == 400, r.text
    assert message in r.json()["error"]["message"]
