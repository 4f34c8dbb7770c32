"""Signals, issues, comparisons and the trace-analysis reads on both backends: DuckDB
(EmbeddedStore, a real file) and the cluster (an ``open_cluster`` ClusterStore: ClickHouse's
HTTP protocol on chdb, a real PostgreSQL). The same data goes to both; every answer must be
the same, and is also checked against what it must be."""

from __future__ import annotations

import dataclasses
import math
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import orjson
import pytest

from heron.compare import parse_compare_query
from heron.compare.stats import quantile
from heron.errors import BadRequest, NotFound, QueryTimeout
from heron.evals.spec import Problems
from heron.model import ObservationRecord, TraceUpdate
from heron.query import parse_filters
from heron.runner.task import Target
from heron.scores import ScoreRecord
from heron.signals.rules import check_rule
from heron.signals.task import RulesTask
from heron.store import ListQuery
from heron.store.cluster import ClusterStore
from tests.store.conftest import new_project

T0 = 1_760_000_000_000_000  # µs: 2025-10-09
S = 1_000_000
MS = 1_000
EPOCH = datetime(1970, 1, 1)


def at(us: int) -> datetime:
    return EPOCH + timedelta(microseconds=us)


def same(stores: tuple[Any, Any], method: str, *args: Any, **kwargs: Any) -> Any:
    """Call ``method`` on both stores; the answers must be equal. Returns DuckDB's."""
    a = getattr(stores[0], method)(*args, **kwargs)
    b = getattr(stores[1], method)(*args, **kwargs)
    assert a == b, f"{method}: DuckDB {a!r}\n != cluster {b!r}"
    return a


def write(
    stores: tuple[Any, Any], spans: list[ObservationRecord], updates: list[TraceUpdate]
) -> None:
    for s in stores:
        s.write_batch(spans, updates)


def span(p: str, trace: str, oid: str, parent: str | None = None, **kw: Any) -> ObservationRecord:
    base: dict[str, Any] = {"project_id": p, "id": oid, "trace_id": trace, "parent_id": parent,
                            "type": "span", "name": oid, "start_us": T0}  # fmt: skip
    base.update(kw)
    return ObservationRecord(**base)


def score(
    p: str, sid: str, trace: str, name: str, when: datetime, value: float | None = None,
    label: str | None = None, data_type: str | None = None, observation: str | None = None,
) -> ScoreRecord:  # fmt: skip
    return ScoreRecord(
        project_id=p, id=sid, trace_id=trace, observation_id=observation, session_id=None,
        name=name, value=value, string_value=label,
        data_type=data_type or ("CATEGORICAL" if label else "NUMERIC"), source="API",
        comment=None, author=None, timestamp=when, metadata=None, environment=None,
    )  # fmt: skip


# -- the shared data: two releases of two trace names ------------------------------------------

N = 120  # traces per release: enough for a p95 comparison (MIN_TAIL / 0.05 = 100)


def latency_ms(release: int, i: int) -> int:
    """Distinct latencies, release 2 slower."""
    return 200 + (i * 37) % 400 + (150 if release == 2 else 0) + i


