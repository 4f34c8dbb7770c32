"""The alerts API in process on a real store: CRUD with paths named in 400s, project
scoping, read keys, history, and backtests that find planted episodes exactly."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient

from heron.signals.alert_task import AlertTask
from heron.store import EmbeddedStore
from tests.support.alert_data import add_traces

T0 = datetime(2026, 11, 2, 0, 0)
MIN = timedelta(minutes=1)

LATENCY = {
    "query": {"view": "traces", "metric": {"measure": "latency", "aggregation": "p50"}},
    "window": "5m",
    "every": "1m",
    "condition": {"operator": ">", "warning": 2000, "alert": 5000},
}


def store_of(client: TestClient) -> EmbeddedStore:
    return client.app.state.heron.store  # type: ignore[attr-defined]


def project_id(client: TestClient) -> str:
    return store_of(client).project_by_name("test")["id"]  # type: ignore[index]


def other_client(client: TestClient, scope: str = "full", project: str = "test") -> TestClient:
    store = store_of(client)
    found = store.project_by_name(project) or store.create_project(project)
    key = store.create_key(found["id"], scope=scope)
    client.app.state.heron.auth.refresh()  # type: ignore[attr-defined]
    other = TestClient(client.app)
    other.headers["Authorization"] = f"Bearer {key['secret_key']}"
    return other


def test_put_get_list_delete(client: TestClient) -> None:
    r = client.put("/api/alerts/slow", json=LATENCY)
    assert r.status_code == 201, r.text
    assert r.json()["action"] == "created" and r.json()["state"] is None
    assert client.put("/api/alerts/slow", json=LATENCY).json()["action"] == "unchanged"
    listed = client.get("/api/alerts").json()["data"]
    assert [(a["name"], a["state"]) for a in listed] == [("slow", None)]
    definition = client.get("/api/alerts/slow").json()["definition"]
    assert definition["window"] == "5m" and definition["lag"] == "1m"
    assert client.put("/api/alerts/slow", json=definition).json()["action"] == "unchanged"
    assert client.delete("/api/alerts/slow").json() == {"deleted": "slow"}
    assert client.get("/api/alerts/slow").status_code == 404
    assert client.delete("/api/alerts/slow").status_code == 404


@pytest.mark.parametrize(
    ("body", "words"),
    [
        ({**LATENCY, "window": "forever"}, "alert.window"),
        ({**LATENCY, "notify": ["nowhere"]}, "alert.notify[0]: no channel named 'nowhere'"),
        ({**LATENCY, "name": "other"}, "names another alert"),
        ([1, 2], "expected an alert object"),
        ({**LATENCY, "query": {"view": "traces", "metric": {"measure": "latency"}}}, "aggregation"),
    ],
)
def test_bad_definitions_are_400s_naming_the_problem(
    module_client: TestClient, body: Any, words: str
) -> None:
    client = module_client  # one app for the module's refused requests: they change nothing
    r = client.put("/api/alerts/slow", json=body)
    assert r.status_code == 400 and words in r.text, r.text


def test_invalid_json_and_bad_names(client: TestClient) -> None:
    r = client.put("/api/alerts/slow", content=b"{nope")
    assert r.status_code == 400 and "invalid JSON" in r.text
    r = client.put("/api/alerts/has%20space", json=LATENCY)
    assert r.status_code == 400 and "alert.name" in r.text


def test_another_project_sees_and_changes_nothing(client: TestClient) -> None:
    assert client.put("/api/alerts/slow", json=LATENCY).status_code == 201
    theirs = other_client(client, project="elsewhere")
    assert theirs.get("/api/alerts").json()["data"] == []
    assert theirs.get("/api/alerts/slow").status_code == 404
    assert theirs.get("/api/alerts/slow/history").status_code == 404
    assert theirs.delete("/api/alerts/slow").status_code == 404
    assert client.get("/api/alerts/slow").status_code == 200


def test_a_read_key_reads_and_backtests_but_does_not_change(client: TestClient) -> None:
    assert client.put("/api/alerts/slow", json=LATENCY).status_code == 201
    reader = other_client(client, scope="read")
    assert reader.get("/api/alerts").status_code == 200
    assert reader.put("/api/alerts/slow", json=LATENCY).status_code == 403
    assert reader.delete("/api/alerts/slow").status_code == 403
    r = reader.post(
        "/api/alerts/backtest",
        json={"alert": LATENCY, "from": "2026-11-02T00:00:00Z", "to": "2026-11-02T01:00:00Z"},
    )
    assert r.status_code == 200, r.text


def test_history_after_evaluations(client: TestClient) -> None:
    store = store_of(client)
    pid = project_id(client)
    assert client.put("/api/alerts/slow", json=LATENCY).status_code == 201
    add_traces(store, [T0 - 2 * MIN] * 3, project=pid, latency_ms=6000)
    task = AlertTask()
    task.bind(store)
    task.run(T0 + MIN)
    task.run(T0 + 2 * MIN)
    rows = client.get("/api/alerts/slow/history").json()["data"]
    assert [(r["time"], r["state"], r["value"]) for r in rows] == [
        ("2026-11-02T00:01:00.000000Z", "ALERT", 6000.0),
        ("2026-11-02T00:00:00.000000Z", "ALERT", 6000.0),
    ]
    listed = client.get("/api/alerts").json()["data"][0]
    assert listed["state"] == "ALERT" and listed["value"] == 6000.0
    assert client.get("/api/alerts/slow/history?from=nope").status_code == 400
    assert client.get("/api/alerts/slow/history?limit=0").status_code in (400, 422)


def test_backtest_finds_planted_episodes_exactly(client: TestClient) -> None:
    store = store_of(client)
    pid = project_id(client)
    # a day of traces every minute at 1 s; slow (8 s) during two planted stretches
    plants = [(T0 + 180 * MIN, 20), (T0 + 600 * MIN, 45)]
    slow = {T0 + p + i * MIN for p, n in [((s - T0), n) for s, n in plants] for i in range(n)}
    times = [T0 + i * MIN + timedelta(seconds=5) for i in range(24 * 60)]
    add_traces(store, [t for t in times if t - timedelta(seconds=5) not in slow], project=pid)
    add_traces(
        store,
        [t for t in times if t - timedelta(seconds=5) in slow],
        project=pid,
        latency_ms=8000,
    )
    alert = {**LATENCY, "window": "1m"}  # p50 of each minute alone
    r = client.post(
        "/api/alerts/backtest",
        json={"alert": alert, "from": "2026-11-02T00:00:00Z", "to": "2026-11-03T00:00:00Z"},
    )
    assert r.status_code == 200, r.text
    body = r.json()
    # the evaluation at t covers [t - 1m, t): a slow minute m is seen at m + 1m
    expected = [
        {
            "start": (start + MIN).isoformat() + ".000000Z",
            "end": (start + n * MIN).isoformat() + ".000000Z",
            "peak": 8000.0,
        }
        for start, n in plants
    ]
    assert [{k: e[k] for k in ("start", "end", "peak")} for e in body["episodes"]] == expected
    assert body["count"] == 24 * 60 + 1 and body["states"]["ALERT"] == 65
    assert len(body["evaluations"]) == body["count"]


def test_backtest_anomaly_mode_on_a_seasonal_day(client: TestClient) -> None:
    store = store_of(client)
    pid = project_id(client)
    # 10 days of hourly traffic: 5 traces an hour at night, 30 from 12:00 to 15:00;
    # on the last day 03:00-05:00 has 30 an hour (ordinary at noon, 6 times the night)
    start = T0 - timedelta(days=10)
    times = []
    for h in range(11 * 24):
        at = start + timedelta(hours=h)
        n = 30 if 12 <= at.hour < 15 else 5
        if at >= T0 and 3 <= at.hour < 5:
            n = 30
        times += [at + timedelta(minutes=(i * 7) % 60, seconds=1) for i in range(n)]
    add_traces(store, times, project=pid)
    alert = {
        "query": {"view": "traces", "metric": {"measure": "count", "aggregation": "count"}},
        "window": "1h",
        "every": "1h",
        "anomaly": {"sensitivity": "medium"},
    }
    r = client.post(
        "/api/alerts/backtest",
        json={"alert": alert, "from": "2026-10-28T00:00:00Z", "to": "2026-11-03T00:00:00Z"},
    )
    assert r.status_code == 200, r.text
    episodes = r.json()["episodes"]
    # the evaluation at 05:00 covers 04:00-05:00: the second anomalous hour completes 2 of 3
    assert [(e["start"], e["end"]) for e in episodes] == [
        ("2026-11-02T05:00:00.000000Z", "2026-11-02T05:00:00.000000Z")
    ]
    evaluations = {e["time"]: e for e in r.json()["evaluations"]}
    noon = evaluations["2026-11-01T13:00:00.000000Z"]
    assert noon["state"] == "OK" and noon["lower"] <= 30 <= noon["upper"]


@pytest.mark.parametrize(
    ("body", "status", "words"),
    [
        ({"alert": LATENCY, "from": "2026-11-02T00:00:00Z"}, 400, "to: expected an ISO 8601"),
        ({"alert": LATENCY, "from": "2026-11-03", "to": "2026-11-02"}, 400, "from must be before"),
        (
            {"alert": {**LATENCY, "every": "30s"}, "from": "2026-01-01", "to": "2026-12-01"},
            400,
            "at most 50000",
        ),
        (
            {"alert": {**LATENCY, "window": 3}, "from": "2026-01-01", "to": "2026-01-02"},
            400,
            "alert.window",
        ),
        ({"alert": "x", "from": "2026-01-01", "to": "2026-01-02"}, 400, "alert: expected"),
        (
            {"alert": LATENCY, "from": "2026-01-01", "to": "2026-01-02", "x": 1},
            400,
            "unknown field",
        ),
    ],
)  # fmt: skip
def test_backtest_bad_input(module_client: TestClient, body: Any, status: int, words: str) -> None:
    client = module_client  # one app for the module's refused requests: they change nothing
    r = client.post("/api/alerts/backtest", json=body)
    assert r.status_code == status and words in r.text, r.text


def test_backtest_is_project_scoped(client: TestClient) -> None:
    add_traces(store_of(client), [T0 + 10 * MIN] * 5, project=project_id(client), latency_ms=9000)
    theirs = other_client(client, project="elsewhere")
    body = {"alert": LATENCY, "from": "2026-11-02T00:00:00Z", "to": "2026-11-02T01:00:00Z"}
    assert client.post("/api/alerts/backtest", json=body).json()["episodes"] != []
    assert theirs.post("/api/alerts/backtest", json=body).json()["episodes"] == []


def test_the_server_hosts_the_alerts_periodic(tmp_path: Any) -> None:
    """``HERON_RUNNER_TASKS`` naming the periodic: the app's runner evaluates an alert put
    through the API at once (its first due time has passed), without any ingest."""
    import time

    from heron.server.app import create_app
    from tests.conftest import make_settings
    from tests.support.server import SECRET_KEY

    settings = make_settings(tmp_path, runner_tasks="heron.signals.alert_task:AlertTask")
    with TestClient(create_app(settings)) as c:
        c.headers["Authorization"] = f"Bearer {SECRET_KEY}"
        quiet = {
            "query": {"view": "traces", "metric": {"measure": "count", "aggregation": "count"}},
            "window": "5m",
            "every": "1m",
            "condition": {"operator": "<", "alert": 1},
        }
        assert c.put("/api/alerts/quiet", json=quiet).status_code == 201
        deadline = time.monotonic() + 20  # the runner asks the periodic every pass
        state = None
        while state is None and time.monotonic() < deadline:
            time.sleep(0.2)
            state = c.get("/api/alerts").json()["data"][0]["state"]
        assert state == "ALERT"
        assert c.get("/api/alerts/quiet/history").json()["data"][0]["value"] == 0.0
