"""OTLP/HTTP ingest through the app: encodings, auth, responses, merge and cost."""

from __future__ import annotations

import base64
import gzip

import pytest
from fastapi.testclient import TestClient
from google.protobuf import json_format
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceResponse

from tests.support.otlp import genai_trace, new_span_id, new_trace_id, request, span
from tests.support.server import CONSISTENT, PUBLIC_KEY, SECRET_KEY

PB = {"Content-Type": "application/x-protobuf"}


def otlp_json(req) -> bytes:
    """OTLP/JSON: like proto3 JSON but ids are hex, not base64."""
    data = json_format.MessageToDict(req)
    for rs in data["resourceSpans"]:
        for ss in rs["scopeSpans"]:
            for s in ss["spans"]:
                for key in ("traceId", "spanId", "parentSpanId"):
                    if key in s:
                        s[key] = base64.b64decode(s[key]).hex()
    import orjson

    return orjson.dumps(data)


def test_protobuf_export_is_stored_with_cost(client: TestClient) -> None:
    tid, spans = genai_trace(user="alice", session="sess-1")
    r = client.post("/v1/traces", content=request(spans).SerializeToString(), headers=PB)
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == "application/x-protobuf"
    resp = ExportTraceServiceResponse.FromString(r.content)
    assert resp.partial_success.rejected_spans == 0

    t = client.get(f"/api/traces/{tid.hex()}").json()
    assert t["name"] == "support-chat"
    assert (t["user_id"], t["session_id"]) == ("alice", "sess-1")
    assert t["observation_count"] == 3
    assert t["input_tokens"] == 2000 and t["output_tokens"] == 400
    # gpt-4o-mini from the built-in table: 1000 in + 200 out per call, two calls
    assert t["total_cost"] == pytest.approx(2 * (1000 * 0.15e-6 + 200 * 0.6e-6))
    [root] = t["observations"]
    gens = root["children"]
    assert [g["type"] for g in gens] == ["generation", "generation"]
    assert gens[0]["model"] == "gpt-4o-mini"
    assert gens[0]["cost_source"] == "computed"


def test_json_export_and_langfuse_path(client: TestClient) -> None:
    tid, spans = genai_trace()
    r = client.post(
        "/api/public/otel/v1/traces",
        content=otlp_json(request(spans)),
        headers={"Content-Type": "application/json"},
    )
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == "application/json"
    assert client.get(f"/api/traces/{tid.hex()}").json()["observation_count"] == 3


def test_gzip_and_basic_auth(client: TestClient) -> None:
    tid, spans = genai_trace()
    basic = base64.b64encode(f"{PUBLIC_KEY}:{SECRET_KEY}".encode()).decode()
    r = client.post(
        "/api/public/otel/v1/traces",
        content=gzip.compress(request(spans).SerializeToString()),
        headers={**PB, "Content-Encoding": "gzip", "Authorization": f"Basic {basic}"},
    )
    assert r.status_code == 200, r.text
    assert client.get(f"/api/traces/{tid.hex()}").status_code == 200


def test_partial_success_reports_rejected_spans(client: TestClient) -> None:
    tid = new_trace_id()
    good = span(tid, new_span_id(), "good")
    bad = span(tid, b"\x01\x02", "bad-id")  # span id must be 8 bytes
    r = client.post("/v1/traces", content=request([good, bad]).SerializeToString(), headers=PB)
    assert r.status_code == 200
    resp = ExportTraceServiceResponse.FromString(r.content)
    assert resp.partial_success.rejected_spans == 1
    assert "span" in resp.partial_success.error_message.lower()
    assert client.get(f"/api/traces/{tid.hex()}").json()["observation_count"] == 1


def test_resend_and_update_merge(client: TestClient) -> None:
    tid, sid = new_trace_id(), new_span_id()
    first = span(tid, sid, "work", attributes={"input.value": "question"})
    for _ in range(3):
        client.post("/v1/traces", content=request([first]).SerializeToString(), headers=PB)
    later = span(tid, sid, "work", duration_ms=750, attributes={"output.value": "answer"})
    client.post("/v1/traces", content=request([later]).SerializeToString(), headers=PB)
    t = client.get(f"/api/traces/{tid.hex()}").json()
    assert t["observation_count"] == 1
    [o] = t["observations"]
    assert (o["input"], o["output"]) == ("question", "answer")
    assert o["latency_ms"] == pytest.approx(750)


