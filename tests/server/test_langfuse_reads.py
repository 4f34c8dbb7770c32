"""Langfuse's read API over raw HTTP (the app in process): traces, observations (v1 pages
and v2 cursor pages with field groups), sessions; their filters, orders, pages, Langfuse's
JSON filter, and the 400s naming what is wrong. The SDKs reading it are in
tests/clients/test_langfuse_api.py."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import orjson
import pytest
from fastapi.testclient import TestClient

from heron.server.app import create_app
from tests.conftest import make_settings
from tests.support.server import CONSISTENT, SECRET_KEY

RUN = uuid.uuid4().hex[:8]


def at(second: int) -> str:
    return f"2026-04-01T12:00:{second:02d}.000Z"


def ev(kind: str, body: dict[str, Any], ts: str | None = None) -> dict[str, Any]:
    return {"id": str(uuid.uuid4()), "type": kind, "timestamp": ts or at(0), "body": body}


def turn(n: int, session: str, user: str, env: str, tags: list[str]) -> list[dict[str, Any]]:
    """A trace at second 10n: a root span (1 s), a generation under it, an event."""
    tid = f"{RUN}-t{n}"
    return [
        ev("trace-create", {
            "id": tid, "name": f"turn-{n % 2}", "userId": user, "sessionId": session,
            "environment": env, "tags": tags, "release": f"r{n % 2}", "version": "v1",
            "input": {"n": n}, "output": f"answer {n}", "metadata": {"n": str(n)},
        }),
        ev("span-create", {"id": f"{tid}-root", "traceId": tid, "name": "handle",
                           "startTime": at(10 * n), "endTime": at(10 * n + 1),
                           "environment": env}),
        ev("generation-create", {
            "id": f"{tid}-gen", "traceId": tid, "parentObservationId": f"{tid}-root",
            "name": "llm", "startTime": at(10 * n), "endTime": at(10 * n + n % 2 + 1),
            "model": "gpt-4o-mini", "input": [{"role": "user", "content": f"q{n}"}],
            "output": f"a{n}", "level": "WARNING" if n == 3 else "DEFAULT",
            "metadata": {"long": "x" * 300, "short": "y"},
            "usageDetails": {"input": 60, "input_cached_tokens": 40, "output": 10},
        }),
        ev("event-create", {"id": f"{tid}-evt", "traceId": tid, "name": "mark",
                            "parentObservationId": f"{tid}-root", "startTime": at(10 * n)}),
    ]  # fmt: skip


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    """Five traces: sessions a (t0, t1, t2) and b (t3, t4), users u1/u2, two environments."""
    settings = make_settings(tmp_path_factory.mktemp("langfuse-reads"))
    with TestClient(create_app(settings), headers=CONSISTENT) as c:
        c.headers["Authorization"] = f"Bearer {SECRET_KEY}"
        events = []
        for n in range(5):
            session = f"{RUN}-a" if n < 3 else f"{RUN}-b"
            env = "production" if n != 4 else "staging"
            events += turn(n, session, f"{RUN}-u{n % 2 + 1}", env, ["all", f"n{n}"])
        events.append(ev("score-create", {"id": f"{RUN}-score", "traceId": f"{RUN}-t1",
                                          "name": "quality", "value": 0.5}))  # fmt: skip
        r = c.post("/api/public/ingestion", json={"batch": events})
        assert r.status_code == 207 and r.json()["errors"] == [], r.text
        yield c


def traces(app: TestClient, **params: Any) -> dict[str, Any]:
    r = app.get("/api/public/traces", params=params)
    assert r.status_code == 200, r.text
    return r.json()


def ids(body: dict[str, Any]) -> list[str]:
    return [item["id"].removeprefix(f"{RUN}-") for item in body["data"]]


MINE = {
    "filter": orjson.dumps([{"column": "tags", "operator": "any of", "value": ["all"]}]).decode()
}


def test_trace_list_filters_orders_and_pages(app: TestClient) -> None:
    assert ids(traces(app, **MINE)) == ["t4", "t3", "t2", "t1", "t0"]  # newest first
    assert ids(traces(app, userId=f"{RUN}-u2")) == ["t3", "t1"]
    assert ids(traces(app, sessionId=f"{RUN}-b", orderBy="timestamp.asc")) == ["t3", "t4"]
    assert ids(traces(app, name="turn-0", tags=["all", "n2"])) == ["t2"]
    assert ids(traces(app, environment=["staging"])) == ["t4"]
    assert ids(traces(app, release="r1", userId=f"{RUN}-u2", version="v1")) == ["t3", "t1"]
    window = traces(app, fromTimestamp=at(10), toTimestamp=at(30), **MINE)
    assert ids(window) == ["t2", "t1"]  # from inclusive, to exclusive
    page = traces(app, page=2, limit=2, orderBy="id.asc", **MINE)
    assert ids(page) == ["t2", "t3"]
    assert page["meta"] == {"page": 2, "limit": 2, "totalItems": 5, "totalPages": 3}


def test_trace_items_carry_ids_metrics_and_io_unless_left_out(app: TestClient) -> None:
    (item,) = traces(app, tags=["n1"])["data"]
    # by start time, then id (all three start together)
    assert item["observations"] == [f"{RUN}-t1-evt", f"{RUN}-t1-gen", f"{RUN}-t1-root"]
    assert item["scores"] == [f"{RUN}-score"]
    assert item["latency"] == 2.0 and item["totalCost"] > 0
    assert (item["input"], item["output"], item["metadata"]) == ({"n": 1}, "answer 1", {"n": "1"})
    assert item["htmlPath"].startswith(f"/traces/{RUN}-t1?project=")
    assert (item["environment"], item["public"], item["bookmarked"]) == ("production", False, False)
    (core,) = traces(app, tags=["n1"], fields="core")["data"]
    assert (core["input"], core["metadata"], core["observations"], core["scores"]) == (
        None, None, [], [],
    )  # fmt: skip
    assert core["latency"] == core["totalCost"] == -1  # as Langfuse marks left-out metrics


def test_the_json_filter_speaks_langfuse(app: TestClient) -> None:
    def where(*conditions: dict[str, Any], **params: Any) -> list[str]:
        return ids(traces(app, filter=orjson.dumps(list(conditions)).decode(), **params))

    tagged = {"type": "arrayOptions", "column": "tags", "operator": "all of", "value": ["all"]}
    slow = {"type": "number", "column": "latency", "operator": ">", "value": 1.5}  # seconds
    assert where(tagged, slow) == ["t3", "t1"]
    meta = {"type": "stringObject", "column": "metadata", "key": "n", "operator": "=", "value": "4"}
    assert where(meta) == ["t4"]
    # the JSON's condition on userId wins over the query parameter's
    user = {"type": "string", "column": "userId", "operator": "=", "value": f"{RUN}-u1"}
    assert where(user, userId=f"{RUN}-u2") == ["t4", "t2", "t0"]
    assert where(tagged, {"type": "string", "column": "level", "operator": "=",
                          "value": "WARNING"}) == ["t3"]  # fmt: skip


@pytest.mark.parametrize(
    ("path", "params", "message"),
    [
        ("/api/public/traces", {"orderBy": "bookmarked.asc"}, "orderBy: 'bookmarked' is not one"),
        ("/api/public/traces", {"orderBy": "name.up"}, "direction is asc or desc"),
        ("/api/public/traces", {"fields": "core,everything"}, "fields: 'everything' is not one"),
        ("/api/public/traces", {"limit": 0}, "limit: between 1 and 100"),
        ("/api/public/traces", {"page": 0}, "page: starts at 1"),
        ("/api/public/traces", {"fromTimestamp": "noon"}, "expected an ISO 8601 time"),
        ("/api/public/traces", {"filter": "[{"}, "filter: invalid JSON"),
        (
            "/api/public/traces",
            {"filter": '[{"column": "bookmarked", "operator": "=", "value": true}]'},
            "unknown column 'bookmarked'",
        ),
        (
            "/api/public/v2/observations",
            {"filter": '[{"column": "input", "operator": "matches", "value": "x"}]'},
            "'matches' is not",
        ),
        ("/api/public/v2/observations", {"limit": 1001}, "limit: between 1 and 1000"),
        ("/api/public/v2/observations", {"cursor": "forged"}, "cursor: not a cursor"),
        ("/api/public/v2/observations", {"parseIoAsJson": "true"}, "parseIoAsJson: deprecated"),
        ("/api/public/v2/observations", {"fields": "core,secrets"}, "'secrets' is not one"),
        ("/api/public/observations", {"type": "GENERATION", "limit": 500}, "limit: between"),
        ("/api/public/sessions", {"toTimestamp": "0001-01-01T00:00:00+05:00"}, "out of range"),
    ],
)
def test_bad_parameters_are_400_naming_them(
    app: TestClient, path: str, params: dict[str, Any], message: str
) -> None:
    r = app.get(path, params=params)
    assert r.status_code == 400, r.text
    assert message in r.json()["error"]["message"], r.json()


def test_one_trace_with_its_observations_and_scores(app: TestClient) -> None:
    body = app.get(f"/api/public/traces/{RUN}-t1").json()
    observations = {o["name"]: o for o in body["observations"]}
    assert {n: o["type"] for n, o in observations.items()} == {
        "handle": "SPAN", "llm": "GENERATION", "mark": "EVENT",
    }  # fmt: skip
    llm = observations["llm"]
    assert llm["parentObservationId"] == f"{RUN}-t1-root"
    assert llm["input"] == [{"role": "user", "content": "q1"}] and llm["output"] == "a1"
    # stored inclusive (input 100, 40 of it cached), read back as it was sent
    assert llm["usageDetails"] == {"input": 60, "input_cached_tokens": 40, "output": 10,
                                   "total": 110}  # fmt: skip
    assert llm["usage"]["input"] == 100 and llm["latency"] == 2.0
    assert llm["costDetails"]["input_cached_tokens"] > 0
    assert [(s["id"], s["value"]) for s in body["scores"]] == [(f"{RUN}-score", 0.5)]
    lean = app.get(f"/api/public/traces/{RUN}-t1", params={"fields": "core,metrics"}).json()
    assert lean["observations"] == [] and lean["scores"] == [] and lean["latency"] == 2.0
    r = app.get("/api/public/traces/no-such-trace")
    assert r.status_code == 404 and "not found in this project" in r.json()["error"]["message"]


def test_observations_v1_filter_and_page(app: TestClient) -> None:
    def obs(**params: Any) -> dict[str, Any]:
        r = app.get("/api/public/observations", params=params)
        assert r.status_code == 200, r.text
        return r.json()

    generations = obs(type="GENERATION", userId=f"{RUN}-u1")
    assert [o["traceId"].removeprefix(f"{RUN}-") for o in generations["data"]] == ["t4", "t2", "t0"]
    assert all(o["model"] == "gpt-4o-mini" and o["input"] for o in generations["data"])
    roots = obs(traceId=f"{RUN}-t2", parentObservationId="")
    assert [o["name"] for o in roots["data"]] == ["handle"]
    children = obs(traceId=f"{RUN}-t2", parentObservationId=f"{RUN}-t2-root")
    assert sorted(o["name"] for o in children["data"]) == ["llm", "mark"]
    warned = obs(level="WARNING", fromStartTime=at(0), toStartTime=at(59))
    assert [o["id"] for o in warned["data"]] == [f"{RUN}-t3-gen"]
    page = obs(traceId=f"{RUN}-t0", limit=2, page=2)
    assert page["meta"] == {"page": 2, "limit": 2, "totalItems": 3, "totalPages": 2}
    assert len(page["data"]) == 1
    one = app.get(f"/api/public/observations/{RUN}-t0-gen").json()
    assert one["type"] == "GENERATION" and one["traceId"] == f"{RUN}-t0"
    assert app.get("/api/public/observations/nope").status_code == 404


def test_observations_v2_cursor_pages_and_field_groups(app: TestClient) -> None:
    mine = orjson.dumps([{"type": "arrayOptions", "column": "traceTags", "operator": "any of",
                          "value": ["all"]}]).decode()  # fmt: skip
    seen, cursor, pages = [], None, 0
    while True:
        r = app.get("/api/public/v2/observations", params={"filter": mine, "limit": 4,
                                                          "cursor": cursor})  # fmt: skip
        assert r.status_code == 200, r.text
        body = r.json()
        pages += 1
        seen += body["data"]
        cursor = body["meta"].get("cursor")
        if cursor is None:
            break
    assert pages == 4 and len(seen) == len({o["id"] for o in seen}) == 15
    starts = [o["startTime"] for o in seen]
    assert starts == sorted(starts, reverse=True)
    first = seen[0]
    assert set(first) == {
        "id", "traceId", "startTime", "endTime", "projectId", "parentObservationId", "type",
        "name", "level", "statusMessage", "version", "environment", "bookmarked", "public",
        "userId", "sessionId", "isRootObservation",
    }  # fmt: skip
    r = app.get("/api/public/v2/observations", params={
        "traceId": f"{RUN}-t3", "type": "GENERATION", "expandMetadata": "none",
        "fields": "core,io,metadata,model,usage,prompt,metrics,trace_context,time",
    })  # fmt: skip
    (gen,) = r.json()["data"]
    assert gen["input"] == '[{"role":"user","content":"q3"}]'  # io: the stored text
    assert gen["metadata"] == {"long": "x" * 200, "short": "y"}  # cut at 200 characters
    assert (gen["model"], gen["latency"], gen["traceName"], gen["release"]) == (
        "gpt-4o-mini", 2.0, "turn-1", "r1",
    )  # fmt: skip
    assert gen["tags"] == ["all", "n3"] and gen["usageDetails"]["input_cached_tokens"] == 40
    expanded = app.get("/api/public/v2/observations", params={
        "traceId": f"{RUN}-t3", "type": "GENERATION", "fields": "metadata",
        "expandMetadata": "long",
    }).json()["data"][0]  # fmt: skip
    assert expanded["metadata"]["long"] == "x" * 300

    def where(*conditions: dict[str, Any]) -> list[str]:
        flt = orjson.dumps([*conditions]).decode()
        r = app.get("/api/public/v2/observations", params={"filter": flt, "limit": 100})
        assert r.status_code == 200, r.text
        return sorted(o["id"].removeprefix(f"{RUN}-") for o in r.json()["data"])

    tagged = {"type": "arrayOptions", "column": "traceTags", "operator": "all of",
              "value": ["all", "n2"]}  # fmt: skip
    assert where(tagged, {"type": "boolean", "column": "isRootObservation", "operator": "=",
                          "value": True}) == ["t2-root"]  # fmt: skip
    assert where(tagged, {"type": "stringOptions", "column": "type", "operator": "any of",
                          "value": ["GENERATION", "EVENT"]}) == ["t2-evt", "t2-gen"]  # fmt: skip
    assert where({"type": "number", "column": "latency", "operator": ">=", "value": 2},
                 {"type": "string", "column": "userId", "operator": "=",
                  "value": f"{RUN}-u2"}) == ["t1-gen", "t3-gen"]  # fmt: skip


def test_sessions_list_and_detail(app: TestClient) -> None:
    r = app.get("/api/public/sessions", params={"limit": 100})
    mine = [s for s in r.json()["data"] if s["id"].startswith(RUN)]
    assert [(s["id"], s["createdAt"]) for s in mine] == [
        (f"{RUN}-b", at(30).replace(".000Z", ".000000Z")),
        (f"{RUN}-a", at(0).replace(".000Z", ".000000Z")),
    ]
    assert mine[0]["environment"] == "production" and mine[0]["projectId"]
    later = app.get("/api/public/sessions", params={"fromTimestamp": at(20)}).json()["data"]
    assert f"{RUN}-b" in [s["id"] for s in later] and f"{RUN}-a" not in [s["id"] for s in later]
    staging = app.get("/api/public/sessions", params={"environment": "staging"}).json()["data"]
    assert [s["id"] for s in staging] == [f"{RUN}-b"]
    detail = app.get(f"/api/public/sessions/{RUN}-a").json()
    assert [t["id"] for t in detail["traces"]] == [f"{RUN}-t0", f"{RUN}-t1", f"{RUN}-t2"]
    assert detail["traces"][0]["input"] == {"n": 0}
    assert app.get("/api/public/sessions/none-such").status_code == 404
