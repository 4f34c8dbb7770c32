"""Comments in Langfuse's shape (``/api/public/comments``): the real app in process, the real
Langfuse SDK against a live server, bad input, project scoping, keys that may not write, and
comments leaving with their traces (by id and by retention)."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from heron.server.app import create_app
from tests.conftest import make_settings
from tests.support.langfuse_sdk import langfuse_client
from tests.support.otlp import genai_trace, request
from tests.support.server import (
    CONSISTENT,
    PUBLIC_KEY,
    SECRET_KEY,
    HeronProcess,
    ServerProject,
    new_project,
)

ITEM_KEYS = {
    "id", "projectId", "objectType", "objectId", "content", "authorUserId", "createdAt",
    "updatedAt", "traceId",
}  # fmt: skip
PB = {"Content-Type": "application/x-protobuf"}


def store_of(c: TestClient) -> Any:
    return c.app.state.heron.store  # type: ignore[attr-defined]


def ingest(c: TestClient, session: str = "s1", secret: str = SECRET_KEY) -> tuple[str, list[str]]:
    """A trace of a root and two children; returns its id and its observations' ids."""
    tid, spans = genai_trace(session=session)
    r = c.post(
        "/v1/traces",
        content=request(spans).SerializeToString(),
        headers={**PB, "Authorization": f"Bearer {secret}"},
    )
    assert r.status_code == 200, r.text
    return tid.hex(), [s.span_id.hex() for s in spans]


def comment(c: TestClient, object_type: str, object_id: str, text: str = "a note", **more: Any):
    body = {"objectType": object_type, "objectId": object_id, "content": text, **more}
    return c.post("/api/public/comments", json=body)


def made(c: TestClient, *args: Any, **more: Any) -> str:
    r = comment(c, *args, **more)
    assert r.status_code == 200, r.text
    assert set(r.json()) == {"id"}
    return r.json()["id"]


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    """One app for the module (each test makes its own traces, found by id)."""
    settings = make_settings(tmp_path_factory.mktemp("comments"))
    with TestClient(create_app(settings), headers=CONSISTENT) as c:
        c.headers["Authorization"] = f"Bearer {SECRET_KEY}"
        yield c


@pytest.fixture(scope="module")
def other(app: TestClient) -> TestClient:
    """A client with a full key of another project."""
    store = store_of(app)
    key = store.create_key(store.create_project("other")["id"])["secret_key"]
    return TestClient(app.app, headers={**CONSISTENT, "Authorization": f"Bearer {key}"})


def test_create_list_and_get_on_each_object_type(app: TestClient) -> None:
    tid, (root, child, _) = ingest(app, session="sess-shape")
    on_trace = made(app, "TRACE", tid, "**wrong** tool\nsecond line", authorUserId="ann")
    on_obs = made(app, "OBSERVATION", child, "bad retrieval")
    on_session = made(app, "SESSION", "sess-shape", "user gave up")
    got = app.get(f"/api/public/comments/{on_trace}").json()
    assert set(got) == ITEM_KEYS
    assert got["objectType"] == "TRACE" and got["objectId"] == tid
    assert got["content"] == "**wrong** tool\nsecond line" and got["authorUserId"] == "ann"
    assert got["createdAt"] == got["updatedAt"] and got["createdAt"].endswith("Z")
    assert got["projectId"] == store_of(app).project_by_name("test")["id"]
    # trace_id is kept for error analysis: the trace itself, the observation's trace, none
    rows = dict(
        store_of(app)
        .cursor()
        .execute(
            "SELECT id, trace_id FROM comments WHERE id IN (?, ?, ?)",
            [on_trace, on_obs, on_session],
        )
        .fetchall()
    )
    assert rows == {on_trace: tid, on_obs: tid, on_session: None}
    listed = app.get(f"/api/public/comments?objectType=OBSERVATION&objectId={child}").json()
    assert [c["id"] for c in listed["data"]] == [on_obs]
    assert listed["meta"] == {"page": 1, "limit": 50, "totalItems": 1, "totalPages": 1}
    by_trace = app.get(f"/api/public/comments?traceId={tid}").json()["data"]
    assert {c["id"] for c in by_trace} == {on_trace, on_obs}
    assert [c["id"] for c in app.get("/api/public/comments?authorUserId=ann").json()["data"]] == [
        on_trace
    ]
    assert app.get(f"/api/public/comments?objectType=TRACE&objectId={root}").json()["data"] == []


