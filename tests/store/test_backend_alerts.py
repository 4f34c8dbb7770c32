"""Alerts on both backends: DuckDB (EmbeddedStore, a real file) and the cluster (an
``open_cluster`` ClusterStore: ClickHouse on chdb plus PostgreSQL). The same planted data
(five days of traces with a seasonal volume, a gap and an incident), the same alert
queries: the series (``Store.alert_series``) and the backtests' judgements are identical,
and checked against values computed here from what was planted; the runner's evaluation
(``AlertTask``) writes the same history on both."""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from fractions import Fraction
from typing import Any

import numpy as np
import pytest

from heron.errors import QueryTimeout
from heron.evals.spec import Problems
from heron.model import ObservationRecord, TraceUpdate
from heron.scores import ScoreRecord
from heron.signals.alert_task import AlertTask
from heron.signals.alerts import check_alert
from heron.signals.evaluate import ALERT, NO_DATA, OK, WARNING, Plan, run_backtest
from heron.signals.series import evaluation_times
from heron.store.alert_series import bucketing, needed_buckets, sliced
from heron.store.cluster import ClusterStore
from heron.store.signals import interpolate
from tests.store.conftest import new_project

D0 = datetime(2026, 11, 2)  # a Monday
DAYS = 5
GAP = (D0 + timedelta(days=3, hours=2), D0 + timedelta(days=3, hours=5))  # nothing sent
INCIDENT = (D0 + timedelta(days=4, hours=12), D0 + timedelta(days=4, hours=15))
H = timedelta(hours=1)
EPOCH = datetime(1970, 1, 1)


@dataclass
class Planted:
    id: str
    start: datetime
    name: str
    user: str
    error: bool
    latency_us: int
    cost: float
    quality: float | None


def us(t: datetime) -> int:
    return (t - EPOCH) // timedelta(microseconds=1)


def plant() -> list[Planted]:
    """Traces every hour of five days (2 to 4 an hour, by hour of day), none in GAP, and 25
    an hour during INCIDENT, slower and mostly failing."""
    rng = random.Random(18)
    out = []
    for hour in range(DAYS * 24):
        start = D0 + hour * H
        incident = INCIDENT[0] <= start < INCIDENT[1]
        if GAP[0] <= start < GAP[1]:
            continue
        for _ in range(25 if incident else 2 + hour % 3):
            i = len(out)
            latency = int(rng.lognormvariate(13.4, 0.5) * (4 if incident else 1))
            out.append(
                Planted(
                    id=f"{i:032x}",
                    start=start + timedelta(microseconds=rng.randrange(0, 3_600_000_000)),
                    name="search" if i % 3 == 0 else "chat",
                    user=f"u{i % 7}",
                    error=rng.random() < (0.6 if incident else 0.08),
                    latency_us=max(latency, 5000),
                    cost=round(rng.uniform(0.0005, 0.02), 6),
                    quality=round(rng.random(), 3) if i % 2 == 0 else None,
                )
            )
    return out


PLANTED = plant()


def write(store: Any, project: str) -> None:
    for day in range(DAYS):
        observations, updates = [], []
        for t in PLANTED:
            if t.start.date() != (D0 + timedelta(days=day)).date():
                continue
            start = us(t.start)
            observations.append(
                ObservationRecord(project_id=project, id="r" + t.id[17:], trace_id=t.id,
                                  parent_id=None, type="span", name=t.name, start_us=start,
                                  end_us=start + t.latency_us,
                                  level="ERROR" if t.error else "DEFAULT")
            )  # fmt: skip
            observations.append(
                ObservationRecord(project_id=project, id="g" + t.id[17:], trace_id=t.id,
                                  parent_id="r" + t.id[17:], type="generation", name="llm",
                                  start_us=start + 1000, end_us=start + t.latency_us - 1000,
                                  model="gpt-4o", usage={"input": 100, "output": 10,
                                                         "total": 110},
                                  cost={"total": t.cost}, cost_from_client=True)
            )  # fmt: skip
            updates.append(
                TraceUpdate(project_id=project, trace_id=t.id, is_root=True, name=t.name,
                            user_id=t.user)
            )  # fmt: skip
        store.write_batch(observations, updates)
    store.write_scores(
        [
            ScoreRecord(project_id=project, id=f"q-{t.id}", trace_id=t.id, observation_id=None,
                        session_id=None, name="quality", value=t.quality, string_value=None,
                        data_type="NUMERIC", source="API", comment=None, author=None,
                        timestamp=t.start.replace(tzinfo=UTC), metadata=None,
                        environment="default")
            for t in PLANTED
            if t.quality is not None
        ]
    )  # fmt: skip


