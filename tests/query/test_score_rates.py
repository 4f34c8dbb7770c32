"""Per-trace score measures (``scores.<name>``, ``has_score.<name>``, ``has_true_score.<name>``)
and the traces' prompt dimensions, on a real store. Expected rates are computed from the rows
written here, not copied from the engine's output."""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime

import orjson
import pytest
from fastapi.testclient import TestClient

from heron.model import ObservationRecord, TraceUpdate
from heron.query import FilterError
from heron.query.metrics import compile_metrics, parse_metrics_query
from heron.scores import ScoreRecord
from heron.store import EmbeddedStore

DAY_US = 86_400_000_000
T0 = 1_795_773_600_000_000  # 2026-11-27T10:00:00Z in µs
WINDOW = {"fromTimestamp": "2026-11-25T00:00:00Z", "toTimestamp": "2026-11-28T00:00:00Z"}

# trace, day offset, model, release, prompt version (None: no prompt), scores as (name, value)
TRACES: list[tuple[str, int, str, str, int | None, list[tuple[str, float]]]] = [
    ("r1", -2, "gpt-4o", "v1", 3, [("implicit_retry", 1), ("user_feedback", 1)]),
    ("r2", -2, "gpt-4o", "v1", 3, [("user_feedback", 0)]),
    ("r3", -2, "gpt-4o-mini", "v1", None, [("implicit_retry", 1), ("implicit_rephrase", 1)]),
    ("r4", -1, "gpt-4o", "v1", 3, []),
    ("r5", 0, "gpt-4o", "v2", 4, [("implicit_retry", 1), ("user_feedback", 1)]),
    ("r6", 0, "gpt-4o", "v2", 4, [("user_feedback", 1), ("user_feedback", 0)]),
    ("r7", 0, "gpt-4o-mini", "v2", None, [("implicit_rephrase", 1)]),
    ("r8", 0, "gpt-4o-mini", "v2", 4, [("user_feedback", 1)]),
    ("r9", 0, "gpt-4o", "v2", 4, []),
]
BOOLEAN = {"implicit_retry", "implicit_rephrase", "user_feedback"}


def tid(name: str) -> str:
    return name.encode().hex().ljust(32, "0")


def write(store: EmbeddedStore, project: str, scores: dict[str, list[tuple[str, float]]]) -> None:
    records, updates = [], []
    for trace, day, model, release, prompt, _ in TRACES:
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
                end_us=start + 100_000,
                model=model,
                prompt_name="support" if prompt is not None else None,
                prompt_version=prompt,
            )
        )
        updates.append(
            TraceUpdate(
                project_id=project,
                trace_id=tid(trace),
                is_root=True,
                name="chat",
                release=release,
                environment="production",
            )
        )
    store.write_batch(records, updates)
    rows = []
    for trace, values in scores.items():
        for k, (name, value) in enumerate(values):
            dtype = "BOOLEAN" if name in BOOLEAN else "NUMERIC"
            rows.append(
                ScoreRecord(project, f"{trace}-{name}-{k}", tid(trace), None, None, name,
                            float(value), None, dtype, "API", None, None,
                            datetime(2026, 11, 27, 11), None, None)
            )  # fmt: skip
    store.write_scores(rows)


@pytest.fixture
def seeded(store: EmbeddedStore) -> EmbeddedStore:
    write(store, "p1", {t[0]: t[5] for t in TRACES})
    # another project: the same trace ids, every trace with every score (value 1). Were the
    # scores not scoped, every p1 rate below would be 1.
    everything = [("implicit_retry", 1), ("implicit_rephrase", 1), ("user_feedback", 1)]
    write(store, "p2", {t[0]: everything for t in TRACES})
    return store


def run(store: EmbeddedStore, project: str = "p1", **query: object) -> list[dict]:
    return store.metrics(project, parse_metrics_query({"view": "traces", **WINDOW, **query}))


def m(measure: str, aggregation: str = "avg") -> dict[str, str]:
    return {"measure": measure, "aggregation": aggregation}


# Expected values, straight from TRACES
def has(trace: tuple, name: str) -> bool:
    return any(n == name for n, _ in trace[5])


def has_true(trace: tuple, name: str) -> bool:
    return any(n == name and v == 1 for n, v in trace[5])


def mean_value(trace: tuple, name: str) -> float | None:
    values = [v for n, v in trace[5] if n == name]
    return sum(values) / len(values) if values else None


def share(traces: list[tuple], test) -> float:
    return sum(1 for t in traces if test(t)) / len(traces)


def test_rates_over_all_traces(seeded: EmbeddedStore) -> None:
    metrics = [
        m("has_score.implicit_retry"),
        m("has_score.implicit_rephrase"),
        m("has_score.user_feedback"),
        m("has_true_score.user_feedback"),
        m("scores.user_feedback"),
        m("scores.user_feedback", "count"),
        m("has_score.implicit_retry", "sum"),
        m("count", "count"),
    ]
    [row] = run(seeded, metrics=metrics)
    responded = [t for t in TRACES if has(t, "user_feedback")]
    per_trace = [mean_value(t, "user_feedback") for t in responded]
    assert row["avg_has_score.implicit_retry"] == pytest.approx(
        share(TRACES, lambda t: has(t, "implicit_retry"))
    )
    assert row["avg_has_score.implicit_rephrase"] == pytest.approx(
        share(TRACES, lambda t: has(t, "implicit_rephrase"))
    )
    # response rate: traces with explicit feedback at all, over all traces
    assert row["avg_has_score.user_feedback"] == pytest.approx(len(responded) / len(TRACES))
    # positive over all traces, and positive among the traces that responded (per trace mean)
    assert row["avg_has_true_score.user_feedback"] == pytest.approx(
        share(TRACES, lambda t: has_true(t, "user_feedback"))
    )
    assert row["avg_scores.user_feedback"] == pytest.approx(sum(per_trace) / len(per_trace))
    assert row["count_scores.user_feedback"] == len(responded)
    assert row["sum_has_score.implicit_retry"] == sum(has(t, "implicit_retry") for t in TRACES)
    assert row["count_count"] == len(TRACES)