def shared_data(p: str) -> tuple[list[ObservationRecord], list[TraceUpdate], list[ScoreRecord]]:
    spans, updates, scores = [], [], []
    for release in (1, 2):
        for i in range(N):
            t = f"r{release}-{i:03d}"
            start = T0 + (release - 1) * 3600 * S + i * 10 * S
            lat = latency_ms(release, i) * MS
            name = "chat" if i % 3 else "search"
            spans.append(span(p, t, "root", name=name, start_us=start, end_us=start + lat,
                              level="ERROR" if i % 17 == 0 else "DEFAULT",
                              status_message="boom" if i % 17 == 0 else None))  # fmt: skip
            gen_start = start + 5 * MS
            spans.append(
                span(
                    p,
                    t,
                    f"gen-{t}",
                    "root",
                    type="generation",
                    model="gpt-4o" if i % 4 else "mystery-model",
                    start_us=gen_start,
                    completion_start_us=gen_start + (20 + i % 7) * MS,
                    end_us=start + lat - MS,
                    usage={"input": 100 + i, "output": 10 + i % 11, "total": 110 + i + i % 11},
                    cost={"total": (1 + i % 5) / 1024} if i % 4 else {},
                    prompt_name="answer" if i % 2 else None,
                    prompt_version=release if i % 2 else None,
                    metadata={"heron.fingerprint": f"fp-{i % 3}"} if i % 5 == 0 else {},
                )
            )
            if i % 6 == 0:
                spans.append(span(p, t, "lookup", "root", type="tool", name="lookup",
                                  start_us=start + 2 * MS, end_us=start + 4 * MS))  # fmt: skip
            updates.append(
                TraceUpdate(
                    project_id=p,
                    trace_id=t,
                    name=name,
                    user_id=f"u{i % 4}",
                    session_id=f"s{i % 9}",
                    release=f"v{release}",
                    version=f"build-{release}",
                    environment="prod" if i % 2 else "staging",
                    tags=["a"] if i % 2 else [],
                    timestamp_us=start,
                )
            )
            scores.append(
                score(p, f"q-{t}", t, "quality", at(start + lat), value=(i * 7 + release) % 10 / 2)
            )
            if i % 3 == 0:
                label = "good" if i % 2 else "bad"
                scores.append(score(p, f"l-{t}", t, "label", at(start + lat), label=label))
            if i % (4 if release == 1 else 3) == 0:  # an implicit retry: a rate over all traces
                scores.append(score(p, f"r-{t}", t, "implicit_retry", at(start + lat), 1.0,
                                    data_type="BOOLEAN"))  # fmt: skip
            scores.append(score(p, f"g-{t}", t, "gen_quality", at(start + lat), (i % 7) / 3,
                                observation=f"gen-{t}"))  # fmt: skip
    return spans, updates, scores


@pytest.fixture(scope="module")
def shared(both: tuple[Any, Any]) -> str:
    p = new_project(both)
    spans, updates, scores = shared_data(p)
    write(both, spans, updates)
    for s in both:
        s.write_scores(scores)
    return p


# -- comparisons -----------------------------------------------------------------------------


def test_compare_two_releases_gives_identical_statistics(
    both: tuple[Any, Any], shared: str
) -> None:
    query = parse_compare_query(
        {"field": "release", "baseline_value": "v1", "candidate_value": "v2", "seed": 7}
    )
    answer = same(both, "compare", shared, query)
    metrics = {m["metric"]: m for m in answer["metrics"]}
    assert metrics["count"]["baseline"] == metrics["count"]["candidate"] == N
    lat1 = np.sort([float(latency_ms(1, i)) for i in range(N)])
    lat2 = np.sort([float(latency_ms(2, i)) for i in range(N)])
    assert metrics["p50_latency"]["baseline"] == quantile(lat1, 0.5)
    assert metrics["p95_latency"]["candidate"] == quantile(lat2, 0.95)
    assert metrics["avg_latency"]["baseline"] == pytest.approx(lat1.mean())
    assert metrics["p95_latency"]["verdict"] != "insufficient data"
    assert metrics["p50_latency"]["significant"] and metrics["p50_latency"]["difference"] > 0
    assert metrics["error_rate"]["baseline"] == pytest.approx(len(range(0, N, 17)) / N)
    ttft1 = np.sort([float(20 + i % 7) for i in range(N)])
    assert metrics["p50_time_to_first_token"]["baseline"] == quantile(ttft1, 0.5)
    assert metrics["scores.quality"]["n_baseline"] == N
    assert {"scores.label=good", "scores.label=bad"} <= set(metrics)
    retry = metrics["scores.implicit_retry"]
    assert (retry["baseline"], retry["candidate"]) == (30 / N, 40 / N)