@pytest.fixture(scope="module")
def project(both: tuple[Any, Any]) -> str:
    """The planted data, once on each store (the tests of the module only read it)."""
    p = new_project(both)
    for store in both:
        write(store, p)
    return p


def _quantile(values: list[float], q: float) -> float:
    s = sorted(values)
    rn = (len(s) - 1) * q
    return interpolate(len(s), q, s[math.floor(rn)], s[math.ceil(rn)])


def _ms(t: Planted) -> float:
    return t.latency_us / 1000


# (query, window, every, what the value must be from the traces of a window: None = no data)
_SERIES: list[tuple[dict[str, Any], str, str, Any]] = [
    (
        {"view": "traces", "metric": {"measure": "count", "aggregation": "count"}},
        "1h", "20m", lambda ts: float(len(ts)),
    ),
    (
        {"view": "traces", "metric": {"measure": "count", "aggregation": "count"},
         "filters": [{"column": "name", "operator": "=", "value": "chat"}]},
        "45m", "15m", lambda ts: float(sum(t.name == "chat" for t in ts)),
    ),
    (
        {"view": "traces", "metric": {"measure": "error_rate", "aggregation": "avg"}},
        "1h", "30m", lambda ts: sum(t.error for t in ts) / len(ts) if ts else None,
    ),
    (
        {"view": "traces", "metric": {"measure": "error_count", "aggregation": "sum"}},
        "2h", "1h", lambda ts: float(sum(t.error for t in ts)) if ts else None,
    ),
    (
        {"view": "traces", "metric": {"measure": "latency", "aggregation": "p95"}},
        "1h", "20m", lambda ts: _quantile([_ms(t) for t in ts], 0.95) if ts else None,
    ),
    (
        {"view": "traces", "metric": {"measure": "latency", "aggregation": "p50"},
         "filters": [{"column": "name", "operator": "=", "value": "search"}]},
        "2h", "30m",
        lambda ts: _quantile([_ms(t) for t in ts if t.name == "search"], 0.5)
        if any(t.name == "search" for t in ts) else None,
    ),
    (
        {"view": "traces", "metric": {"measure": "latency", "aggregation": "avg"}},
        "3h", "20m", lambda ts: sum(_ms(t) for t in ts) / len(ts) if ts else None,
    ),
    (
        {"view": "traces", "metric": {"measure": "latency", "aggregation": "sum"},
         "filters": [{"column": "user_id", "operator": "=", "value": "u3"}]},
        "2h", "40m", lambda ts: sum(_ms(t) for t in ts if t.user == "u3")
        if any(t.user == "u3" for t in ts) else None,
    ),
    (
        {"view": "traces", "metric": {"measure": "user_id", "aggregation": "count"}},
        "1h", "30m", lambda ts: float(len(ts)),
    ),
    (
        {"view": "traces", "metric": {"measure": "latency", "aggregation": "max"}},
        "30m", "10m", lambda ts: max(_ms(t) for t in ts) if ts else None,
    ),
    (
        {"view": "traces", "metric": {"measure": "latency", "aggregation": "min"}},
        "30m", "10m", lambda ts: min(_ms(t) for t in ts) if ts else None,
    ),
    (
        {"view": "observations", "metric": {"measure": "total_cost", "aggregation": "sum"},
         "filters": [{"column": "type", "operator": "=", "value": "generation"}]},
        "1h", "1h", lambda ts: sum(t.cost for t in ts) if ts else None,
    ),
    (
        {"view": "observations", "metric": {"measure": "latency", "aggregation": "p99"},
         "filters": [{"column": "trace_name", "operator": "=", "value": "chat"},
                     {"column": "type", "operator": "=", "value": "span"}]},
        "1h", "30m",
        lambda ts: _quantile([_ms(t) for t in ts if t.name == "chat"], 0.99)
        if any(t.name == "chat" for t in ts) else None,
    ),
    (
        {"view": "traces", "metric": {"measure": "user_id", "aggregation": "uniq"}},
        "1h", "30m", lambda ts: float(len({t.user for t in ts})),
    ),
    (
        {"view": "scores", "metric": {"measure": "value", "aggregation": "avg"},
         "filters": [{"column": "name", "operator": "=", "value": "quality"}]},
        "2h", "1h",
        lambda ts: sum(q := [t.quality for t in ts if t.quality is not None]) / len(q)
        if any(t.quality is not None for t in ts) else None,
    ),
    (
        {"view": "traces", "metric": {"measure": "has_score.quality", "aggregation": "avg"}},
        "1h", "1h",
        lambda ts: sum(t.quality is not None for t in ts) / len(ts) if ts else None,
    ),
]  # fmt: skip


