"""`heron serve` on the cluster backend, end to end: two replicas (real processes, each with
its own data directory and journal) on one PostgreSQL (tests/support/postgres.py) and one
ClickHouse HTTP server (chdb, tests/support/chdb_server.py).

One module-scoped pair of replicas, started at the same instant with the same HERON_INIT_*
(so bootstrap races). Two tests start a replica of their own, since they break something:
the kill -9 test kills it, the outage test stops its ClickHouse (a chdb server of its own).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import orjson
import psycopg
import pytest
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.trace import Status, StatusCode

from heron.server.app import SHARED_MAX_AGE_S
from heron.store.cluster import APPLIED_KEY, REPLICA_FILE
from tests.support.chdb_server import ChdbServer
from tests.support.otlp import new_span_id, new_trace_id, request, span
from tests.support.postgres import PostgresServer
from tests.support.server import (
    ADMIN_EMAIL,
    ADMIN_PASSWORD,
    PUBLIC_KEY,
    SECRET_KEY,
    HeronProcess,
    admin_token,
    free_port,
)

PB = {"Content-Type": "application/x-protobuf"}
AUTH = {"Authorization": f"Bearer {SECRET_KEY}"}
START_TIMEOUT_S = 90.0


@pytest.fixture(scope="module")
def backends(chdb_server: ChdbServer, postgres_server: PostgresServer) -> dict[str, str]:
    """The environment of a replica: a fresh ClickHouse database and PostgreSQL database."""
    return {
        "HERON_CLICKHOUSE_URL": chdb_server.database_url("serve_" + uuid.uuid4().hex[:8]),
        "HERON_POSTGRES_URL": postgres_server.create_database(),
    }


def start_together(replicas: list[HeronProcess]) -> None:
    """Start every replica at the same instant (their bootstraps race)."""
    errors: list[BaseException] = []

    def start(r: HeronProcess) -> None:
        try:
            r.start(timeout=START_TIMEOUT_S)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=start, args=(r,)) for r in replicas]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if errors:
        for r in replicas:
            r.kill()
        raise errors[0]


@pytest.fixture(scope="module")
def pair(
    backends: dict[str, str], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[HeronProcess, HeronProcess]]:
    root = tmp_path_factory.mktemp("cluster")
    a = HeronProcess(root / "a", env=dict(backends))
    b = HeronProcess(root / "b", env=dict(backends))
    start_together([a, b])
    try:
        yield a, b
    finally:
        a.stop()
        b.stop()


def applied(server: HeronProcess, trace_id: str) -> dict[str, Any]:
    """The trace read on ``server`` once everything it acknowledged is in ClickHouse."""
    r = httpx.get(f"{server.url}/api/traces/{trace_id}?consistent=true", headers=AUTH, timeout=30)
    assert r.status_code == 200, r.text
    return r.json()


def send_failing(server: HeronProcess, name: str) -> str:
    """A root span with a failed child span (status ERROR) through the OpenTelemetry SDK."""
    exporter = OTLPSpanExporter(endpoint=server.url + "/v1/traces", headers=AUTH)
    provider = TracerProvider(resource=Resource.create({"service.name": "cluster-test"}))
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracer = provider.get_tracer("test")
    with tracer.start_as_current_span(name) as root:
        root.set_attribute("user.id", "u-rules")
        trace_id = format(root.get_span_context().trace_id, "032x")
        with tracer.start_as_current_span("charge") as child:
            child.set_status(Status(StatusCode.ERROR, "card declined"))
    assert provider.force_flush(10_000)
    provider.shutdown()
    return trace_id


def send_with_otel_sdk(server: HeronProcess, name: str) -> str:
    """A root span and a generation through the OpenTelemetry SDK's OTLP/HTTP exporter."""
    exporter = OTLPSpanExporter(endpoint=server.url + "/v1/traces", headers=AUTH)
    provider = TracerProvider(resource=Resource.create({"service.name": "cluster-test"}))
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracer = provider.get_tracer("test")
    with tracer.start_as_current_span(name) as root:
        root.set_attribute("user.id", "u-cluster")
        trace_id = format(root.get_span_context().trace_id, "032x")
        with tracer.start_as_current_span("chat gpt-4o") as gen:
            gen.set_attribute("gen_ai.operation.name", "chat")
            gen.set_attribute("gen_ai.request.model", "gpt-4o")
            gen.set_attribute("gen_ai.usage.input_tokens", 100)
            gen.set_attribute("gen_ai.usage.output_tokens", 10)
    assert provider.force_flush(10_000)
    provider.shutdown()
    return trace_id