def test_a_comparison_past_its_time_limit_is_cancelled_on_the_cluster(
    both: tuple[Any, Any], shared: str
) -> None:
    """One limit for the whole comparison (both cohorts' queries), as DuckDB's deadline."""
    _, cluster = both
    query = parse_compare_query(
        {"field": "release", "baseline_value": "v1", "candidate_value": "v2"}
    )
    cluster.events.query_timeout_s = 0.0001  # ClickHouse cancels it at its first check
    try:
        with pytest.raises(QueryTimeout, match=r"the comparison ran longer than 0.0001 s"):
            cluster.compare(shared, query)
    finally:
        cluster.events.query_timeout_s = None


def test_compare_observations_between_time_windows(both: tuple[Any, Any], shared: str) -> None:
    query = parse_compare_query(
        {
            "view": "observations",
            "baseline": {
                "filters": [{"column": "type", "operator": "=", "value": "generation"}],
                "toTimestamp": at(T0 + 3600 * S).isoformat() + "Z",
            },
            "candidate": {
                "filters": [{"column": "type", "operator": "=", "value": "generation"}],
                "fromTimestamp": at(T0 + 3600 * S).isoformat() + "Z",
            },
        },
    )
    answer = same(both, "compare", shared, query)
    metrics = {m["metric"]: m for m in answer["metrics"]}
    assert metrics["count"]["baseline"] == metrics["count"]["candidate"] == N
    tps = [(10 + i % 11) / ((latency_ms(1, i) - 26 - i % 7) / 1000) for i in range(N)]
    assert metrics["avg_tokens_per_second"]["baseline"] == pytest.approx(np.mean(tps))
    quality = metrics["scores.gen_quality"]  # scores of the observations themselves
    assert quality["n_baseline"] == N
    assert quality["baseline"] == pytest.approx(np.mean([(i % 7) / 3 for i in range(N)]))


# -- what the rules and the evaluators' filters read -----------------------------------------


def test_signal_percentiles_are_exact_and_identical(both: tuple[Any, Any], shared: str) -> None:
    since = at(T0)
    for fraction in (0.5, 0.9, 0.37, 0.99):
        got = same(both, "signal_percentiles", shared, "latency_ms", fraction, since, 10)
        for name in ("chat", "search"):
            values = [
                float(latency_ms(r, i)) for r in (1, 2) for i in range(N)
                if ("chat" if i % 3 else "search") == name
            ]  # fmt: skip
            assert got[name] == pytest.approx(float(np.quantile(values, fraction)), rel=1e-12)
    costs = same(both, "signal_percentiles", shared, "total_cost", 0.75, since, 10)
    assert set(costs) == {"chat", "search"}
    assert same(both, "signal_percentiles", shared, "latency_ms", 0.5, since, 10_000) == {}
    assert same(both, "signal_percentiles", shared, "latency_ms", 0.5, at(T0 + 10**12), 1) == {}


