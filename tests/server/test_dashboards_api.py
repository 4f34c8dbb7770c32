"""The dashboards API on the real app: CRUD, duplicate, data, changes, scoping and 4xx."""

from __future__ import annotations

import secrets
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.dashboards.data import WINDOW, seed

SHARE_APP = True  # one app for the module, a project per test (conftest.client)

COUNT = {"view": "traces", "metrics": [{"measure": "count", "aggregation": "count"}]}
BY_USER = {**COUNT, "dimensions": [{"field": "user_id"}]}
OVER_TIME = {**COUNT, "timeDimension": {"granularity": "day"}}
BODY: dict[str, Any] = {
    "name": "Support",
    "description": "support-chat only",
    "filters": [{"column": "name", "operator": "=", "value": "support-chat"}],
    "date_range": "24h",
    "widgets": [
        {"id": "n", "title": "Traces", "type": "number", "query": COUNT},
        {"id": "u", "title": "By user", "type": "bar", "query": BY_USER},
        {"id": "t", "title": "Per day", "type": "line", "query": OVER_TIME},
    ],
}


@pytest.fixture
def seeded(client: TestClient) -> TestClient:
    seed(client)
    return client


def other_project(client: TestClient) -> dict[str, str]:
    st = client.app.state.heron  # type: ignore[attr-defined]
    key = st.store.create_key(st.store.create_project(f"other-{secrets.token_hex(4)}")["id"])
    return {"Authorization": f"Bearer {key['secret_key']}"}


def error(r: Any) -> str:
    return r.json()["error"]["message"]


def test_create_read_update_delete(client: TestClient) -> None:
    listed = client.get("/api/dashboards").json()["data"]
    assert [d["id"] for d in listed] == ["default"] and listed[0]["read_only"] is True

    r = client.post("/api/dashboards", json=BODY)
    assert r.status_code == 201, r.text
    made = r.json()
    assert made["name"] == "Support" and made["read_only"] is False
    assert [w["id"] for w in made["widgets"]] == ["n", "u", "t"]
    got = client.get(f"/api/dashboards/{made['id']}").json()
    assert got["widgets"] == BODY["widgets"] and got["filters"] == BODY["filters"]
    assert got["date_range"] == "24h"

    changed = {**BODY, "name": "Support v2", "widgets": BODY["widgets"][:1]}
    r = client.put(f"/api/dashboards/{made['id']}", json=changed)
    assert r.status_code == 200, r.text
    got = client.get(f"/api/dashboards/{made['id']}").json()
    assert got["name"] == "Support v2" and len(got["widgets"]) == 1
    assert [d["name"] for d in client.get("/api/dashboards").json()["data"]] == [
        "Monitoring",
        "Support v2",
    ]

    assert client.delete(f"/api/dashboards/{made['id']}").status_code == 204
    assert client.get(f"/api/dashboards/{made['id']}").status_code == 404
    assert client.delete(f"/api/dashboards/{made['id']}").status_code == 404


def test_duplicate_custom_and_default(client: TestClient) -> None:
    made = client.post("/api/dashboards", json=BODY).json()
    r = client.post(f"/api/dashboards/{made['id']}/duplicate")
    assert r.status_code == 201
    copy = r.json()
    assert copy["id"] != made["id"] and copy["name"] == "Copy of Support"
    assert copy["widgets"] == made["widgets"] and copy["filters"] == made["filters"]

    r = client.post("/api/dashboards/default/duplicate")
    assert r.status_code == 201
    mine = r.json()
    default = client.get("/api/dashboards/default").json()
    assert mine["name"] == "Copy of Monitoring" and mine["widgets"] == default["widgets"]
    mine["widgets"] = mine["widgets"][:2]  # the copy is editable
    assert client.put(f"/api/dashboards/{mine['id']}", json=mine).status_code == 200


def test_the_default_dashboard_is_read_only(client: TestClient) -> None:
    r = client.put("/api/dashboards/default", json=BODY)
    assert r.status_code == 400 and "duplicate it" in error(r)
    r = client.delete("/api/dashboards/default")
    assert r.status_code == 400 and "cannot be deleted" in error(r)


