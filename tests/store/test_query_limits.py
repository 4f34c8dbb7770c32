"""Metrics and compare queries that would cost too much: refused (400) or cancelled (503),
on a real DuckDB store filled cheaply with SQL."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from heron.compare import parse_compare_query
from heron.errors import QueryTimeout
from heron.query import FilterError
from heron.query.metrics import MetricsLimits, parse_metrics_query
from heron.store import EmbeddedStore
from heron.store.deadline import deadline

TRACES = 110_000  # one every 6 s from 2025-01-01 on: ~7.6 days, 7 names
DAY = {"fromTimestamp": "2025-01-01T00:00:00Z", "toTimestamp": "2025-01-02T00:00:00Z"}
FIVE_DAYS = {"fromTimestamp": "2025-01-01T00:00:00Z", "toTimestamp": "2025-01-06T00:00:00Z"}
COUNT = [{"measure": "count", "aggregation": "count"}]


def seed(
    store: EmbeddedStore, n: int = TRACES, users: int = 1000, project: str | None = None
) -> str:
    """``n`` traces, one every 6 s from 2025-01-01 on, in ``project`` (a new one if None)."""
    project = project or store.create_project("limits")["id"]
    store._writer.execute(
        "INSERT INTO traces (project_id, id, name, user_id, start_time, observation_count, "
        "error_count, level, updated_at, latency_ms) "
        "SELECT ?, 't' || i, 'n' || (i % 7), 'u' || (i % ?), "
        "TIMESTAMP '2025-01-01' + to_seconds(i * 6), 1, 0, 'DEFAULT', now(), i % 500 "
        "FROM range(?) r(i)",
        [project, users, n],
    )
    return project


@pytest.fixture(scope="module")
def filled(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[EmbeddedStore, str]]:
    store = EmbeddedStore(tmp_path_factory.mktemp("limits") / "heron.duckdb")
    project = seed(store)
    yield store, project
    store.close()


def query(**parts: object) -> dict:
    return {"view": "traces", "metrics": COUNT, **DAY, **parts}


def test_too_many_buckets_is_refused_suggesting_a_coarser_granularity(filled) -> None:
    store, project = filled
    week = {**DAY, "toTimestamp": "2025-01-08T00:00:00Z"}  # 10,080 minutes
    q = parse_metrics_query(query(**week, timeDimension={"granularity": "minute"}))
    with pytest.raises(FilterError) as caught:
        store.metrics(project, q)
    message = caught.value.message
    assert "HERON_METRICS_MAX_BUCKETS" in message and "10,000" in message
    assert "use granularity 'hour'" in message
    assert store.metrics(
        project, parse_metrics_query(query(**week, timeDimension={"granularity": "hour"}))
    )


def test_minute_grid_by_id_is_refused_before_it_is_built(filled) -> None:
    store, project = filled
    q = parse_metrics_query(
        query(
            dimensions=[{"field": "id"}],
            timeDimension={"granularity": "minute"},
            config={"row_limit": 10},
        )
    )
    started = time.monotonic()
    with pytest.raises(FilterError) as caught:
        store.metrics(project, q)  # 1,440 buckets x 14,400 ids: 20 million rows
    assert time.monotonic() - started < 3
    message = caught.value.message
    assert "1,440 time buckets x 14,400 dimension values" in message
    assert "HERON_METRICS_MAX_CELLS" in message and "coarser granularity" in message


def test_a_grid_under_the_cell_limit_still_answers(filled) -> None:
    store, project = filled
    q = parse_metrics_query(
        query(dimensions=[{"field": "name"}], timeDimension={"granularity": "minute"})
    )
    rows = store.metrics(project, q)
    assert len(rows) == 1440 * 7  # every bucket of every name, empty ones as zero
    assert sum(r["count_count"] for r in rows) == 14_400


def test_more_rows_than_answered_without_row_limit_is_refused(tmp_path: Path) -> None:
    store = EmbeddedStore(tmp_path / "heron.duckdb")
    try:
        project = seed(store, 100_001, users=100_001)
        by_user = query(dimensions=[{"field": "user_id"}], toTimestamp="2025-02-01T00:00:00Z")
        with pytest.raises(FilterError, match=r"more than 100,000 rows; set config\.row_limit"):
            store.metrics(project, parse_metrics_query(by_user))
        limited = parse_metrics_query({**by_user, "config": {"row_limit": 100_000}})
        assert len(store.metrics(project, limited)) == 100_000
    finally:
        store.close()


def test_slow_metrics_query_is_cancelled_at_the_timeout(tmp_path: Path) -> None:
    store = EmbeddedStore(
        tmp_path / "heron.duckdb",
        query_timeout_s=0.3,
        metrics_limits=MetricsLimits(max_cells=10**12),  # let the huge grid through
    )
    try:
        project = seed(store)
        q = parse_metrics_query(
            query(
                **FIVE_DAYS,
                dimensions=[{"field": "id"}],
                timeDimension={"granularity": "minute"},
                config={"row_limit": 10},
            )
        )
        started = time.monotonic()
        with pytest.raises(QueryTimeout) as caught:
            store.metrics(project, q)  # 500 million grid rows: many seconds uncancelled
        assert time.monotonic() - started < 0.3 + 2
        assert "0.3 s" in caught.value.message and "HERON_QUERY_TIMEOUT_S" in caught.value.message
        assert caught.value.status_code == 503
        # the thread's cursor is not left interrupted: the next query answers
        time.sleep(0.4)
        small = parse_metrics_query(query(dimensions=[{"field": "name"}]))
        assert len(store.metrics(project, small)) == 7
    finally:
        store.close()


def test_slow_comparison_is_cancelled_at_the_timeout(tmp_path: Path) -> None:
    store = EmbeddedStore(tmp_path / "heron.duckdb", query_timeout_s=0.001)
    try:
        project = seed(store)
        q = parse_compare_query({"at": "2025-01-04T00:00:00Z", "days": 3})
        with pytest.raises(QueryTimeout, match="comparison"):
            store.compare(project, q)
    finally:
        store.close()


def test_deadline_never_interrupts_a_later_statement(filled) -> None:
    store, _ = filled
    cur = store.cursor()
    with deadline(cur, 0.05, "a quick query"):
        assert cur.execute("SELECT 1").fetchall() == [(1,)]
    time.sleep(0.2)  # past the deadline: a stray interrupt would hit the next statement
    assert cur.execute("SELECT count(*) FROM range(20000000)").fetchall() == [(20_000_000,)]