def test_pages_newest_first(app: TestClient) -> None:
    tid, _ = ingest(app)
    ids = [made(app, "TRACE", tid, f"note {i}") for i in range(5)]
    first = app.get(f"/api/public/comments?objectType=TRACE&objectId={tid}&limit=2").json()
    assert first["meta"] == {"page": 1, "limit": 2, "totalItems": 5, "totalPages": 3}
    assert [c["id"] for c in first["data"]] == ids[:-3:-1]
    last = app.get(f"/api/public/comments?objectType=TRACE&objectId={tid}&limit=2&page=3")
    assert [c["id"] for c in last.json()["data"]] == ids[:1]


def test_edit_and_delete(app: TestClient) -> None:
    tid, _ = ingest(app)
    cid = made(app, "TRACE", tid, "first take")
    r = app.patch(f"/api/public/comments/{cid}", json={"content": "  second take  "})
    assert r.status_code == 200, r.text
    assert r.json()["content"] == "second take" and r.json()["updatedAt"] >= r.json()["createdAt"]
    assert app.get(f"/api/public/comments/{cid}").json()["content"] == "second take"
    for body, message in (
        ({"content": ""}, "content: required"),
        ({"content": "x" * 5001}, "content: at most 5,000 characters, got 5,001"),
        ({"content": "ok", "objectId": "t"}, "objectId: unknown field"),
        ([], "body: expected a JSON object"),
    ):
        r = app.patch(f"/api/public/comments/{cid}", json=body)
        assert r.status_code == 400 and message in r.json()["error"]["message"], r.text
    assert app.delete(f"/api/public/comments/{cid}").status_code == 202
    assert app.get(f"/api/public/comments/{cid}").status_code == 404
    assert app.delete(f"/api/public/comments/{cid}").status_code == 404
    assert app.patch(f"/api/public/comments/{cid}", json={"content": "x"}).status_code == 404


@pytest.mark.parametrize(
    ("body", "status", "message"),
    [
        ({"objectType": "trace"}, 400, "objectType: expected one of TRACE, OBSERVATION, SESSION"),
        ({"objectType": "DATASET"}, 400, "objectType: expected one of"),
        ({"objectType": 5}, 400, "objectType: expected one of"),
        ({"objectType": None}, 400, "objectType: expected one of"),
        ({"objectType": "PROMPT"}, 400, "objectType: heron keeps no prompts"),
        ({"objectId": "f" * 32}, 404, "objectId: trace 'ffffffffffffffffffffffffffffffff' not"),
        ({"objectType": "OBSERVATION", "objectId": "0" * 16}, 404, "objectId: observation"),
        ({"objectType": "SESSION", "objectId": "no-such"}, 404, "objectId: session 'no-such'"),
        ({"objectId": ""}, 400, "objectId: required"),
        ({"objectId": "x" * 1001}, 400, "objectId: at most 1,000 characters"),
        ({"content": "x" * 5001}, 400, "content: at most 5,000 characters, got 5,001"),
        ({"content": "   "}, 400, "content: required"),
        ({"content": None}, 400, "content: required"),
        ({"content": ["a"]}, 400, "content: expected a string, got list"),
        ({"authorUserId": 7}, 400, "authorUserId: expected a string"),
        ({"colour": "red"}, 400, "colour: unknown field"),
        ({"traceId": "abc"}, 400, "traceId: only an OBSERVATION comment takes it"),
    ],
)
def test_bad_create_is_4xx_naming_the_field(
    app: TestClient, body: dict, status: int, message: str
) -> None:
    tid, _ = ingest(app)
    r = app.post(
        "/api/public/comments",
        json={"objectType": "TRACE", "objectId": tid, "content": "c", **body},
    )
    assert r.status_code == status, r.text
    assert message in r.json()["error"]["message"]


