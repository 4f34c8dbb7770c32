"""`heron backup`: a consistent copy, taken under ingest or with the server stopped."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import orjson
import pytest
from fastapi.testclient import TestClient

from heron.backup import backup
from heron.ingest.decoding import PriceSpec, decode
from heron.ingest.journal import Journal
from heron.ingest.limits import IngestLimits
from heron.ingest.pipeline import WritePipeline
from heron.store import EmbeddedStore
from tests.support.otlp import genai_trace, new_span_id, new_trace_id, request, span
from tests.support.server import HeronProcess

PB = {"Content-Type": "application/x-protobuf"}
INLINE = {"HERON_INGEST_WORKERS": "0"}  # decode workers play no part here; start faster


def _cli_backup(data_dir: Path, dest: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "heron.cli", "backup", str(dest), "--data-dir", str(data_dir)],
        capture_output=True,
        text=True,
        timeout=120,
        env={"COLUMNS": "200", "PATH": "/usr/bin:/bin"},
    )


@pytest.fixture(scope="module")
def under_ingest(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """A backup taken while four clients keep sending spans to a real server."""
    root = tmp_path_factory.mktemp("backup")
    server = HeronProcess(root / "data", env=INLINE).start()
    acked: dict[str, int] = {}
    lock = threading.Lock()
    stop = threading.Event()
    errors: list[str] = []

    def client() -> None:
        with httpx.Client(headers={**server.auth, **PB}, timeout=30) as http:
            while not stop.is_set():
                spans, traces = [], {}
                for _ in range(10):
                    tid, root_id = new_trace_id(), new_span_id()
                    spans.append(span(tid, root_id, "root"))
                    spans += [
                        span(tid, new_span_id(), f"child-{k}", parent=root_id) for k in range(3)
                    ]
                    traces[tid.hex()] = 4
                r = http.post(server.url + "/v1/traces", content=request(spans).SerializeToString())
                if r.status_code == 200:
                    with lock:
                        acked.update(traces)
                elif r.status_code != 503:
                    errors.append(f"{r.status_code} {r.text[:200]}")

    threads = [threading.Thread(target=client) for _ in range(4)]
    for t in threads:
        t.start()
    try:
        deadline = time.monotonic() + 30
        while len(acked) < 500 and time.monotonic() < deadline:
            time.sleep(0.05)
        with lock:
            before = dict(acked)  # acknowledged before the backup started
        done = _cli_backup(root / "data", root / "backup")
        time.sleep(0.3)  # ingest goes on after the backup too
    finally:
        stop.set()
        for t in threads:
            t.join(30)
        server.stop()
    assert not errors, errors[:3]
    assert len(before) >= 500
    return {
        "root": root,
        "before": before,
        "after": dict(acked),
        "cli": done,
        "log": server.log(),
    }


def _stored(server: HeronProcess, ids: list[str]) -> dict[str, int]:
    found: dict[str, int] = {}
    with httpx.Client(headers=server.auth, timeout=30) as http:
        for i in range(0, len(ids), 200):
            flt = orjson.dumps([{"column": "id", "operator": "in", "value": ids[i : i + 200]}])
            r = http.get(server.url + "/api/traces", params={"filter": flt.decode(), "limit": 1000})
            assert r.status_code == 200, r.text
            found.update({t["id"]: t["observation_count"] for t in r.json()["data"]})
    return found


def test_backup_under_ingest_holds_every_trace_acknowledged_before_it(under_ingest: dict) -> None:
    done = under_ingest["cli"]
    assert done.returncode == 0, done.stdout + done.stderr + under_ingest["log"]
    assert "Restore with: heron serve --data-dir" in done.stdout
    assert "writes paused" in done.stdout

    restored = HeronProcess(under_ingest["root"] / "backup", env=INLINE).start()
    try:
        before = under_ingest["before"]
        ids = sorted(before)
        found = _stored(restored, ids)
        missing = [t for t in ids if found.get(t) != before[t]]
        assert not missing, f"{len(missing)} of {len(ids)} traces acknowledged before the backup"
        r = httpx.get(restored.url + f"/api/traces/{ids[0]}", headers=restored.auth, timeout=30)
        assert r.status_code == 200 and r.json()["id"] == ids[0]
        # nothing the backup holds is torn: every trace in it is whole
        everything = _stored(restored, sorted(under_ingest["after"]))
        assert all(n == 4 for n in everything.values())
    finally:
        restored.stop()


def test_backup_without_a_running_server(under_ingest: dict) -> None:
    root = under_ingest["root"]
    done = _cli_backup(root / "data", root / "offline")
    assert done.returncode == 0, done.stdout + done.stderr

    copy = EmbeddedStore(root / "offline" / "heron.duckdb")
    try:  # as `heron serve --data-dir offline` starts: the copied journal fills any gap
        WritePipeline(copy, Journal(root / "offline" / "journal")).recover()
        rows = copy.cursor().execute("SELECT id, observation_count FROM traces").fetchall()
    finally:
        copy.close()
    stored = dict(rows)
    after = under_ingest["after"]  # every trace acknowledged before the server stopped
    assert {t: stored.get(t) for t in after} == after
    refused = _cli_backup(root / "data", root / "offline")
    assert refused.returncode == 1 and "not an empty directory" in refused.stdout


def test_backup_route_refuses_bad_destinations(client: TestClient, tmp_path: Path) -> None:
    token = client.app.state.heron.admin_token  # type: ignore[attr-defined]
    admin = {"Authorization": f"Bearer {token}"}
    data_dir = client.app.state.heron.settings.data_dir  # type: ignore[attr-defined]
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "x").write_text("x")
    cases = [
        ("relative/dir", 400, "absolute path"),
        (str(tmp_path / "full"), 409, "not an empty directory"),
        (str(data_dir / "inside"), 400, "outside the data directory"),
    ]
    for destination, status, message in cases:
        r = client.post("/api/admin/backup", json={"destination": destination}, headers=admin)
        assert r.status_code == status, r.text
        assert message in r.json()["error"]["message"]
    r = client.post("/api/admin/backup", json={"destination": str(tmp_path / "ok")})
    assert r.status_code == 401  # an API key is not the admin token
    assert not (tmp_path / "ok").exists()
    r = client.post("/api/admin/backup", json={"destination": str(tmp_path / "ok")}, headers=admin)
    assert r.status_code == 200, r.text
    assert (tmp_path / "ok" / "heron.duckdb").is_file()


def test_backup_carries_journal_records_the_store_has_not_applied(tmp_path: Path) -> None:
    data = tmp_path / "data"
    store = EmbeddedStore(data / "heron.duckdb")
    journal = Journal(data / "journal")
    project = store.create_project("p")["id"]
    batches, ids = [], []
    for _ in range(3):
        tid, spans = genai_trace(n_children=5)
        body = request(spans).SerializeToString()
        prices = PriceSpec(project, 0)
        batches.append(decode(body, PB["Content-Type"], project, IngestLimits(), prices))
        ids.append(tid.hex())
    last = journal.append([b.encode() for b in batches])
    assert last == 3
    store.write_batch(batches[0].observations, batches[0].traces, journal_seq=1)  # a crash here
    journal.close()

    done = backup(store, data / "journal", tmp_path / "copy")
    store.close()
    assert done.journal_position == 1 and done.traces == 1 and done.journal_files == 1

    copy = EmbeddedStore(tmp_path / "copy" / "heron.duckdb")
    try:
        replayed = WritePipeline(copy, Journal(tmp_path / "copy" / "journal")).recover()
        assert replayed == 2
        for tid in ids:
            assert copy.get_trace(project, tid)["id"] == tid
    finally:
        copy.close()
