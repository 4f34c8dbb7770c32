"""The alert's metric at many times at once equals the metrics API over each window."""

from __future__ import annotations

import random
from collections.abc import Iterator
from datetime import datetime, timedelta

import pytest

from heron.query.metrics import parse_metrics_query
from heron.signals.series import evaluation_times, kind_of
from heron.store import EmbeddedStore
from tests.conftest import seed_db
from tests.support.alert_data import add_traces

T0 = datetime(2026, 11, 2)


@pytest.fixture(scope="module")
def filled(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedStore]:
    """Planted once for the module: its tests only read."""
    path = tmp_path_factory.mktemp("series") / "heron.duckdb"
    seed_db(path)
    store = EmbeddedStore(path)
    rng = random.Random(5)
    for name in ("chat", "search"):
        for error in (False, True):
            n = 150 if not error else 40
            add_traces(
                store,
                [T0 + timedelta(seconds=rng.randrange(0, 3 * 3600)) for _ in range(n)],
                name=name,
                error=error,
                latency_ms=[rng.lognormvariate(7, 0.6) for _ in range(n)],
            )
    yield store
    store.close()


@pytest.mark.parametrize(
    ("measure", "aggregation"),
    [
        ("count", "count"),
        ("latency", "sum"),
        ("latency", "avg"),
        ("latency", "min"),
        ("latency", "max"),
        ("latency", "p50"),
        ("latency", "p95"),
        ("error_rate", "avg"),
        ("user_id", "uniq"),
    ],
)
@pytest.mark.parametrize(("window", "every"), [(600, 300), (900, 120), (3600, 1500)])
def test_series_equals_the_metrics_api_per_window(
    filled: EmbeddedStore, measure: str, aggregation: str, window: int, every: int
) -> None:
    query = {
        "view": "traces",
        "metric": {"measure": measure, "aggregation": aggregation},
        "filters": [{"column": "name", "operator": "=", "value": "chat"}],
    }
    w = timedelta(seconds=window)
    times = evaluation_times(T0, T0 + timedelta(hours=3, minutes=30), timedelta(seconds=every))
    got = filled.alert_series("p1", query, w, times)
    assert len(got) == len(times)
    for t in times:
        rows = filled.metrics(
            "p1",
            parse_metrics_query(
                {
                    "view": "traces",
                    "metrics": [{"measure": measure, "aggregation": aggregation}],
                    "filters": query["filters"],
                    "fromTimestamp": (t - w).isoformat() + "Z",
                    "toTimestamp": t.isoformat() + "Z",
                }
            ),
        )
        want = rows[0][f"{aggregation}_{measure}"] if rows else None
        if aggregation in ("count", "uniq"):
            want = want or 0
        value = got[t].value
        assert (value is None) == (want is None), (t, value, want)
        if want is not None:
            assert value == pytest.approx(want, rel=1e-9), t


def test_counts_and_rates_carry_numerator_and_denominator(filled: EmbeddedStore) -> None:
    query = {"view": "traces", "metric": {"measure": "error_rate", "aggregation": "avg"}}
    assert kind_of(query) == "rate"
    t = T0 + timedelta(hours=1)
    p = filled.alert_series("p1", query, timedelta(hours=1), [t])[t]
    assert p.den and p.num is not None and p.value == pytest.approx(p.num / p.den)
    count = {"view": "traces", "metric": {"measure": "count", "aggregation": "count"}}
    assert kind_of(count) == "count"
    q = filled.alert_series("p1", count, timedelta(hours=1), [t])[t]
    assert q.num == q.value == p.den