def test_other_project_counts_only_its_own(seeded: EmbeddedStore) -> None:
    [row] = run(seeded, "p2", metrics=[m("has_score.implicit_retry")])
    assert row["avg_has_score.implicit_retry"] == 1.0
    [row] = run(seeded, "p3", metrics=[m("has_score.implicit_retry"), m("count", "count")])
    assert row == {"avg_has_score.implicit_retry": None, "count_count": 0}


def grouped(key) -> dict:
    out: dict = defaultdict(list)
    for t in TRACES:
        out[key(t)].append(t)
    return out


def test_rates_by_model_and_release(seeded: EmbeddedStore) -> None:
    rows = run(seeded, metrics=[m("has_score.implicit_retry")], dimensions=[{"field": "model"}])
    got = {r["model"]: r["avg_has_score.implicit_retry"] for r in rows}
    want = {
        k: share(v, lambda t: has(t, "implicit_retry")) for k, v in grouped(lambda t: t[2]).items()
    }
    assert got == pytest.approx(want)
    rows = run(seeded, metrics=[m("has_score.user_feedback"), m("scores.user_feedback")],
               dimensions=[{"field": "release"}])  # fmt: skip
    for r in rows:
        traces = grouped(lambda t: t[3])[r["release"]]
        assert r["avg_has_score.user_feedback"] == pytest.approx(
            share(traces, lambda t: has(t, "user_feedback"))
        )
        values = [mean_value(t, "user_feedback") for t in traces if has(t, "user_feedback")]
        assert r["avg_scores.user_feedback"] == pytest.approx(sum(values) / len(values))


def test_rates_over_time_by_prompt_version(seeded: EmbeddedStore) -> None:
    rows = run(
        seeded,
        metrics=[m("has_score.implicit_retry"), m("count", "count")],
        dimensions=[{"field": "prompt_name"}, {"field": "prompt_version"}],
        timeDimension={"granularity": "day"},
    )
    day = {-2: "2026-11-25", -1: "2026-11-26", 0: "2026-11-27"}
    want = grouped(lambda t: (day[t[1]], "support" if t[4] else None, t[4]))
    got = {(r["time_dimension"][:10], r["prompt_name"], r["prompt_version"]): r for r in rows}
    for key, traces in want.items():
        assert got[key]["count_count"] == len(traces), key
        assert got[key]["avg_has_score.implicit_retry"] == pytest.approx(
            share(traces, lambda t: has(t, "implicit_retry"))
        ), key
    # every other cell of the grid is empty
    assert sum(r["count_count"] for r in rows) == len(TRACES)


def test_prompt_dimension_with_filters_and_zone(seeded: EmbeddedStore) -> None:
    rows = run(
        seeded,
        metrics=[m("has_score.implicit_retry")],
        dimensions=[{"field": "prompt_version"}],
        filters=[{"column": "model", "operator": "=", "value": "gpt-4o"},
                 {"column": "metadata.plan", "operator": "is null"}],
        timezone="Europe/Paris",
    )  # fmt: skip
    by_version: dict = defaultdict(list)
    for t in TRACES:
        if t[2] == "gpt-4o":
            by_version[t[4]].append(t)
    want = {k: share(v, lambda t: has(t, "implicit_retry")) for k, v in by_version.items()}
    assert {r["prompt_version"]: r["avg_has_score.implicit_retry"] for r in rows} == (
        pytest.approx(want)
    )


@pytest.mark.parametrize(
    ("measure", "view", "part"),
    [
        ("has_score.", "traces", "the score name after 'has_score.' must be a non-empty"),
        ("has_score. padded", "traces", "without surrounding spaces"),
        ("has_score." + "x" * 201, "traces", "at most 200 characters"),
        ("has_score.a\nb", "traces", "control character"),
        ("scorez.implicit_retry", "traces", "unknown measure 'scorez.implicit_retry'"),
        ("has_score.implicit_retry", "observations", "are measures of the traces view"),
        ("has_score.implicit_retry", "scores", "are measures of the traces view"),
    ],
)
def test_bad_score_measures_are_400s(measure: str, view: str, part: str) -> None:
    with pytest.raises(FilterError, match="metrics\\[0\\]") as info:
        parse_metrics_query({"view": view, "metrics": [m(measure)], **WINDOW})
    assert part in info.value.message
    assert info.value.status_code == 400


def test_score_name_is_a_parameter_never_sql() -> None:
    name = "x' OR 1=1 --"
    q = parse_metrics_query({"view": "traces", "metrics": [m(f"has_score.{name}")], **WINDOW})
    compiled = compile_metrics("p1", q)
    assert name not in compiled.sql and name in compiled.params
    assert "1=1" not in compiled.sql


def test_score_rates_over_http(client: TestClient) -> None:
    body = {"view": "traces", **WINDOW, "metrics": [m("has_score.")]}
    r = client.post("/api/metrics", json=body)
    assert r.status_code == 400
    assert "has_score." in r.text and "non-empty" in r.text
    body["metrics"] = [m("has_score.implicit_retry")]
    r = client.get("/api/public/v2/metrics", params={"query": orjson.dumps(body).decode()})
    assert r.status_code == 200, r.text
    assert r.json()["data"] == [{"avg_has_score.implicit_retry": None}]  # no traces yet
