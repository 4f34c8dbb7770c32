"""The metrics endpoints over real ingested spans: JSON, GET/POST, Langfuse path, CSV, errors."""

from __future__ import annotations

import csv
import io
import json

import orjson
import pytest
from fastapi.testclient import TestClient

from tests.support.otlp import T0_NS, new_span_id, new_trace_id, request, span

PB = {"Content-Type": "application/x-protobuf"}
WINDOW = {"fromTimestamp": "2025-10-08T00:00:00Z", "toTimestamp": "2025-10-11T00:00:00Z"}
LATENCIES = {"gpt-4o": [100, 200, 300, 400], "gpt-4o-mini": [50, 150]}


def ingest(client: TestClient, headers: dict[str, str] | None = None) -> None:
    spans = []
    i = 0
    for model, latencies in LATENCIES.items():
        for latency in latencies:
            spans.append(
                span(
                    new_trace_id(),
                    new_span_id(),
                    f"chat {model}",
                    start_ns=T0_NS + i * 60_000_000_000,
                    duration_ms=latency,
                    error="boom" if i == 0 else None,
                    attributes={
                        "gen_ai.operation.name": "chat",
                        "gen_ai.request.model": model,
                        "gen_ai.usage.input_tokens": 100,
                        "gen_ai.usage.output_tokens": 10,
                        "user.id": f"user-{i % 2}",
                    },
                )
            )
            i += 1
    r = client.post(
        "/v1/traces", content=request(spans).SerializeToString(), headers={**PB, **(headers or {})}
    )
    assert r.status_code == 200, r.text


@pytest.fixture(scope="module")
def seeded(module_client: TestClient) -> TestClient:
    """The module's app with the spans planted once: the tests read them, and the one that
    writes writes into another project."""
    ingest(module_client)
    return module_client


LATENCY_BY_MODEL = {
    **WINDOW,
    "view": "observations",
    "dimensions": [{"field": "model"}],
    "metrics": [
        {"measure": "count", "aggregation": "count"},
        {"measure": "latency", "aggregation": "p50"},
        {"measure": "latency", "aggregation": "p95"},
    ],
}


def test_post_get_and_langfuse_path_agree(seeded: TestClient) -> None:
    r = seeded.post("/api/metrics", json=LATENCY_BY_MODEL)
    assert r.status_code == 200, r.text
    rows = r.json()["data"]
    assert rows == [
        {"model": "gpt-4o", "count_count": 4, "p50_latency": 250.0, "p95_latency": 385.0},
        {"model": "gpt-4o-mini", "count_count": 2, "p50_latency": 100.0, "p95_latency": 145.0},
    ]
    q = orjson.dumps(LATENCY_BY_MODEL).decode()
    assert seeded.get("/api/metrics", params={"query": q}).json()["data"] == rows
    assert seeded.get("/api/public/v2/metrics", params={"query": q}).json() == {"data": rows}


def test_count_by_day_error_rate_and_uniq_users(seeded: TestClient) -> None:
    query = {
        **WINDOW,
        "view": "traces",
        "metrics": [
            {"measure": "count", "aggregation": "count"},
            {"measure": "error_rate", "aggregation": "avg"},
            {"measure": "user_id", "aggregation": "uniq"},
        ],
        "timeDimension": {"granularity": "day"},
    }
    rows = seeded.post("/api/metrics", json=query).json()["data"]
    assert [r["time_dimension"] for r in rows] == [
        "2025-10-08T00:00:00Z",
        "2025-10-09T00:00:00Z",
        "2025-10-10T00:00:00Z",
    ]
    assert [r["count_count"] for r in rows] == [0, 6, 0]
    assert rows[0]["avg_error_rate"] is None and rows[0]["uniq_user_id"] == 0
    assert rows[1]["avg_error_rate"] == pytest.approx(1 / 6) and rows[1]["uniq_user_id"] == 2