def test_data_of_a_custom_dashboard_with_its_filters(seeded: TestClient) -> None:
    made = seeded.post("/api/dashboards", json=BODY).json()
    r = seeded.get(f"/api/dashboards/{made['id']}/data", params=WINDOW)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["fromTimestamp"] == "2026-11-19T00:00:00Z"
    widgets = {w["id"]: w for w in body["widgets"]}
    assert widgets["n"]["data"] == [{"count_count": 3}]  # support-chat only
    assert widgets["n"]["previous"] == [{"count_count": 0}]
    assert {r["user_id"]: r["count_count"] for r in widgets["u"]["data"]} == {
        "alice": 1,
        "bob": 1,
        "carol": 1,
    }
    assert widgets["t"]["granularity"] == "day" and len(widgets["t"]["data"]) == 7
    # an extra filter from the caller is ANDed
    r = seeded.get(
        f"/api/dashboards/{made['id']}/data",
        params={**WINDOW, "filter": '[{"column": "user_id", "operator": "=", "value": "bob"}]'},
    )
    assert {w["id"]: w for w in r.json()["widgets"]}["n"]["data"] == [{"count_count": 1}]
    assert [c["value"] for c in body["changes"]] == [
        "support-system v3",
        "v1",
        "support-system v4",
        "v2",
    ]


def test_default_data_over_http(seeded: TestClient) -> None:
    r = seeded.get("/api/dashboards/default/data", params=WINDOW)
    assert r.status_code == 200
    widgets = {w["id"]: w for w in r.json()["widgets"]}
    assert widgets["traces-total"]["data"] == [{"count_count": 5}]
    # without a window: a preset range up to now (the data is older than an hour)
    r = seeded.get("/api/dashboards/default/data", params={"range": "1h"})
    assert r.status_code == 200
    assert {w["id"]: w for w in r.json()["widgets"]}["traces-total"]["data"] == [{"count_count": 0}]
    start = datetime.fromisoformat(r.json()["fromTimestamp"])
    end = datetime.fromisoformat(r.json()["toTimestamp"])
    assert end - start == timedelta(hours=1)
    assert abs(datetime.now(UTC) - end) < timedelta(minutes=1)


def test_changes(seeded: TestClient) -> None:
    r = seeded.get("/api/changes", params=WINDOW)
    assert r.status_code == 200
    found = r.json()["data"]
    assert found == [
        {"kind": "prompt", "name": "support-system", "value": "support-system v3",
         "previous": None, "first_seen": "2026-11-20T10:00:00.000000Z"},
        {"kind": "release", "name": None, "value": "v1", "previous": None,
         "first_seen": "2026-11-20T10:00:00.000000Z"},
        {"kind": "prompt", "name": "support-system", "value": "support-system v4",
         "previous": "support-system v3", "first_seen": "2026-11-22T10:00:00.000000Z"},
        {"kind": "release", "name": None, "value": "v2", "previous": "v1",
         "first_seen": "2026-11-22T10:00:00.000000Z"},
    ]  # fmt: skip
    later = seeded.get("/api/changes", params={"fromTimestamp": "2026-11-21T00:00:00Z",
                                                "toTimestamp": "2026-11-26T00:00:00Z"})  # fmt: skip
    assert [c["value"] for c in later.json()["data"]] == ["support-system v4", "v2"]
    # only where the filter matches: the search route never used a prompt and met v1 a day later
    search = '[{"column": "name", "operator": "=", "value": "search"}]'
    r = seeded.get("/api/changes", params={**WINDOW, "filter": search})
    assert [(c["value"], c["first_seen"][:13]) for c in r.json()["data"]] == [
        ("v1", "2026-11-21T10"),
        ("v2", "2026-11-22T10"),
    ]
    r = seeded.get("/api/changes", params={**WINDOW, "filter": '[{"column": "x"}]'})
    assert r.status_code == 400 and "filter" in error(r)
    assert seeded.get("/api/changes", headers=other_project(seeded)).json()["data"] == []