def test_rule_and_filter_matches_are_identical(both: tuple[Any, Any], shared: str) -> None:
    ids = [f"r{r}-{i:03d}" for r in (1, 2) for i in range(0, N, 5)] + ["nope"]
    rules = {
        "searches": parse_filters([{"column": "name", "operator": "=", "value": "search"}]),
        "slow_v2": parse_filters(
            [
                {"column": "release", "operator": "=", "value": "v2"},
                {"column": "latency_ms", "operator": ">", "value": 700},
            ]
        ),
        "tagged": parse_filters([{"column": "tags", "operator": "contains", "value": "a"}]),
        "good": parse_filters([{"column": "scores.label", "operator": "=", "value": "good"}]),
    }
    matched = same(both, "signal_trace_matches", shared, ids, rules)
    assert matched["searches"] == {t for t in ids if t != "nope" and int(t[3:]) % 3 == 0}
    assert matched["slow_v2"] == {
        t for t in ids if t.startswith("r2") and latency_ms(2, int(t[3:])) > 700
    }
    assert matched["good"] == {t for t in ids if t != "nope" and int(t[3:]) % 6 == 3}
    assert same(both, "signal_trace_matches", shared, [], rules) == {n: set() for n in rules}
    for name, filters in rules.items():
        assert same(both, "matching_traces", shared, ids, filters) == matched[name]

    obs_rules = {
        "error": parse_filters([{"column": "level", "operator": "=", "value": "ERROR"}]),
        "mystery": parse_filters([{"column": "model", "operator": "=", "value": "mystery-model"}]),
        "chat_gen": parse_filters(
            [
                {"column": "type", "operator": "=", "value": "generation"},
                {"column": "trace_name", "operator": "=", "value": "chat"},
            ]
        ),
    }
    found = same(both, "signal_observation_matches", shared, ids, obs_rules)
    assert [(o["trace_id"], o["status_message"]) for o in found["error"]] == [
        (t, "boom") for t in sorted(ids) if t != "nope" and int(t[3:]) % 17 == 0
    ]
    assert {o["trace_id"] for o in found["mystery"]} == {
        t for t in ids if t != "nope" and int(t[3:]) % 4 == 0
    }
    fingerprints = {o["trace_id"]: o["fingerprint"] for o in found["mystery"]}
    assert fingerprints["r1-000"] == "fp-0" and fingerprints["r1-020"] == "fp-2"
    for name, filters in obs_rules.items():
        rows = same(both, "matching_observations", shared, ids, filters)
        assert [(o["trace_id"], o["id"]) for o in rows] == [
            (o["trace_id"], o["id"]) for o in found[name]
        ]
    gens = same(both, "matching_observations", shared, ["r1-005"], obs_rules["chat_gen"])
    assert gens[0]["metadata"] == {"heron.fingerprint": "fp-2"} and gens[0]["total_tokens"] == 120


def test_trace_scores_and_calls_are_identical(both: tuple[Any, Any], shared: str) -> None:
    ids = ["r1-000", "r1-003", "r2-006", "missing"]
    scores = same(both, "trace_scores", shared, ids)
    assert [(s["trace_id"], s["name"]) for s in scores] == [
        ("r1-000", "gen_quality"), ("r1-000", "label"), ("r1-000", "quality"),
        ("r1-000", "implicit_retry"), ("r1-003", "gen_quality"), ("r1-003", "label"),
        ("r1-003", "quality"), ("r2-006", "gen_quality"), ("r2-006", "label"),
        ("r2-006", "quality"), ("r2-006", "implicit_retry"),
    ]  # fmt: skip
    assert isinstance(scores[0]["timestamp"], datetime)
    calls = same(both, "trace_calls", shared, ids)
    assert [(c["trace_id"], c["id"]) for c in calls] == [
        ("r1-000", "lookup"), ("r1-000", "gen-r1-000"), ("r1-003", "gen-r1-003"),
        ("r2-006", "lookup"), ("r2-006", "gen-r2-006"),
    ]  # fmt: skip
    assert calls[1]["fingerprint"] == "fp-0" and calls[2]["fingerprint"] is None
    assert same(both, "trace_scores", shared, []) == same(both, "trace_calls", shared, []) == []