def _param_id(value: Any) -> str:
    """A test id the same in every xdist worker (a function's repr has its address)."""
    return "check" if callable(value) else repr(value)[:90]


@pytest.mark.parametrize(("query", "window", "every", "expected"), _SERIES, ids=_param_id)
def test_series_are_identical_and_what_the_data_gives(
    both: tuple[Any, Any], project: str, query: dict, window: str, every: str, expected: Any
) -> None:
    duck, cluster = both
    spec = alert({"query": query, "window": window, "every": every,
                  "condition": {"operator": ">", "alert": 1}})  # fmt: skip
    plan = Plan.of(spec)
    times = evaluation_times(D0 + 2 * H, D0 + DAYS * 24 * H + 2 * H, plan.every)
    got = duck.alert_series(project, spec["query"], plan.window, times)
    assert cluster.alert_series(project, spec["query"], plan.window, times) == got
    assert list(got) == times
    # scattered times (a live anomaly evaluation's): only the rows of their windows are read
    sparse = times[:: 3 * math.ceil(plan.window / plan.every)]
    assert needed_buckets(bucketing(plan.window, sparse)) is not None
    for store in both:
        assert store.alert_series(project, spec["query"], plan.window, sparse) == {
            t: got[t] for t in sparse
        }
    for t in times:
        want = expected([p for p in PLANTED if t - plan.window <= p.start < t])
        value = got[t].value
        assert (value is None) == (want is None), (t, value, want)
        if want is not None:
            assert value == pytest.approx(want, rel=1e-12, abs=1e-12), t


def test_other_projects_are_not_read(both: tuple[Any, Any], project: str) -> None:
    times = [D0 + 30 * H, D0 + 31 * H]
    for store in both:
        got = store.alert_series("elsewhere", P95, H, times)
        assert list(got) == times and all(p.value is None for p in got.values())
        counts = store.alert_series("elsewhere", COUNT, H, times)
        assert [p.value for p in counts.values()] == [0.0, 0.0]
        assert store.alert_series(project, P95, H, []) == {}


def alert(raw: dict[str, Any]) -> dict[str, Any]:
    problems = Problems()
    _, spec = check_alert({"name": "a", **raw}, "alert", problems, channels=set())
    assert spec is not None, problems.items
    return spec


ERROR_RATE = {"view": "traces", "metric": {"measure": "error_rate", "aggregation": "avg"}}
P95 = {"view": "traces", "metric": {"measure": "latency", "aggregation": "p95"}}
COUNT = {"view": "traces", "metric": {"measure": "count", "aggregation": "count"}}


def _in(t: datetime, span: tuple[datetime, datetime], window: timedelta) -> bool:
    """Whether the window ending at ``t`` lies wholly inside ``span``."""
    return span[0] <= t - window and t <= span[1]


def _meets(t: datetime, span: tuple[datetime, datetime], window: timedelta) -> bool:
    """Whether the window ending at ``t`` overlaps ``span``."""
    return t - window < span[1] and t > span[0]


