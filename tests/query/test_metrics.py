"""The metrics engine on a real store: buckets, percentiles, costs, errors, scores, scoping."""

from __future__ import annotations

from datetime import datetime
from itertools import pairwise

import pytest

from heron.model import ObservationRecord, TraceUpdate
from heron.query import FilterError
from heron.query.metrics import compile_metrics, parse_metrics_query
from heron.scores import ScoreRecord
from heron.store import EmbeddedStore

DAY_US = 86_400_000_000
T0 = 1_795_773_600_000_000  # 2026-11-27T10:00:00Z in µs
WINDOW = {"fromTimestamp": "2026-11-25T00:00:00Z", "toTimestamp": "2026-11-28T00:00:00Z"}

# (trace, day offset, trace name, user, model, latency ms, cost, error)
GENERATIONS = [
    ("a1", -2, "chat", "u1", "gpt-4o", 100, 0.01, False),
    ("a2", -2, "chat", "u2", "gpt-4o", 200, 0.02, False),
    ("a3", 0, "chat", "u1", "gpt-4o", 300, 0.03, True),
    ("a4", 0, "search", "u3", "gpt-4o", 400, 0.04, False),
    ("a5", 0, "search", "u1", "gpt-4o-mini", 50, 0.001, False),
    ("a6", 0, "chat", "u2", "gpt-4o-mini", 150, 0.002, False),
]


def tid(name: str) -> str:
    return name.encode().hex().ljust(32, "0")


def write(store: EmbeddedStore, project: str = "p1") -> None:
    records, updates = [], []
    for trace, day, name, user, model, latency, cost, error in GENERATIONS:
        start = T0 + day * DAY_US
        records.append(
            ObservationRecord(
                project_id=project,
                id=tid(trace)[:16],
                trace_id=tid(trace),
                parent_id=None,
                type="generation",
                name=f"llm {model}",
                start_us=start,
                end_us=start + latency * 1000,
                completion_start_us=start + latency * 500,
                model=model,
                level="ERROR" if error else "DEFAULT",
                usage={"input": 100, "output": 10, "total": 110},
                cost={"input": cost / 2, "output": cost / 2, "total": cost},
                metadata={"plan": "pro" if user == "u1" else "free"},
            )
        )
        updates.append(
            TraceUpdate(
                project_id=project,
                trace_id=tid(trace),
                is_root=True,
                name=name,
                user_id=user,
                environment="production",
                tags=["beta"] if user == "u1" else [],
                metadata={"plan": "pro" if user == "u1" else "free"},
            )
        )
    store.write_batch(records, updates)
    scores = [
        ScoreRecord(project, f"s{i}", tid(t), None, None, "helpful", v, None, "NUMERIC", "API",
                    None, None, datetime(2026, 11, 27, 11), None, None)
        for i, (t, v) in enumerate([("a3", 1.0), ("a4", 0.5), ("a5", 0.0)])
    ]  # fmt: skip
    store.write_scores(scores)


@pytest.fixture
def seeded(store: EmbeddedStore) -> EmbeddedStore:
    write(store, "p1")
    write(store, "p2")  # another project's copy must never be counted
    return store


def run(store: EmbeddedStore, **query: object) -> list[dict]:
    return store.metrics("p1", parse_metrics_query({**WINDOW, **query}))


def test_count_by_day_has_explicit_empty_buckets(seeded: EmbeddedStore) -> None:
    rows = run(
        seeded,
        view="traces",
        metrics=[{"measure": "count", "aggregation": "count"}],
        timeDimension={"granularity": "day"},
    )
    assert rows == [
        {"time_dimension": "2026-11-25T00:00:00Z", "count_count": 2},
        {"time_dimension": "2026-11-26T00:00:00Z", "count_count": 0},
        {"time_dimension": "2026-11-27T00:00:00Z", "count_count": 4},
    ]


def test_empty_buckets_per_dimension_and_null_values(seeded: EmbeddedStore) -> None:
    rows = run(
        seeded,
        view="observations",
        dimensions=[{"field": "model"}],
        metrics=[
            {"measure": "count", "aggregation": "count"},
            {"measure": "latency", "aggregation": "avg"},
        ],
        timeDimension={"granularity": "day"},
    )
    mini = [r for r in rows if r["model"] == "gpt-4o-mini"]
    assert [r["count_count"] for r in mini] == [0, 0, 2]
    assert mini[0]["avg_latency"] is None and mini[2]["avg_latency"] == 100.0
    assert len(rows) == 6