def test_client_cost_wins_and_unpriced_models_are_listed(client: TestClient) -> None:
    tid = new_trace_id()
    spans = [
        span(
            tid,
            new_span_id(),
            "priced-by-client",
            attributes={
                "langfuse.observation.type": "generation",
                "langfuse.observation.model.name": "gpt-4o",
                "langfuse.observation.usage_details": '{"input": 10, "output": 10}',
                "langfuse.observation.cost_details": '{"input": 1.5, "output": 2.5}',
            },
        ),
        span(
            tid,
            new_span_id(),
            "mystery",
            attributes={
                "gen_ai.operation.name": "chat",
                "gen_ai.request.model": "acme-private-llm-7",
                "gen_ai.usage.input_tokens": 50,
                "gen_ai.usage.output_tokens": 5,
            },
        ),
    ]
    client.post("/v1/traces", content=request(spans).SerializeToString(), headers=PB)
    t = client.get(f"/api/traces/{tid.hex()}").json()
    by_name = {o["name"]: o for o in t["observations"]}
    assert by_name["priced-by-client"]["total_cost"] == pytest.approx(4.0)
    assert by_name["priced-by-client"]["cost_source"] == "client"
    assert by_name["mystery"]["total_cost"] is None
    unpriced = client.get("/api/models/unpriced").json()["data"]
    assert [m["model"] for m in unpriced] == ["acme-private-llm-7"]
    assert unpriced[0]["observations"] == 1


def test_project_price_override_applies_to_new_spans(client: TestClient) -> None:
    entry = {
        "id": "acme-llm",
        "model_name": "acme-private-llm-7",
        "match_pattern": "(?i)^acme-private-llm-7$",
        "prices": {"input": 0.001, "output": 0.002},
    }
    r = client.post("/api/models", json=entry)
    assert r.status_code == 201, r.text
    tid = new_trace_id()
    s = span(
        tid,
        new_span_id(),
        "chat",
        attributes={
            "gen_ai.operation.name": "chat",
            "gen_ai.request.model": "acme-private-llm-7",
            "gen_ai.usage.input_tokens": 100,
            "gen_ai.usage.output_tokens": 10,
        },
    )
    client.post("/v1/traces", content=request([s]).SerializeToString(), headers=PB)
    t = client.get(f"/api/traces/{tid.hex()}").json()
    assert t["total_cost"] == pytest.approx(100 * 0.001 + 10 * 0.002)
    models = client.get("/api/models").json()["data"]
    assert models[0]["id"] == "acme-llm" and models[0]["source"] == "project"
    assert any(m["source"] == "builtin" for m in models)
    assert client.delete("/api/models/acme-llm").status_code == 204
    assert client.delete("/api/models/acme-llm").status_code == 404
    bad = client.post("/api/models", json={**entry, "match_pattern": "("})
    assert bad.status_code == 400 and "price entry" in bad.json()["error"]["message"]


def test_resource_release_and_environment(client: TestClient) -> None:
    tid = new_trace_id()
    req = request(
        [span(tid, new_span_id(), "root")],
        resource={"service.version": "2.3.1", "deployment.environment.name": "staging"},
    )
    client.post("/v1/traces", content=req.SerializeToString(), headers=PB)
    t = client.get(f"/api/traces/{tid.hex()}").json()
    assert (t["release"], t["environment"]) == ("2.3.1", "staging")


def test_error_status_marks_trace(client: TestClient) -> None:
    tid = new_trace_id()
    s = span(tid, new_span_id(), "call-llm", error="rate limited (429)")
    client.post("/v1/traces", content=request([s]).SerializeToString(), headers=PB)
    t = client.get(f"/api/traces/{tid.hex()}").json()
    assert t["level"] == "ERROR" and t["error_count"] == 1
    assert t["observations"][0]["status_message"] == "rate limited (429)"


def test_large_inputs_are_truncated_with_a_marker(tmp_path) -> None:
    from heron.server.app import create_app
    from tests.conftest import make_settings
    from tests.support.server import SECRET_KEY

    with TestClient(
        create_app(make_settings(tmp_path, max_io_bytes=1000)), headers=CONSISTENT
    ) as c:
        c.headers["Authorization"] = f"Bearer {SECRET_KEY}"
        tid = new_trace_id()
        s = span(tid, new_span_id(), "big", attributes={"input.value": "é" * 3000,
                                                        "output.value": "short"})  # fmt: skip
        c.post("/v1/traces", content=request([s]).SerializeToString(), headers=PB)
        [o] = c.get(f"/api/traces/{tid.hex()}").json()["observations"]
        assert o["input"].startswith("é" * 400)
        assert "truncated by heron: 6,000 bytes, limit 1,000" in o["input"]
        assert len(o["input"].encode()) < 1100
        assert o["output"] == "short"
        listed = c.get("/api/observations").json()["data"][0]
        assert "input" not in listed and "output" not in listed
