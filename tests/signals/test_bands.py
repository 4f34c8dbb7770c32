"""Anomaly alerts' expected bands for charts of the same metric."""

from __future__ import annotations

from datetime import datetime, timedelta

from heron.signals.bands import bands_for
from heron.store import EmbeddedStore
from heron.store.alerts import Evaluation

T0 = datetime(2026, 11, 2)
QUERY = {"view": "traces", "metric": {"measure": "count", "aggregation": "count"}, "filters": []}


def spec(**over: object) -> dict:
    return {"query": QUERY, "window": "1h", "every": "1h", "anomaly": {"sensitivity": "medium"},
            "no_data": "no_data", "notify": [], **over}  # fmt: skip


def test_bands_of_matching_anomaly_alerts_only(store: EmbeddedStore) -> None:
    store.put_alert("p1", "watch", spec())
    store.put_alert("p1", "other-filter", spec(query={**QUERY, "filters": [
        {"column": "name", "operator": "=", "value": "x"}]}))  # fmt: skip
    store.put_alert("p2", "theirs", spec())
    for project, name in (("p1", "watch"), ("p1", "other-filter"), ("p2", "theirs")):
        for i in range(3):
            t = T0 + timedelta(hours=i)
            store.record_alert_evaluation(
                Evaluation(
                    project, name, t, t - timedelta(hours=1), 10.0, 5.0 + i, 15.0 + i, "OK", t
                )
            )
    widget = {"view": "traces", "metrics": [{"measure": "count", "aggregation": "count"}]}
    bands = bands_for(store, "p1", widget, T0, T0 + timedelta(hours=2))
    assert bands == [
        {
            "alert": "watch",
            "metric": "count_count",
            "x": ["2026-11-02T00:00:00.000000Z", "2026-11-02T01:00:00.000000Z"],
            "lower": [5.0, 6.0],
            "upper": [15.0, 16.0],
        }
    ]
    latency = {"view": "traces", "metrics": [{"measure": "latency", "aggregation": "p50"}]}
    assert bands_for(store, "p1", latency, T0, T0 + timedelta(hours=2)) == []
