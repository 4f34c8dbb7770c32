"""Deleting traces: the API (heron's and Langfuse's shapes), the web page, retention."""

from __future__ import annotations

import re
import time

from fastapi.testclient import TestClient

from tests.server.test_web_auth import csrf_of
from tests.support.otlp import genai_trace, new_span_id, new_trace_id, request, span
from tests.support.server import SECRET_KEY

PB = {"Content-Type": "application/x-protobuf"}
DAY_NS = 86_400 * 10**9


def ingest(c: TestClient, spans: list, secret: str = SECRET_KEY) -> None:
    r = c.post(
        "/v1/traces",
        content=request(spans).SerializeToString(),
        headers={**PB, "Authorization": f"Bearer {secret}"},
    )
    assert r.status_code == 200, r.text


def scored_trace(c: TestClient, secret: str = SECRET_KEY) -> str:
    tid, spans = genai_trace()
    ingest(c, spans, secret)
    r = c.post(
        "/api/scores",
        json={"traceId": tid.hex(), "name": "quality", "value": 1},
        headers={"Authorization": f"Bearer {secret}"},
    )
    assert r.status_code == 201, r.text
    # reads serve what is applied: a consistent read waits until the spans are in the store
    r = c.get(
        f"/api/traces/{tid.hex()}",
        headers={"Authorization": f"Bearer {secret}", "X-Heron-Consistent": "true"},
    )
    assert r.status_code == 200 and r.headers["X-Heron-Consistent"] == "true", r.text
    return tid.hex()


def rows(c: TestClient, trace_id: str) -> tuple[int, int, int]:
    cur = c.app.state.heron.store.cursor()  # type: ignore[attr-defined]
    return tuple(  # type: ignore[return-value]
        cur.execute(f"SELECT count(*) FROM {t} WHERE {col} = ?", [trace_id]).fetchone()[0]
        for t, col in (("traces", "id"), ("observations", "trace_id"), ("scores", "trace_id"))
    )


def other_project_key(c: TestClient) -> str:
    store = c.app.state.heron.store  # type: ignore[attr-defined]
    return store.create_key(store.create_project("other")["id"])["secret_key"]


def test_delete_trace_then_get_is_404(client: TestClient) -> None:
    tid = scored_trace(client)
    assert rows(client, tid) == (1, 3, 1)
    r = client.delete(f"/api/traces/{tid}")
    assert r.status_code == 204
    assert client.get(f"/api/traces/{tid}").status_code == 404
    assert rows(client, tid) == (0, 0, 0)  # observations and scores went with it
    again = client.delete(f"/api/traces/{tid}")
    assert again.status_code == 404 and tid in again.json()["error"]["message"]


def test_langfuse_delete_paths(client: TestClient) -> None:
    one, two, three = (scored_trace(client) for _ in range(3))
    r = client.delete(f"/api/public/traces/{one}")
    assert r.status_code == 200 and r.json() == {"message": "Trace deleted successfully"}
    r = client.request("DELETE", "/api/public/traces", json={"traceIds": [two, three, one]})
    assert r.status_code == 200, r.text
    assert r.json()["deleted"] == [two, three] and r.json()["notFound"] == [one]
    assert all(rows(client, t) == (0, 0, 0) for t in (one, two, three))


def test_bad_batch_bodies_are_400(client: TestClient) -> None:
    for body in (b"{", b"[]", b'{"traceIds": []}', b'{"traceIds": [1]}', b'{"ids": ["a"]}'):
        r = client.request("DELETE", "/api/public/traces", content=body)
        assert r.status_code == 400, body
    r = client.request("DELETE", "/api/public/traces", json={"traceIds": ["a"] * 1001})
    assert r.status_code == 400 and "at most 1000" in r.text


def test_another_projects_trace_cannot_be_deleted(client: TestClient) -> None:
    theirs = scored_trace(client, other_project_key(client))
    for path in (f"/api/traces/{theirs}", f"/api/public/traces/{theirs}"):
        assert client.delete(path).status_code == 404
    r = client.request("DELETE", "/api/public/traces", json={"traceIds": [theirs]})
    assert r.json()["deleted"] == [] and r.json()["notFound"] == [theirs]
    assert rows(client, theirs) == (1, 3, 1)


def test_delete_waits_for_acknowledged_spans(client: TestClient) -> None:
    # spans acknowledged just before the delete are applied first, so none survive it
    tid, spans = genai_trace()
    ingest(client, spans)
    assert client.delete(f"/api/traces/{tid.hex()}").status_code == 204
    assert rows(client, tid.hex()) == (0, 0, 0)


def test_web_delete_button(web: TestClient) -> None:
    tid = scored_trace(web)
    page = web.get(f"/traces/{tid}")
    assert page.status_code == 200
    form = re.search(r'<form class="trace-delete" method="post" action="([^"]+)"[^>]*>', page.text)
    assert form and "data-confirm=" in form.group(0), "a delete form with a confirmation"
    action = form.group(1).replace("&amp;", "&")
    # without the CSRF token: refused, the trace stays
    assert web.post(action, follow_redirects=False).status_code == 403
    assert rows(web, tid)[0] == 1
    done = web.post(action, data={"csrf_token": csrf_of(page.text)}, follow_redirects=False)
    assert done.status_code == 303 and done.headers["location"].startswith("/traces?")
    assert web.get(f"/traces/{tid}").status_code == 404
    assert rows(web, tid) == (0, 0, 0)


def test_web_delete_of_another_projects_trace_is_404(web: TestClient) -> None:
    theirs = scored_trace(web, other_project_key(web))
    mine = web.get("/traces")
    project = re.search(r'name="project" value="([^"]+)"', mine.text)
    assert project, "the list page names its project"
    pid = project.group(1)
    r = web.post(
        f"/traces/{theirs}/delete?project={pid}",
        data={"csrf_token": csrf_of(mine.text)},
        follow_redirects=False,
    )
    assert r.status_code == 404
    assert rows(web, theirs) == (1, 3, 1)


def test_retention_set_through_the_admin_api_deletes_old_traces(client: TestClient) -> None:
    now_ns = time.time_ns()
    old, recent = new_trace_id(), new_trace_id()
    ingest(
        client,
        [
            span(old, new_span_id(), "old", start_ns=now_ns - 10 * DAY_NS),
            span(recent, new_span_id(), "recent", start_ns=now_ns - 2 * DAY_NS),
        ],
    )
    theirs = new_trace_id()
    ingest(client, [span(theirs, new_span_id(), "x", start_ns=now_ns - 10 * DAY_NS)],
           other_project_key(client))  # fmt: skip
    st = client.app.state.heron  # type: ignore[attr-defined]
    admin = {"Authorization": f"Bearer {st.admin_token}"}
    bad = client.post("/api/admin/projects/retention", json={"project": "test", "days": 0},
                      headers=admin)  # fmt: skip
    assert bad.status_code == 400 and "at least 1 day" in bad.text
    r = client.post("/api/admin/projects/retention", json={"project": "test", "days": 7},
                    headers=admin)  # fmt: skip
    assert r.status_code == 200, r.text
    deadline = time.monotonic() + 10
    while rows(client, old.hex())[0] and time.monotonic() < deadline:
        time.sleep(0.05)  # the retention task sweeps at once when woken
    assert rows(client, old.hex())[0] == 0
    assert rows(client, recent.hex())[0] == 1
    assert rows(client, theirs.hex())[0] == 1  # another project, no retention: untouched
    listed = client.get("/api/admin/projects", headers=admin).json()["data"]
    assert {p["name"]: p["retention_days"] for p in listed} == {"test": 7, "other": None}
