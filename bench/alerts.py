"""Alert speed at 10,000,000 observations (1,000,000 traces over 30 days).

(1) An evaluation round of 100 alerts every minute, as the runner's ``alerts`` periodic does
    it (:class:`heron.signals.alert_task.AlertTask`): conditions and anomaly alerts on the
    traces and observations views, with filters; the time of each round (target: well
    under the minute between rounds).
(2) Backtests over 30 days (target: under 5 s): a condition on an error rate (5m window,
    every 1m: 43,200 evaluations), a p95 latency (5m/1m, a range join), and an anomaly
    alert on a count (1h window, every 5m: 8,640 evaluations with their seasonal baselines).

The store is synthetic and built in SQL (kept under bench/results/ and reused): traces
every ~2.6 s with a daily cycle, 10 observations each (1 root span, 9 children: 3
generations of 3 models), latencies log-normal, 2% errors with a planted incident.

Usage: python bench/alerts.py [--traces 1000000] [--rounds 3]
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import time
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb

from heron.evals.spec import Problems
from heron.signals.alert_task import AlertTask
from heron.signals.alerts import check_alert
from heron.signals.evaluate import Plan, run_backtest
from heron.store import EmbeddedStore

from _common import machine

RESULTS = Path(__file__).parent / "results"
PROJECT = "bench"
END = datetime(2026, 11, 30)
DAYS = 30


def build(traces: int) -> Path:
    """The store with ``traces`` traces of 10 observations each (reused when built)."""
    data_dir = RESULTS / f"alerts-{traces}"
    db = data_dir / "heron.duckdb"
    if (data_dir / "built").exists():
        return db
    shutil.rmtree(data_dir, ignore_errors=True)
    data_dir.mkdir(parents=True)
    EmbeddedStore(db).close()  # the schema
    con = duckdb.connect(str(db))
    span_s = DAYS * 86400
    con.execute(
        f"""
        CREATE TEMP TABLE t AS
        SELECT i, printf('%032x', i) AS id,
               TIMESTAMP '{END - timedelta(days=DAYS)}' + to_microseconds(
                   (i * {span_s * 1_000_000 // traces}
                    + ((hash(i) % 1000000)::BIGINT))::BIGINT) AS start_time,
               ['support-chat', 'search', 'summarise'][1 + i % 3] AS name,
               exp(7 + 0.5 * sin(i / 1000.0) + (hash(i * 7) % 1000) / 1000.0) AS latency_ms,
               CASE WHEN hash(i * 13) % 100 < 2 THEN 1 ELSE 0 END AS errors
        FROM range({traces}) r(i)
        """
    )
    con.execute(
        """
        INSERT INTO traces (project_id, id, name, user_id, start_time, end_time, latency_ms,
            total_cost, observation_count, error_count, level, updated_at, tags)
        SELECT 'bench', id, name, 'u' || (i % 5000), start_time,
               start_time + to_microseconds((latency_ms * 1000)::BIGINT), latency_ms,
               0.001 * (i % 7), 10, errors, CASE WHEN errors > 0 THEN 'ERROR' ELSE 'DEFAULT' END,
               start_time, ['prod']
        FROM t
        """
    )
    con.execute(
        """
        INSERT INTO observations (project_id, id, trace_id, parent_id, type, name, start_time,
            end_time, model, level, total_cost, updated_at, trace_name)
        SELECT 'bench', printf('%016x', i * 10 + j), id,
               CASE WHEN j = 0 THEN NULL ELSE printf('%016x', i * 10) END,
               CASE WHEN j = 0 THEN 'span' WHEN j <= 3 THEN 'generation' ELSE 'span' END,
               CASE WHEN j = 0 THEN name WHEN j <= 3 THEN 'llm-call' ELSE 'tool-' || j END,
               start_time + to_microseconds(j * 1000),
               start_time + to_microseconds((latency_ms * 1000 / (1 + j))::BIGINT),
               CASE WHEN j BETWEEN 1 AND 3 THEN ['gpt-4o', 'gpt-4o-mini', 'claude'][j] END,
               CASE WHEN j = 1 AND errors > 0 THEN 'ERROR' ELSE 'DEFAULT' END,
               0.0001 * j, start_time, name
        FROM t, range(10) r(j)
        """
    )
    con.close()
    (data_dir / "built").touch()
    return db


def alerts() -> list[dict[str, Any]]:
    """100 alerts: 60 conditions, 40 anomaly alerts, over both views."""
    out = []
    names = ["support-chat", "search", "summarise"]
    for i in range(100):
        name = names[i % 3]
        if i % 5 == 0:
            query = {"view": "traces", "metric": {"measure": "latency", "aggregation": "p95"}}
        elif i % 5 == 1:
            query = {"view": "traces", "metric": {"measure": "error_rate", "aggregation": "avg"}}
        elif i % 5 == 2:
            query = {
                "view": "observations",
                "metric": {"measure": "latency", "aggregation": "avg"},
                "filters": [{"column": "type", "operator": "=", "value": "generation"}],
            }
        elif i % 5 == 3:
            query = {"view": "traces", "metric": {"measure": "count", "aggregation": "count"}}
        else:
            query = {"view": "observations", "metric": {"measure": "count", "aggregation": "count"}}
        query.setdefault("filters", [])
        if query["view"] == "traces":
            query["filters"].append({"column": "name", "operator": "=", "value": name})
        spec: dict[str, Any] = {"name": f"a{i:03d}", "query": query}
        if i < 60:
            spec |= {"window": "5m", "every": "1m", "condition": {"operator": ">", "alert": 1e9}}
        else:
            spec |= {"window": "1h", "every": "5m", "anomaly": {"sensitivity": "medium"}}
        out.append(spec)
    return out


def put_all(store: EmbeddedStore) -> None:
    for raw in alerts():
        problems = Problems()
        name, spec = check_alert(raw, "alert", problems, channels=set())
        assert spec is not None and name, problems
        store.put_alert(PROJECT, name, spec)


def plan(raw: dict[str, Any]) -> Plan:
    problems = Problems()
    _, spec = check_alert({"name": "bt", **raw}, "alert", problems, channels=set())
    assert spec is not None, problems
    return Plan.of(spec)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--traces", type=int, default=1_000_000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    t0 = time.perf_counter()
    db = build(args.traces)
    print(f"machine: {machine()}")
    print(f"store: {args.traces:,} traces, {args.traces * 10:,} observations "
          f"(built or reused in {time.perf_counter() - t0:.1f} s)")  # fmt: skip
    store = EmbeddedStore(db)
    try:
        with store._admin() as cur:  # a fresh set of alerts and no history
            for table in ("alert_evaluations", "alert_states", "alerts"):
                cur.execute(f"DELETE FROM {table} WHERE project_id = ?", [PROJECT])
        put_all(store)
        task = AlertTask()
        task.bind(store)
        rounds = []
        for r in range(args.rounds + 1):  # the first round warms the caches
            now = END - timedelta(hours=2) + r * timedelta(minutes=5) + timedelta(seconds=65)
            start = time.perf_counter()
            task.run(now)
            if r:
                rounds.append(time.perf_counter() - start)
        evaluated = (
            store.cursor()
            .execute("SELECT count(*) FROM alert_evaluations WHERE project_id = ?", [PROJECT])
            .fetchone()[0]
        )  # type: ignore[index]
        print(f"evaluation round, 100 alerts (60 conditions, 40 anomaly): median "
              f"{statistics.median(rounds):.2f} s, max {max(rounds):.2f} s over {len(rounds)} "
              f"rounds ({evaluated} evaluations written)")  # fmt: skip
        cases = {
            "error rate 5m/1m condition": {
                "query": {
                    "view": "traces",
                    "metric": {"measure": "error_rate", "aggregation": "avg"},
                },
                "window": "5m", "every": "1m", "condition": {"operator": ">", "alert": 0.05},
            },
            "p95 latency 5m/1m condition": {
                "query": {"view": "traces", "metric": {"measure": "latency", "aggregation": "p95"}},
                "window": "5m", "every": "1m", "condition": {"operator": ">", "alert": 20000},
            },
            "generation count 1h/5m anomaly": {
                "query": {
                    "view": "observations",
                    "metric": {"measure": "count", "aggregation": "count"},
                    "filters": [{"column": "type", "operator": "=", "value": "generation"}],
                },
                "window": "1h", "every": "5m", "anomaly": {"sensitivity": "medium"},
            },
        }  # fmt: skip
        for label, raw in cases.items():
            p = plan(raw)
            times = []
            for _ in range(3):
                start = time.perf_counter()
                found = run_backtest(store, PROJECT, p, END - timedelta(days=DAYS), END)
                times.append(time.perf_counter() - start)
            print(f"backtest 30 days, {label}: {len(found):,} evaluations, median "
                  f"{statistics.median(times):.2f} s (target < 5 s)")  # fmt: skip
    finally:
        store.close()


if __name__ == "__main__":
    main()
