"""The runner in real processes: `heron serve` killed with SIGKILL in the middle of its
change work and of a backfill job resumes both exactly; `heron worker` alone finishes work
a dead server left; `heron worker` refuses to run beside a server or another opener."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx

from heron.store import EmbeddedStore
from tests.support.otlp import genai_trace, request
from tests.support.server import HeronProcess

SESSIONS = 600
PB = {"Content-Type": "application/x-protobuf"}
ENV = {
    "HERON_RUNNER_TASKS": "tests.support.runner_tasks:SessionTurns",
    "HERON_TEST_TASK_DELAY_S": "0.004",  # 600 sessions: about 2.4 s of work a pass
}


def heron(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "heron.cli", *args],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "COLUMNS": "200", **(env or {})},
    )


def post_sessions(server: HeronProcess, n: int) -> None:
    spans = [s for i in range(n) for s in genai_trace(session=f"s{i:04d}", n_children=0)[1]]
    r = httpx.post(
        server.url + "/v1/traces",
        content=request(spans).SerializeToString(),
        headers={**server.auth, **PB},
        timeout=30,
    )
    assert r.status_code == 200, r.text


def scored(server: HeronProcess) -> int:
    """How many sessions have a session_turns score (through the metrics API)."""
    r = httpx.post(
        server.url + "/api/metrics",
        json={
            "view": "scores",
            "metrics": [{"measure": "count", "aggregation": "count"}],
            "filters": [{"column": "name", "operator": "=", "value": "session_turns"}],
            "fromTimestamp": "2020-01-01T00:00:00Z",
            "toTimestamp": "2030-01-01T00:00:00Z",
        },
        headers=server.auth,
        timeout=10,
    )
    assert r.status_code == 200, r.text
    return int(r.json()["data"][0]["count_count"])


def wait_for(predicate: Any, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.05)
    raise AssertionError("timed out")


def job(server: HeronProcess, job_id: str) -> dict[str, Any]:
    r = httpx.get(f"{server.url}/api/runner/jobs/{job_id}", headers=server.auth, timeout=10)
    assert r.status_code == 200, r.text
    return r.json()


def runner_scores(data_dir: Path) -> list[tuple[str, str, float]]:
    store = EmbeddedStore(data_dir / "heron.duckdb")
    try:
        rows = (
            store.cursor()
            .execute("SELECT id, session_id, value FROM scores WHERE name = 'session_turns'")
            .fetchall()
        )
    finally:
        store.close()
    assert len({r[0] for r in rows}) == len(rows), "duplicate score ids"
    return rows


def test_kill_9_in_the_middle_of_change_work_and_of_a_job_resumes_both(tmp_path: Path) -> None:
    data = tmp_path / "data"
    server = HeronProcess(data, env=ENV).start()
    try:
        post_sessions(server, SESSIONS)
        wait_for(lambda: scored(server) > 0)
        assert scored(server) < SESSIONS
        server.kill()  # change work half done: its cursor has not moved
        server = HeronProcess(data, env=ENV, port=server.port).start()
        wait_for(lambda: scored(server) == SESSIONS)

        r = httpx.post(server.url + "/api/runner/jobs", json={}, headers=server.auth, timeout=10)
        assert r.status_code == 202, r.text
        job_id = r.json()["id"]
        wait_for(lambda: job(server, job_id)["done"] > 0, 30)
        at_kill = job(server, job_id)
        assert at_kill["status"] == "running" and at_kill["done"] < SESSIONS
        server.kill()
        server = HeronProcess(data, env=ENV, port=server.port).start()
        wait_for(lambda: job(server, job_id)["status"] == "done")
        final = job(server, job_id)
        # Resumed from its committed position: started over, `done` would pass the total.
        assert final["done"] == final["total"] == SESSIONS
    finally:
        server.stop()
    rows = runner_scores(data)
    assert len(rows) == SESSIONS and {v for _, _, v in rows} == {1.0}


def test_worker_alone_finishes_what_a_dead_server_left(tmp_path: Path) -> None:
    data = tmp_path / "data"
    server = HeronProcess(data, env=ENV).start()
    try:
        post_sessions(server, SESSIONS)
        r = httpx.post(server.url + "/api/runner/jobs", json={}, headers=server.auth, timeout=10)
        job_id = r.json()["id"]
        # Beside a live server, the worker refuses, naming it; `heron runner` goes through it.
        out = heron("worker", "--data-dir", str(data), "--until-idle", env=ENV)
        assert out.returncode == 1
        assert f"a heron server (pid {server.proc.pid}" in out.stderr  # type: ignore[union-attr]
        listed = heron("runner", "jobs", "--data-dir", str(data))
        assert listed.returncode == 0 and job_id in listed.stdout
    finally:
        server.kill()
    out = heron("worker", "--data-dir", str(data), "--until-idle", env=ENV)
    assert out.returncode == 0, out.stderr
    assert "tasks turns@1" in out.stderr
    rows = runner_scores(data)
    assert len(rows) == SESSIONS
    store = EmbeddedStore(data / "heron.duckdb")
    try:
        assert store.runner_job(job_id)["status"] == "done"
        assert store.runner_cursor("turns") == store.change_position()
    finally:
        store.close()

    # A backfill on the data directory alone, with its progress bar.
    out = heron("runner", "backfill", "--project", "test", "--data-dir", str(data), env=ENV)
    assert out.returncode == 0, out.stderr
    assert f"{SESSIONS}/{SESSIONS}" in out.stderr and "done, 600 targets" in out.stderr
    assert len(runner_scores(data)) == SESSIONS


def test_worker_refuses_a_store_another_process_holds(tmp_path: Path) -> None:
    data = tmp_path / "data"
    store = EmbeddedStore(data / "heron.duckdb")  # a store with the test project
    store.create_project("test")
    store.close()
    holder = subprocess.Popen(
        [sys.executable, "-m", "heron.cli", "worker", "--data-dir", str(data)],
        env={**os.environ, **ENV},
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stderr is not None
        assert "heron worker on" in holder.stderr.readline()
        out = heron("worker", "--data-dir", str(data), "--until-idle", env=ENV)
        assert out.returncode == 1 and "another process has" in out.stderr
    finally:
        holder.terminate()
        assert holder.wait(20) == 0
    out = heron("worker", "--data-dir", str(data), "--until-idle", env={"HERON_RUNNER_TASKS": ""})
    assert out.returncode == 1 and "HERON_RUNNER_TASKS" in out.stderr
    out = heron("worker", "--data-dir", str(tmp_path / "empty"), "--until-idle", env=ENV)
    assert out.returncode == 1 and "no heron store" in out.stderr


def test_serve_refuses_tasks_that_do_not_load(tmp_path: Path) -> None:
    out = heron("serve", "--data-dir", str(tmp_path / "d"), env={"HERON_RUNNER_TASKS": "nope:task"})
    assert out.returncode == 2
    assert "HERON_RUNNER_TASKS: runner task 'nope:task' cannot be loaded" in out.stderr
    assert not (tmp_path / "d" / "heron.duckdb").exists()
