"""Metrics over HTTP: time zones DuckDB does not know, queries over the limits (400) and
past the time limit (503), on the real app."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest
from fastapi.testclient import TestClient

from heron.server.app import create_app
from tests.conftest import make_settings
from tests.server.test_web_auth import ADMIN, PASSWORD, login
from tests.store.test_query_limits import FIVE_DAYS, seed
from tests.support.server import SECRET_KEY

DAY = {"fromTimestamp": "2025-01-01T00:00:00Z", "toTimestamp": "2025-01-02T00:00:00Z"}
HOURLY = {
    **DAY,
    "view": "traces",
    "metrics": [{"measure": "count", "aggregation": "count"}],
    "timeDimension": {"granularity": "hour"},
}
BY_ID_PER_MINUTE = {
    **HOURLY,
    "dimensions": [{"field": "id"}],
    "timeDimension": {"granularity": "minute"},
    "config": {"row_limit": 10},
}


def error(r) -> str:
    return r.json()["error"]["message"]


# Python's zoneinfo reads these files, DuckDB has no such zones: they used to be 500s.
@pytest.mark.parametrize("zone", ["posixrules", "localtime", "right/UTC", "posix/Europe/Paris"])
def test_time_zones_duckdb_does_not_know_are_400(module_client: TestClient, zone: str) -> None:
    client = module_client  # one app for the module's refused requests: they change nothing
    body = {**HOURLY, "timezone": zone}
    r = client.post("/api/metrics", json=body)
    assert r.status_code == 400, r.text
    assert f"unknown time zone {zone!r}" in error(r)
    for path in ("/api/metrics", "/api/public/v2/metrics"):
        r = client.get(path, params={"query": orjson.dumps(body).decode()})
        assert r.status_code == 400 and zone in error(r), (path, r.text)
    window = {k: v for k, v in HOURLY.items() if k not in DAY}  # a dashboard brings its own
    widget = {"title": "x", "type": "line", "query": {**window, "timezone": zone}}
    r = client.post("/api/dashboards", json={"name": "d", "widgets": [widget]})
    assert r.status_code == 400 and zone in error(r), r.text


def test_time_zone_names_are_matched_as_duckdb_matches_them(client: TestClient) -> None:
    daily = {**HOURLY, "timeDimension": {"granularity": "day"}}
    r = client.post("/api/metrics", json={**daily, "timezone": "europe/paris"})
    assert r.status_code == 200, r.text
    # [00:00, 24:00) UTC is 01:00 to 01:00 in Paris: two Paris days, each from 23:00 UTC
    times = [row["time_dimension"] for row in r.json()["data"]]
    assert times == ["2024-12-31T23:00:00Z", "2025-01-01T23:00:00Z"]


def test_over_the_limits_is_400_naming_the_limit(client: TestClient) -> None:
    store = client.app.state.heron.store  # type: ignore[attr-defined]
    seed(store, 1000, project=project_of(store))
    r = client.post("/api/metrics", json=BY_ID_PER_MINUTE)  # 1,440 minutes x 1,000 ids
    assert r.status_code == 400, r.text
    assert "HERON_METRICS_MAX_CELLS" in error(r) and "1,000,000" in error(r)
    week = {**HOURLY, "toTimestamp": "2025-01-08T00:00:00Z"}
    r = client.post("/api/metrics", json={**week, "timeDimension": {"granularity": "minute"}})
    assert r.status_code == 400 and "HERON_METRICS_MAX_BUCKETS" in error(r)


def project_of(store) -> str:
    return next(p["id"] for p in store.list_projects() if p["name"] == "test")


def test_past_the_time_limit_is_503_query_timeout(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, query_timeout_s=0.3, metrics_max_cells=10**12)
    with TestClient(create_app(settings)) as c:
        c.headers["Authorization"] = f"Bearer {SECRET_KEY}"
        store = c.app.state.heron.store  # type: ignore[attr-defined]
        seed(store, project=project_of(store))
        # over five days: a grid of 500 million rows, many seconds uncancelled
        r = c.post("/api/metrics", json={**BY_ID_PER_MINUTE, **FIVE_DAYS})
        assert r.status_code == 503, r.text
        body = r.json()["error"]
        assert body["code"] == "query_timeout" and "HERON_QUERY_TIMEOUT_S" in body["message"]
        assert "retry-after" not in r.headers
        assert c.post("/api/metrics", json=HOURLY).status_code == 200  # the next one runs


def test_pages_say_when_a_query_ran_too_long(tmp_path: Path) -> None:
    settings = make_settings(
        tmp_path, query_timeout_s=0.001, init_admin_email=ADMIN, init_admin_password=PASSWORD
    )
    with TestClient(create_app(settings)) as web:
        assert login(web, ADMIN, PASSWORD).status_code == 303
        store = web.app.state.heron.store  # type: ignore[attr-defined]
        seed(store, project=project_of(store))
        r = web.get("/compare", params={"at": "2025-01-04T00:00:00Z", "days": 3})
        assert r.status_code == 503 and "ran longer than" in r.text
        window = {"from": "2025-01-01T00:00:00Z", "to": "2025-01-08T00:00:00Z"}
        r = web.get("/dashboard", params=window)
        assert "ran longer than" in r.text  # the page shows the message (with its 400)


def test_openapi_documents_the_timeout(client: TestClient) -> None:
    paths = client.get("/openapi.json").json()["paths"]
    for path, method in [("/api/metrics", "post"), ("/api/public/v2/metrics", "get")]:
        assert "query_timeout" in paths[path][method]["responses"]["503"]["description"]
