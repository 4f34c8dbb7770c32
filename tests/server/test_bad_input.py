"""Hostile and malformed requests get a clear 4xx naming the problem, never a 500."""

from __future__ import annotations

import gzip
import random
import secrets
import zlib
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from google.rpc import status_pb2
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceResponse

from heron.server.app import create_app
from tests.conftest import make_settings
from tests.support.otlp import genai_trace, new_span_id, new_trace_id, request, span
from tests.support.server import SECRET_KEY

SHARE_APP = True  # one app for the module, a project per test (conftest.client)
PB = {"Content-Type": "application/x-protobuf"}


def status_message(r) -> str:
    if r.headers["content-type"].startswith("application/x-protobuf"):
        return status_pb2.Status.FromString(r.content).message
    body = r.json()
    return body.get("message") or body["error"]["message"]


def test_malformed_protobuf_is_400(client: TestClient) -> None:
    r = client.post("/v1/traces", content=b"\xff\xff\xff\xffnot protobuf", headers=PB)
    assert r.status_code == 400
    assert "protobuf" in status_message(r).lower()


def test_malformed_json_is_400(client: TestClient) -> None:
    r = client.post(
        "/v1/traces", content=b'{"resourceSpans": [', headers={"Content-Type": "application/json"}
    )
    assert r.status_code == 400
    assert "json" in status_message(r).lower()


def test_wrong_content_type_is_415(client: TestClient) -> None:
    r = client.post("/v1/traces", content=b"hello", headers={"Content-Type": "text/plain"})
    assert r.status_code == 415
    assert "text/plain" in status_message(r)


def test_unknown_content_encoding_is_415(client: TestClient) -> None:
    r = client.post("/v1/traces", content=b"x", headers={**PB, "Content-Encoding": "br"})
    assert r.status_code == 415 and "br" in status_message(r)


def test_broken_gzip_is_400(client: TestClient) -> None:
    r = client.post(
        "/v1/traces", content=b"\x1f\x8b\x08garbage", headers={**PB, "Content-Encoding": "gzip"}
    )
    assert r.status_code == 400 and "gzip" in status_message(r)


def test_missing_and_wrong_key_are_401(client: TestClient) -> None:
    body = request(genai_trace()[1]).SerializeToString()
    r = client.post("/v1/traces", content=body, headers={**PB, "Authorization": ""})
    assert r.status_code == 401 and "credentials" in status_message(r)
    r = client.post("/v1/traces", content=body, headers={**PB, "Authorization": "Bearer sk-no"})
    assert r.status_code == 401 and "invalid API key" in status_message(r)
    r = client.get("/api/traces", headers={"Authorization": "Basic !!!"})
    assert r.status_code == 401 and "malformed" in r.json()["error"]["message"]
    r = client.get("/api/traces", headers={"Authorization": "Token abc"})
    assert r.status_code == 401


@pytest.fixture(scope="module")
def small_client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    """An app with a 16 KiB body limit, for the module's refused bodies (they change nothing)."""
    settings = make_settings(tmp_path_factory.mktemp("small"), max_body_bytes=16384)
    with TestClient(create_app(settings)) as c:
        c.headers["Authorization"] = f"Bearer {SECRET_KEY}"
        yield c


def test_body_over_limit_is_413(small_client: TestClient) -> None:
    r = small_client.post("/v1/traces", content=b"\0" * 20000, headers=PB)
    assert r.status_code == 413 and "limit" in status_message(r)


def test_gzip_bomb_is_413(small_client: TestClient) -> None:
    bomb = gzip.compress(b"\0" * 10_000_000)
    assert len(bomb) < 16384
    r = small_client.post("/v1/traces", content=bomb, headers={**PB, "Content-Encoding": "gzip"})
    assert r.status_code == 413 and "decompressed" in status_message(r)
    deflated = zlib.compress(b"\0" * 10_000_000)
    r = small_client.post(
        "/v1/traces", content=deflated, headers={**PB, "Content-Encoding": "deflate"}
    )
    assert r.status_code == 413


def test_other_projects_trace_is_404(client: TestClient) -> None:
    tid, spans = genai_trace()
    client.post("/v1/traces", content=request(spans).SerializeToString(), headers=PB)
    st = client.app.state.heron
    other = st.store.create_project(f"other-{secrets.token_hex(4)}")
    key = st.store.create_key(other["id"])
    h = {"Authorization": f"Bearer {key['secret_key']}"}
    r = client.get(f"/api/traces/{tid.hex()}", headers=h)
    assert r.status_code == 404 and "not found" in r.json()["error"]["message"]
    assert client.get("/api/traces", headers=h).json()["data"] == []
    assert client.get("/api/observations", headers=h).json()["data"] == []
    assert client.get("/api/sessions", headers=h).json()["data"] == []
    assert client.get("/api/users", headers=h).json()["data"] == []
    assert client.get(f"/api/traces/{tid.hex()}").status_code == 200


