"""The plain OpenTelemetry SDK, GenAI attributes set by hand, exported with gzip in both OTLP/HTTP
encodings (protobuf and JSON) to a real heron process.

A small recording proxy sits between the exporter and heron so that the test knows which
encoding and compression went over the wire."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest
from opentelemetry.exporter.otlp.common.http import Compression as JsonCompression
from opentelemetry.exporter.otlp.json.http.trace_exporter import (
    OTLPSpanExporter as JsonSpanExporter,
)
from opentelemetry.exporter.otlp.proto.http import Compression as ProtoCompression
from opentelemetry.exporter.otlp.proto.http.trace_exporter import (
    OTLPSpanExporter as ProtoSpanExporter,
)
from opentelemetry.sdk.trace.export import SpanExporter
from opentelemetry.trace import Status, StatusCode, set_span_in_context

from tests.clients.heron_api import (
    AUTH_HEADERS,
    as_json,
    flush,
    get_trace,
    hex_span_id,
    hex_trace_id,
    only,
    otlp_provider,
)
from tests.support.server import HeronProcess

GPT_4O_MINI = {"input": 1.5e-07, "cached_input": 7.5e-08, "output": 6e-07}  # USD per token
BIG_INT = 2**53 + 1  # not representable as a double: JSON exporters send 64-bit ints as strings
T0 = time.time_ns() - 60 * 1_000_000_000
MS = 1_000_000  # nanoseconds


class RecordingProxy:
    """Forwards every request to `target` and records its method, path and headers."""

    def __init__(self, target: str) -> None:
        self.target = target
        self.seen: list[dict[str, Any]] = []
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                headers = {
                    k: v
                    for k, v in self.headers.items()
                    if k.lower() not in ("host", "content-length", "connection")
                }
                r = httpx.post(proxy.target + self.path, content=body, headers=headers, timeout=30)
                proxy.seen.append(
                    {
                        "path": self.path,
                        "content-type": self.headers.get("Content-Type"),
                        "content-encoding": self.headers.get("Content-Encoding"),
                        "body-head": body[:2],
                        "status": r.status_code,
                        "response": r.content,
                    }
                )
                self.send_response(r.status_code)
                for key in ("content-type",):
                    if key in r.headers:
                        self.send_header(key, r.headers[key])
                self.send_header("Content-Length", str(len(r.content)))
                self.end_headers()
                self.wfile.write(r.content)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def proxy(live_server: HeronProcess) -> Iterator[RecordingProxy]:
    p = RecordingProxy(live_server.url)
    yield p
    p.close()


def make_exporter(encoding: str, endpoint: str) -> SpanExporter:
    if encoding == "protobuf":
        return ProtoSpanExporter(
            endpoint=endpoint, headers=AUTH_HEADERS, compression=ProtoCompression.Gzip
        )
    return JsonSpanExporter(
        endpoint=endpoint, headers=AUTH_HEADERS, compression=JsonCompression.GZIP
    )


INPUT_MESSAGES = [
    {"role": "user", "parts": [{"type": "text", "content": "Plan a day in Zürich ☀ for 2 people"}]}
]
OUTPUT_MESSAGES = [
    {
        "role": "assistant",
        "parts": [{"type": "text", "content": "Morning: Lindenhof. Afternoon: the lake — 湖."}],
        "finish_reason": "stop",
    }
]
SYSTEM = [{"type": "text", "content": "You are a travel planner."}]


@pytest.mark.parametrize("encoding", ["protobuf", "json"])
def test_genai_spans_by_hand(
    encoding: str, live_server: HeronProcess, proxy: RecordingProxy
) -> None:
    provider = otlp_provider(
        live_server,
        exporter=make_exporter(encoding, proxy.url + "/v1/traces"),
        resource={
            "service.name": "trip-planner",
            "service.version": "2.4.0",
            "deployment.environment.name": "staging",
            "host.name": "builder-1",
        },
    )
    tracer = provider.get_tracer("trip.planner", "0.9.1")
    try:
        root = tracer.start_span("plan-trip", start_time=T0)
        root.set_attribute("user.id", f"user-{encoding}")
        root.set_attribute("session.id", f"session-{encoding}")
        root.set_attribute("app.request_bytes", BIG_INT)
        root.set_attribute("app.score", 0.875)
        root.set_attribute("app.cached", True)
        root.set_attribute("app.ids", [3, 1, 2])
        ctx = set_span_in_context(root)

        gen = tracer.start_span("chat gpt-4o-mini", context=ctx, start_time=T0 + 10 * MS)
        gen.set_attributes(
            {
                "gen_ai.operation.name": "chat",
                "gen_ai.provider.name": "openai",
                "gen_ai.request.model": "gpt-4o-mini",
                "gen_ai.request.temperature": 0.5,
                "gen_ai.request.max_tokens": 256,
                "gen_ai.response.model": "gpt-4o-mini-2024-07-18",
                "gen_ai.response.id": "chatcmpl-123",
                "gen_ai.response.finish_reasons": ["stop"],
                "gen_ai.response.time_to_first_chunk": 0.12,
                "gen_ai.usage.input_tokens": 2048,
                "gen_ai.usage.output_tokens": 300,
                "gen_ai.usage.cache_read.input_tokens": 1024,
                "gen_ai.input.messages": json.dumps(INPUT_MESSAGES, ensure_ascii=False),
                "gen_ai.output.messages": json.dumps(OUTPUT_MESSAGES, ensure_ascii=False),
                "gen_ai.system_instructions": json.dumps(SYSTEM),
            }
        )
        gen.add_event("cache.lookup", {"hit": True, "key": "trip"}, timestamp=T0 + 11 * MS)
        gen.end(end_time=T0 + 1510 * MS)

        tool = tracer.start_span(
            "execute_tool search_flights", context=ctx, start_time=T0 + 1600 * MS
        )
        tool.set_attributes(
            {
                "gen_ai.operation.name": "execute_tool",
                "gen_ai.tool.name": "search_flights",
                "gen_ai.tool.call.id": "call_1",
                "gen_ai.tool.call.arguments": json.dumps({"to": "ZRH"}),
            }
        )
        try:
            raise ConnectionError("flights API unreachable")
        except ConnectionError as exc:
            tool.record_exception(exc, timestamp=T0 + 1700 * MS)
            tool.set_status(Status(StatusCode.ERROR, "flights API unreachable"))
        tool.end(end_time=T0 + 1800 * MS)

        emb = tracer.start_span(
            "embeddings text-embedding-3-small", context=ctx, start_time=T0 + 1900 * MS
        )
        emb.set_attributes(
            {
                "gen_ai.operation.name": "embeddings",
                "gen_ai.request.model": "text-embedding-3-small",
                "gen_ai.usage.input_tokens": 50,
            }
        )
        emb.end(end_time=T0 + 1950 * MS)
        root.end(end_time=T0 + 2000 * MS)
        flush(provider)
    finally:
        provider.shutdown()

    # What went over the wire.
    assert proxy.seen, "nothing exported"
    media = "application/x-protobuf" if encoding == "protobuf" else "application/json"
    for request in proxy.seen:
        assert request["path"] == "/v1/traces"
        assert request["content-type"] == media
        assert request["content-encoding"] == "gzip"
        assert request["body-head"] == b"\x1f\x8b"  # gzip magic
        assert request["status"] == 200
        if encoding == "json":
            assert request["response"] in (b"{}", b"") or "partialSuccess" in json.loads(
                request["response"]
            )

    # What heron stored.
    t = get_trace(live_server, hex_trace_id(root), 4)
    assert t["name"] == "plan-trip"
    assert (t["user_id"], t["session_id"]) == (f"user-{encoding}", f"session-{encoding}")
    assert (t["release"], t["environment"]) == ("2.4.0", "staging")
    assert t["observation_count"] == 4 and t["error_count"] == 1
    assert t["level"] == "ERROR"
    assert t["latency_ms"] == pytest.approx(2000)
    assert (t["input_tokens"], t["output_tokens"]) == (2048 + 50, 300)

    [root_obs] = t["observations"]
    assert root_obs["id"] == hex_span_id(root) and root_obs["type"] == "span"
    assert root_obs["latency_ms"] == pytest.approx(2000)
    meta = root_obs["metadata"]
    assert meta["app.request_bytes"] == BIG_INT
    assert meta["app.score"] == 0.875 and meta["app.cached"] is True
    assert meta["app.ids"] == [3, 1, 2]
    assert meta["scope"] == {"name": "trip.planner", "version": "0.9.1"}
    assert meta["resource"]["service.name"] == "trip-planner"
    assert meta["resource"]["host.name"] == "builder-1"
    assert [c["name"] for c in root_obs["children"]] == [
        "chat gpt-4o-mini",
        "execute_tool search_flights",
        "embeddings text-embedding-3-small",
    ]

    g = only(t, type="generation")
    assert g["parent_id"] == root_obs["id"]
    assert g["model"] == "gpt-4o-mini-2024-07-18"
    assert g["metadata"]["gen_ai.request.model"] == "gpt-4o-mini"
    assert g["metadata"]["gen_ai.response.finish_reasons"] == ["stop"]
    assert g["model_parameters"] == {"temperature": 0.5, "max_tokens": 256}
    assert g["latency_ms"] == pytest.approx(1500)
    assert g["time_to_first_token_ms"] == pytest.approx(120)
    assert g["usage"] == {"input": 2048, "output": 300, "cached_input": 1024, "total": 2348}
    expected = (
        1024 * GPT_4O_MINI["input"]
        + 1024 * GPT_4O_MINI["cached_input"]
        + 300 * GPT_4O_MINI["output"]
    )
    assert g["cost_source"] == "computed"
    assert g["total_cost"] == pytest.approx(expected)
    assert as_json(g["input"]) == [{"role": "system", "parts": SYSTEM}, *INPUT_MESSAGES]
    assert as_json(g["output"]) == OUTPUT_MESSAGES
    [event] = g["metadata"]["events"]
    assert event["name"] == "cache.lookup"
    assert event["attributes"] == {"hit": True, "key": "trip"}
    assert event["time_us"] == (T0 + 11 * MS) // 1000

    tool_obs = only(t, type="tool")
    assert tool_obs["level"] == "ERROR"
    assert tool_obs["status_message"] == "flights API unreachable"
    assert as_json(tool_obs["input"]) == {"to": "ZRH"}
    assert tool_obs["metadata"]["gen_ai.tool.name"] == "search_flights"
    [exc_event] = tool_obs["metadata"]["events"]
    assert exc_event["name"] == "exception"
    assert exc_event["attributes"]["exception.type"] == "ConnectionError"

    emb_obs = only(t, type="embedding")
    assert emb_obs["model"] == "text-embedding-3-small"
    assert emb_obs["usage"]["input"] == 50
    assert emb_obs["total_cost"] == pytest.approx(50 * 2e-08)

    assert t["total_cost"] == pytest.approx(expected + 50 * 2e-08)
