"""Hostile numbers, times, nesting and sizes over the real ingest path: every request is
answered 4xx or acknowledged, and what was acknowledged is stored and readable everywhere."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from heron.ingest.limits import MAX_TOKENS
from heron.model import ObservationRecord
from heron.store import EmbeddedStore
from tests.ingest.test_limits import _json_body_with_value, deep_protobuf, json_deep
from tests.server.ingest_checks import (
    PB,
    check_readable,
    get_ok,
    open_app,
    post_json,
    post_protobuf,
    rejected_spans,
)
from tests.support.otlp import T0_NS, new_span_id, new_trace_id, request, span
from tests.support.server import HeronProcess

I64_MAX = 2**63 - 1


@pytest.fixture(scope="module")
def c(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    limits = {"max_request_spans": 20, "max_metadata_bytes": 100_000}
    with open_app(tmp_path_factory.mktemp("limits"), **limits) as client:
        yield client


def post_spans(c: TestClient, *spans: Any) -> tuple[int, str]:
    r = post_protobuf(c, request(list(spans)).SerializeToString())
    assert r.status_code == 200, r.text
    return rejected_spans(r)


def generation(trace_id: bytes, attrs: dict[str, Any], parent: bytes | None = None) -> Any:
    return span(
        trace_id, new_span_id(), "chat", parent=parent, attributes={"gen_ai.operation.name":
        "chat", "gen_ai.request.model": "gpt-4o-mini", **attrs},
    )  # fmt: skip


def test_two_generations_of_2_62_tokens_are_both_stored_and_summed(c: TestClient) -> None:
    tid = new_trace_id()
    root = span(tid, new_span_id(), "root")
    huge = {"gen_ai.usage.input_tokens": 2**62, "gen_ai.usage.output_tokens": 2**62}
    gens = [generation(tid, huge, root.span_id) for _ in range(2)]
    rejected, message = post_spans(c, root, *gens)
    assert rejected == 0 and "is over 1,000,000,000" in message
    check_readable(c, {tid.hex(): {s.span_id.hex() for s in (root, *gens)}})
    trace = get_ok(c, f"/api/traces/{tid.hex()}").json()
    assert trace["input_tokens"] == 2 * MAX_TOKENS
    assert trace["total_tokens"] == 2 * MAX_TOKENS


def test_max_int64_tokens_are_acknowledged_and_readable(c: TestClient) -> None:
    tid = new_trace_id()
    g = generation(tid, {"gen_ai.usage.input_tokens": I64_MAX, "gen_ai.usage.output_tokens": 1})
    post_spans(c, g)
    check_readable(c, {tid.hex(): {g.span_id.hex()}})
    [obs] = get_ok(c, f"/api/traces/{tid.hex()}").json()["observations"]
    assert obs["usage"] == {"input": MAX_TOKENS, "output": 1, "total": MAX_TOKENS}


@pytest.mark.parametrize(
    "attrs",
    [
        {"gen_ai.response.time_to_first_chunk": 9e12},
        {"gen_ai.response.time_to_first_chunk": float("inf")},
        {"langfuse.observation.completion_start_time": "0001-01-01T00:00:00Z"},
        {"langfuse.observation.completion_start_time": "9999-12-31T23:59:59+01:00"},
        {"langfuse.observation.prompt.version": 2**40},
        {"langfuse.observation.cost_details": json.dumps({"input": 1e308, "output": 1e308})},
    ],
    ids=["ttfc-9e12", "ttfc-inf", "year-1", "year-9999", "prompt-version-2^40", "cost-1e308"],
)
def test_poison_values_are_stored_and_every_read_still_answers(
    c: TestClient, attrs: dict[str, Any]
) -> None:
    tid = new_trace_id()
    g = generation(tid, attrs)
    rejected, message = post_spans(c, g)
    assert rejected == 0 and message  # the correction is noted
    check_readable(c, {tid.hex(): {g.span_id.hex()}})
    [obs] = get_ok(c, f"/api/traces/{tid.hex()}").json()["observations"]
    assert obs["completion_start_time"] is None and obs["prompt_version"] is None


def test_json_infinity_time_to_first_chunk_is_readable(c: TestClient) -> None:
    tid, sid = new_trace_id().hex(), new_span_id().hex()
    body = {
        "resourceSpans": [{"scopeSpans": [{"spans": [{
            "traceId": tid, "spanId": sid, "name": "chat",
            "startTimeUnixNano": str(T0_NS), "endTimeUnixNano": str(T0_NS + 10**9),
            "attributes": [{"key": "gen_ai.response.time_to_first_chunk",
                            "value": {"doubleValue": "Infinity"}}],
        }]}]}]
    }  # fmt: skip
    r = post_json(c, json.dumps(body).encode())
    assert r.status_code == 200 and rejected_spans(r)[0] == 0
    check_readable(c, {tid: {sid}})


def test_json_attribute_nested_300_deep_is_stored_cut(c: TestClient) -> None:
    r = post_json(c, _json_body_with_value(json_deep(300, "array")))
    assert r.status_code == 200, r.text
    check_readable(c, {"0af7651916cd43dd8448eb211c80319c": {"b7ad6b7169203331"}})


def test_protobuf_attribute_nested_300_deep_is_a_400_naming_the_limit(c: TestClient) -> None:
    r = post_protobuf(c, deep_protobuf(300))
    assert r.status_code == 400
    assert b"nested deeper than the parser's limit of 100 levels" in r.content
    get_ok(c, "/api/observations")


def test_more_spans_than_the_request_limit_is_a_413_naming_it(c: TestClient) -> None:
    tid = new_trace_id()
    spans = [span(tid, new_span_id(), f"s{i}") for i in range(21)]
    r = post_protobuf(c, request(spans).SerializeToString())
    assert r.status_code == 413
    assert b"21 spans, over the limit of 20 per request (HERON_MAX_REQUEST_SPANS)" in r.content
    assert c.get(f"/api/traces/{tid.hex()}", params={"consistent": "true"}).status_code == 404


def test_large_metadata_is_truncated_and_noted(c: TestClient) -> None:
    tid = new_trace_id()
    s = span(tid, new_span_id(), "big", attributes={f"k{i}": "x" * 40_000 for i in range(5)})
    rejected, message = post_spans(c, s)
    assert rejected == 0 and "is over 100,000" in message
    [obs] = get_ok(c, f"/api/traces/{tid.hex()}").json()["observations"]
    assert len(json.dumps(obs["metadata"])) <= 100_000


def test_spans_whose_parents_form_a_cycle_are_all_in_the_tree(c: TestClient) -> None:
    tid = new_trace_id()
    a, b, d, e = (new_span_id() for _ in range(4))
    spans = [span(tid, a, "a", parent=b), span(tid, b, "b", parent=a),
             span(tid, d, "d", parent=d), span(tid, e, "e", parent=a)]  # fmt: skip
    post_spans(c, *spans)
    check_readable(c, {tid.hex(): {x.hex() for x in (a, b, d, e)}})


# ---- scores -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("score", "message"),
    [
        ({"value": "x" * 9_000_000}, "value: longer than 100000 characters"),
        ({"value": 1, "stringValue": "x" * 200_000}, "stringValue: longer than 100000"),
        ({"value": 1, "comment": "x" * 9_000_000}, "comment: longer than 100000 characters"),
        ({"value": 1, "metadata": {"a": "x" * 3_000_000}}, "over the limit of 100,000"),
        ({"value": 1, "metadata": json.loads('{"a": ' * 300 + "1" + "}" * 300)}, "nested"),
        ({"value": 1, "timestamp": "0001-01-01T00:00:00+01:00"}, "outside 1970-01-01"),
        ({"value": 1, "timestamp": "9999-01-01T00:00:00Z"}, "outside 1970-01-01"),
    ],
    ids=["value-9MB", "string-value", "comment-9MB", "metadata", "deep-metadata", "y1", "y9999"],
)
def test_oversized_or_out_of_range_scores_are_400s_naming_the_limit(
    c: TestClient, score: dict[str, Any], message: str
) -> None:
    body = {"name": "quality", "traceId": new_trace_id().hex(), **score}
    for path in ("/api/scores", "/api/public/scores"):
        r = c.post(path, content=json.dumps(body))
        assert r.status_code == 400, r.text[:300]
        assert message in r.text


# ---- stored before the fix ----------------------------------------------------------------------


def test_a_completion_start_stored_out_of_range_reads_as_absent(tmp_path: Path) -> None:
    """A database written before ingest range-checked completion start times."""
    data = tmp_path / "data"
    data.mkdir()
    store = EmbeddedStore(data / "heron.duckdb")
    project = store.create_project("test")
    tid, sid = os.urandom(16).hex(), os.urandom(8).hex()
    start_us = T0_NS // 1000
    poisoned = ObservationRecord(
        project["id"], sid, tid, None, "generation", "chat", start_us, start_us + 1000,
        completion_start_us=9 * 10**18,
    )  # fmt: skip
    store.write_batch([poisoned], [])
    store.close()
    with open_app(tmp_path) as app:
        check_readable(app, {tid: {sid}})
        [obs] = get_ok(app, f"/api/traces/{tid}").json()["observations"]
        assert obs["completion_start_time"] is None


# ---- worker processes ---------------------------------------------------------------------------


def test_limits_reach_the_decoder_processes(tmp_path: Path) -> None:
    """A real `heron serve` (decoding in worker processes, a large request split among them)
    applies the configured limits."""
    env = {"HERON_MAX_REQUEST_SPANS": "100", "HERON_MAX_ATTRIBUTE_BYTES": "1000",
           "HERON_INGEST_WORKERS": "2"}  # fmt: skip
    server = HeronProcess(tmp_path / "data", env=env).start()
    try:
        tid = new_trace_id()
        big = {"note": "x" * 5000, "gen_ai.usage.input_tokens": 2**62}
        spans = [span(tid, new_span_id(), f"s{i}", attributes=big) for i in range(101)]
        with httpx.Client(base_url=server.url, headers=server.auth, timeout=30) as http:
            r = http.post("/v1/traces", content=request(spans).SerializeToString(), headers=PB)
            assert r.status_code == 413 and b"over the limit of 100 per request" in r.content
            body = request(spans[:100]).SerializeToString()
            assert len(body) > 64 * 1024  # shared among the workers
            r = http.post("/v1/traces", content=body, headers=PB)
            assert r.status_code == 200
            trace = http.get(f"/api/traces/{tid.hex()}", params={"consistent": "true"}).json()
        assert len(trace["observations"]) == 100
        for obs in trace["observations"]:
            assert "truncated by heron: 5,000 bytes, limit 1,000" in obs["metadata"]["note"]
            assert obs["usage"]["input"] == MAX_TOKENS
    finally:
        server.stop()