CORE = (INCIDENT[0] + H, INCIDENT[1] - H)  # the incident's middle hour: clearly alerting
QUIET = {OK, WARNING, NO_DATA}
FIRES = (INCIDENT[0] + 2 * H, INCIDENT[1])  # N of the last M anomalous: its 2nd and 3rd hours


def _anomaly_fires(*at: datetime) -> Any:
    return lambda t, w: {ALERT} if t in at else {OK, NO_DATA}


# (alert, the states the judgement at time t may have, given the window: None = any)
_BACKTESTS: list[tuple[dict[str, Any], Any]] = [
    (  # a threshold on the error rate; no data in the gap
        {"query": ERROR_RATE, "window": "1h", "every": "15m",
         "condition": {"operator": ">", "warning": 0.3, "alert": 0.5}},
        lambda t, w: {ALERT} if _in(t, CORE, w) else {NO_DATA} if _in(t, GAP, w) else None,
    ),
    (  # a latency percentile, the gap keeping the state before it (checked below)
        {"query": P95, "window": "1h", "every": "30m", "no_data": "keep",
         "condition": {"operator": ">=", "warning": 1500, "alert": 2500}},
        lambda t, w: {ALERT} if _in(t, INCIDENT, w) else None if _meets(t, INCIDENT, w)
        else {OK, WARNING},
    ),
    (  # a count of one trace name below a floor: an empty window counts 0
        {"query": {**COUNT, "filters": [{"column": "name", "operator": "=", "value": "chat"}]},
         "window": "1h", "every": "1h", "condition": {"operator": "<", "alert": 1}},
        lambda t, w: {ALERT} if _in(t, GAP, w) else {OK},
    ),
    (  # the cost of the generations, no data counting as OK
        {"query": {"view": "observations",
                   "metric": {"measure": "total_cost", "aggregation": "sum"},
                   "filters": [{"column": "type", "operator": "=", "value": "generation"}]},
         "window": "1h", "every": "1h", "no_data": "ok",
         "condition": {"operator": ">", "warning": 0.1, "alert": 0.2}},
        lambda t, w: {ALERT} if _in(t, INCIDENT, w) else {OK},
    ),
    (  # a score's average below a floor, no data alerting
        {"query": {"view": "scores", "metric": {"measure": "value", "aggregation": "avg"},
                   "filters": [{"column": "name", "operator": "=", "value": "quality"}]},
         "window": "2h", "every": "1h", "no_data": "alert",
         "condition": {"operator": "<", "warning": 0.4, "alert": 0.2}},
        lambda t, w: {ALERT} if _in(t, GAP, w) else None,
    ),
    (  # anomaly: the hourly count against the same hour of the past days
        {"query": COUNT, "window": "1h", "every": "1h",
         "anomaly": {"sensitivity": "medium", "direction": "above"}},
        _anomaly_fires(*FIRES),
    ),
    (  # anomaly on a percentile (continuous: robust z-score; low: 3 of the last 4)
        {"query": P95, "window": "1h", "every": "1h", "anomaly": {"sensitivity": "low"}},
        _anomaly_fires(INCIDENT[1]),
    ),
    (  # anomaly on a rate (binomial at low volume)
        {"query": ERROR_RATE, "window": "1h", "every": "1h",
         "anomaly": {"sensitivity": "high", "direction": "both"}},
        _anomaly_fires(*FIRES),
    ),
]  # fmt: skip


@pytest.mark.parametrize(("raw", "must"), _BACKTESTS, ids=_param_id)
def test_backtest_judgements_are_identical_and_right(
    both: tuple[Any, Any], project: str, raw: dict[str, Any], must: Any
) -> None:
    duck, cluster = both
    plan = Plan.of(alert(raw))
    start, end = D0 + 3 * 24 * H, D0 + DAYS * 24 * H
    judgements = run_backtest(duck, project, plan, start, end)
    assert run_backtest(cluster, project, plan, start, end) == judgements
    assert len(judgements) == len(evaluation_times(start, end, plan.every))
    checked = 0
    for before, j in zip([None, *judgements], judgements, strict=False):
        allowed = must(j.time, plan.window)
        if allowed is not None:
            assert j.state in allowed, (j.time, j.value, j.state, j.detail)
            checked += 1
        if j.value is None and plan.spec["no_data"] == "keep" and before is not None:
            assert j.state == before.state
    assert checked and {ALERT} < {j.state for j in judgements}
    if "anomaly" in raw:  # the baseline of the past days was read (the first's: 2 days)
        history = [j.detail["history"] for j in judgements if j.value is not None]
        assert history[0] == 2 and min(history[1:]) >= 3
    else:
        assert all(j.detail == {} or "events" in j.detail for j in judgements)