@pytest.mark.parametrize("direction", ["a_to_b", "b_to_a"])
def test_spans_sent_to_one_replica_are_read_on_the_other(
    pair: tuple[HeronProcess, HeronProcess], direction: str
) -> None:
    writer, reader = pair if direction == "a_to_b" else pair[::-1]
    trace_id = send_with_otel_sdk(writer, f"ask-{direction}")
    applied(writer, trace_id)  # the writer's journal is applied: the spans are in ClickHouse

    r = httpx.get(f"{reader.url}/api/traces/{trace_id}", headers=AUTH, timeout=30)
    assert r.status_code == 200, r.text
    t = r.json()
    assert t["name"] == f"ask-{direction}" and t["user_id"] == "u-cluster"
    assert t["observation_count"] == 2
    [root] = t["observations"]
    [gen] = root["children"]
    assert gen["type"] == "generation" and gen["model"] == "gpt-4o"
    assert gen["total_cost"] > 0  # priced by the replica with prices from PostgreSQL

    flt = orjson.dumps([{"column": "id", "operator": "=", "value": trace_id}]).decode()
    r = httpx.get(f"{reader.url}/api/traces", params={"filter": flt}, headers=AUTH, timeout=30)
    assert r.status_code == 200, r.text
    assert [row["id"] for row in r.json()["data"]] == [trace_id]


def test_the_same_span_through_both_replicas_is_one_merged_observation(
    pair: tuple[HeronProcess, HeronProcess],
) -> None:
    a, b = pair
    tid, sid = new_trace_id(), new_span_id()
    first = span(tid, sid, "step", attributes={"input.value": "the question"})
    second = span(tid, sid, "step", attributes={"output.value": "the answer"})
    for server, version in ((a, first), (b, second)):
        r = httpx.post(
            server.url + "/v1/traces",
            content=request([version]).SerializeToString(),
            headers={**AUTH, **PB},
            timeout=30,
        )
        assert r.status_code == 200, r.text
        applied(server, tid.hex())
    for server in (a, b):
        t = applied(server, tid.hex())
        assert t["observation_count"] == 1
        [obs] = t["observations"]
        assert obs["id"] == sid.hex()
        assert (obs["input"], obs["output"]) == ("the question", "the answer")


