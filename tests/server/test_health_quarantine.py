"""Health and readiness, quarantined spans over the API and in the UI, ingest refusals that
come before the body is read (in process: real store file, real journal, real pipeline)."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path

import duckdb
import pyarrow as pa
import pytest
from fastapi.testclient import TestClient
from google.rpc import status_pb2

from heron.ingest.decoding import DecodedBatch
from heron.model import ObservationRecord, TraceUpdate
from heron.server.app import create_app
from heron.store.arrow import observations_table
from tests.conftest import make_settings
from tests.server.test_web_auth import ADMIN, PASSWORD, login
from tests.support.otlp import new_span_id, new_trace_id, request, span

PB = {"Content-Type": "application/x-protobuf"}
T0 = 1_760_000_000_000_000


def _until(check: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "condition not reached in time"
        time.sleep(0.02)


def _state(c: TestClient):  # type: ignore[no-untyped-def]
    return c.app.state.heron  # type: ignore[attr-defined]


def _bad_batch(project_id: str, trace: str) -> DecodedBatch:
    """Three spans of which the store refuses one (NOT NULL column left empty)."""
    records = [
        ObservationRecord(
            project_id=project_id,
            id=f"{trace[-8:]}{i:08x}",
            trace_id=trace,
            parent_id=None,
            type="span",
            name=f"s{i}",
            start_us=T0 + i,
        )
        for i in range(3)
    ]
    table = observations_table(records, T0)
    table = table.set_column(
        table.schema.get_field_index("type"), "type", pa.array(["span", None, "span"], pa.string())
    )
    return DecodedBatch(table, [TraceUpdate(project_id, trace, is_root=True, name="root")])


@pytest.fixture
def web(tmp_path: Path) -> Iterator[TestClient]:
    settings = make_settings(
        tmp_path, init_admin_email=ADMIN, init_admin_password=PASSWORD, queue_spans=10
    )
    with TestClient(create_app(settings)) as c:
        c.headers["Authorization"] = "Bearer sk-hr-test-secret-0123456789abcdef"
        yield c


def test_liveness_and_readiness(web: TestClient) -> None:
    for path in ("/api/health", "/api/public/health", "/healthz"):
        r = web.get(path, headers={"Authorization": ""})
        assert r.status_code == 200 and r.json()["status"] == "OK", path
    r = web.get("/readyz", headers={"Authorization": ""})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body == {
        "status": "ready",
        "ready": True,
        "problems": [],
        "backlog_records": 0,
        "lag_seconds": 0,
    }  # without the operator's token: no journal, disk or store details
    admin = {"Authorization": f"Bearer {_state(web).admin_token}"}
    body = web.get("/readyz", headers=admin).json()
    assert body["journal"]["healthy"] and body["journal"]["disk_free_bytes"] > 0
    assert body["store"]["error"] is None and body["gaps"] == []
    assert "/healthz" in web.get("/openapi.json").json()["paths"]


def _block_the_store(web: TestClient) -> duckdb.DuckDBPyConnection:
    """A transaction of another writer holding the journal position row: every apply then
    fails with a write conflict (a store failure, not bad data) until it ends."""
    store = _state(web).store
    if store.get_meta("journal_applied_seq") is None:
        store.set_meta("journal_applied_seq", "0")
    blocker = store._db.cursor()
    blocker.execute("BEGIN TRANSACTION")
    # a real change (rolled back in the end): DuckDB skips `SET value = value` on checkpointed rows
    blocker.execute("UPDATE meta SET value = 'blocked' WHERE key = 'journal_applied_seq'")
    return blocker


def test_a_failing_store_is_retried_not_quarantined_and_health_answers_at_once(
    web: TestClient,
) -> None:
    blocker = _block_the_store(web)
    try:
        tid = new_trace_id()
        spans = [span(tid, new_span_id(), f"s{i}") for i in range(12)]  # over the queue limit
        r = web.post("/v1/traces", content=request(spans).SerializeToString(), headers=PB)
        assert r.status_code == 200  # acknowledged: it is in the journal
        pipeline = _state(web).pipeline
        _until(lambda: pipeline.store_error is not None)
        started = time.monotonic()
        assert web.get("/api/health").status_code == 200
        assert time.monotonic() - started < 1.0  # does not wait for the store to catch up
        r = web.get("/readyz")
        assert r.status_code == 503
        body = r.json()
        assert body["backlog_records"] == 1 and body["lag_seconds"] > 0
        assert any("store is failing" in p for p in body["problems"]), body["problems"]
        # the queue is full (10 spans): refused before the body is even read or decoded
        r = web.post("/v1/traces", content=b"not protobuf at all", headers=PB)
        assert r.status_code == 503 and r.headers["Retry-After"] == "1"
        status = status_pb2.Status.FromString(r.content)
        assert status.code == 503 and "queue is full" in status.message
    finally:
        blocker.execute("ROLLBACK")
    _until(lambda: web.get("/readyz").status_code == 200)
    assert web.get(f"/api/traces/{tid.hex()}").json()["observation_count"] == 12
    assert _state(web).pipeline.quarantine.spans() == 0  # nothing was set aside


def test_quarantined_spans_are_listed_per_project_and_shown(web: TestClient) -> None:
    st = _state(web)
    test_project = st.store.project_by_name("test")["id"]
    other = st.store.create_project("other")
    other_key = st.store.create_key(other["id"])["secret_key"]
    st.auth.refresh()
    trace = "ab" * 16
    st.pipeline.enqueue(_bad_batch(test_project, trace)).result(10)
    _until(lambda: st.pipeline.quarantine.spans() == 1)
    assert web.get(f"/api/traces/{trace}").json()["observation_count"] == 2

    mine = web.get("/api/quarantine").json()
    assert mine["total_spans"] == 1
    [entry] = mine["data"]
    assert entry["span_ids"] == [f"{trace[-8:]}{1:08x}"] and entry["trace_ids"] == [trace]
    assert "NOT NULL" in entry["reason"] and entry["project_id"] == test_project
    theirs = web.get("/api/quarantine", headers={"Authorization": f"Bearer {other_key}"})
    assert theirs.json() == {"data": [], "total_spans": 0}
    admin = web.get("/api/quarantine", headers={"Authorization": f"Bearer {st.admin_token}"})
    assert admin.json()["total_spans"] == 1
    assert web.get("/api/quarantine", headers={"Authorization": ""}).status_code == 401
    odd = web.get("/api/quarantine", headers={"Authorization": "Bearer caf\u00e9".encode()})
    assert odd.status_code == 401

    metrics = web.get("/metrics", headers={"Authorization": f"Bearer {st.admin_token}"}).text
    assert "heron_quarantined_spans 1.0" in metrics
    failed = next(
        ln for ln in metrics.splitlines() if ln.startswith("heron_store_failed_commits_total")
    )
    assert float(failed.split()[-1]) >= 1

    web.headers.pop("Authorization")
    assert login(web, ADMIN, PASSWORD).status_code == 303
    page = web.get("/traces").text
    assert "1 spans could not be stored" in page and "heron journal replay" in page

    replay = web.post(
        "/api/admin/quarantine/replay", headers={"Authorization": f"Bearer {st.admin_token}"}
    ).json()
    assert replay["applied"] == [] and "NOT NULL" in replay["kept"][0]["reason"]
    assert web.post("/api/admin/quarantine/replay").status_code == 401


def test_no_banner_when_all_is_well(web: TestClient) -> None:
    web.headers.pop("Authorization")
    assert login(web, ADMIN, PASSWORD).status_code == 303
    assert "ingest-warning" not in web.get("/traces").text
