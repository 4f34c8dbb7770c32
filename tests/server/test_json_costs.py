"""Costs in JSON answers are rounded to 12 significant digits (no float sum noise)."""

from __future__ import annotations

import orjson
from fastapi.testclient import TestClient

from heron.server.responses import round_costs
from tests.support.otlp import new_span_id, new_trace_id, request, span

PB = {"Content-Type": "application/x-protobuf"}


def test_summed_costs_read_back_rounded(client: TestClient) -> None:
    assert 0.1 + 0.2 == 0.30000000000000004  # the noise this is about
    tid, root = new_trace_id(), new_span_id()
    spans = [
        span(
            tid,
            root,
            "chat",
            attributes={"user.id": "u1", "langfuse.trace.metadata.cost": 0.1 + 0.2},
        )
    ]
    for cost in (0.1, 0.2):
        spans.append(
            span(
                tid,
                new_span_id(),
                "chat gpt-4o",
                parent=root,
                attributes={
                    "gen_ai.operation.name": "chat",
                    "gen_ai.request.model": "gpt-4o",
                    "gen_ai.usage.cost": cost,
                },
            )
        )
    r = client.post("/v1/traces", content=request(spans).SerializeToString(), headers=PB)
    assert r.status_code == 200
    q = "consistent=true"
    trace = client.get(f"/api/traces/{tid.hex()}?{q}").json()
    assert trace["total_cost"] == 0.3
    assert b"0.30000000000000004" not in client.get(f"/api/traces?{q}").content
    assert client.get(f"/api/traces?{q}").json()["data"][0]["total_cost"] == 0.3
    # user data is sent back as stored, not rounded
    root_metadata = next(o["metadata"] for o in trace["observations"] if o["id"] == root.hex())
    assert root_metadata["langfuse.trace.metadata.cost"] == 0.30000000000000004
    users = client.get(f"/api/users?{q}").json()["data"]
    assert [u["total_cost"] for u in users] == [0.3]
    query = {
        "view": "traces",
        "metrics": [{"measure": "totalCost", "aggregation": "sum"}],
        "fromTimestamp": "2000-01-01T00:00:00Z",
        "toTimestamp": "2100-01-01T00:00:00Z",
    }
    got = client.get("/api/public/v2/metrics", params={"query": orjson.dumps(query).decode()})
    assert got.status_code == 200, got.text
    assert got.json()["data"][0]["sum_totalCost"] == 0.3


def test_round_costs_touches_cost_keys_only() -> None:
    body = {
        "data": [{"total_cost": 0.00035999999999999997, "latency": 0.30000000000000004}],
        "cost": {"input": 0.1 + 0.2},
        "sum_totalCost": 1 / 3,
        "input": {"cost": 0.1 + 0.2},
    }
    assert round_costs(body) == {
        "data": [{"total_cost": 0.00036, "latency": 0.30000000000000004}],
        "cost": {"input": 0.3},
        "sum_totalCost": 0.333333333333,
        "input": {"cost": 0.30000000000000004},
    }