def test_versions_of_spans_sent_at_once_to_both_replicas_keep_every_field(
    pair: tuple[HeronProcess, HeronProcess],
) -> None:
    """Each span's two versions reach the two replicas at the same instant; the per-trace
    lock in PostgreSQL makes their merges run in turn, so both fields survive every race."""
    a, b = pair
    spans = [(new_trace_id(), new_span_id()) for _ in range(20)]
    barrier = threading.Barrier(2)
    failures: list[str] = []

    def send(server: HeronProcess, attribute: str) -> None:
        with httpx.Client(headers={**AUTH, **PB}, timeout=30) as http:
            for tid, sid in spans:
                body = request([span(tid, sid, "step", attributes={attribute: attribute})])
                barrier.wait(10)
                r = http.post(server.url + "/v1/traces", content=body.SerializeToString())
                if r.status_code != 200:
                    failures.append(r.text)

    threads = [
        threading.Thread(target=send, args=(a, "input.value")),
        threading.Thread(target=send, args=(b, "output.value")),
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not failures, failures[:2]
    applied(a, spans[-1][0].hex())
    for tid, sid in spans:
        t = applied(b, tid.hex())
        [obs] = t["observations"]
        assert (obs["id"], obs["input"], obs["output"]) == (
            sid.hex(),
            "input.value",
            "output.value",
        ), tid.hex()


def test_a_backfill_queued_through_one_replica_is_done_and_read_on_the_other(
    pair: tuple[HeronProcess, HeronProcess],
) -> None:
    """The background runner runs on the cluster: a backfill queued through A is done by a
    replica's runner and reads the same on B."""
    a, b = pair
    r = httpx.post(a.url + "/api/runner/jobs", json={}, headers=AUTH, timeout=30)
    assert r.status_code == 202, r.text
    job_id = r.json()["id"]
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        job = httpx.get(f"{b.url}/api/runner/jobs/{job_id}", headers=AUTH, timeout=30).json()
        if job["status"] == "done":
            break
        time.sleep(0.3)
    assert job["status"] == "done" and job["done"] == job["total"], job


def test_a_rules_signal_is_an_issue_on_every_replica_and_compare_answers(
    pair: tuple[HeronProcess, HeronProcess],
) -> None:
    """A failed span sent to A; a replica's runner runs the trace rules on it; the issue is
    listed on B, resolved through A and read resolved on B; a comparison answers on the
    cluster."""
    a, b = pair
    trace_id = send_failing(a, "checkout-e2e")
    applied(a, trace_id)
    found: list[dict[str, Any]] = []
    deadline = time.monotonic() + 60
    while not found and time.monotonic() < deadline:
        r = httpx.get(b.url + "/api/issues", params={"rule": "error"}, headers=AUTH, timeout=30)
        assert r.status_code == 200, r.text
        found = [i for i in r.json()["data"] if i["title"] == "charge: card declined"]
        time.sleep(0.3)
    [issue] = found
    assert (issue["status"], issue["count"], issue["usersAffected"]) == ("open", 1, 1)
    r = httpx.get(f"{b.url}/api/issues/{issue['id']}", headers=AUTH, timeout=30)
    assert r.status_code == 200 and r.json()["sampleTraceIds"] == [trace_id]
    r = httpx.get(b.url + "/api/signals", params={"trace_id": trace_id}, headers=AUTH)
    assert r.status_code == 200, r.text
    r = httpx.patch(f"{a.url}/api/issues/{issue['id']}", json={"status": "resolved"}, headers=AUTH)
    assert r.status_code == 200 and r.json()["status"] == "resolved", r.text
    r = httpx.get(f"{b.url}/api/issues/{issue['id']}", headers=AUTH, timeout=30)
    assert r.json()["status"] == "resolved"
    r = httpx.post(
        a.url + "/api/compare",
        json={"at": "2025-10-08T20:53:20Z", "days": 0.5},
        headers=AUTH,
        timeout=30,
    )
    assert r.status_code == 200, r.text
    counts = {m["metric"]: m for m in r.json()["metrics"]}["count"]
    assert (counts["baseline"], counts["candidate"]) == (0, 0)


def test_a_web_session_from_one_replica_shows_pages_on_the_other(
    pair: tuple[HeronProcess, HeronProcess],
) -> None:
    """Sessions live in PostgreSQL: log in on A, browse B (the trace list and a trace page
    of a trace sent to A), the prices and datasets pages."""
    a, b = pair
    trace_id = send_with_otel_sdk(a, "web-check")
    applied(a, trace_id)
    with httpx.Client(base_url=a.url, timeout=30) as login:
        found = re.search(r'name="csrf_token" value="([^"]+)"', login.get("/login").text)
        assert found
        form = {"email": ADMIN_EMAIL, "password": ADMIN_PASSWORD, "csrf_token": found.group(1)}
        assert login.post("/login", data=form).status_code == 303
        cookies = login.cookies
    html = {"Accept": "text/html"}
    with httpx.Client(base_url=b.url, cookies=cookies, headers=html, timeout=30) as web:
        r = web.get("/traces")
        assert r.status_code == 200 and trace_id in r.text
        r = web.get(f"/traces/{trace_id}")
        assert r.status_code == 200 and "chat gpt-4o" in r.text
        r = web.get("/settings/prices")  # the unpriced models are read from ClickHouse
        assert r.status_code == 200
        name = "web-check-" + uuid.uuid4().hex[:6]
        made = httpx.post(a.url + "/api/public/v2/datasets", json={"name": name}, headers=AUTH)
        assert made.status_code == 200, made.text
        r = web.get("/datasets")  # datasets on PostgreSQL, their runs' items on ClickHouse
        assert r.status_code == 200 and name in r.text


def test_a_price_set_through_one_replica_prices_spans_on_the_other(
    pair: tuple[HeronProcess, HeronProcess],
) -> None:
    """Replica B keeps the project's prices cached; a price added through A is used by B's
    ingest within SHARED_MAX_AGE_S."""
    a, b = pair
    model = f"acme-{uuid.uuid4().hex[:6]}"

    def cost_on_b() -> float | None:
        tid, sid = new_trace_id(), new_span_id()
        attributes = {
            "gen_ai.operation.name": "chat",
            "gen_ai.request.model": model,
            "gen_ai.usage.input_tokens": 1000,
            "gen_ai.usage.output_tokens": 0,
        }
        r = httpx.post(
            b.url + "/v1/traces",
            content=request([span(tid, sid, "chat", attributes=attributes)]).SerializeToString(),
            headers={**AUTH, **PB},
            timeout=30,
        )
        assert r.status_code == 200, r.text
        return applied(b, tid.hex())["total_cost"]

    assert cost_on_b() is None  # unpriced, and B has read the project's prices now
    entry = {
        "id": model,
        "model_name": model,
        "match_pattern": f"(?i)^{model}$",
        "prices": {"input": 1e-3, "output": 0.0},
    }
    r = httpx.post(a.url + "/api/models", json=entry, headers=AUTH, timeout=30)
    assert r.status_code == 201, r.text
    deadline = time.monotonic() + SHARED_MAX_AGE_S + 5
    cost = None
    while cost is None and time.monotonic() < deadline:
        time.sleep(0.5)
        cost = cost_on_b()
    assert cost == pytest.approx(1.0)


def test_replicas_starting_together_create_one_project_and_key(
    pair: tuple[HeronProcess, HeronProcess], backends: dict[str, str]
) -> None:
    with psycopg.connect(backends["HERON_POSTGRES_URL"]) as conn:
        projects = conn.execute("SELECT count(*) FROM projects WHERE name = 'test'").fetchone()
        keys = conn.execute(
            "SELECT count(*) FROM api_keys WHERE public_key = %s", [PUBLIC_KEY]
        ).fetchone()
    assert projects == (1,) and keys == (1,)
    for server in pair:  # the one key works on both
        r = httpx.get(server.url + "/api/traces", headers=AUTH, timeout=30)
        assert r.status_code == 200, r.text


def test_a_replica_killed_after_acknowledging_loses_nothing(
    pair: tuple[HeronProcess, HeronProcess], backends: dict[str, str], tmp_path: Path
) -> None:
    """SIGKILL right after a batch is acknowledged: what is not in ClickHouse yet is in the
    replica's journal, replayed when it restarts on the same data directory. Then the
    replica's recorded position is moved back to 0, so what its journal still holds (the
    segments not yet truncated) is replayed a second time: writes are idempotent, nothing is
    doubled."""
    reader, _ = pair
    c = HeronProcess(tmp_path / "c", env=dict(backends)).start(timeout=START_TIMEOUT_S)
    acked: dict[str, int] = {}
    with httpx.Client(headers={**AUTH, **PB}, timeout=30) as http:
        for _ in range(30):
            spans, traces = [], {}
            for _ in range(10):
                tid, root = new_trace_id(), new_span_id()
                spans.append(span(tid, root, "root"))
                spans += [span(tid, new_span_id(), f"child-{k}", parent=root) for k in range(3)]
                traces[tid.hex()] = 4
            r = http.post(c.url + "/v1/traces", content=request(spans).SerializeToString())
            assert r.status_code == 200, r.text
            acked.update(traces)
    c.kill()  # at once after the last acknowledgement

    replica = (c.data_dir / REPLICA_FILE).read_text().strip()
    restarted = HeronProcess(c.data_dir, env=dict(backends)).start(timeout=START_TIMEOUT_S)
    restarted.stop()
    assert_all_stored(reader, acked)

    with psycopg.connect(backends["HERON_POSTGRES_URL"]) as conn:
        conn.execute("UPDATE meta SET value = '0' WHERE key = %s", [f"{APPLIED_KEY}@{replica}"])
    again = HeronProcess(c.data_dir, env=dict(backends)).start(timeout=START_TIMEOUT_S)
    try:
        assert "replayed" in again.log(), again.log()[-2000:]
    finally:
        again.stop()
    assert_all_stored(reader, acked)


def assert_all_stored(reader: HeronProcess, acked: dict[str, int]) -> None:
    """Every acknowledged trace is in ClickHouse with exactly its spans (read on a replica
    that did not receive them)."""
    ids = sorted(acked)
    found: dict[str, int] = {}
    deadline = time.monotonic() + 20
    with httpx.Client(headers=AUTH, timeout=30) as http:
        while True:
            for i in range(0, len(ids), 100):
                flt = orjson.dumps([{"column": "id", "operator": "in", "value": ids[i : i + 100]}])
                body = http.get(
                    reader.url + "/api/traces", params={"filter": flt.decode(), "limit": 1000}
                ).json()
                found.update({t["id"]: t["observation_count"] for t in body["data"]})
            missing = [t for t in ids if found.get(t) != acked[t]]
            if not missing or time.monotonic() > deadline:
                break
            time.sleep(0.2)
    assert not missing, f"{len(missing)} of {len(ids)} acknowledged traces lost or partial"


def test_one_cluster_url_alone_is_a_startup_error(tmp_path: Path) -> None:
    """Both URLs or neither: one alone stops `heron serve` before anything is created."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("HERON_")}
    for args, extra, given, missing in (
        (["--clickhouse-url", "http://127.0.0.1:1/x"], {}, "CLICKHOUSE", "POSTGRES"),
        ([], {"HERON_POSTGRES_URL": "postgresql://x@127.0.0.1:1/x"}, "POSTGRES", "CLICKHOUSE"),
    ):
        out = subprocess.run(
            [sys.executable, "-m", "heron.cli", "serve", "--data-dir", str(tmp_path / "d"), *args],
            capture_output=True,
            text=True,
            timeout=60,
            env={**env, "COLUMNS": "200", **extra},
        )
        assert out.returncode == 2, out.stdout + out.stderr
        assert f"HERON_{given}_URL is set but HERON_{missing}_URL is not" in out.stderr
        assert not (tmp_path / "d").exists()


def test_a_key_made_by_the_cli_works_on_every_replica_until_revoked(
    pair: tuple[HeronProcess, HeronProcess], backends: dict[str, str], tmp_path: Path
) -> None:
    """`heron keys create` with the cluster URLs and no server on its data directory writes
    to PostgreSQL (not a DuckDB file there); the replicas know the new key at its first use,
    and refuse it within SHARED_MAX_AGE_S of `heron keys revoke`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("HERON_")}

    def heron(*args: str) -> str:
        out = subprocess.run(
            [sys.executable, "-m", "heron.cli", *args, "--data-dir", str(tmp_path / "admin")],
            capture_output=True,
            text=True,
            timeout=120,
            env={**env, **backends},
        )
        assert out.returncode == 0, out.stdout + out.stderr
        return out.stdout

    out = heron("keys", "create", "--project", "cli-made", "--create-project")
    assert not (tmp_path / "admin" / "heron.duckdb").exists()
    secret = re.search(r"secret key\s+(sk-\S+)", out)
    public = re.search(r"public key\s+(pk-\S+)", out)
    assert secret and public, out
    key = {"Authorization": f"Bearer {secret.group(1)}"}
    for server in pair:
        r = httpx.get(server.url + "/api/project", headers=key, timeout=30)
        assert r.status_code == 200, r.text
        assert r.json()["name"] == "cli-made"

    heron("keys", "revoke", public.group(1), "--project", "cli-made")
    deadline = time.monotonic() + SHARED_MAX_AGE_S + 5
    refused: set[str] = set()
    while refused != {s.url for s in pair} and time.monotonic() < deadline:
        for server in pair:
            if httpx.get(server.url + "/api/project", headers=key, timeout=30).status_code == 401:
                refused.add(server.url)
        time.sleep(0.5)
    assert refused == {s.url for s in pair}


