"""Evaluators in a real `heron serve`: online scores within seconds of a trace, and exactly
one score per trace after SIGKILL in the middle of online work and of a backfill."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import httpx

from heron.store import EmbeddedStore
from tests.runner.test_process import wait_for
from tests.support.otlp import genai_trace, request
from tests.support.server import HeronProcess

TRACES = 1200  # three chunks of the runner
PB = {"Content-Type": "application/x-protobuf"}
ENV = {
    "HERON_RUNNER_TASKS": "heron.evals.task:tasks",
    "HERON_EVALUATOR_MODULES": "tests.evals.custom_fns",
}
SLOW = {  # a custom evaluator taking ~4 ms a trace: about 5 s of work, 1.6 s a chunk
    "name": "slow-words",
    "type": "custom",
    "function": "tests.evals.custom_fns:pid",
    "args": {"seconds": 0.004},
    "variables": {"text": "output"},
    "delay_seconds": 0,
}


def post_traces(server: HeronProcess, n: int) -> list[str]:
    ids, spans = [], []
    for _ in range(n):
        trace_id, trace_spans = genai_trace(n_children=0)
        ids.append(trace_id.hex())
        spans.extend(trace_spans)
    r = httpx.post(
        server.url + "/v1/traces",
        content=request(spans).SerializeToString(),
        headers={**server.auth, **PB},
        timeout=30,
    )
    assert r.status_code == 200, r.text
    return ids


def count(server: HeronProcess, name: str) -> int:
    r = httpx.get(
        f"{server.url}/api/public/v2/scores",
        params={"name": name, "limit": 1},
        headers=server.auth,
        timeout=10,
    )
    assert r.status_code == 200, r.text
    return int(r.json()["meta"]["totalItems"])


def job(server: HeronProcess, job_id: str) -> dict[str, Any]:
    r = httpx.get(f"{server.url}/api/jobs/{job_id}", headers=server.auth, timeout=10)
    assert r.status_code == 200, r.text
    return r.json()


def scores_by_trace(data: Path, name: str) -> dict[str, list[tuple[str, str]]]:
    store = EmbeddedStore(data / "heron.duckdb")
    try:
        rows = (
            store.cursor()
            .execute(
                "SELECT id, trace_id, json_extract_string(metadata, '$.evaluator_version') "
                "FROM scores WHERE name = ?",
                [name],
            )
            .fetchall()
        )
    finally:
        store.close()
    assert len({r[0] for r in rows}) == len(rows), "duplicate score ids"
    out: dict[str, list[tuple[str, str]]] = {}
    for score_id, trace_id, version in rows:
        out.setdefault(trace_id, []).append((score_id, version))
    return out


def test_kill_9_during_online_work_and_a_backfill_leaves_one_score_per_trace(
    tmp_path: Path,
) -> None:
    data = tmp_path / "data"
    server = HeronProcess(data, env=ENV).start()
    try:
        r = httpx.post(server.url + "/api/evaluators", json=SLOW, headers=server.auth)
        assert r.status_code == 201, r.text
        ids = post_traces(server, TRACES)
        wait_for(lambda: count(server, "slow-words") > 0)
        assert count(server, "slow-words") < TRACES
        server.kill()
        server = HeronProcess(data, env=ENV, port=server.port).start()
        wait_for(lambda: count(server, "slow-words") == TRACES)

        # a new version, backfilled over everything; killed half way, resumed after restart
        r = httpx.post(
            server.url + "/api/evaluators",
            json={**SLOW, "args": {"seconds": 0.0041}},
            headers=server.auth,
        )
        assert r.status_code == 200 and r.json()["version"] == 2, r.text
        r = httpx.post(
            server.url + "/api/evaluators/slow-words/backfill", json={}, headers=server.auth
        )
        assert r.status_code == 202, r.text
        job_id = r.json()["id"]
        wait_for(lambda: job(server, job_id)["done"] > 0, 30)
        assert job(server, job_id)["status"] == "running"
        server.kill()
        server = HeronProcess(data, env=ENV, port=server.port).start()
        wait_for(lambda: job(server, job_id)["status"] == "done")
        final = job(server, job_id)
        assert final["done"] == final["total"] == TRACES
    finally:
        server.stop()
    by_trace = scores_by_trace(data, "slow-words")
    assert set(by_trace) == set(ids)
    assert all(len(v) == 1 and v[0][1] == "2" for v in by_trace.values())


def test_an_online_code_score_arrives_within_seconds_of_its_delay(tmp_path: Path) -> None:
    server = HeronProcess(tmp_path / "data", env=ENV).start()
    try:
        body = {
            "name": "long-answer",
            "type": "code",
            "check": "min_length",
            "args": {"limit": 1, "unit": "chars"},
            "delay_seconds": 1,
        }
        r = httpx.post(server.url + "/api/evaluators", json=body, headers=server.auth)
        assert r.status_code == 201, r.text
        post_traces(server, 1)
        sent = time.monotonic()
        wait_for(lambda: count(server, "long-answer") == 1, 20)
        took = time.monotonic() - sent
        # the delay (1 s) plus the runner's pass: within 5 s of the delay's end
        assert 1.0 <= took < 6.0, took
    finally:
        server.stop()