def test_the_runner_writes_the_same_history_on_both(both: tuple[Any, Any], project: str) -> None:
    """The runner's evaluation (``AlertTask``) at each hour of the incident's day, on both
    stores: a threshold and an anomaly alert write the same history (states, values, bands
    and the anomaly's detail)."""
    specs = {
        "errors": alert(
            {"query": ERROR_RATE, "window": "1h", "every": "1h", "lag": "1m",
             "condition": {"operator": ">", "warning": 0.3, "alert": 0.5}}
        ),
        "slow": alert(
            {"query": {"view": "traces", "metric": {"measure": "latency", "aggregation": "avg"}},
             "window": "1h", "every": "1h", "lag": "1m",
             "anomaly": {"sensitivity": "medium", "direction": "above"}}
        ),
    }  # fmt: skip
    histories: list[dict[str, list[tuple[Any, ...]]]] = []
    for store in both:
        for name, spec in specs.items():
            store.put_alert(project, name, spec)
        task = AlertTask()
        task.bind(store)
        for hour in range(10, 18):
            task.run(D0 + 4 * 24 * H + hour * H + timedelta(minutes=2))
        histories.append(
            {
                name: [
                    (r["eval_time"], r["value"], r["lower"], r["upper"], r["state"], r["detail"])
                    for r in store.alert_history(project, name)
                ]
                for name in specs
            }
        )
    assert histories[0] == histories[1]
    for name in specs:
        states = [row[4] for row in reversed(histories[0][name])]
        assert len(states) == 8 and states[:3] == [OK, OK, OK] and ALERT in states, name
    assert all(row[5]["method"] == "robust_z" for row in histories[0]["slow"])


def test_a_backtest_past_the_time_limit_is_cancelled_on_the_cluster(
    cluster: ClusterStore, project: str
) -> None:
    plan = Plan.of(alert({"query": P95, "window": "1h", "every": "1h",
                          "condition": {"operator": ">", "alert": 1}}))  # fmt: skip
    cluster.events.query_timeout_s = 0.0001  # ClickHouse cancels it at its first check
    try:
        with pytest.raises(QueryTimeout, match=r"the alert's query ran longer than 0.0001 s"):
            run_backtest(cluster, project, plan, D0, D0 + DAYS * 24 * H)
    finally:
        cluster.events.query_timeout_s = None


def test_window_sums_are_exact_whatever_the_order_of_the_rows() -> None:
    """What both engines share for fractional sums: each window's sum is its rows' exact sum
    rounded once, so rows of equal time in any order, and any other windows asked for with
    it, give the same bits."""
    rng = random.Random(7)
    at = np.sort(np.array([rng.randrange(0, 3600) * 1_000_000 for _ in range(2000)]))
    pool = [0.1, 1e-9, 3.3, 1e6 / 3, -2.7, 2.0**-60, 7e12 / 11]
    values = np.array([rng.choice(pool) * rng.random() for _ in range(2000)])
    times = evaluation_times(EPOCH + 5 * timedelta(minutes=1), EPOCH + H, timedelta(minutes=1))
    for window in (timedelta(minutes=1), timedelta(minutes=7)):
        want = sliced(at, values, "sum", window, times)
        for t in times:
            rows = [Fraction(v) for a, v in zip(at, values, strict=True)
                    if us(t - window) <= a < us(t)]  # fmt: skip
            assert want[t].value == float(sum(rows, Fraction(0))), t
        for _ in range(3):  # rows of the same time shuffled among themselves
            order = np.lexsort((np.array([rng.random() for _ in at]), at))
            assert sliced(at[order], values[order], "sum", window, times) == want
        assert sliced(at, values, "sum", window, times[::5]) == {t: want[t] for t in times[::5]}
