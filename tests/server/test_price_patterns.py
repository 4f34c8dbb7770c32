"""User price patterns cannot stall the server (ReDoS), and bad ones are clear 400s."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import httpx
import pytest
from fastapi.testclient import TestClient

from tests.support.otlp import new_span_id, new_trace_id, request, span
from tests.support.server import HeronProcess

PB = {"Content-Type": "application/x-protobuf"}
EVIL = {
    "id": "evil",
    "model_name": "evil",
    "match_pattern": "^(a+)+$",  # exponential backtracking in Python's re
    "prices": {"input": 1e-6, "output": 2e-6},
}


def chat_span(trace_id: bytes, model: str) -> object:
    return span(
        trace_id,
        new_span_id(),
        "chat",
        attributes={
            "gen_ai.operation.name": "chat",
            "gen_ai.request.model": model,
            "gen_ai.usage.input_tokens": 100,
            "gen_ai.usage.output_tokens": 10,
        },
    )


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[HeronProcess]:
    proc = HeronProcess(tmp_path_factory.mktemp("redos") / "data").start()
    yield proc
    proc.stop()


def test_evil_price_pattern_does_not_freeze_the_server(server: HeronProcess) -> None:
    with httpx.Client(base_url=server.url, headers=server.auth, timeout=10) as http:
        assert http.post("/api/models", json=EVIL).status_code == 201
        evil_trace, priced_trace = new_trace_id(), new_trace_id()
        # a small request: decoded and priced in the server process, not in a worker
        body = request(
            [chat_span(evil_trace, "a" * 32 + "!"), chat_span(priced_trace, "aaaa")]
        ).SerializeToString()
        answers: dict[str, int] = {}

        def ingest() -> None:
            with httpx.Client(headers={**server.auth, **PB}, timeout=30) as other:
                answers["ingest"] = other.post(server.url + "/v1/traces", content=body).status_code

        sender = threading.Thread(target=ingest)
        sender.start()
        time.sleep(0.05)  # the span is being priced now
        started = time.monotonic()
        health = http.get("/api/health", timeout=1)
        assert health.status_code == 200
        assert time.monotonic() - started < 1
        sender.join(10)
        assert answers == {"ingest": 200}
        stored = http.get(f"/api/traces/{evil_trace.hex()}")
        assert stored.status_code == 200, stored.text
        assert stored.json()["total_cost"] is None  # "aaa…!" does not match ^(a+)+$
        priced = http.get(f"/api/traces/{priced_trace.hex()}").json()
        assert priced["total_cost"] == pytest.approx(100 * 1e-6 + 10 * 2e-6)


@pytest.mark.parametrize(
    ("pattern", "named"),
    [("^gpt-4o(?!-mini)", "negative lookahead"), (r"^(a)\1$", "backreferences")],
)
def test_unsupported_pattern_is_a_400_naming_it(
    module_client: TestClient, pattern: str, named: str
) -> None:
    client = module_client  # one app for the module's refused requests: they change nothing
    r = client.post("/api/models", json={**EVIL, "match_pattern": pattern})
    assert r.status_code == 400, r.text
    message = r.json()["error"]["message"]
    assert "match_pattern" in message and named in message


def test_long_pattern_is_a_400(client: TestClient) -> None:
    r = client.post("/api/models", json={**EVIL, "match_pattern": "a" * 5000})
    assert r.status_code == 400 and "at most 1000" in r.json()["error"]["message"]


def test_stored_entry_re2_refuses_is_skipped_not_fatal(client: TestClient) -> None:
    """An entry saved before patterns were checked with RE2 must not break ingest."""
    state = client.app.state.heron  # type: ignore[attr-defined]
    project = next(p["id"] for p in state.store.list_projects() if p["name"] == "test")
    state.store.put_price(project, {**EVIL, "id": "old", "match_pattern": "^acme(?!-x)"})
    assert client.post("/api/models", json={**EVIL, "match_pattern": "^acme"}).status_code == 201
    tid = new_trace_id()
    r = client.post(
        "/v1/traces",
        content=request([chat_span(tid, "acme-7")]).SerializeToString(),
        headers=PB,
    )
    assert r.status_code == 200, r.text
    assert client.get(f"/api/traces/{tid.hex()}").json()["total_cost"] == pytest.approx(1.2e-4)
