"""On a real ``heron serve`` running the default tasks and the rules task: a signal is
readable within 2 s of its trace's ingest acknowledgement."""

from __future__ import annotations

import time

import httpx
import pytest

from tests.support.otlp import new_span_id, new_trace_id, request, span
from tests.support.server import ServerProject

PB = {"Content-Type": "application/x-protobuf"}


@pytest.fixture
def server(server_project: ServerProject) -> ServerProject:
    """A project of its own on the run's shared server (its default runner work includes
    rules): the issue count below is the project's."""
    return server_project


def test_a_signal_is_visible_within_two_seconds_of_the_ack(server: ServerProject) -> None:
    auth = {"Authorization": server.auth["Authorization"]}  # reads without waiting
    latencies = []
    with httpx.Client(base_url=server.url, timeout=10) as http:
        for n in range(10):
            trace_id, root = new_trace_id(), new_span_id()
            spans = [
                span(trace_id, root, "chat"),
                span(trace_id, new_span_id(), "db", parent=root, error=f"db error {n}"),
            ]
            body = request(spans).SerializeToString()
            r = http.post("/v1/traces", content=body, headers={**auth, **PB})
            assert r.status_code == 200, r.text
            acked = time.monotonic()
            while True:
                found = http.get("/api/signals", params={"traceId": trace_id.hex()}, headers=auth)
                assert found.status_code == 200, found.text
                if found.json()["data"]:
                    latencies.append(time.monotonic() - acked)
                    break
                assert time.monotonic() - acked < 5, server.log()[-3000:]
                time.sleep(0.02)
    latencies.sort()
    assert latencies[int(0.95 * (len(latencies) - 1))] < 2.0, latencies
    issues = httpx.get(server.url + "/api/issues", headers=auth).json()
    assert issues["meta"]["totalItems"] == 1 and issues["data"][0]["count"] == 10