def test_an_observations_trace_speeds_its_look_up_and_must_be_right(app: TestClient) -> None:
    tid, (_, child, _) = ingest(app)
    other_tid, _ = ingest(app)
    cid = made(app, "OBSERVATION", child, "hinted", traceId=tid)
    assert app.get(f"/api/public/comments?traceId={tid}").json()["data"][0]["id"] == cid
    r = comment(app, "OBSERVATION", child, traceId=other_tid)
    assert r.status_code == 404 and f"observation {child!r}" in r.json()["error"]["message"]


def test_content_of_exactly_5000_characters_is_taken(app: TestClient) -> None:
    tid, _ = ingest(app)
    cid = made(app, "TRACE", tid, "é" * 5000)
    assert len(app.get(f"/api/public/comments/{cid}").json()["content"]) == 5000


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("page=0", "page: starts at 1"),
        ("limit=0", "limit: between 1 and 100"),
        ("limit=101", "limit: between 1 and 100"),
        ("limit=ten", "limit"),
        ("objectType=trace", "objectType: expected one of"),
        ("objectId=abc", "objectId: filtering by objectId needs objectType"),
    ],
)
def test_bad_list_queries_are_400(app: TestClient, query: str, message: str) -> None:
    r = app.get(f"/api/public/comments?{query}")
    assert r.status_code == 400, r.text
    assert message in r.json()["error"]["message"]


def test_bodies_that_are_not_objects_are_400(app: TestClient) -> None:
    for raw in (b"{", b"[]", b'"text"', b"null"):
        r = app.post("/api/public/comments", content=raw, headers={"Content-Type": "text/json"})
        assert r.status_code == 400, (raw, r.text)


def test_another_project_cannot_see_comment_or_change(app: TestClient, other: TestClient) -> None:
    tid, (_, child, _) = ingest(app, session="sess-private")
    cid = made(app, "TRACE", tid, "ours")
    assert other.get(f"/api/public/comments/{cid}").status_code == 404
    assert cid not in {c["id"] for c in other.get("/api/public/comments?limit=100").json()["data"]}
    assert other.get(f"/api/public/comments?traceId={tid}").json()["meta"]["totalItems"] == 0
    assert other.patch(f"/api/public/comments/{cid}", json={"content": "theirs"}).status_code == 404
    assert other.delete(f"/api/public/comments/{cid}").status_code == 404
    for kind, ident in (("TRACE", tid), ("OBSERVATION", child), ("SESSION", "sess-private")):
        r = comment(other, kind, ident)
        assert r.status_code == 404 and "not found in this project" in r.text, (kind, r.text)
    assert app.get(f"/api/public/comments/{cid}").json()["content"] == "ours"


def test_public_key_alone_and_narrow_keys_cannot_write(app: TestClient) -> None:
    tid, _ = ingest(app)
    cid = made(app, "TRACE", tid)
    public = "Basic " + base64.b64encode(f"{PUBLIC_KEY}:".encode()).decode()
    browser = TestClient(app.app, headers={"Authorization": public})
    r = comment(browser, "TRACE", tid)
    assert r.status_code == 403 and "public key alone may only create scores" in r.text
    assert browser.get("/api/public/comments").status_code == 403
    assert browser.delete(f"/api/public/comments/{cid}").status_code == 403
    store = store_of(app)
    pid = store.project_by_name("test")["id"]
    for scope in ("read", "ingest"):
        key = store.create_key(pid, scope=scope)["secret_key"]
        narrow = TestClient(app.app, headers={**CONSISTENT, "Authorization": f"Bearer {key}"})
        r = comment(narrow, "TRACE", tid)
        assert r.status_code == 403 and f"scope {scope!r}" in r.text, r.text
        assert narrow.patch(f"/api/public/comments/{cid}", json={"content": "x"}).status_code == 403
        assert narrow.delete(f"/api/public/comments/{cid}").status_code == 403
        expected = 200 if scope == "read" else 403
        assert narrow.get(f"/api/public/comments/{cid}").status_code == expected
    assert app.get(f"/api/public/comments/{cid}").json()["content"] == "a note"


def comment_count(c: TestClient, **where: str) -> int:
    cond = " AND ".join(f"{k} = ?" for k in where)
    row = (
        store_of(c)
        .cursor()
        .execute(f"SELECT count(*) FROM comments WHERE {cond}", [*where.values()])
    )
    return row.fetchone()[0]


