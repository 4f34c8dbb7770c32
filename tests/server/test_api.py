"""The read API over real ingested data: filters, sort, pagination, sessions, users."""

from __future__ import annotations

import orjson
import pytest
from fastapi.testclient import TestClient

from tests.support.otlp import T0_NS, new_span_id, new_trace_id, request, span

PB = {"Content-Type": "application/x-protobuf"}


@pytest.fixture(scope="module")
def client(module_client: TestClient) -> TestClient:
    """One app: every test only reads the planted traces."""
    return module_client


@pytest.fixture(scope="module")
def seeded(client: TestClient) -> dict[str, dict]:
    """Twelve traces: 3 users, 4 sessions, varied latency, cost, tags, errors, releases."""
    facts: dict[str, dict] = {}
    spans = []
    for i in range(12):
        tid, root = new_trace_id(), new_span_id()
        user, session = f"user-{i % 3}", f"sess-{i % 4}"
        latency = 100 * (i + 1)
        start = T0_NS + i * 60_000_000_000
        tags = ["billing"] if i % 2 else ["auth", "beta"]
        release = "v1" if i < 6 else "v2"
        model = "gpt-4o" if i % 3 else "gpt-4o-mini"
        spans.append(
            span(
                tid,
                root,
                "support-chat" if i % 4 else "kb-search",
                start_ns=start,
                duration_ms=latency,
                error="boom" if i == 5 else None,
                attributes={
                    "user.id": user,
                    "session.id": session,
                    "langfuse.trace.tags": tags,
                    "langfuse.release": release,
                    "langfuse.environment": "production",
                    "langfuse.trace.metadata.plan": "pro" if i < 4 else "free",
                    "input.value": f"question number {i}",
                },
            )
        )
        spans.append(
            span(
                tid,
                new_span_id(),
                f"chat {model}",
                parent=root,
                start_ns=start + 1000,
                duration_ms=latency / 2,
                attributes={
                    "gen_ai.operation.name": "chat",
                    "gen_ai.request.model": model,
                    "gen_ai.usage.input_tokens": 100 * (i + 1),
                    "gen_ai.usage.output_tokens": 10,
                    "output.value": f"answer about widget-{i}",
                },
            )
        )
        facts[tid.hex()] = {
            "i": i,
            "user": user,
            "session": session,
            "latency": latency,
            "release": release,
            "model": model,
        }
    r = client.post("/v1/traces", content=request(spans).SerializeToString(), headers=PB)
    assert r.status_code == 200
    return facts


def fetch(client: TestClient, seeded: dict, path: str) -> list[int]:
    r = client.get(path)
    assert r.status_code == 200, r.text
    return [seeded[t["id"]]["i"] for t in r.json()["data"]]


def test_default_order_is_newest_first(client: TestClient, seeded: dict) -> None:
    assert fetch(client, seeded, "/api/traces") == list(range(11, -1, -1))


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("user_id=user-1", [10, 7, 4, 1]),
        ("session_id=sess-0", [8, 4, 0]),
        ("name=kb-search", [8, 4, 0]),
        ("tags=auth&tags=beta", [10, 8, 6, 4, 2, 0]),
        ("tags=billing&release=v1", [5, 3, 1]),
        ("release=v2&environment=production", [11, 10, 9, 8, 7, 6]),
        ("level=error", [5]),
        ("has_error=true", [5]),
        ("model=gpt-4o-mini", [9, 6, 3, 0]),
        ("min_latency_ms=1000&max_latency_ms=1100", [10, 9]),
        ("from=2025-10-09T09:00:00Z&to=2025-10-09T09:02:00Z", [8, 7]),
        ("search=WIDGET-7", [7]),
        ("search=question number 3", [3]),
        ('filter=[{"column":"metadata.plan","operator":"=","value":"pro"}]', [3, 2, 1, 0]),
        ('filter=[{"column":"input_tokens","operator":">=","value":1100}]', [11, 10]),
    ],
)
def test_list_filters(client: TestClient, seeded: dict, query: str, expected: list[int]) -> None:
    assert fetch(client, seeded, f"/api/traces?{query}") == expected


