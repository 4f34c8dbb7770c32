"""Metrics queries on both events backends (DuckDB's EmbeddedStore and ClickHouse on chdb):
the same data, the same queries, the same rows (names, values, order, zero-filled buckets),
across views, dimensions, filters, time zones (a DST night) and aggregations."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest

from heron.errors import QueryTimeout
from heron.query import FilterError
from heron.query.metrics import MetricsLimits, parse_metrics_query
from heron.scores import ScoreRecord
from heron.store import EmbeddedStore
from heron.store.clickhouse import ClickHouseEvents
from heron.store.clickhouse.client import connect
from heron.store.clickhouse.metrics import compile_metrics, materialized_ctes
from heron.store.clickhouse.migrations import migrate
from tests.store.test_backend_events import _close, obs, scores, upd, write_many, write_story
from tests.support.chdb_server import ChdbServer

S = 1_000_000
DST = 1_761_436_800_000_000  # 2025-10-26T00:00:00Z: Paris's repeated hour 02:00-03:00 starts


@pytest.fixture(scope="module")
def ch(chdb_server: ChdbServer) -> Iterator[ClickHouseEvents]:
    client = connect(chdb_server.database_url("backend_metrics"))
    migrate(client)
    yield ClickHouseEvents(client)
    client.close()


def write_dst_night(store: Any, p: str) -> None:
    """Six traces 25 minutes apart over Paris's repeated hour (00:00-02:00Z is 02:00-02:59
    twice, local), with prompts on their generations."""
    observations, updates = [], []
    for i in range(6):
        t = f"d{i:031x}"
        start = DST + i * 25 * 60 * S
        observations.append(obs(p, t, f"r{i}", None, name="night", start_us=start,
                                end_us=start + (i + 1) * S))  # fmt: skip
        observations.append(
            obs(
                p,
                t,
                f"g{i}",
                f"r{i}",
                type="generation",
                model=("gpt-4o", "claude", None)[i % 3],
                start_us=start + S // 10,
                end_us=start + S // 2 + i * S // 7,
                completion_start_us=start + S // 5 if i % 2 else None,
                usage={"input": 7 * i + 1, "output": 3 * i, "total": 10 * i + 1},
                cost={"input": 0.001 * i, "output": 0.002, "total": 0.001 * i + 0.002},
                prompt_name=("greet", "sum", None)[i % 3],
                prompt_version=(1, 2, None)[i % 3] if i < 4 else 3,
                level="ERROR" if i == 4 else "DEFAULT",
                metadata={"shift": ("a", "b")[i % 2], "n": i},
            )
        )
        updates.append(
            upd(
                p,
                t,
                is_root=True,
                name="night",
                user_id=f"user-{i % 2}",
                session_id="night",
                tags=[["x"], ["x", "y"], []][i % 3],
                environment="prod",
            )
        )
    store.write_batch(observations, updates)


@pytest.fixture(scope="module")
def project(duck: EmbeddedStore, ch: ClickHouseEvents) -> str:
    p = "p-" + uuid.uuid4().hex[:12]
    for store in (duck, ch):
        write_story(store, p)
        write_many(store, p)
        write_dst_night(store, p)
        store.write_scores(scores(p, 0.2))
        store.write_scores(scores(p, 0.9))
        store.write_scores(night_scores(p))
    return p


def night_scores(p: str) -> list[ScoreRecord]:
    return [
        ScoreRecord(
            project_id=p,
            id=f"night-{i}",
            trace_id=f"d{i:031x}",
            observation_id=None,
            session_id=None,
            name="helpful",
            value=float(i % 2),
            string_value=None,
            data_type="BOOLEAN",
            source=("API", "EVAL")[i % 2],
            comment=None,
            author=None,
            timestamp=datetime(2025, 10, 26, 0, 10 * i, tzinfo=UTC),
            metadata=None,
            environment="prod",
        )
        for i in range(5)
    ]


OCT = {"fromTimestamp": "2025-10-01T00:00:00Z", "toTimestamp": "2025-11-05T00:00:00Z"}
DAY9 = {"fromTimestamp": "2025-10-09T08:00:00Z", "toTimestamp": "2025-10-09T10:00:00Z"}
NIGHT = {"fromTimestamp": "2025-10-25T21:00:00Z", "toTimestamp": "2025-10-26T04:00:00Z"}


def m(measure: str, aggregation: str) -> dict[str, str]:
    return {"measure": measure, "aggregation": aggregation}


def dims(*names: str) -> list[dict[str, str]]:
    return [{"field": n} for n in names]


_QUERIES: list[dict[str, Any]] = [
    # traces
    {"view": "traces", "metrics": [m("count", "count")], **OCT},
    {"view": "traces", "dimensions": dims("name"), "metrics": [m("count", "count"),
     m("latency", "avg"), m("latency", "p50"), m("latency", "p95"), m("latency", "p99")], **OCT},
    {"view": "traces", "dimensions": dims("user_id"), "metrics": [m("totalCost", "sum"),
     m("total_tokens", "max"), m("input_tokens", "min"), m("error_rate", "avg")], **OCT,
     "orderBy": [{"field": "sum_totalCost", "direction": "desc"}]},
    {"view": "traces", "dimensions": dims("tags"), "metrics": [m("count", "count"),
     m("session_id", "uniq")], **OCT},
    {"view": "traces", "dimensions": dims("model"), "metrics": [m("observation_count", "sum"),
     m("latency", "p75")], **OCT},
    {"view": "traces", "dimensions": dims("prompt_name", "prompt_version"),
     "metrics": [m("count", "count"), m("total_cost", "avg")], **OCT},
    {"view": "traces", "dimensions": dims("release", "environment"),
     "metrics": [m("count", "count")], **OCT},
    {"view": "traces", "dimensions": dims("metadata.team"), "metrics": [m("count", "count")],
     **OCT},
    {"view": "traces", "metrics": [m("scores.quality", "avg"), m("has_score.helpful", "avg"),
     m("has_true_score.helpful", "sum"), m("scores.quality", "p90")], **OCT},
    {"view": "traces", "dimensions": dims("user_id"),
     "metrics": [m("has_true_score.helpful", "avg")], **OCT},
    {"view": "traces", "metrics": [m("count", "count"), m("latency", "p95")],
     "timeDimension": {"granularity": "day"}, **OCT},
    {"view": "traces", "metrics": [m("count", "count")], "timeDimension": {"granularity": "day"},
     "timezone": "Europe/Paris", **OCT},
    {"view": "traces", "dimensions": dims("name"), "metrics": [m("count", "count"),
     m("latency", "max")], "timeDimension": {"granularity": "hour"}, "timezone": "Europe/Paris",
     **NIGHT},
    {"view": "traces", "metrics": [m("count", "count")], "timeDimension": {"granularity": "week"},
     "timezone": "America/New_York", **OCT},
    {"view": "traces", "metrics": [m("total_cost", "sum")],
     "timeDimension": {"granularity": "month"}, "timezone": "Asia/Kolkata",
     "fromTimestamp": "2025-08-15T00:00:00Z", "toTimestamp": "2025-12-01T00:00:00Z"},
    {"view": "traces", "metrics": [m("count", "count")], "timeDimension": {"granularity": "minute"},
     "fromTimestamp": "2025-10-09T08:50:00Z", "toTimestamp": "2025-10-09T09:10:00Z"},
    {"view": "traces", "metrics": [m("count", "count"), m("latency", "avg")],
     "filters": [{"column": "tags", "operator": "contains", "value": "a"}], **OCT},
    {"view": "traces", "dimensions": dims("name"), "metrics": [m("count", "count")],
     "filters": [{"column": "scores.quality", "operator": ">", "value": 1}], **OCT},
    {"view": "traces", "dimensions": dims("environment"), "metrics": [m("count", "count")],
     "filters": [{"column": "environment", "operator": "starts with", "value": ""}], **OCT},
    {"view": "traces", "dimensions": dims("id"), "metrics": [m("latency", "sum")],
     "config": {"row_limit": 5}, "orderBy": [{"field": "sum_latency", "direction": "desc"}],
     **OCT},
    {"view": "traces", "metrics": [m("latency", "histogram")], "config": {"bins": 4}, **OCT},
    {"view": "traces", "dimensions": dims("name"), "metrics": [m("total_tokens", "histogram"),
     m("count", "count")], **OCT},
    # observations
    {"view": "observations", "dimensions": dims("type"), "metrics": [m("count", "count"),
     m("latency", "p50"), m("latency", "p90"), m("latency", "avg")], **OCT},
    {"view": "observations", "dimensions": dims("model"), "metrics": [m("inputCost", "sum"),
     m("output_cost", "sum"), m("tokens_per_second", "avg"), m("timeToFirstToken", "max")],
     **OCT},
    {"view": "observations", "dimensions": dims("user_id", "trace_name"),
     "metrics": [m("count", "count"), m("error_count", "sum")], **OCT},
    {"view": "observations", "dimensions": dims("tags"), "metrics": [m("count", "count"),
     m("trace_id", "uniq")], **OCT},
    {"view": "observations", "dimensions": dims("prompt_name", "prompt_version"),
     "metrics": [m("streaming_latency", "p99"), m("count", "count")], **OCT},
    {"view": "observations", "dimensions": dims("metadata.shift"),
     "metrics": [m("total_tokens", "sum")], **OCT},
    {"view": "observations", "dimensions": dims("level"), "metrics": [m("count", "count")],
     "timeDimension": {"granularity": "hour"}, "timezone": "Europe/Paris", **NIGHT},
    {"view": "observations", "metrics": [m("latency", "p95"), m("count", "count")],
     "timeDimension": {"granularity": "auto"}, **DAY9},
    {"view": "observations", "dimensions": dims("name"), "metrics": [m("count", "count")],
     "filters": [{"column": "type", "operator": "=", "value": "generation"},
                 {"column": "user_id", "operator": "in", "value": ["user-1", "user-2"]}], **OCT},
    {"view": "observations", "metrics": [m("latency", "histogram")], "config": {"bins": 3},
     "timeDimension": {"granularity": "hour"}, **NIGHT},
    # scores
    {"view": "scores", "dimensions": dims("name", "data_type"), "metrics": [m("count", "count"),
     m("value", "avg"), m("value", "p50")], **OCT},
    {"view": "scores-numeric", "dimensions": dims("source"), "metrics": [m("value", "sum")],
     "timeDimension": {"granularity": "day"}, "timezone": "Europe/Paris", **OCT},
    {"view": "scores-categorical", "dimensions": dims("string_value"),
     "metrics": [m("count", "count"), m("trace_id", "uniq")], **OCT},
    {"view": "scores", "dimensions": dims("environment"), "metrics": [m("count", "count")],
     "filters": [{"column": "name", "operator": "=", "value": "helpful"}],
     "timeDimension": {"granularity": "hour"}, **NIGHT},
    {"view": "traces", "metrics": [m("count", "count")], "timeDimension": {"granularity": "day"},
     "timezone": "America/New_York", "fromTimestamp": "2025-03-05T00:00:00Z",
     "toTimestamp": "2025-03-12T00:00:00Z"},  # the spring-forward day has 23 hours
    # nothing matches: the grid's buckets with zero counts
    {"view": "traces", "dimensions": dims("name"), "metrics": [m("count", "count"),
     m("latency", "p50")], "timeDimension": {"granularity": "day"},
     "fromTimestamp": "2024-01-01T00:00:00Z", "toTimestamp": "2024-01-04T00:00:00Z"},
]  # fmt: skip


@pytest.mark.parametrize("query", _QUERIES, ids=lambda q: str(q)[:120])
def test_metrics_match(
    duck: EmbeddedStore, ch: ClickHouseEvents, project: str, query: dict
) -> None:
    q = parse_metrics_query(query)
    want = _close(duck.metrics(project, q))
    got = _close(ch.metrics(project, q))
    assert got == want
    assert want  # every query answers rows


def test_servers_without_materialized_ctes_answer_the_same(
    duck: EmbeddedStore, ch: ClickHouseEvents, project: str
) -> None:
    """Before ClickHouse 25.11 the CTEs are inlined (grouped again where read): same rows."""
    assert materialized_ctes(ch.client)  # chdb 26: the other tests run materialized
    ch.materialized_ctes = False
    try:
        for query in _QUERIES:
            q = parse_metrics_query(query)
            assert _close(ch.metrics(project, q)) == _close(duck.metrics(project, q))
    finally:
        ch.materialized_ctes = None


def test_dst_night_is_one_bucket_per_local_hour(ch: ClickHouseEvents, project: str) -> None:
    """02:00-02:59 happens twice in Paris that night: one bucket, starting at its later UTC
    reading (DuckDB's), holding the five traces of both readings."""
    q = parse_metrics_query({**_QUERIES[12], "dimensions": []})
    rows = [(r["time_dimension"], r["count_count"]) for r in ch.metrics(project, q)]
    assert rows == [
        ("2025-10-25T21:00:00Z", 0),  # 23:00 local (CEST)
        ("2025-10-25T22:00:00Z", 0),
        ("2025-10-25T23:00:00Z", 0),  # 01:00 local
        ("2025-10-26T01:00:00Z", 5),  # 02:00 local, CEST then CET
        ("2025-10-26T02:00:00Z", 1),  # 03:00 local (CET)
        ("2025-10-26T03:00:00Z", 0),
    ]


def test_limits_and_errors_match(duck: EmbeddedStore, ch: ClickHouseEvents, project: str) -> None:
    grid = parse_metrics_query(
        {
            "view": "observations",
            "dimensions": dims("name"),
            "metrics": [m("count", "count")],
            "timeDimension": {"granularity": "hour"},
            **DAY9,
        }
    )
    messages = []
    for store in (duck, ch):
        store.metrics_limits = MetricsLimits(max_buckets=100, max_cells=20)
        try:
            with pytest.raises(FilterError) as cells:
                store.metrics(project, grid)
            minutes = parse_metrics_query({**_QUERIES[15], **OCT})
            with pytest.raises(FilterError) as buckets:
                store.metrics(project, minutes)
        finally:
            store.metrics_limits = MetricsLimits()
        messages.append((str(cells.value), str(buckets.value)))
    assert messages[0] == messages[1]
    assert "2 time buckets x 18 dimension values = 36 rows" in messages[1][0]


def test_other_projects_are_not_read(duck: EmbeddedStore, ch: ClickHouseEvents) -> None:
    for query in (_QUERIES[0], _QUERIES[10], _QUERIES[33]):
        q = parse_metrics_query(query)
        got = ch.metrics("elsewhere", q)
        assert got == duck.metrics("elsewhere", q)
        assert all(v in (0, None) for row in got for k, v in row.items() if k != "time_dimension")


def test_observations_join_their_traces_only_when_read() -> None:
    """The join to the traces is most of an observations query's time: a query reading no
    trace attribute leaves heron's own traces out by id instead (same rows: see above)."""

    def joined(query: dict[str, Any]) -> bool:
        sql = compile_metrics("p", parse_metrics_query(query)).sql
        return "AS tr ON tr.id = o.trace_id" in sql

    assert not joined(_QUERIES[22])  # by type
    assert not joined(_QUERIES[26])  # by prompt
    assert joined(_QUERIES[24])  # by user_id and trace_name
    assert joined(_QUERIES[25])  # by tags
    env = [{"column": "environment", "operator": "=", "value": "prod"}]
    assert joined({**_QUERIES[22], "filters": env})


def test_a_query_past_the_time_limit_is_cancelled(ch: ClickHouseEvents, project: str) -> None:
    ch.query_timeout_s = 0.0001  # ClickHouse cancels it at its first check
    try:
        with pytest.raises(QueryTimeout, match=r"the metrics query ran longer than 0.0001 s"):
            ch.metrics(project, parse_metrics_query(_QUERIES[1]))
    finally:
        ch.query_timeout_s = None
    assert ch.metrics(project, parse_metrics_query(_QUERIES[1]))


def test_hostile_names_are_parameters(
    duck: EmbeddedStore, ch: ClickHouseEvents, project: str
) -> None:
    """Score names, metadata keys and filter values reach ClickHouse as parameters only."""
    names = ["it's", "{project:String}", "a`b) OR 1=1 --", "名前"]
    for name in names:
        query = {
            "view": "traces",
            "dimensions": dims(f"metadata.{name}"),
            "metrics": [m(f"scores.{name}", "avg"), m(f"has_score.{name}", "sum")],
            "filters": [{"column": "name", "operator": "=", "value": name}],
            **OCT,
        }
        q = parse_metrics_query(query)
        got = ch.metrics(project, q)
        assert got == duck.metrics(project, q) == []
    q = parse_metrics_query(
        {
            "view": "traces",
            "dimensions": dims("metadata.{p0:String}"),
            "metrics": [m("count", "count")],
            **OCT,
        }
    )
    assert ch.metrics(project, q) == duck.metrics(project, q)
    assert sum(r["count_count"] for r in ch.metrics(project, q)) == 19  # the hidden trace left out


def test_a_zone_only_duckdb_knows_is_a_clear_error(ch: ClickHouseEvents, project: str) -> None:
    """DuckDB's ICU also takes 40 Java-style aliases (IST, CTT...) that the IANA database of
    Python and ClickHouse does not have: refused by name, never a server error."""
    q = parse_metrics_query({**_QUERIES[11], "timezone": "CTT"})
    with pytest.raises(FilterError, match="timezone: 'CTT' is not a time zone this backend"):
        ch.metrics(project, q)


def test_a_trace_is_in_a_window_by_its_start(duck: EmbeddedStore, ch: ClickHouseEvents) -> None:
    """A trace is in a window when its first span (latest versions) starts in it, or without
    spans its own time: traces whose spans or own time straddle the window's edges."""
    p = "p-" + uuid.uuid4().hex[:12]
    day = 1_760_918_400_000_000  # 2025-10-20T00:00:00Z
    hour = 3600 * S
    for store in (duck, ch):
        store.write_batch([], [upd(p, "e1", name="own time only", timestamp_us=day + 12 * hour)])
        store.write_batch(
            [obs(p, "e2", "s", None, start_us=day - 12 * hour, end_us=day - 11 * hour)],
            [upd(p, "e2", name="own time, spans before", timestamp_us=day + 12 * hour)],
        )
        store.write_batch([obs(p, "e3", "m", None, start_us=day + 13 * hour)], [])
        store.write_batch(  # the span again, starting the day before (its latest version)
            [obs(p, "e3", "m", None, start_us=day - 11 * hour, end_us=day - 10 * hour)],
            [upd(p, "e3", name="moved out")],
        )
        store.write_batch(
            [
                obs(p, "e4", "r", None, start_us=day - S, end_us=day + hour),
                obs(
                    p,
                    "e4",
                    "c",
                    "r",
                    type="generation",
                    start_us=day + S,
                    end_us=day + 2 * S,
                    cost={"total": 0.5},
                ),
            ],
            [upd(p, "e4", name="starts before, spans inside")],
        )
    metrics = [m("count", "count"), m("total_cost", "sum"), m("latency", "max")]
    answers = []
    for window in (("2025-10-20", "2025-10-21"), ("2025-10-19", "2025-10-21")):
        span = {"fromTimestamp": f"{window[0]}T00:00:00Z", "toTimestamp": f"{window[1]}T00:00:00Z"}
        for extra in ({}, {"timeDimension": {"granularity": "day"}}):
            q = parse_metrics_query(
                {"view": "traces", "dimensions": dims("name"), "metrics": metrics, **span, **extra}
            )
            got = _close(ch.metrics(p, q))
            assert got == _close(duck.metrics(p, q))
            answers.append(got)
    assert [r["name"] for r in answers[0]] == ["own time only"]
    assert [r["name"] for r in answers[2]] == [
        "moved out",
        "own time only",
        "own time, spans before",
        "starts before, spans inside",
    ]
