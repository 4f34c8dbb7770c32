"""GET /metrics: the Prometheus exposition of heron's health and the caller's LLM series."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient
from opentelemetry.proto.trace.v1.trace_pb2 import Span
from prometheus_client import CONTENT_TYPE_LATEST
from prometheus_client.parser import text_string_to_metric_families

from heron.server.app import create_app
from tests.conftest import make_settings
from tests.support.otlp import T0_NS, new_span_id, new_trace_id, request, span
from tests.support.server import CONSISTENT, PUBLIC_KEY, SECRET_KEY, HeronProcess

PB = {"Content-Type": "application/x-protobuf"}
Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def scrape(text: str) -> Samples:
    """Every sample of an exposition, keyed by (name, labels)."""
    out: Samples = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            out[(s.name, frozenset(s.labels.items()))] = s.value
    return out


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples[(name, frozenset(labels.items()))]


def series(samples: Samples, name: str) -> dict[frozenset[tuple[str, str]], float]:
    return {labels: v for (n, labels), v in samples.items() if n == name}


def call(
    trace_id: bytes,
    parent: bytes,
    model: str,
    ms: float,
    tokens: tuple[int, int] = (100, 10),
    cost: tuple[float, float] | None = None,
    error: str | None = None,
) -> Span:
    attributes: dict[str, object] = {
        "gen_ai.operation.name": "chat",
        "gen_ai.request.model": model,
        "gen_ai.usage.input_tokens": tokens[0],
        "gen_ai.usage.output_tokens": tokens[1],
    }
    if cost is not None:
        attributes["langfuse.observation.cost_details"] = (
            f'{{"input": {cost[0]}, "output": {cost[1]}}}'
        )
    return span(
        trace_id,
        new_span_id(),
        f"chat {model}",
        parent=parent,
        start_ns=T0_NS + 10_000_000,
        duration_ms=ms,
        attributes=attributes,
        error=error,
    )


def trace(name: str, ms: float, *calls: tuple) -> list[Span]:
    """A root span named ``name`` (the trace's name) with model-call children."""
    tid, root = new_trace_id(), new_span_id()
    return [span(tid, root, name, duration_ms=ms)] + [call(tid, root, *c) for c in calls]


def post(client: TestClient | httpx.Client, spans: list[Span], **headers: str) -> None:
    r = client.post(
        "/v1/traces", content=request(spans).SerializeToString(), headers={**PB, **headers}
    )
    assert r.status_code == 200, r.text


def metrics(client: TestClient | httpx.Client, **headers: str) -> Samples:
    r = client.get("/metrics", headers=headers)
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == CONTENT_TYPE_LATEST
    return scrape(r.text)


def as_admin(client: TestClient) -> dict[str, str]:
    """The header of an operator's scrape: the admin token of the running app."""
    return {"Authorization": f"Bearer {client.app.state.heron.admin_token}"}  # type: ignore[attr-defined]


def health(client: TestClient) -> Samples:
    return metrics(client, **as_admin(client))


KNOWN = [
    *trace(
        "support-chat",
        2000,
        ("gpt-4o", 300, (100, 10), (0.001, 0.002)),
        ("gpt-4o", 1500, (200, 20), (0.004, 0.008), "rate limited"),
    ),
    *trace("search", 400, ("gpt-4o-mini", 200, (50, 5), (0.0001, 0.0002))),
]


def test_llm_series_of_known_spans(client: TestClient) -> None:
    post(client, KNOWN)
    m = metrics(client)
    chat = {"project": "test", "model": "gpt-4o", "trace_name": "support-chat"}
    assert value(m, "heron_llm_requests_total", **chat) == 2
    assert value(m, "heron_llm_errors_total", **chat) == 1
    assert value(m, "heron_llm_input_tokens_total", **chat) == 300
    assert value(m, "heron_llm_output_tokens_total", **chat) == 30
    assert value(m, "heron_llm_cost_usd_total", **chat) == pytest.approx(0.015)
    # 0.3 s and 1.5 s: first in the 0.5 s bucket, both by 2.5 s.
    assert value(m, "heron_llm_latency_seconds_bucket", **chat, le="0.25") == 0
    assert value(m, "heron_llm_latency_seconds_bucket", **chat, le="0.5") == 1
    assert value(m, "heron_llm_latency_seconds_bucket", **chat, le="1.0") == 1
    assert value(m, "heron_llm_latency_seconds_bucket", **chat, le="2.5") == 2
    assert value(m, "heron_llm_latency_seconds_bucket", **chat, le="+Inf") == 2
    assert value(m, "heron_llm_latency_seconds_count", **chat) == 2
    assert value(m, "heron_llm_latency_seconds_sum", **chat) == pytest.approx(1.8)

    mini = {"project": "test", "model": "gpt-4o-mini", "trace_name": "search"}
    assert value(m, "heron_llm_requests_total", **mini) == 1
    assert value(m, "heron_llm_errors_total", **mini) == 0
    assert value(m, "heron_llm_cost_usd_total", **mini) == pytest.approx(0.0003)
    assert value(m, "heron_llm_latency_seconds_bucket", **mini, le="0.25") == 1
    assert len(series(m, "heron_llm_requests_total")) == 2

    support = {"project": "test", "trace_name": "support-chat"}
    assert value(m, "heron_traces_total", **support) == 1
    assert value(m, "heron_trace_errors_total", **support) == 1  # a failed call fails the trace
    assert value(m, "heron_trace_latency_seconds_bucket", **support, le="1.0") == 0
    assert value(m, "heron_trace_latency_seconds_bucket", **support, le="2.5") == 1
    assert value(m, "heron_trace_latency_seconds_sum", **support) == pytest.approx(2.0)
    assert value(m, "heron_traces_total", project="test", trace_name="search") == 1
    assert value(m, "heron_trace_errors_total", project="test", trace_name="search") == 0


def test_resent_spans_are_not_counted_twice(client: TestClient) -> None:
    post(client, KNOWN)
    before = metrics(client)
    post(client, KNOWN)  # an exporter retrying the same request
    after = metrics(client)
    for name in ("heron_llm_requests_total", "heron_llm_input_tokens_total", "heron_traces_total"):
        assert series(after, name) == series(before, name)
        assert series(after, name)
    assert value(health(client), "heron_ingest_requests_total", status_class="2xx") == 2


def test_trace_without_root_counts_once_settled(client: TestClient) -> None:
    tid = new_trace_id()
    post(client, [call(tid, new_span_id(), "gpt-4o", 300)])  # its root span is not here yet
    assert client.get("/api/observations").json()["data"]  # stored and readable
    assert not series(metrics(client), "heron_llm_requests_total")


def test_other_projects_series_are_not_shown(client: TestClient) -> None:
    store = client.app.state.heron.store
    other = store.create_project("other")
    key = store.create_key(other["id"])
    other_auth = {"Authorization": f"Bearer {key['secret_key']}"}
    post(client, KNOWN)
    post(client, trace("billing", 100, ("claude-secret-model", 100)), **other_auth)

    mine = metrics(client)
    text = client.get("/metrics").text
    assert "claude-secret-model" not in text and "billing" not in text
    assert {dict(k)["project"] for k in series(mine, "heron_llm_requests_total")} == {"test"}

    theirs = metrics(client, **other_auth)
    assert series(theirs, "heron_llm_requests_total") == {
        frozenset(
            {"project": "other", "model": "claude-secret-model", "trace_name": "billing"}.items()
        ): 1
    }
    assert value(theirs, "heron_project_spans_accepted_total", project="other") == 2
    assert value(mine, "heron_project_spans_accepted_total", project="test") == len(KNOWN)
    # The server-wide series (both projects' requests) are the operator's only.
    assert not series(theirs, "heron_ingest_requests_total")
    assert value(health(client), "heron_ingest_requests_total", status_class="2xx") == 2


def test_label_values_are_capped_per_project(tmp_path: Path) -> None:
    with TestClient(
        create_app(make_settings(tmp_path, prometheus_max_label_values=3)), headers=CONSISTENT
    ) as c:
        c.headers["Authorization"] = f"Bearer {SECRET_KEY}"
        c.app.state.heron.llm_totals.reuse = 0  # type: ignore[attr-defined]  # always fresh
        spans: list[Span] = []
        # model-i is called 6 - i times, in trace route-i.
        for i in range(6):
            spans += trace(f"route-{i}", 100, *[(f"model-{i}", 100)] * (6 - i))
        post(c, spans)
        m = metrics(c)
        requests = {
            (dict(k)["model"], dict(k)["trace_name"]): v
            for k, v in series(m, "heron_llm_requests_total").items()
        }
        assert {model for model, _ in requests} == {"model-0", "model-1", "model-2", "other"}
        assert {name for _, name in requests} == {"route-0", "route-1", "route-2", "other"}
        assert requests[("model-0", "route-0")] == 6
        assert requests[("other", "other")] == 3 + 2 + 1
        assert sum(requests.values()) == 21
        assert len(series(m, "heron_traces_total")) == 4
        # This app's own registry: no counts from the other apps of this test process.
        assert value(health(c), "heron_ingest_requests_total", status_class="2xx") == 1

        # Admitted values stay; a newcomer, even a frequent one, joins "other".
        post(c, trace("route-new", 100, *[("model-new", 100)] * 10))
        requests = {
            (dict(k)["model"], dict(k)["trace_name"]): v
            for k, v in series(metrics(c), "heron_llm_requests_total").items()
        }
        assert requests[("other", "other")] == 16
        assert requests[("model-0", "route-0")] == 6
        assert len(requests) == 4


def test_unauthenticated_scrape_is_401(client: TestClient) -> None:
    r = client.get("/metrics", headers={"Authorization": ""})
    assert r.status_code == 401
    assert "missing credentials" in r.json()["error"]["message"]
    r = client.get("/metrics", headers={"Authorization": "Bearer sk-wrong"})
    assert r.status_code == 401
    assert r.json()["error"]["message"] == "invalid API key"


def test_rejected_requests_and_spans_are_counted(client: TestClient) -> None:
    m = health(client)
    assert value(m, "heron_ingest_rejected_requests_total", reason="bad_request") == 0
    assert value(m, "heron_ingest_spans_rejected_total", reason="invalid") == 0

    r = client.post("/v1/traces", content=b"\x00not protobuf", headers=PB)
    assert r.status_code == 400
    r = client.post("/v1/traces", content=b"", headers={**PB, "Authorization": "Bearer nope"})
    assert r.status_code == 401
    r = client.post("/v1/traces", content=b"x", headers={"Content-Type": "text/plain"})
    assert r.status_code == 415
    bad = span(new_trace_id(), b"\x00" * 8, "no span id")  # rejected in partial_success
    post(client, [bad, *KNOWN])

    m = health(client)
    assert value(m, "heron_ingest_rejected_requests_total", reason="bad_request") == 1
    assert value(m, "heron_ingest_rejected_requests_total", reason="unauthorized") == 1
    assert value(m, "heron_ingest_rejected_requests_total", reason="unsupported_media_type") == 1
    assert value(m, "heron_ingest_requests_total", status_class="4xx") == 3
    assert value(m, "heron_ingest_requests_total", status_class="2xx") == 1
    assert value(m, "heron_ingest_spans_received_total") == len(KNOWN) + 1
    assert value(m, "heron_ingest_spans_accepted_total") == len(KNOWN)
    assert value(m, "heron_ingest_spans_rejected_total", reason="invalid") == 1


def test_health_series(client: TestClient) -> None:
    post(client, KNOWN)
    m = health(client)
    assert value(m, "heron_store_applied_spans_total") == len(KNOWN)
    assert value(m, "heron_store_commits_total") >= 1
    assert value(m, "heron_store_apply_seconds_count") == value(m, "heron_store_commits_total")
    assert value(m, "heron_journal_write_seconds_count") >= 1
    assert value(m, "heron_journal_write_seconds_bucket", le="+Inf") == value(
        m, "heron_journal_write_seconds_count"
    )
    assert value(m, "heron_ingest_queue_spans") == 0  # the scrape waited for the store
    assert value(m, "heron_journal_backlog_records") == 0
    assert value(m, "heron_ingest_queue_limit_spans") == 200_000
    db = client.app.state.heron.settings.db_path
    assert value(m, "heron_store_size_bytes") >= db.stat().st_size > 0
    assert value(m, "heron_build_info", version=__import__("heron").__version__) == 1
    assert value(m, "process_resident_memory_bytes") > 0


def test_live_server_with_basic_auth_survives_restart(tmp_path: Path) -> None:
    """`heron serve` with worker-process decoding; totals come from the store, so a restart
    keeps them (only the health counters start again from zero)."""
    basic = base64.b64encode(f"{PUBLIC_KEY}:{SECRET_KEY}".encode()).decode()
    auth = {"Authorization": f"Basic {basic}", **CONSISTENT}
    server = HeronProcess(tmp_path / "data").start()
    try:
        with httpx.Client(base_url=server.url, timeout=10) as c:
            post(c, KNOWN, **auth)
            score = {"traceId": "b" * 32, "name": "user_feedback", "value": True}
            assert c.post("/api/scores", json=score, headers=auth).status_code == 201
            m = metrics(c, **auth)
            ops = metrics(c, Authorization=f"Bearer {server_admin_token(server)}")
            assert c.get("/metrics").status_code == 401
    finally:
        server.stop()
    chat = {"project": "test", "model": "gpt-4o", "trace_name": "support-chat"}
    assert value(m, "heron_llm_requests_total", **chat) == 2
    assert value(ops, "heron_ingest_spans_accepted_total") == len(KNOWN)

    server = HeronProcess(tmp_path / "data", port=server.port).start()
    try:
        with httpx.Client(base_url=server.url, timeout=10) as c:
            again = metrics(c, **auth)
            ops = metrics(c, Authorization=f"Bearer {server_admin_token(server)}")
    finally:
        server.stop()
    assert series(again, "heron_llm_requests_total") == series(m, "heron_llm_requests_total")
    # (the implicit detectors may score the traces too: only this score is counted here)
    labels = {"project": "test", "name": "user_feedback", "source": "API", "data_type": "BOOLEAN"}
    fb = ("heron_scores_true_total", frozenset(labels.items()))
    assert m[fb] == again[fb] == 1
    assert value(again, "heron_llm_cost_usd_total", **chat) == pytest.approx(0.015)
    assert value(ops, "heron_ingest_spans_accepted_total") == 0


def server_admin_token(server: HeronProcess) -> str:
    return json.loads((server.data_dir / "server.json").read_text())["admin_token"]


# -- who sees what ----------------------------------------------------------------------------

PROJECT_FAMILIES = {
    "heron_llm_requests",
    "heron_llm_errors",
    "heron_llm_input_tokens",
    "heron_llm_output_tokens",
    "heron_llm_cost_usd",
    "heron_llm_latency_seconds",
    "heron_traces",
    "heron_trace_errors",
    "heron_trace_latency_seconds",
    "heron_project_spans_accepted",
    "heron_scores",
    "heron_scores_true",
    "heron_score_value",
}


def test_a_project_key_sees_only_its_projects_series(client: TestClient) -> None:
    other = client.app.state.heron.store.create_project("other")  # type: ignore[attr-defined]
    post(client, KNOWN)
    r = client.get("/metrics")
    assert r.status_code == 200
    families = list(text_string_to_metric_families(r.text))
    assert {f.name for f in families} == PROJECT_FAMILIES
    for f in families:
        for s in f.samples:
            assert s.labels["project"] == "test", (f.name, s)
    for server_wide in ("heron_ingest_", "heron_store_", "heron_journal_", "process_", "python_"):
        assert server_wide not in r.text
    assert "heron_build_info" not in r.text and "heron_web_login" not in r.text
    assert other["name"] not in r.text


def test_the_admin_token_sees_the_servers_health(client: TestClient) -> None:
    other = client.app.state.heron.store.create_project("other")  # type: ignore[attr-defined]
    post(client, KNOWN)
    m = health(client)
    assert value(m, "heron_ingest_requests_total", status_class="2xx") == 1
    assert value(m, "heron_store_applied_spans_total") == len(KNOWN)
    assert value(m, "process_resident_memory_bytes") > 0
    assert value(m, "heron_project_spans_accepted_total", project="test") == len(KNOWN)
    assert value(m, "heron_project_spans_accepted_total", project=other["name"]) == 0
    assert value(m, "heron_web_logins_total", result="failed") == 0
    assert value(m, "heron_web_login_hashes_max_running") == 0
    assert not series(m, "heron_llm_requests_total")  # those are the projects' scrapes


INVALID_KEY = (
    "invalid API key",
    "the Authorization header contains non-ASCII characters; credentials are ASCII (API "
    "keys and tokens as heron printed them)",
)


def test_the_prometheus_token_setting_sees_the_health_series(tmp_path: Path) -> None:
    token = "prom-" + "x" * 30
    with TestClient(create_app(make_settings(tmp_path, prometheus_token=token))) as c:
        m = metrics(c, Authorization=f"Bearer {token}")
        assert value(m, "heron_ingest_queue_limit_spans") == 200_000
        admin_token = c.app.state.heron.admin_token  # type: ignore[attr-defined]
        for wrong in (token + "y", "é" * 40, admin_token[:-1]):
            header = f"Bearer {wrong}".encode("latin-1")  # a non-ASCII token is a 401, no 500
            r = c.get("/metrics", headers={"Authorization": header})
            assert r.status_code == 401 and r.json()["error"]["message"] in INVALID_KEY
        # The admin API compares its token the same way (a non-ASCII one was a TypeError).
        r = c.get("/api/admin/projects", headers={"Authorization": "Bearer é".encode("latin-1")})
        assert r.status_code == 401 and "admin token" in r.json()["error"]["message"]
    with pytest.raises(ValueError, match="HERON_PROMETHEUS_TOKEN must have at least 24"):
        create_app(make_settings(tmp_path, prometheus_token="short"))