def test_project_scoping(seeded: TestClient) -> None:
    made = seeded.post("/api/dashboards", json=BODY).json()
    h = other_project(seeded)
    for method, path in [
        ("GET", f"/api/dashboards/{made['id']}"),
        ("PUT", f"/api/dashboards/{made['id']}"),
        ("DELETE", f"/api/dashboards/{made['id']}"),
        ("POST", f"/api/dashboards/{made['id']}/duplicate"),
        ("GET", f"/api/dashboards/{made['id']}/data"),
    ]:
        r = seeded.request(method, path, headers=h, json=BODY if method == "PUT" else None)
        assert r.status_code == 404, (method, path, r.text)
        assert "not found" in error(r)
    assert [d["id"] for d in seeded.get("/api/dashboards", headers=h).json()["data"]] == ["default"]
    # the other project's default dashboard counts its own (no) traces
    r = seeded.get("/api/dashboards/default/data", params=WINDOW, headers=h)
    assert {w["id"]: w for w in r.json()["widgets"]}["traces-total"]["data"] == [{"count_count": 0}]
    assert seeded.get(f"/api/dashboards/{made['id']}").status_code == 200  # still there
    no_key = {"Authorization": "Bearer nope"}
    assert seeded.get("/api/dashboards", headers=no_key).status_code == 401


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ({**BODY, "widgets": [{"title": "X", "type": "line", "query": COUNT}]},
         "widgets[0] ('X'): type 'line' needs query.timeDimension"),
        ({**BODY, "widgets": [{"title": "X", "type": "bar",
                               "query": {**COUNT, "metrics": [{"measure": "latency",
                                                               "aggregation": "p42"}]}}]},
         "widgets[0] ('X'): metrics[0]: unknown aggregation 'p42'"),
        ({**BODY, "name": ""}, "name: required"),
        ({**BODY, "filters": [{"column": "bogus", "operator": "=", "value": 1}]},
         "unknown column 'bogus'"),
        ([1, 2], "expected a JSON object"),
    ],
)  # fmt: skip
def test_bad_specs_are_400(client: TestClient, body: Any, expected: str) -> None:
    r = client.post("/api/dashboards", json=body)
    assert r.status_code == 400 and expected in error(r), r.text
    made = client.post("/api/dashboards", json=BODY).json()
    r = client.put(f"/api/dashboards/{made['id']}", json=body)
    assert r.status_code == 400 and expected in error(r)


def test_bad_requests_are_4xx(client: TestClient) -> None:
    r = client.post(
        "/api/dashboards", content=b"{nope", headers={"Content-Type": "application/json"}
    )
    assert r.status_code == 400 and "invalid JSON" in error(r)
    assert client.get("/api/dashboards/nope").status_code == 404
    assert client.get("/api/dashboards/nope/data").status_code == 404
    r = client.get("/api/dashboards/default/data", params={"fromTimestamp": "yesterday"})
    assert r.status_code == 400 and "fromTimestamp" in error(r)
    r = client.get("/api/dashboards/default/data", params={"range": "2y"})
    assert r.status_code == 400 and "range" in error(r)
    r = client.get("/api/dashboards/default/data", params={**WINDOW, "filter": "[{]"})
    assert r.status_code == 400 and "filter" in error(r)
    r = client.get("/api/dashboards/default/data",
                   params={**WINDOW, "filter": '[{"column": "x", "operator": "="}]'})  # fmt: skip
    assert r.status_code == 400 and "unknown column 'x'" in error(r)
    r = client.get("/api/dashboards/default/data",
                   params={"fromTimestamp": WINDOW["toTimestamp"],
                           "toTimestamp": WINDOW["fromTimestamp"]})  # fmt: skip
    assert r.status_code == 400 and "before" in error(r)
    limit = client.app.state.heron.settings.max_body_bytes  # type: ignore[attr-defined]
    huge = {**BODY, "description": "x" * (limit + 1)}
    r = client.post("/api/dashboards", json=huge)
    assert r.status_code == 413 and "limit" in error(r)
    r = client.post("/api/dashboards", json={**BODY, "description": "x" * 1001})
    assert r.status_code == 400 and "description" in error(r)


def test_openapi_describes_the_dashboards_api(client: TestClient) -> None:
    doc = client.get("/openapi.json").json()
    paths = doc["paths"]
    assert {"get", "post"} <= set(paths["/api/dashboards"])
    assert {"get", "put", "delete"} <= set(paths["/api/dashboards/{dashboard_id}"])
    assert "/api/dashboards/{dashboard_id}/data" in paths and "/api/changes" in paths
    body = paths["/api/dashboards"]["post"]["requestBody"]["content"]["application/json"]
    assert "widgets" in body["schema"]["properties"]
    assert "WidgetModel" in doc["components"]["schemas"]
    query = doc["components"]["schemas"]["WidgetQuery"]["properties"]
    assert "metrics" in query and "fromTimestamp" not in query