def test_latency_percentiles_by_model(seeded: EmbeddedStore) -> None:
    rows = run(
        seeded,
        view="observations",
        dimensions=[{"field": "model"}],
        metrics=[
            {"measure": "latency", "aggregation": "p50"},
            {"measure": "latency", "aggregation": "p95"},
        ],
    )
    # gpt-4o: 100, 200, 300, 400 -> p50 = 250, p95 = 300 + 0.85 * 100 (linear interpolation)
    assert rows == [
        {"model": "gpt-4o", "p50_latency": 250.0, "p95_latency": pytest.approx(385.0)},
        {"model": "gpt-4o-mini", "p50_latency": 100.0, "p95_latency": pytest.approx(145.0)},
    ]


def test_cost_by_trace_name_and_cost_map_keys(seeded: EmbeddedStore) -> None:
    rows = run(
        seeded,
        view="observations",
        dimensions=[{"field": "trace_name"}],
        metrics=[
            {"measure": "total_cost", "aggregation": "sum"},
            {"measure": "input_cost", "aggregation": "sum"},
        ],
        orderBy=[{"field": "sum_total_cost", "direction": "desc"}],
    )
    assert [r["trace_name"] for r in rows] == ["chat", "search"]
    assert rows[0]["sum_total_cost"] == pytest.approx(0.062)
    assert rows[0]["sum_input_cost"] == pytest.approx(0.031)
    assert rows[1]["sum_total_cost"] == pytest.approx(0.041)


def test_error_rate_uniq_users_and_tokens_per_second(seeded: EmbeddedStore) -> None:
    [row] = run(
        seeded,
        view="observations",
        metrics=[
            {"measure": "error_rate", "aggregation": "avg"},
            {"measure": "error_count", "aggregation": "sum"},
            {"measure": "user_id", "aggregation": "uniq"},
            {"measure": "tokens_per_second", "aggregation": "max"},
        ],
    )
    assert row["avg_error_rate"] == pytest.approx(1 / 6)
    assert row["sum_error_count"] == 1
    assert row["uniq_user_id"] == 3
    assert row["max_tokens_per_second"] == pytest.approx(10 / 0.025)  # 50 ms run, ttft 25 ms
    [traces] = run(seeded, view="traces", metrics=[{"measure": "user_id", "aggregation": "uniq"}])
    assert traces == {"uniq_user_id": 3}


def test_score_averages(seeded: EmbeddedStore) -> None:
    rows = run(
        seeded,
        view="scores",
        dimensions=[{"field": "name"}],
        metrics=[
            {"measure": "value", "aggregation": "avg"},
            {"measure": "count", "aggregation": "count"},
        ],
    )
    assert rows == [{"name": "helpful", "avg_value": 0.5, "count_count": 3}]


def test_filters_tags_and_metadata_dimensions(seeded: EmbeddedStore) -> None:
    rows = run(
        seeded,
        view="traces",
        dimensions=[{"field": "tags"}],
        metrics=[{"measure": "count", "aggregation": "count"}],
        filters=[{"column": "name", "operator": "=", "value": "chat"}],
    )
    assert rows == [{"tags": "beta", "count_count": 2}, {"tags": None, "count_count": 2}]
    rows = run(
        seeded,
        view="observations",
        dimensions=[{"field": "tags"}],
        metrics=[{"measure": "total_cost", "aggregation": "sum"}],
    )
    beta = sum(g[6] for g in GENERATIONS if g[3] == "u1")  # u1's traces are tagged beta
    rest = sum(g[6] for g in GENERATIONS if g[3] != "u1")
    assert rows == [
        {"tags": "beta", "sum_total_cost": pytest.approx(beta)},
        {"tags": None, "sum_total_cost": pytest.approx(rest)},
    ]
    rows = run(
        seeded,
        view="traces",
        dimensions=[{"field": "metadata.plan"}],
        metrics=[{"measure": "count", "aggregation": "count"}],
    )
    assert rows == [
        {"metadata.plan": "free", "count_count": 3},
        {"metadata.plan": "pro", "count_count": 3},
    ]


def test_id_grouping_needs_row_limit(seeded: EmbeddedStore) -> None:
    query = {
        **WINDOW,
        "view": "traces",
        "dimensions": [{"field": "id"}],
        "metrics": [{"measure": "latency", "aggregation": "max"}],
    }
    with pytest.raises(FilterError, match="row_limit"):
        parse_metrics_query(query)
    rows = seeded.metrics(
        "p1",
        parse_metrics_query(
            {
                **query,
                "config": {"row_limit": 2},
                "orderBy": [{"field": "max_latency", "direction": "desc"}],
            }
        ),
    )
    assert [r["id"] for r in rows] == [tid("a4"), tid("a3")]


