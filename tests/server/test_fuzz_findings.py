"""Requests that answered 500 (found by probing and by tests/server/test_openapi_fuzz.py),
kept as regression tests: each is a 400 naming the bad part now."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient


@pytest.mark.parametrize(
    ("path", "params", "names"),
    [
        ("/api/dashboards/default/data", {"fromTimestamp": "0001-01-01T00:00:00Z"}, "from"),
        ("/api/dashboards/default/data", {"toTimestamp": "0001-01-01T00:00:00Z"}, "toTimestamp"),
        ("/api/changes", {"toTimestamp": "0001-01-01T00:00:00Z"}, "toTimestamp"),
    ],
)
def test_windows_reaching_before_year_one_are_400(
    module_client: TestClient, path: str, params: dict[str, str], names: str
) -> None:
    """A dashboard compares with the period before its window; at year 1 there is none."""
    client = module_client  # one app for the module's refused requests: they change nothing
    r = client.get(path, params=params)
    assert r.status_code == 400, r.text
    assert names in r.json()["error"]["message"]


COUNT = {"measure": "count", "aggregation": "count"}
WIDGET = {"title": "t", "type": "number", "query": {"view": "traces", "metrics": [COUNT]}}


@pytest.mark.parametrize(
    ("body", "names"),
    [
        ({"name": "d", "widgets": [{**WIDGET, "id": {"nested": 1}}]}, "id"),
        ({"name": "d", "widgets": [{**WIDGET, "type": ["number"]}]}, "type"),
        ({"name": "d", "date_range": ["24h"], "widgets": []}, "date_range"),
    ],
)
def test_dashboards_with_values_of_the_wrong_json_type_are_400(
    module_client: TestClient, body: dict, names: str
) -> None:
    client = module_client  # one app for the module's refused requests: they change nothing
    for method, path in (("POST", "/api/dashboards"), ("PUT", "/api/dashboards/mine")):
        r = client.request(method, path, json=body)
        assert r.status_code in (400, 404), r.text
        if r.status_code == 400:
            assert names in r.json()["error"]["message"]
    assert client.post("/api/dashboards", json=body).status_code == 400


def test_a_metrics_order_by_field_of_the_wrong_json_type_is_400(client: TestClient) -> None:
    query = {
        "view": "traces",
        "metrics": [COUNT],
        "fromTimestamp": "2025-01-01T00:00:00Z",
        "toTimestamp": "2025-02-01T00:00:00Z",
        "orderBy": [{"field": [1]}],
    }
    r = client.post("/api/metrics", json=query)
    assert r.status_code == 400, r.text
    assert "orderBy[0]" in r.json()["error"]["message"]