def test_changes_environments_and_models_are_identical(both: tuple[Any, Any], shared: str) -> None:
    changes = same(both, "changes", shared)
    assert [(c["kind"], c["value"], c["previous"]) for c in changes] == [
        ("release", "v1", None), ("version", "build-1", None), ("prompt", "answer v1", None),
        ("release", "v2", "v1"), ("version", "build-2", "build-1"),
        ("prompt", "answer v2", "answer v1"),
    ]  # fmt: skip
    only_search = parse_filters([{"column": "name", "operator": "=", "value": "search"}])
    filtered = same(both, "changes", shared, only_search, parse_filters([]))
    assert filtered[0]["first_seen"] == changes[0]["first_seen"]
    envs = same(both, "trace_environments", shared, ["r1-000", "r1-001", "nope"])
    assert envs == {"r1-000": "staging", "r1-001": "prod"}
    assert same(both, "observed_models", shared) == ["gpt-4o", "mystery-model"]
    unpriced = same(both, "unpriced_models", shared)
    assert [(u["model"], u["observations"]) for u in unpriced] == [("mystery-model", 2 * N // 4)]
    assert unpriced[0]["total_tokens"] == sum(
        110 + i + i % 11 for _ in (1, 2) for i in range(0, N, 4)
    )


# -- signals and issues ----------------------------------------------------------------------


def rule(store: Any, p: str, raw: dict[str, Any]) -> None:
    problems = Problems()
    name, spec = check_rule(raw, "rule", problems, channels={"ops"})
    assert spec is not None, problems.items
    store.put_signal_rule(p, name, spec)


def run_rules(store: Any, p: str, traces: dict[str, dict[str, Any]]) -> None:
    task = RulesTask()
    task.bind(store)
    targets = [Target("rules", "1", p, "trace", t, [fields]) for t, fields in traces.items()]
    task.run_many(targets, datetime.now(UTC).replace(tzinfo=None))


def failing(p: str, trace: str, start: int, user: str) -> tuple[list[Any], TraceUpdate]:
    spans = [
        span(p, trace, "root", name="checkout", start_us=start, end_us=start + S),
        span(
            p,
            trace,
            "pay",
            "root",
            type="tool",
            name="pay",
            start_us=start + MS,
            end_us=start + 2 * MS,
            level="ERROR",
            status_message="card declined",
        ),
    ]
    update = TraceUpdate(project_id=p, trace_id=trace, name="checkout", user_id=user,
                         session_id="sess-" + user, timestamp_us=start)  # fmt: skip
    return spans, update


def trace_fields(trace: str, start: int, user: str) -> dict[str, Any]:
    return {"id": trace, "name": "checkout", "user_id": user, "session_id": "sess-" + user,
            "metadata": {}, "latency_ms": 1000.0, "total_cost": None,
            "start_time": at(start)}  # fmt: skip


def notified(store: Any, p: str) -> list[str]:
    """The outbox's event types for the project, oldest first."""
    sql = "SELECT event FROM notifications WHERE project_id = ? ORDER BY created_at, id"
    if isinstance(store, ClusterStore):
        with store.control._read() as cur:
            rows = cur.execute(sql, [p]).fetchall()
    else:
        rows = store.cursor().execute(sql, [p]).fetchall()
    return [orjson.loads(r[0])["type"] for r in rows]


def stable(value: Any) -> Any:
    """An issue without its write times (each store stamps its own clock)."""
    if isinstance(value, list):
        return [stable(v) for v in value]
    return {k: v for k, v in value.items() if k not in ("created_at", "status_changed_at")}


def test_signals_from_the_rules_become_issues_with_statuses(both: tuple[Any, Any]) -> None:
    p = new_project(both)
    for s in both:
        rule(s, p, {"name": "error", "notify": ["ops"]})
        checkouts = [{"column": "name", "operator": "=", "value": "checkout"}]
        rule(s, p, {"name": "checkouts", "target": "traces", "severity": "info",
                    "filter": checkouts})  # fmt: skip
    traces = {}
    for k in range(3):
        trace, start = f"c{k}", T0 + k * 60 * S
        spans, update = failing(p, trace, start, f"u{k % 2}")
        write(both, spans, [update])
        traces[trace] = trace_fields(trace, start, f"u{k % 2}")
    for s in both:
        run_rules(s, p, traces)
        run_rules(s, p, traces)  # a redo writes nothing new

    signals, total = same_page(both, "list_signals", p)
    assert total == 6 and len(signals) == 6
    assert {(x["rule"], x["trace_id"]) for x in signals} == {
        (r, f"c{k}") for r in ("error", "checkouts") for k in range(3)
    }
    assert [x["time"] for x in signals] == sorted((x["time"] for x in signals), reverse=True)
    assert same_page(both, "list_signals", p, rule="error", limit=2, offset=1)[1] == 3
    assert same_page(both, "list_signals", p, trace_id="c1")[1] == 2
    assert same_page(both, "list_signals", p, start=at(T0 + 60 * S), end=at(T0 + 120 * S))[1] == 2

    duck_issues, n = same_page(both, "list_issues", p)
    assert n == 2
    by_rule = {i["rule"]: i for i in duck_issues}
    error = by_rule["error"]
    assert (error["count"], error["users"], error["sessions"], error["status"]) == (3, 2, 2, "open")
    assert error["title"] == "pay: card declined" and error["severity"] == "error"
    assert stable(same_issue(both, p, error["id"])) == stable(error)
    assert same_page(both, "list_issues", p, sort="count", severity=("info",))[1] == 1
    assert same_page(both, "list_issues", p, rule="error", start=at(T0 + 10**12))[1] == 0
    window = same_page(both, "list_issues", p, start=at(T0 + 60 * S), end=at(T0 + 120 * S))
    assert window[1] == 2 and window[0][0]["count"] == 3  # seen then; counted over all time
    assert notified(both[0], p) == notified(both[1], p) == ["issue.opened"]

    end = at(T0 + 180 * S)
    detail = same(both, "issue_detail", p, error["id"], end, timedelta(minutes=1), 3)
    assert [b["count"] for b in detail["series"]] == [1, 1, 1]
    assert detail["sample_trace_ids"] == ["c2", "c1", "c0"]
    assert detail["user_id"] == [{"id": "u0", "count": 2}, {"id": "u1", "count": 1}]

    # resolved, then a new failure with the same fingerprint: regressed, announced
    assert same(both, "set_issue_status", p, [error["id"], "nope"], "resolved") == [error["id"]]
    spans, update = failing(p, "c3", T0 + 200 * S, "u9")
    write(both, spans, [update])
    for s in both:
        run_rules(s, p, {"c3": trace_fields("c3", T0 + 200 * S, "u9")})
    assert stable(same_issue(both, p, error["id"]))["status"] == "regressed"
    assert notified(both[0], p) == notified(both[1], p) == ["issue.opened", "issue.regressed"]

    # ignored until one more signal: reads as open once it comes
    same(both, "set_issue_status", p, [error["id"]], "ignored", more=1)
    assert same_page(both, "list_issues", p, status=("ignored",))[1] == 1
    spans, update = failing(p, "c4", T0 + 300 * S, "u9")
    write(both, spans, [update])
    for s in both:
        run_rules(s, p, {"c4": trace_fields("c4", T0 + 300 * S, "u9")})
    assert same_page(both, "list_issues", p, status=("ignored",))[1] == 0
    issue = stable(same_issue(both, p, error["id"]))
    assert (issue["status"], issue["count"]) == ("open", 5)
    with pytest.raises(BadRequest):
        both[1].set_issue_status(p, [error["id"]], "closed")
    with pytest.raises(NotFound):
        both[1].set_issue_status(p, ["nope"], "resolved")
    assert same(both, "get_issue", p, "nope") is None


def same_page(both: tuple[Any, Any], method: str, *args: Any, **kw: Any) -> tuple[list, int]:
    """A page of signals or issues, the same on both stores but for their write times, which
    must be recent on each."""
    pages = [getattr(s, method)(*args, **kw) for s in both]
    assert stable(pages[0][0]) == stable(pages[1][0]) and pages[0][1] == pages[1][1]
    now = datetime.now(UTC).replace(tzinfo=None)
    for rows, _ in pages:
        assert all(now - timedelta(minutes=5) < r["created_at"] <= now for r in rows)
    return pages[0]


def same_issue(both: tuple[Any, Any], p: str, issue_id: str) -> dict[str, Any]:
    a, b = (s.get_issue(p, issue_id) for s in both)
    assert a is not None and stable(a) == stable(b)
    return a


def test_an_issues_traces_fill_a_queue_the_same(both: tuple[Any, Any]) -> None:
    p = new_project(both)
    traces = {}
    for k in range(4):
        trace, start = f"q{k}", T0 + k * S
        spans, update = failing(p, trace, start, "u")
        write(both, spans, [update])
        traces[trace] = trace_fields(trace, start, "u")
    queues = []
    for s in both:
        run_rules(s, p, traces)
        queue = s.create_annotation_queue(p, {"name": "triage", "score_config_ids": []})["id"]
        s.add_queue_items(p, queue, [("TRACE", "q2")])
        queues.append(queue)
    (issue,), _ = both[0].list_issues(p, rule="error")
    answers = [
        s.queue_issue_traces(p, q, issue["id"], 2) for s, q in zip(both, queues, strict=True)
    ]
    assert answers[0] == answers[1] == (["q3", "q1"], 3)
    with pytest.raises(NotFound):
        both[1].queue_issue_traces(p, "no-queue", issue["id"], 2)


# -- re-pricing --------------------------------------------------------------------------------


def test_repricing_changes_costs_identically(both: tuple[Any, Any]) -> None:
    p = new_project(both)
    spans = []
    for i in range(7):
        spans.append(span(p, f"t{i}", "root", start_us=T0 + i * S, end_us=T0 + i * S + S))
        spans.append(
            span(
                p,
                f"t{i}",
                "gen",
                "root",
                type="generation",
                model="m-new",
                start_us=T0 + i * S,
                end_us=T0 + i * S + S // 2,
                usage={"input": 64 * (i + 1), "output": 32, "total": 64 * (i + 1) + 32},
                cost={"total": 1.0} if i == 3 else {},
            )
        )
    spans[7] = dataclasses.replace(spans[7], cost_from_client=True)  # t3: the client's cost
    spans.append(span(p, "t0", "other", "root", type="generation", model="m-old",
                      start_us=T0, usage={"input": 1}))  # fmt: skip
    write(both, spans, [])

    def price(model: str, usage: dict[str, int], start_us: int) -> dict[str, float] | None:
        if start_us >= T0 + 5 * S:
            return None  # a price valid only until then
        cost = {"input": usage.get("input", 0) / 1024, "output": usage.get("output", 0) / 512}
        return {**cost, "total": cost["input"] + cost["output"]}

    progress: list[list[tuple[int, int]]] = []
    for s in both:
        progress.append([])
        step = progress[-1].append
        assert s.reprice(p, ["m-new"], price, lambda d, t, step=step: step((d, t)), chunk=4) == 6
    assert progress[0] == progress[1] == [(0, 6), (4, 6), (6, 6)]
    traces = [
        {t["id"]: t["total_cost"] for t in s.list_traces(p, ListQuery(limit=50)).data} for s in both
    ]
    assert traces[0] == traces[1]
    assert traces[0]["t1"] == (128 / 1024 + 32 / 512)
    assert traces[0]["t3"] == 1.0  # the client's cost is kept
    assert traces[0]["t6"] is None  # no price at its time: no cost
    gens = [
        {(o["trace_id"], o["id"]): (o["total_cost"], o["cost"]) for o in
         s.list_observations(p, ListQuery(limit=50)).data}
        for s in both
    ]  # fmt: skip
    assert gens[0] == gens[1]
    assert gens[0][("t0", "gen")][1] == {"input": 64 / 1024, "output": 32 / 512,
                                          "total": 64 / 1024 + 32 / 512}  # fmt: skip
    assert gens[0][("t0", "other")] == (None, {})  # another model: not re-priced
    assert same(both, "unpriced_models", p)[0]["model"] == "m-new"  # t5, t6 and m-old
    assert math.isclose(sum(v for v in traces[0].values() if v), sum(
        v for v in traces[1].values() if v))  # fmt: skip