def test_filters_apply(seeded: TestClient) -> None:
    query = {
        **LATENCY_BY_MODEL,
        "filters": [{"column": "latency_ms", "operator": ">=", "value": 200}],
    }
    rows = seeded.post("/api/metrics", json=query).json()["data"]
    assert [(r["model"], r["count_count"]) for r in rows] == [("gpt-4o", 3)]


def test_csv(seeded: TestClient) -> None:
    r = seeded.post("/api/metrics?format=csv", json=LATENCY_BY_MODEL)
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
    assert r.text.splitlines() == [
        "model,count_count,p50_latency,p95_latency",
        "gpt-4o,4,250.0,385.0",
        "gpt-4o-mini,2,100.0,145.0",
    ]


def test_histogram_in_json_and_csv(seeded: TestClient) -> None:
    query = {
        **LATENCY_BY_MODEL,
        "dimensions": [],
        "metrics": [{"measure": "latency", "aggregation": "histogram"}],
        "config": {"bins": 2},
    }
    (row,) = seeded.post("/api/metrics", json=query).json()["data"]
    bins = row["histogram_latency"]
    assert len(bins) == 2 and sum(n for _, _, n in bins) == 6
    assert bins[0][1] == bins[1][0] and bins[0][0] < bins[1][1]
    csv_text = seeded.post("/api/metrics?format=csv", json=query).text
    assert json.loads(csv.DictReader(io.StringIO(csv_text)).__next__()["histogram_latency"]) == bins


def test_openapi_documents_the_query_and_result(seeded: TestClient) -> None:
    spec = seeded.get("/openapi.json").json()
    post = spec["paths"]["/api/metrics"]["post"]
    body = post["requestBody"]["content"]["application/json"]["schema"]
    assert {"view", "metrics", "fromTimestamp", "toTimestamp"} <= set(body["required"])
    assert "histogram" in str(body)
    ok = post["responses"]["200"]["content"]
    assert "data" in ok["application/json"]["schema"]["properties"] and "text/csv" in ok


@pytest.mark.parametrize(
    ("patch", "part"),
    [
        ({"view": "spans"}, "view"),
        ({"metrics": [{"measure": "nope", "aggregation": "sum"}]}, "measure"),
        ({"metrics": [{"measure": "latency", "aggregation": "median"}]}, "aggregation"),
        ({"dimensions": [{"field": "colour"}]}, "dimension"),
        ({"dimensions": [{"field": "id"}]}, "row_limit"),
        ({"timeDimension": {"granularity": "fortnight"}}, "granularity"),
        ({"toTimestamp": "not a time"}, "toTimestamp"),
        ({"fromTimestamp": "2025-10-12T00:00:00Z"}, "fromTimestamp"),
    ],
)
def test_invalid_queries_are_400_naming_the_part(
    seeded: TestClient, patch: dict, part: str
) -> None:
    r = seeded.post("/api/metrics", json={**LATENCY_BY_MODEL, **patch})
    assert r.status_code == 400, r.text
    assert part in r.json()["error"]["message"]


def test_bad_json_missing_query_and_bad_format(seeded: TestClient) -> None:
    assert seeded.get("/api/metrics", params={"query": "{nope"}).status_code == 400
    assert seeded.get("/api/metrics").status_code == 400
    r = seeded.post("/api/metrics?format=xml", json=LATENCY_BY_MODEL)
    assert r.status_code == 400 and "format" in r.json()["error"]["message"]


def test_auth_and_project_scoping(seeded: TestClient) -> None:
    st = seeded.app.state.heron
    other = st.store.create_key(st.store.create_project("other")["id"])
    h = {"Authorization": f"Bearer {other['secret_key']}"}
    assert seeded.post("/api/metrics", json=LATENCY_BY_MODEL, headers=h).json()["data"] == []
    ingest(seeded, h)  # the other project's spans do not change this project's numbers
    rows = seeded.post("/api/metrics", json=LATENCY_BY_MODEL).json()["data"]
    assert [r["count_count"] for r in rows] == [4, 2]
    bad = {"Authorization": "Bearer nope"}
    assert seeded.post("/api/metrics", json=LATENCY_BY_MODEL, headers=bad).status_code == 401