def test_cost_filter_and_sort(client: TestClient, seeded: dict) -> None:
    by_cost = client.get("/api/traces?order_by=cost.desc&limit=3").json()["data"]
    costs = [t["total_cost"] for t in by_cost]
    assert costs == sorted(costs, reverse=True) and costs[0] > 0
    cheapest = client.get("/api/traces?order_by=cost.asc&limit=1").json()["data"][0]
    n = len(client.get(f"/api/traces?max_cost={cheapest['total_cost']}").json()["data"])
    assert n >= 1
    assert fetch(client, seeded, "/api/traces?order_by=latency.asc&limit=3") == [0, 1, 2]
    assert fetch(client, seeded, "/api/traces?order_by=-latency&limit=2") == [11, 10]


@pytest.mark.parametrize("order", ["timestamp.desc", "latency.asc", "cost.desc", "tokens.asc"])
def test_cursor_pagination_walks_every_row_once(
    client: TestClient, seeded: dict, order: str
) -> None:
    seen: list[int] = []
    cursor = None
    pages = 0
    while True:
        url = f"/api/traces?limit=5&order_by={order}" + (f"&cursor={cursor}" if cursor else "")
        body = client.get(url).json()
        seen += [seeded[t["id"]]["i"] for t in body["data"]]
        cursor = body["next_cursor"]
        pages += 1
        if not cursor:
            break
    assert sorted(seen) == list(range(12)) and pages == 3


def test_observations_list_and_filters(client: TestClient, seeded: dict) -> None:
    body = client.get("/api/observations?limit=100").json()
    assert len(body["data"]) == 24
    assert all("input" not in o and "output" not in o for o in body["data"])
    gens = client.get(
        "/api/observations?filter="
        + orjson.dumps([{"column": "type", "operator": "=", "value": "generation"}]).decode()
        + "&model=gpt-4o-mini"
    ).json()["data"]
    assert len(gens) == 4 and {o["model"] for o in gens} == {"gpt-4o-mini"}
    by_user = client.get("/api/observations?user_id=user-2").json()["data"]
    assert len(by_user) == 8


def test_sessions(client: TestClient, seeded: dict) -> None:
    sessions = client.get("/api/sessions").json()["data"]
    assert [s["id"] for s in sessions] == ["sess-3", "sess-2", "sess-1", "sess-0"]
    s0 = next(s for s in sessions if s["id"] == "sess-0")
    assert s0["trace_count"] == 3 and s0["error_count"] == 0
    detail = client.get("/api/sessions/sess-1").json()
    assert [seeded[t["id"]]["i"] for t in detail["traces"]] == [1, 5, 9]
    assert detail["traces"][0]["input"] == "question number 1"
    assert detail["error_count"] == 1
    assert client.get("/api/sessions/nope").status_code == 404
    page = client.get("/api/sessions?limit=3").json()
    rest = client.get(f"/api/sessions?limit=3&cursor={page['next_cursor']}").json()
    assert [s["id"] for s in rest["data"]] == ["sess-0"] and rest["next_cursor"] is None


def test_users(client: TestClient, seeded: dict) -> None:
    users = {u["id"]: u for u in client.get("/api/users").json()["data"]}
    assert set(users) == {"user-0", "user-1", "user-2"}
    u1 = users["user-1"]
    assert u1["trace_count"] == 4 and u1["session_count"] == 4
    assert u1["input_tokens"] == sum(100 * (i + 1) for i in (1, 4, 7, 10))
    assert u1["total_cost"] > 0


def test_trace_detail_has_tree_and_io(client: TestClient, seeded: dict) -> None:
    tid = next(t for t, f in seeded.items() if f["i"] == 2)
    t = client.get(f"/api/traces/{tid}").json()
    assert t["input"] == "question number 2"
    [root] = t["observations"]
    [child] = root["children"]
    assert child["output"] == "answer about widget-2"
    assert child["usage"] == {"input": 300, "output": 10, "total": 310}
    assert t["scores"] == []


def test_health_and_openapi(client: TestClient) -> None:
    assert client.get("/api/health").json()["status"] == "OK"
    assert client.get("/api/public/health", headers={"Authorization": ""}).status_code == 200
    spec = client.get("/openapi.json").json()
    for path in (
        "/v1/traces",
        "/api/public/otel/v1/traces",
        "/api/traces",
        "/api/traces/{trace_id}",
        "/api/observations",
        "/api/sessions",
        "/api/sessions/{session_id}",
        "/api/users",
        "/api/models",
        "/api/health",
    ):
        assert path in spec["paths"], path
    params = {p["name"] for p in spec["paths"]["/api/traces"]["get"]["parameters"]}
    assert {"from", "to", "filter", "search", "order_by", "limit", "cursor", "tags"} <= params
