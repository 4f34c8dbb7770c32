"""POST /api/compare: the answer's shape, the shorthands, project scoping, the OpenAPI
document, and a clear 4xx for every bad request."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.compare.conftest import Demo
from tests.server.test_web_auth import store_of

FIELDS = {"metric", "baseline", "candidate", "difference", "ci_low", "ci_high", "p_value",
          "n_baseline", "n_candidate", "verdict"}  # fmt: skip
VERDICTS = ("better", "worse", "increased", "decreased", "inconclusive", "no_change",
            "insufficient_data")  # fmt: skip
RELEASES = {"field": "release", "baseline_value": "v1.4.0", "candidate_value": "v1.5.0"}


@pytest.fixture(scope="module")
def client(module_client: TestClient) -> TestClient:
    """One app for the requests the API refuses (they change nothing)."""
    return module_client


def test_answer_has_every_field_for_every_metric(demo: Demo) -> None:
    r = demo.client.post("/api/compare", json=RELEASES)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["view"] == "traces"
    assert body["cohorts"]["baseline"]["filters"] == [
        {"column": "release", "operator": "=", "value": "v1.4.0"}
    ]
    names = [m["metric"] for m in body["metrics"]]
    for expected in ("count", "avg_latency", "p50_latency", "p95_latency",
                     "p50_time_to_first_token", "avg_input_tokens", "avg_output_tokens",
                     "avg_total_tokens", "avg_tokens_per_second", "avg_total_cost",
                     "avg_error_count", "error_rate", "scores.user_feedback"):  # fmt: skip
        assert expected in names
    for m in body["metrics"]:
        assert set(m) >= FIELDS, m
        assert m["verdict"] in VERDICTS
        if m["verdict"] != "insufficient_data":
            assert m["ci_low"] <= m["difference"] <= m["ci_high"], m
            assert 0 <= m["p_value"] <= m["p_value_adjusted"] <= 1
    count = body["metrics"][0]
    assert count["n_baseline"] > 0 and count["n_candidate"] > 0


def test_explicit_cohorts_equal_the_field_shorthand(demo: Demo) -> None:
    explicit = {
        "baseline": {"filters": [{"column": "release", "operator": "=", "value": "v1.4.0"}]},
        "candidate": {"filters": [{"column": "release", "operator": "=", "value": "v1.5.0"}]},
    }
    a = demo.client.post("/api/compare", json=explicit).json()["metrics"]
    b = demo.client.post("/api/compare", json=RELEASES).json()["metrics"]
    assert a == b


def test_before_and_after_windows_are_half_open(demo: Demo) -> None:
    r = demo.client.post("/api/compare", json={"at": "2025-10-08T20:53:20Z", "days": 0.5})
    assert r.status_code == 200, r.text
    cohorts = r.json()["cohorts"]
    assert cohorts["baseline"]["fromTimestamp"] == "2025-10-08T08:53:20Z"
    assert cohorts["baseline"]["toTimestamp"] == "2025-10-08T20:53:20Z"
    assert cohorts["candidate"] == {
        "filters": [],
        "fromTimestamp": "2025-10-08T20:53:20Z",
        "toTimestamp": "2025-10-09T08:53:20Z",
    }


def test_observations_view_compares_models(demo: Demo) -> None:
    body = {"view": "observations", "field": "model", "baseline_value": "gpt-4o-mini",
            "candidate_value": "gpt-4o"}  # fmt: skip
    r = demo.client.post("/api/compare", json=body)
    assert r.status_code == 200, r.text
    found = {m["metric"]: m for m in r.json()["metrics"]}
    assert found["count"]["n_baseline"] > 0 and found["count"]["n_candidate"] > 0
    assert "avg_error_count" not in found  # an observation is one error or none


def test_another_project_sees_none_of_the_data(demo: Demo) -> None:
    store = store_of(demo.client)
    other = store.create_project("compare-other")
    key = store.create_key(other["id"])["secret_key"]
    r = demo.client.post("/api/compare", json=RELEASES, headers={"Authorization": f"Bearer {key}"})
    assert r.status_code == 200, r.text
    for m in r.json()["metrics"]:
        assert m["n_baseline"] == 0 and m["n_candidate"] == 0
        assert m["verdict"] == "insufficient_data"


def test_openapi_shows_the_request_and_response_models(client: TestClient) -> None:
    spec = client.get("/openapi.json").json()
    op = spec["paths"]["/api/compare"]["post"]
    request = op["requestBody"]["content"]["application/json"]["schema"]
    assert {"view", "baseline", "candidate", "at", "days", "field"} <= set(request["properties"])
    ref = op["responses"]["200"]["content"]["application/json"]["schema"]["$ref"]
    response = spec["components"]["schemas"][ref.rsplit("/", 1)[1]]
    assert set(response["properties"]) == {"view", "cohorts", "metrics"}


BAD: list[tuple[Any, str]] = [
    ("not json", "invalid JSON"),
    ([1, 2], "expected a JSON object"),
    ({}, "baseline"),
    ({"view": "spans", **RELEASES}, "view"),
    ({"baseline": {"filters": []}}, "candidate: both baseline and candidate are required"),
    ({"baseline": {}, "candidate": {}, "at": "2025-10-01T00:00:00Z"}, "not both"),
    ({"baseline": [], "candidate": {}}, "baseline: expected an object"),
    ({"baseline": {"filters": [{"column": "nope", "operator": "="}]}, "candidate": {}},
     "baseline.filters: unknown column 'nope'"),
    ({"baseline": {"fromTimestamp": "yesterday"}, "candidate": {}}, "baseline.fromTimestamp"),
    ({"baseline": {"fromTimestamp": "2025-10-02", "toTimestamp": "2025-10-01"}, "candidate": {}},
     "must not be after"),
    ({"baseline": {"where": 1}, "candidate": {}}, "baseline.where: unknown field"),
    ({"at": "soon"}, "at: expected an ISO 8601 time"),
    ({"at": "2025-10-01T00:00:00Z", "days": 0}, "days"),
    ({"at": "2025-10-01T00:00:00Z", "days": 1e9}, "days"),
    ({"at": "2025-10-01T00:00:00Z", "days": "7"}, "days"),
    ({"days": 7}, "baseline"),
    ({"field": "release", "baseline_value": "a"}, "candidate_value: required with field"),
    ({"field": "latency_ms", "baseline_value": "fast", "candidate_value": 1}, "baseline_value"),
    ({"field": "no_such", "baseline_value": 1, "candidate_value": 2}, "unknown column"),
    ({**RELEASES, "filters": "[{"}, "filters: filter: invalid JSON"),
    ({**RELEASES, "seed": -1}, "seed"),
    ({**RELEASES, "colour": "red"}, "colour: unknown field"),
]  # fmt: skip


@pytest.mark.parametrize(("body", "message"), BAD)
def test_bad_requests_are_400_naming_the_problem(
    client: TestClient, body: Any, message: str
) -> None:
    r = (
        client.post("/api/compare", content=body)
        if isinstance(body, str)
        else client.post("/api/compare", json=body)
    )
    assert r.status_code == 400, r.text
    assert message in r.json()["error"]["message"]


def test_no_key_is_401_and_a_huge_body_is_413(client: TestClient) -> None:
    r = client.post("/api/compare", json=RELEASES, headers={"Authorization": ""})
    assert r.status_code == 401
    huge = b'{"filters": "' + b"x" * (client.app.state.heron.settings.max_body_bytes + 1) + b'"}'  # type: ignore[attr-defined]
    r = client.post("/api/compare", content=huge)
    assert r.status_code == 413 and "limit" in r.json()["error"]["message"]