def test_the_operator_metrics_report_the_clickhouse_size(
    pair: tuple[HeronProcess, HeronProcess],
) -> None:
    a, _ = pair
    r = httpx.get(
        a.url + "/metrics", headers={"Authorization": f"Bearer {admin_token(a)}"}, timeout=30
    )
    assert r.status_code == 200, r.text
    [line] = [x for x in r.text.splitlines() if x.startswith("heron_store_size_bytes ")]
    assert float(line.split()[1]) > 0  # the active parts of the events tables


def start_chdb(data: Path, port: int) -> subprocess.Popen[str]:
    """A ClickHouse (chdb) server of this test's own, on a fixed port (to restart it there)."""
    root = Path(__file__).resolve().parents[2]
    args = ["--data", str(data), "--port", str(port), "--exit-with-parent"]
    proc = subprocess.Popen(
        [sys.executable, "-m", "tests.support.chdb_server", *args],
        cwd=root,
        env={**os.environ, "PYTHONPATH": os.pathsep.join([str(root / "src"), str(root)])},
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    assert proc.stdout.readline().strip() == str(port)
    return proc


def test_clickhouse_down_acknowledges_into_the_journal_and_catches_up(
    postgres_server: PostgresServer, tmp_path: Path
) -> None:
    """While ClickHouse is down, a replica still acknowledges spans (its journal has them),
    reads answer 503 naming the backend, /readyz says the store is failing; once ClickHouse
    is back, the retried applies store everything. Its own ClickHouse, since it stops it."""
    port = free_port()
    chdb = start_chdb(tmp_path / "chdb", port)
    env = {
        "HERON_CLICKHOUSE_URL": f"http://default:@127.0.0.1:{port}/outage",
        "HERON_POSTGRES_URL": postgres_server.create_database(),
    }
    replica = HeronProcess(tmp_path / "r", env=env).start(timeout=START_TIMEOUT_S)
    try:
        before = send_with_otel_sdk(replica, "before")
        applied(replica, before)
        chdb.terminate()
        chdb.wait(10)

        tid, sid = new_trace_id(), new_span_id()
        r = httpx.post(
            replica.url + "/v1/traces",
            content=request([span(tid, sid, "during")]).SerializeToString(),
            headers={**AUTH, **PB},
            timeout=30,
        )
        assert r.status_code == 200, r.text  # durable in the journal
        r = httpx.get(f"{replica.url}/api/traces/{before}", headers=AUTH, timeout=30)
        assert r.status_code == 503, r.text
        assert r.json()["error"]["code"] == "backend_unavailable"
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            ready = httpx.get(replica.url + "/readyz", timeout=30)
            if ready.status_code == 503:
                break
            time.sleep(0.2)
        assert ready.status_code == 503 and "store is failing" in ready.text, ready.text

        chdb = start_chdb(tmp_path / "chdb", port)
        assert applied(replica, tid.hex())["name"] == "during"  # waits for the retried apply
        assert httpx.get(replica.url + "/readyz", timeout=30).status_code == 200
    finally:
        replica.stop()
        chdb.terminate()
        chdb.wait(10)


def test_a_trace_deleted_through_one_replica_is_gone_on_the_other(
    pair: tuple[HeronProcess, HeronProcess],
) -> None:
    a, b = pair
    trace_id = send_with_otel_sdk(a, "to-delete")
    applied(a, trace_id)
    r = httpx.delete(f"{b.url}/api/traces/{trace_id}", headers=AUTH, timeout=30)
    assert r.status_code == 204, r.text
    for server in (a, b):
        r = httpx.get(f"{server.url}/api/traces/{trace_id}", headers=AUTH, timeout=30)
        assert r.status_code == 404, r.text
    r = httpx.delete(f"{a.url}/api/traces/{trace_id}", headers=AUTH, timeout=30)
    assert r.status_code == 404, r.text


def test_an_alert_backtest_answers_on_the_cluster(
    pair: tuple[HeronProcess, HeronProcess],
) -> None:
    """A trace sent to A; a backtest of an alert on its name, through B, fires over the
    minutes whose window holds it (the alert's series read from ClickHouse)."""
    a, b = pair
    name = "alert-" + uuid.uuid4().hex[:8]
    trace = applied(a, send_with_otel_sdk(a, name))
    at = datetime.fromisoformat(trace["timestamp"].removesuffix("Z"))
    alert = {
        "query": {
            "view": "traces",
            "metric": {"measure": "count", "aggregation": "count"},
            "filters": [{"column": "name", "operator": "=", "value": name}],
        },
        "window": "5m",
        "every": "1m",
        "condition": {"operator": ">", "alert": 0},
    }
    r = httpx.post(
        b.url + "/api/alerts/backtest",
        json={
            "alert": alert,
            "from": (at - timedelta(minutes=10)).isoformat() + "Z",
            "to": (at + timedelta(minutes=10)).isoformat() + "Z",
        },
        headers=AUTH,
        timeout=30,
    )
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["count"] == 20 and body["states"]["ALERT"] == 5, body
    [episode] = body["episodes"]
    assert episode["evaluations"] == 5 and episode["peak"] == 1.0