def test_invalid_ids_times_and_types_are_coerced_or_rejected(client: TestClient) -> None:
    tid = new_trace_id()
    spans = [
        span(b"\0" * 16, new_span_id(), "zero-trace-id"),
        span(tid, new_span_id(), "no-start", start_ns=0),
        span(tid, new_span_id(), "far-future", start_ns=2**63),
        span(
            tid,
            new_span_id(),
            "bad-types",
            attributes={
                "gen_ai.operation.name": "chat",
                "gen_ai.request.model": ["not", "a", "string"],
                "gen_ai.usage.input_tokens": "lots",
                "gen_ai.usage.output_tokens": 3.7,
                "session.id": 12345,
            },
        ),
    ]
    spans[3].end_time_unix_nano = spans[3].start_time_unix_nano - 5  # ends before it starts
    r = client.post("/v1/traces", content=request(spans).SerializeToString(), headers=PB)
    assert r.status_code == 200
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
        ExportTraceServiceResponse,
    )

    resp = ExportTraceServiceResponse.FromString(r.content)
    assert resp.partial_success.rejected_spans == 3
    t = client.get(f"/api/traces/{tid.hex()}").json()
    assert t["observation_count"] == 1
    [o] = t["observations"]
    assert o["name"] == "bad-types"
    assert o["end_time"] is None


def test_non_utf8_strings_in_protobuf_are_repaired_not_refused(client: TestClient) -> None:
    tid = new_trace_id()
    req = request([span(tid, new_span_id(), "NAME_PLACEHOLDER", attributes={"k": "VALUE_XX"})])
    raw = (
        req.SerializeToString()
        .replace(b"NAME_PLACEHOLDER", b"bad\xff\xfename_placeh")  # same lengths: valid framing
        .replace(b"VALUE_XX", b"v\xc3(ok...")
    )
    r = client.post("/v1/traces", content=raw, headers=PB)
    assert r.status_code == 200
    resp = ExportTraceServiceResponse.FromString(r.content)
    assert resp.partial_success.rejected_spans == 0
    assert "invalid UTF-8 replaced" in resp.partial_success.error_message
    [o] = client.get(f"/api/traces/{tid.hex()}").json()["observations"]
    assert o["name"] == "bad\ufffd\ufffdname_placeh"
    assert o["metadata"]["k"] == "v\ufffd(ok..."


def test_random_corruption_never_gives_a_server_error(client: TestClient) -> None:
    rng = random.Random(5)
    body = request(genai_trace()[1]).SerializeToString()
    json_body = (
        b'{"resourceSpans":[{"scopeSpans":[{"spans":[{"traceId":"'
        + b"ab" * 16
        + (
            b'","spanId":"'
            + b"cd" * 8
            + b'","name":"x","startTimeUnixNano":"1760000000000000000"}]}]}]}'
        )
    )
    statuses = set()
    for i in range(150):
        data = bytearray(body if i % 3 else json_body)
        for _ in range(rng.randint(1, 6)):
            pos = rng.randrange(len(data))
            choice = rng.random()
            if choice < 0.4:
                data[pos] = rng.randrange(256)
            elif choice < 0.7:
                del data[pos : pos + rng.randint(1, 20)]
            else:
                data[pos:pos] = rng.randbytes(rng.randint(1, 8))
        kind = "application/x-protobuf" if i % 3 else "application/json"
        r = client.post("/v1/traces", content=bytes(data), headers={"Content-Type": kind})
        statuses.add(r.status_code)
        assert r.status_code in (200, 400), (i, r.status_code, r.text[:200])
    assert 400 in statuses


@pytest.mark.parametrize(
    ("path", "message"),
    [
        ("/api/traces?limit=0", "limit"),
        ("/api/traces?limit=abc", "limit"),
        ("/api/traces?order_by=colour.desc", "order_by"),
        ("/api/traces?order_by=latency.sideways", "direction"),
        ("/api/traces?cursor=garbage", "cursor"),
        ("/api/traces?from=last-tuesday", "ISO 8601"),
        ("/api/traces?min_cost=cheap", "min_cost"),
        ('/api/traces?filter=[{"column":"nope","operator":"=","value":1}]', "unknown column"),
        ('/api/traces?filter=[{"column":"name","operator":"like","value":1}]', "operator"),
        ('/api/observations?filter=[{"column":"tags","operator":">","value":1}]', "operator"),
        ("/api/traces/..%2f..%2fetc", "not found"),
    ],
)
def test_bad_query_parameters_are_400(module_client: TestClient, path: str, message: str) -> None:
    client = module_client  # one app for the module's refused requests: they change nothing
    r = client.get(path)
    assert 400 <= r.status_code < 500, r.text
    assert message in r.json()["error"]["message"]


def test_writer_behind_gives_503_with_retry_after(tmp_path) -> None:
    from heron.ingest.decoding import DecodedBatch
    from heron.ingest.journal import Journal
    from heron.ingest.pipeline import WritePipeline
    from heron.store.arrow import observations_table

    with TestClient(create_app(make_settings(tmp_path, queue_spans=3))) as c:
        c.headers["Authorization"] = f"Bearer {SECRET_KEY}"
        st = c.app.state.heron
        running = st.pipeline
        # a writer that has fallen behind: its queue holds spans nobody drains
        stalled = WritePipeline(st.store, Journal(tmp_path / "stalled"), max_queued_spans=3)
        stalled.enqueue(DecodedBatch(observations_table([], 0), [], 0, []))
        st.pipeline = stalled
        try:
            r = c.post(
                "/v1/traces", content=request(genai_trace()[1]).SerializeToString(), headers=PB
            )
        finally:
            st.pipeline = running
        assert r.status_code == 503
        assert r.headers["Retry-After"] == "1"
        assert "queue is full" in status_message(r)
        # once the writer keeps up again the same request is accepted
        ok = c.post("/v1/traces", content=request(genai_trace()[1]).SerializeToString(), headers=PB)
        assert ok.status_code == 200
