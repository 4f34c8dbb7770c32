"""Several runners on one cluster (one PostgreSQL, one ClickHouse over chdb's HTTP shim):
`heron worker` processes beside two `heron serve` replicas that ingest. An LLM-judge
evaluator calls a fake OpenAI-compatible server in this process (tests/evals/fake_openai.py),
which counts the judge requests per trace.

Shared by the module: the backends, the two replicas (they ingest; their own runners are
idle here so that the workers' leases are the ones under test; `heron serve`'s runner on the
cluster is tested in tests/server/test_cluster_serve.py) and the fake provider. Each test
starts its own workers, since two of them kill or stop theirs, and uses an evaluator of its
own (its prompt names the test, so requests are counted per test)."""

from __future__ import annotations

import base64
import os
import re
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import orjson
import psycopg
import pytest

from heron.model import ObservationRecord
from heron.runner import Outcome, Runner, Target
from heron.store.clickhouse.client import connect as clickhouse_connect
from heron.store.cluster import open_cluster
from tests.evals.fake_openai import FakeProvider
from tests.runner.test_process import wait_for
from tests.server.test_cluster_serve import start_together
from tests.support.chdb_server import ChdbServer
from tests.support.otlp import genai_trace, request
from tests.support.postgres import PostgresServer
from tests.support.server import HeronProcess

PB = {"Content-Type": "application/x-protobuf"}
LEASE_S = 2.0
SHARED = {
    "HERON_SECRET_KEY": base64.b64encode(os.urandom(32)).decode(),
    "HERON_RUNNER_LEASE_S": str(LEASE_S),
}


@pytest.fixture(scope="module")
def backends(chdb_server: ChdbServer, postgres_server: PostgresServer) -> dict[str, str]:
    return {
        "HERON_CLICKHOUSE_URL": chdb_server.database_url("workers_" + uuid.uuid4().hex[:8]),
        "HERON_POSTGRES_URL": postgres_server.create_database(),
    }


@pytest.fixture(scope="module")
def replicas(
    backends: dict[str, str], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[HeronProcess, HeronProcess]]:
    root = tmp_path_factory.mktemp("replicas")
    env = {**backends, **SHARED, "HERON_RUNNER_TASKS": ""}
    pair = (HeronProcess(root / "a", env=env), HeronProcess(root / "b", env=env))
    start_together(list(pair))
    try:
        yield pair
    finally:
        for r in pair:
            r.stop()


@pytest.fixture(scope="module")
def judge() -> Iterator[FakeProvider]:
    with FakeProvider() as fake:
        yield fake