def test_deleting_a_trace_deletes_its_comments_and_its_sessions(app: TestClient) -> None:
    first, (_, child, _) = ingest(app, session="sess-gone")
    second, _ = ingest(app, session="sess-gone")
    kept, _ = ingest(app, session="sess-kept")
    made(app, "TRACE", first)
    made(app, "OBSERVATION", child)
    made(app, "SESSION", "sess-gone")
    made(app, "TRACE", kept)
    made(app, "SESSION", "sess-kept")
    assert app.delete(f"/api/traces/{first}").status_code == 204
    assert comment_count(app, trace_id=first) == 0
    assert comment_count(app, object_id="sess-gone") == 1  # the session still has a trace
    assert app.delete(f"/api/traces/{second}").status_code == 204
    assert comment_count(app, object_id="sess-gone") == 0  # its last trace went
    assert comment_count(app, trace_id=kept) == 1 and comment_count(app, object_id="sess-kept") == 1


def test_retention_deletes_old_traces_comments(tmp_path: Any) -> None:
    with TestClient(create_app(make_settings(tmp_path)), headers=CONSISTENT) as c:
        c.headers["Authorization"] = f"Bearer {SECRET_KEY}"
        old, (_, child, _) = ingest(c, session="sess-old")  # the test spans start in 2024
        made(c, "TRACE", old)
        made(c, "OBSERVATION", child)
        made(c, "SESSION", "sess-old")
        store = store_of(c)
        pid = store.project_by_name("test")["id"]
        other_pid = store.create_project("elsewhere")["id"]
        store.cursor().execute(  # another project's comment on a session of the same name
            "INSERT INTO comments VALUES (?, 'x1', 'SESSION', 'sess-old', NULL, 'n', NULL, "
            "now()::TIMESTAMP, now()::TIMESTAMP)",
            [other_pid],
        )
        assert store.delete_traces_before(pid, datetime.now(UTC) - timedelta(days=1)) == 1
        assert comment_count(c, project_id=pid) == 0
        assert comment_count(c, project_id=other_pid) == 1


# -- the real Langfuse SDK against a live server ------------------------------------------------


@pytest.fixture
def live(shared_server: HeronProcess) -> ServerProject:
    """A project of its own on the run's shared server: the test counts all its comments."""
    return new_project(shared_server)


def test_langfuse_sdk_creates_lists_and_gets_comments(live: ServerProject) -> None:
    from langfuse.api import CommentObjectType
    from langfuse.api.core.api_error import ApiError

    tid, spans = genai_trace(session="sdk-session")
    with httpx.Client(base_url=live.url, headers=live.auth, timeout=30) as http:
        r = http.post("/v1/traces", content=request(spans).SerializeToString(), headers=PB)
        assert r.status_code == 200, r.text
    client = langfuse_client(live.url, live.public_key, live.secret_key)
    api = client.api
    # straight after ingest: the comment waits for the trace to be applied
    created = api.comments.create(
        project_id="ignored", object_type="TRACE", object_id=tid.hex(), content="too slow"
    )
    on_obs = api.comments.create(
        project_id="ignored",
        object_type="OBSERVATION",
        object_id=spans[1].span_id.hex(),
        content="hallucinated a *setting*",
        author_user_id="reviewer-1",
    )
    api.comments.create(
        project_id="ignored", object_type="SESSION", object_id="sdk-session", content="ok"
    )
    one = api.comments.get_by_id(on_obs.id)
    assert one.object_type == CommentObjectType.OBSERVATION
    assert one.content == "hallucinated a *setting*" and one.author_user_id == "reviewer-1"
    assert one.created_at.tzinfo is not None and one.project_id != "ignored"
    page = api.comments.get(object_type="TRACE", object_id=tid.hex(), limit=10)
    assert [c.id for c in page.data] == [created.id] and page.meta.total_items == 1
    everything = api.comments.get(page=1, limit=2)
    assert everything.meta.total_items == 3 and everything.meta.total_pages == 2
    mine = api.comments.get(author_user_id="reviewer-1")
    assert [c.id for c in mine.data] == [on_obs.id]
    with pytest.raises(ApiError) as refused:
        api.comments.create(
            project_id="ignored", object_type="TRACE", object_id="0" * 32, content="x"
        )
    assert refused.value.status_code == 404