def test_timezone_buckets(seeded: EmbeddedStore) -> None:
    rows = run(
        seeded,
        view="traces",
        metrics=[{"measure": "count", "aggregation": "count"}],
        timeDimension={"granularity": "day"},
        timezone="Asia/Tokyo",
    )
    assert rows[0]["time_dimension"] == "2026-11-24T15:00:00Z"  # local midnight, in UTC
    assert sum(r["count_count"] for r in rows) == 6


def test_latency_histogram_shares_bins_across_groups(seeded: EmbeddedStore) -> None:
    rows = seeded.metrics(
        "p1",
        parse_metrics_query(
            {
                **WINDOW,
                "view": "observations",
                "dimensions": [{"field": "model"}],
                "metrics": [{"measure": "latency", "aggregation": "histogram"}],
                "config": {"bins": 7},
            }
        ),
    )
    by_model = {r["model"]: r["histogram_latency"] for r in rows}
    latencies = {
        model: [g[5] for g in GENERATIONS if g[4] == model] for model in ("gpt-4o", "gpt-4o-mini")
    }
    everything = [x for xs in latencies.values() for x in xs]
    lo, hi = min(everything), max(everything)
    for model, bins in by_model.items():
        assert len(bins) == 7
        assert bins[0][0] == pytest.approx(lo) and bins[-1][1] == pytest.approx(hi)
        assert all(a[1] == pytest.approx(b[0]) for a, b in pairwise(bins))
        assert all(isinstance(n, int) for _, _, n in bins)
        for lower, upper, n in bins:  # the last bin includes the maximum
            inside = [x for x in latencies[model] if lower <= x < upper or x == upper == hi]
            assert n == len(inside), (model, lower, upper)


def test_histogram_of_one_value_and_empty_buckets(seeded: EmbeddedStore) -> None:
    rows = seeded.metrics(
        "p1",
        parse_metrics_query(
            {
                **WINDOW,
                "view": "traces",
                "metrics": [{"measure": "input_tokens", "aggregation": "histogram"}],
                "timeDimension": {"granularity": "day"},
            }
        ),
    )
    by_day = {r["time_dimension"][:10]: r["histogram_input_tokens"] for r in rows}
    assert by_day["2026-11-26"] is None  # no traces that day
    assert by_day["2026-11-25"] == [[100.0, 100.0, 2]]  # every trace has 100 input tokens
    assert by_day["2026-11-27"] == [[100.0, 100.0, 4]]


def test_values_never_in_sql() -> None:
    q = parse_metrics_query(
        {
            **WINDOW,
            "view": "traces",
            "dimensions": [{"field": "metadata.x'; DROP TABLE traces; --"}],
            "metrics": [{"measure": "count", "aggregation": "count"}],
            "filters": [{"column": "name", "operator": "=", "value": "evil'"}],
        }
    )
    compiled = compile_metrics("p1", q)
    assert "evil" not in compiled.sql and "DROP" not in compiled.sql and "p1" not in compiled.sql


@pytest.mark.parametrize(
    ("patch", "part"),
    [
        ({"view": "spans"}, "view"),
        ({"metrics": [{"measure": "nope", "aggregation": "sum"}]}, "measure"),
        ({"metrics": [{"measure": "latency", "aggregation": "median"}]}, "aggregation"),
        ({"metrics": [{"measure": "id", "aggregation": "histogram"}]}, "not numeric"),
        ({"config": {"bins": 0}}, "bins"),
        ({"config": {"bins": 101}}, "bins"),
        ({"config": {"bins": "ten"}}, "bins"),
        ({"metrics": []}, "metrics"),
        ({"dimensions": [{"field": "colour"}]}, "dimension"),
        ({"timeDimension": {"granularity": "fortnight"}}, "granularity"),
        ({"fromTimestamp": "yesterday"}, "fromTimestamp"),
        ({"fromTimestamp": "2026-12-01T00:00:00Z"}, "fromTimestamp"),
        ({"filters": [{"column": "colour", "operator": "=", "value": 1}]}, "colour"),
        ({"orderBy": [{"field": "colour"}]}, "orderBy"),
        ({"timezone": "Mars/Olympus"}, "timezone"),
        ({"config": {"row_limit": 0}}, "row_limit"),
    ],
)
def test_validation_errors_name_the_part(patch: dict, part: str) -> None:
    query = {
        **WINDOW,
        "view": "observations",
        "metrics": [{"measure": "latency", "aggregation": "avg"}],
        **patch,
    }
    with pytest.raises(FilterError, match=part):
        parse_metrics_query(query)


