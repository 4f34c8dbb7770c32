"""The runner inside the app (in process, real store and pipeline): a session change scored
within seconds of its acknowledgement, and the jobs API with its scopes and bad input."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from heron.server.app import create_app
from tests.conftest import make_settings
from tests.support.otlp import genai_trace, request
from tests.support.server import CONSISTENT, SECRET_KEY

PB = {"Content-Type": "application/x-protobuf"}
TASKS = "tests.support.runner_tasks:all_tasks"


@pytest.fixture
def app_client(tmp_path: Path) -> Iterator[TestClient]:
    with TestClient(
        create_app(make_settings(tmp_path, runner_tasks=TASKS)), headers=CONSISTENT
    ) as c:
        c.headers["Authorization"] = f"Bearer {SECRET_KEY}"
        yield c


def session_scores(c: TestClient, session: str) -> dict[str, float]:
    st = c.app.state.heron  # type: ignore[attr-defined]
    rows = (
        st.store.cursor()
        .execute(
            "SELECT name, value FROM scores WHERE session_id = ? AND source = 'EVAL'", [session]
        )
        .fetchall()
    )
    return dict(rows)


def send(c: TestClient, session: str, n: int = 1) -> float:
    """Post ``n`` traces of ``session``; returns when they were acknowledged."""
    spans = [s for _ in range(n) for s in genai_trace(session=session, n_children=1)[1]]
    r = c.post("/v1/traces", content=request(spans).SerializeToString(), headers=PB)
    assert r.status_code == 200, r.text
    return time.monotonic()


def wait_for(predicate, timeout: float = 10.0) -> float:  # type: ignore[no-untyped-def]
    start = time.monotonic()
    while time.monotonic() - start < timeout:
        if predicate():
            return time.monotonic()
        time.sleep(0.01)
    raise AssertionError("timed out")


def test_a_session_change_is_scored_within_seconds(app_client: TestClient) -> None:
    acked = send(app_client, "s-latency")
    scored = wait_for(lambda: session_scores(app_client, "s-latency").get("session_turns") == 1)
    assert scored - acked < 5.0
    acked = send(app_client, "s-latency", 2)
    scored = wait_for(lambda: session_scores(app_client, "s-latency").get("session_turns") == 3)
    assert scored - acked < 5.0
    assert session_scores(app_client, "s-latency")["multi_turn"] == 1


def test_backfill_job_through_the_api(app_client: TestClient) -> None:
    for n in range(5):
        send(app_client, f"old-{n}")
    r = app_client.post("/api/runner/jobs", json={"tasks": ["turns"]})
    assert r.status_code == 202, r.text
    job = r.json()
    assert job["status"] == "queued" and job["tasks"] == ["turns"]

    def done() -> bool:
        return app_client.get(f"/api/runner/jobs/{job['id']}").json()["status"] == "done"

    wait_for(done)
    got = app_client.get(f"/api/runner/jobs/{job['id']}").json()
    assert (got["done"], got["total"]) == (5, 5) and got["finished_at"].endswith("Z")
    listed = app_client.get("/api/runner/jobs").json()
    assert [j["id"] for j in listed["data"]] == [job["id"]]
    assert {t["name"] for t in listed["tasks"]} == {"turns", "abandon", "words"}
    r = app_client.post(f"/api/runner/jobs/{job['id']}/cancel")
    assert r.status_code == 409 and "already ended" in r.json()["error"]["message"]


def test_cancel_a_queued_job(app_client: TestClient) -> None:
    st = app_client.app.state.heron  # type: ignore[attr-defined]
    st.runner.stop()  # nothing picks the job up, so it is still queued when cancelled
    job = app_client.post("/api/runner/jobs", json={}).json()
    r = app_client.post(f"/api/runner/jobs/{job['id']}/cancel")
    assert r.status_code == 200 and r.json()["status"] == "cancelled"


def test_jobs_are_scoped_and_bad_input_is_named(app_client: TestClient) -> None:
    st = app_client.app.state.heron  # type: ignore[attr-defined]
    job = app_client.post("/api/runner/jobs", json={"from": "2026-01-01T00:00:00Z"}).json()
    assert job["from"] == "2026-01-01T00:00:00Z"
    other = st.store.create_project("other")
    other_key = st.store.create_key(other["id"])["secret_key"]
    read_key = st.store.create_key(st.store.project_by_name("test")["id"], scope="read")
    ingest_key = st.store.create_key(st.store.project_by_name("test")["id"], scope="ingest")

    def as_(secret: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {secret}"}

    assert app_client.get("/api/runner/jobs", headers=as_(other_key)).json()["data"] == []
    r = app_client.get(f"/api/runner/jobs/{job['id']}", headers=as_(other_key))
    assert r.status_code == 404
    r = app_client.post(f"/api/runner/jobs/{job['id']}/cancel", headers=as_(other_key))
    assert r.status_code == 404
    assert (
        app_client.get("/api/runner/jobs", headers=as_(read_key["secret_key"])).status_code == 200
    )
    r = app_client.post("/api/runner/jobs", json={}, headers=as_(read_key["secret_key"]))
    assert r.status_code == 403 and "full" in r.json()["error"]["message"]
    r = app_client.get("/api/runner/jobs", headers=as_(ingest_key["secret_key"]))
    assert r.status_code == 403
    assert app_client.get("/api/runner/jobs", headers={"Authorization": ""}).status_code == 401

    admin = as_(st.admin_token)
    assert len(app_client.get("/api/runner/jobs", headers=admin).json()["data"]) == 1
    r = app_client.post("/api/runner/jobs", json={}, headers=admin)
    assert r.status_code == 400 and "project" in r.json()["error"]["message"]
    r = app_client.post("/api/runner/jobs", json={"project": "nope"}, headers=admin)
    assert r.status_code == 404
    r = app_client.post("/api/runner/jobs", json={"project": "other"}, headers=admin)
    assert r.status_code == 202 and r.json()["project_id"] == other["id"]

    for body, message in (
        ({"project": "test"}, "its own project"),
        ({"nope": 1}, "unknown fields"),
        ({"tasks": "turns"}, "list of task names"),
        ({"tasks": ["missing"]}, "unknown ['missing']"),
        ({"tasks": []}, "none given"),
        ({"from": "yesterday"}, "from: expected an ISO 8601 time"),
        ({"from": "2026-02-01T00:00:00Z", "to": "2026-01-01T00:00:00Z"}, "before"),
    ):
        r = app_client.post("/api/runner/jobs", json=body)
        assert r.status_code == 400, body
        assert message in r.json()["error"]["message"], (body, r.text)
    r = app_client.post(
        "/api/runner/jobs", content=b"[1]", headers={"Content-Type": "application/json"}
    )
    assert r.status_code == 400
    assert app_client.post("/api/runner/jobs/nope/cancel").status_code == 404


def test_a_server_without_tasks_says_so(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, runner_tasks="")  # empty: no tasks, not the default
    with TestClient(create_app(settings), headers=CONSISTENT) as client:
        client.headers["Authorization"] = f"Bearer {SECRET_KEY}"
        assert client.get("/api/runner/jobs").json() == {"data": [], "tasks": []}
        r = client.post("/api/runner/jobs", json={})
        assert r.status_code == 400 and "HERON_RUNNER_TASKS" in r.json()["error"]["message"]
