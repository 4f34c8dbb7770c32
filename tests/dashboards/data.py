"""A small workload with known numbers, sent as OTLP: five traces over three days, two
releases, a prompt version change, scores, and (on request) a hostile model name."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

from fastapi.testclient import TestClient
from opentelemetry.proto.trace.v1.trace_pb2 import Span

from tests.support.otlp import request, span

BASE = datetime(2026, 11, 20, 10, 0, tzinfo=UTC)
WINDOW = {"fromTimestamp": "2026-11-19T00:00:00Z", "toTimestamp": "2026-11-26T00:00:00Z"}
HOSTILE_MODEL = "<script>alert(1)</script><b>bold</b>"

# trace id, day, route, user, model, cost, latency ms, error, release, prompt version
TRACES: list[tuple[str, int, str, str, str, float, int, bool, str, int | None]] = [
    ("t1", 0, "support-chat", "alice", "gpt-4o", 0.10, 1000, False, "v1", 3),
    ("t2", 0, "support-chat", "bob", "gpt-4o", 0.20, 2000, True, "v1", 3),
    ("t3", 1, "search", "alice", "gpt-4o-mini", 0.01, 500, False, "v1", None),
    ("t4", 2, "support-chat", "carol", "gpt-4o", 0.30, 3000, False, "v2", 4),
    ("t5", 2, "search", "bob", "gpt-4o-mini", 0.02, 400, False, "v2", None),
]


def trace_id(name: str) -> bytes:
    return name.encode().ljust(16, b"\0")


def start_ns(day: int, minutes: int = 0) -> int:
    return int((BASE + timedelta(days=day, minutes=minutes)).timestamp() * 1e9)


def trace_spans(
    name: str, day: int, route: str, user: str, model: str, cost: float, latency: int,
    error: bool, release: str, prompt: int | None, minutes: int = 0,
) -> list[Span]:  # fmt: skip
    tid = trace_id(name)
    root_id = (name + "root").encode().ljust(8, b"\0")[:8]
    begin = start_ns(day, minutes)
    attributes: dict[str, Any] = {
        "gen_ai.operation.name": "chat",
        "gen_ai.request.model": model,
        "gen_ai.usage.input_tokens": 100,
        "gen_ai.usage.output_tokens": 10,
        "langfuse.observation.cost_details": json.dumps({"total": cost}),
        "langfuse.observation.completion_start_time": datetime.fromtimestamp(
            (begin + 100_000_000) / 1e9, UTC
        ).isoformat(),
    }
    if prompt is not None:
        attributes["langfuse.observation.prompt.name"] = "support-system"
        attributes["langfuse.observation.prompt.version"] = prompt
    return [
        span(tid, root_id, route, start_ns=begin, duration_ms=latency,
             attributes={"user.id": user, "langfuse.release": release}),
        span(tid, (name + "gen").encode().ljust(8, b"\0")[:8], f"chat {model}", parent=root_id,
             start_ns=begin, duration_ms=latency / 2, attributes=attributes,
             error="upstream timeout" if error else None),
    ]  # fmt: skip


def workload_request(hostile: bool = False) -> bytes:
    spans = [s for row in TRACES for s in trace_spans(*row)]
    if hostile:
        spans += trace_spans("t6", 2, "support-chat", "dave", HOSTILE_MODEL, 0.05, 800, False,
                             "v2", None, minutes=5)  # fmt: skip
    return request(spans).SerializeToString()


def scores() -> list[dict[str, Any]]:
    """Numeric helpfulness on t1 (1.0) and t2 (0.0), boolean correct on t4 (true)."""
    when = (BASE + timedelta(minutes=30)).isoformat()
    later = (BASE + timedelta(days=2, minutes=30)).isoformat()
    return [
        {"traceId": trace_id("t1").hex(), "name": "helpfulness", "value": 1.0, "timestamp": when},
        {"traceId": trace_id("t2").hex(), "name": "helpfulness", "value": 0.0, "timestamp": when},
        {"traceId": trace_id("t4").hex(), "name": "correct", "value": True, "dataType": "BOOLEAN",
         "timestamp": later},
    ]  # fmt: skip


def seed(client: TestClient, headers: dict[str, str] | None = None) -> None:
    """Send the workload and its scores through the app, and wait until they are applied."""
    h = headers or {}
    pb = {"Content-Type": "application/x-protobuf", **h}
    r = client.post("/v1/traces", content=workload_request(), headers=pb)
    assert r.status_code == 200, r.text
    r = client.post("/api/scores", json=scores(), headers=h)
    assert r.status_code == 202, r.text
    assert len(client.get("/api/traces", headers=h).json()["data"]) == 5  # waits until applied