def test_a_langfuse_query_runs_with_langfuse_names(seeded: EmbeddedStore) -> None:
    query = {
        **WINDOW,
        "view": "observations",
        "dimensions": [{"field": "providedModelName"}],
        "metrics": [
            {"measure": "totalCost", "aggregation": "sum"},
            {"measure": "count", "aggregation": "count"},
        ],
        "filters": [
            {
                "column": "traceName",
                "operator": "any of",
                "value": ["chat"],
                "type": "stringOptions",
            },
            {"column": "userId", "operator": "<>", "value": "u9", "type": "string"},
            {"column": "metadata", "key": "plan", "operator": "=", "value": "free"},
        ],
        "orderBy": [{"field": "sum_totalCost", "direction": "desc"}],
        "config": {"row_limit": 10},
    }
    rows = seeded.metrics("p1", parse_metrics_query(query))
    free_chat = [g for g in GENERATIONS if g[2] == "chat" and g[3] != "u1"]  # u1 is on "pro"
    expected = {
        m: pytest.approx(sum(g[6] for g in free_chat if g[4] == m))
        for m in {g[4] for g in free_chat}
    }
    assert {r["providedModelName"]: r["sum_totalCost"] for r in rows} == expected
    assert list(rows[0]) == ["providedModelName", "sum_totalCost", "count_count"]
    assert rows[0]["sum_totalCost"] >= rows[-1]["sum_totalCost"]


def test_scores_numeric_and_categorical_views(seeded: EmbeddedStore) -> None:
    seeded.write_scores(
        [
            ScoreRecord("p1", "c1", tid("a1"), None, None, "tone", None, "calm", "CATEGORICAL",
                        "API", None, None, datetime(2026, 11, 27, 11), None, None),
        ]
    )  # fmt: skip

    def names(view: str) -> dict[str, int]:
        rows = seeded.metrics(
            "p1",
            parse_metrics_query(
                {
                    **WINDOW,
                    "view": view,
                    "dimensions": [{"field": "name"}, {"field": "stringValue"}],
                    "metrics": [{"measure": "count", "aggregation": "count"}],
                }
            ),
        )
        return {(r["name"], r["stringValue"]): r["count_count"] for r in rows}

    assert names("scores-numeric") == {("helpful", None): 3}
    assert names("scores-categorical") == {("tone", "calm"): 1}
    assert names("scores") == {("helpful", None): 3, ("tone", "calm"): 1}


def test_trace_attributes_of_observations_with_zone_buckets(seeded: EmbeddedStore) -> None:
    """Trace-level dimension, trace-level filter and a quarter-hour zone together."""
    rows = run(
        seeded,
        view="observations",
        dimensions=[{"field": "trace_name"}],
        metrics=[{"measure": "count", "aggregation": "count"}],
        filters=[{"column": "user_id", "operator": "in", "value": ["u1", "u2"]}],
        timeDimension={"granularity": "day"},
        timezone="Asia/Kathmandu",
    )
    got = [(r["time_dimension"], r["trace_name"], r["count_count"]) for r in rows]
    assert [g for g in got if g[2]] == [
        ("2026-11-24T18:15:00Z", "chat", 2),
        ("2026-11-26T18:15:00Z", "chat", 2),
        ("2026-11-26T18:15:00Z", "search", 1),
    ]
    assert len(rows) == 4 * 2  # every local day of the window, for each trace name


def linear_quantile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    pos = q * (len(ordered) - 1)
    low = int(pos)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (pos - low)


def test_several_percentiles_of_several_measures(seeded: EmbeddedStore) -> None:
    """Percentiles of one measure share one list quantile; each lands in its own column."""
    [row] = run(
        seeded,
        view="observations",
        metrics=[
            {"measure": "total_cost", "aggregation": "p50"},
            {"measure": "latency", "aggregation": "p99"},
            {"measure": "latency", "aggregation": "p50"},
            {"measure": "total_cost", "aggregation": "p90"},
            {"measure": "latency", "aggregation": "avg"},
            {"measure": "latency", "aggregation": "p75"},
        ],
    )
    latencies = [float(g[5]) for g in GENERATIONS]
    costs = [g[6] for g in GENERATIONS]
    assert row["p99_latency"] == pytest.approx(linear_quantile(latencies, 0.99))
    assert row["p50_latency"] == pytest.approx(linear_quantile(latencies, 0.5))
    assert row["p75_latency"] == pytest.approx(linear_quantile(latencies, 0.75))
    assert row["p50_total_cost"] == pytest.approx(linear_quantile(costs, 0.5))
    assert row["p90_total_cost"] == pytest.approx(linear_quantile(costs, 0.9))
    assert row["avg_latency"] == pytest.approx(sum(latencies) / len(latencies))