@dataclass
class Worker:
    """A `heron worker` process on the cluster, with a data directory of its own."""

    data_dir: Path
    env: dict[str, str]
    proc: subprocess.Popen | None = None
    log_path: Path = field(init=False)

    def start(self) -> Worker:
        env = {k: v for k, v in os.environ.items() if not k.startswith("HERON_")}
        env.update(self.env, HERON_RUNNER_TASKS="heron.evals.task:tasks")
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.log_path = self.data_dir / "worker.log"
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "heron.cli", "worker", "--data-dir", str(self.data_dir)],
            env=env,
            stdout=self.log_path.open("ab"),
            stderr=subprocess.STDOUT,
        )
        return self

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def kill(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(10)

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.kill()


@pytest.fixture
def workers() -> Iterator[list[Worker]]:
    """Workers a test starts (``add``); stopped after it."""
    started: list[Worker] = []
    yield started
    for w in started:
        w.stop()


def add_worker(started: list[Worker], backends: dict[str, str], root: Path) -> Worker:
    worker = Worker(root / f"worker-{len(started)}", {**backends, **SHARED}).start()
    started.append(worker)
    return worker


def lease_holders(backends: dict[str, str]) -> dict[str, str]:
    with psycopg.connect(backends["HERON_POSTGRES_URL"]) as conn:
        rows = conn.execute(
            "SELECT key, holder FROM runner_leases WHERE expires_at > localtimestamp"
        ).fetchall()
    return dict(rows)


def holds(backends: dict[str, str], worker: Worker, key: str) -> bool:
    holder = lease_holders(backends).get(key, "")
    return f":{worker.pid}:" in holder


def make_judge(server: HeronProcess, judge: FakeProvider, name: str) -> None:
    """An LLM connection to the fake provider and a judge evaluator of every trace whose
    prompt names the trace and the evaluator."""
    conn = {
        "name": f"fake-{name}",
        "base_url": judge.base_url,
        "model": "gpt-4o-mini",
        "api_key": "sk-test-abcdef-1234",
    }
    r = httpx.post(server.url + "/api/connections", json=conn, headers=server.auth, timeout=30)
    assert r.status_code in (200, 201), r.text
    body = {
        "name": name,
        "type": "llm_judge",
        "connection": conn["name"],
        "prompt": f"Judge {name} on trace <{{{{trace}}}}>: is it good?",
        "variables": {"trace": "id"},
        "target": "traces",
        "delay_seconds": 0,
    }
    r = httpx.post(server.url + "/api/evaluators", json=body, headers=server.auth, timeout=30)
    assert r.status_code in (200, 201), r.text


def judged(judge: FakeProvider, name: str) -> Counter[str]:
    """Judge requests per trace id for evaluator ``name``."""
    pattern = re.compile(rf"Judge {re.escape(name)} on trace <([0-9a-f]+)>")
    found: Counter[str] = Counter()
    for rec in list(judge.requests):
        match = pattern.search(orjson.dumps(rec.body).decode())
        if match:
            found[match.group(1)] += 1
    return found


def ingest(replicas: tuple[HeronProcess, HeronProcess], n: int, per_request: int) -> list[str]:
    """``n`` traces, ``per_request`` a request, through the replicas in turn."""
    ids: list[str] = []
    for i in range(0, n, per_request):
        server = replicas[(i // per_request) % 2]
        spans = []
        for _ in range(min(per_request, n - i)):
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


def scores_per_trace(backends: dict[str, str], name: str) -> dict[str, int]:
    """Stored scores (distinct ids, the latest version of each) per trace for ``name``."""
    client = clickhouse_connect(backends["HERON_CLICKHOUSE_URL"])
    try:
        rows = client.query(
            "SELECT trace_id, uniqExact(id) FROM scores FINAL WHERE name = {name:String} "
            "GROUP BY trace_id",
            parameters={"name": name},
        ).result_rows
    finally:
        client.close()
    return {t: n for t, n in rows}


def test_three_workers_judge_each_trace_exactly_once(
    replicas: tuple[HeronProcess, HeronProcess],
    judge: FakeProvider,
    backends: dict[str, str],
    workers: list[Worker],
    tmp_path: Path,
) -> None:
    """300 traces ingested through both replicas while three workers run: every trace gets
    exactly one judge request and exactly one score."""
    name = "once-" + uuid.uuid4().hex[:6]
    make_judge(replicas[0], judge, name)
    for _ in range(3):
        add_worker(workers, backends, tmp_path)
    wait_for(lambda: any(holds(backends, w, "task:evaluators") for w in workers), 60)
    ids = ingest(replicas, 300, 25)
    wait_for(lambda: len(scores_per_trace(backends, name)) == len(ids), 120)
    time.sleep(LEASE_S)  # any late duplicate would show by now
    assert scores_per_trace(backends, name) == {t: 1 for t in ids}
    assert judged(judge, name) == Counter({t: 1 for t in ids})
    for w in workers:
        assert w.proc is not None and w.proc.poll() is None, w.log()


def test_a_worker_killed_holding_the_lease_is_taken_over_and_no_trace_is_lost(
    replicas: tuple[HeronProcess, HeronProcess],
    judge: FakeProvider,
    backends: dict[str, str],
    workers: list[Worker],
    tmp_path: Path,
) -> None:
    """A worker holding the evaluators' lease is killed with SIGKILL while judging; the
    other takes the lease over once it expires (HERON_RUNNER_LEASE_S = 2 s) and every trace
    ends with exactly one score.

    The bound on duplicates: what the killed worker had committed is never judged again;
    the chunk it was judging when killed (traces it had asked the judge about, whose scores
    and cursor it had not committed) is judged again by the new holder. So a trace asked
    about twice must be one the killed worker asked about, and none is asked about more
    than twice."""
    name = "kill-" + uuid.uuid4().hex[:6]
    make_judge(replicas[0], judge, name)
    judge.latency = 0.04
    try:
        first = add_worker(workers, backends, tmp_path)
        wait_for(lambda: holds(backends, first, "task:evaluators"), 60)
        second = add_worker(workers, backends, tmp_path)
        ids = ingest(replicas, 300, 25)
        wait_for(lambda: sum(judged(judge, name).values()) >= 40, 60)
        first.kill()
        before = judged(judge, name)  # every request the killed worker made
        assert len(before) < len(ids), "the killed worker finished before it was killed"
        wait_for(lambda: holds(backends, second, "task:evaluators"), 3 * LEASE_S + 5)
        wait_for(lambda: len(scores_per_trace(backends, name)) == len(ids), 120)
    finally:
        judge.latency = 0.0
    time.sleep(LEASE_S)
    assert scores_per_trace(backends, name) == {t: 1 for t in ids}
    after = judged(judge, name)
    assert set(after) == set(ids)
    twice = {t for t, n in after.items() if n > 1}
    assert twice <= set(before)
    assert max(after.values()) <= 2
    assert second.proc is not None and second.proc.poll() is None, second.log()


# -- backfill jobs shared by two runners (in this process, on the same backends) -------------


class Recording:
    """A task run in jobs only, recording which runner judged which target."""

    version = "1"
    scope = "trace"
    fields = ()
    jobs_only = True

    def __init__(self, name: str, label: str, seen: list[tuple[str, str, str]]) -> None:
        self.name = name
        self.label = label
        self.seen = seen
        self.lock = threading.Lock()

    def run(self, target: Target, now: datetime) -> Outcome:
        time.sleep(0.02)
        with self.lock:
            self.seen.append((self.label, target.project_id, target.id))
        return Outcome([target.score("seen", 1)])


def test_two_runners_share_backfill_jobs_and_never_run_the_same_chunk(
    backends: dict[str, str], tmp_path: Path
) -> None:
    """Two jobs of 60 traces each, queued while two runners (each its own ClusterStore and
    holder) run with chunks of 10: each job is leased by one runner at a time, its progress
    is seen moving, both end done with done == total, and every (project, trace) is run
    exactly once in all."""
    ch, pg = backends["HERON_CLICKHOUSE_URL"], backends["HERON_POSTGRES_URL"]
    stores = [open_cluster(ch, pg, tmp_path / f"r{i}") for i in range(2)]
    seen: list[tuple[str, str, str]] = []
    task = "record-" + uuid.uuid4().hex[:6]
    runners = [
        Runner(s, [Recording(task, f"r{i}", seen)], chunk=10, idle_s=0.2, lease_s=LEASE_S)
        for i, s in enumerate(stores)
    ]
    projects = ["p-" + uuid.uuid4().hex[:8] for _ in range(2)]
    for p in projects:
        spans = [
            ObservationRecord(
                project_id=p,
                id=f"s{i}",
                trace_id=f"t{i:03d}",
                parent_id=None,
                type="span",
                name="x",
                start_us=1_760_000_000_000_000 + i,
            )
            for i in range(60)
        ]
        stores[0].write_batch(spans, [])
    jobs = [runners[0].start_job(p, [task])["id"] for p in projects]
    progress: dict[str, list[int]] = {j: [] for j in jobs}
    try:
        for r in runners:
            r.start()
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            states = [stores[1].runner_job(j) for j in jobs]
            for j, state in zip(jobs, states, strict=True):
                progress[j].append(state["done"])
            if all(s["status"] == "done" for s in states):
                break
            time.sleep(0.05)
    finally:
        for r in runners:
            r.stop()
        for s in stores:
            s.close()
    for j in jobs:
        final = stores_job(backends, j)
        assert final["status"] == "done" and final["done"] == final["total"] == 60, final
        assert any(0 < d < 60 for d in progress[j]), progress[j]  # progress seen moving
        assert progress[j] == sorted(progress[j])
    runs = Counter((p, t) for _, p, t in seen)
    assert runs == Counter({(p, f"t{i:03d}"): 1 for p in projects for i in range(60)})
    assert {label for label, _, _ in seen} == {"r0", "r1"}  # both runners worked
    with psycopg.connect(pg) as conn:  # the ended jobs' leases were given up
        left = conn.execute(
            "SELECT count(*) FROM runner_leases WHERE key = ANY(%s)", [[f"job:{j}" for j in jobs]]
        ).fetchone()
    assert left == (0,)


def stores_job(backends: dict[str, str], job_id: str) -> dict[str, Any]:
    with psycopg.connect(backends["HERON_POSTGRES_URL"]) as conn:
        row = conn.execute(
            "SELECT status, done, total FROM runner_jobs WHERE id = %s", [job_id]
        ).fetchone()
    assert row is not None
    return {"status": row[0], "done": row[1], "total": row[2]}
