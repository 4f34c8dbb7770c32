"""Where a metrics query's time goes on chdb, and what a time-ordered trace table would buy.

Runs in process on the store that ``bench/clickhouse.py`` builds (``--store
bench/results/clickhouse-N/chdb``) and prints milliseconds (the minimum of ``--repeat`` runs,
after one untimed) for:

- the engine's floor: ``SELECT 1``; planning a dashboard query (``EXPLAIN PLAN``) against
  running it;
- scans of the trace table: one column with and without the project filter, ``count()``
  with and without ``FINAL``;
- the observations: a scan by day ``FINAL``, and the join to their traces' rows that a query
  on a trace attribute adds;
- an experiment: a copy of the trace rows ordered by ``(project_id, hour of start_time,
  id)`` (a ``ReplacingMergeTree`` with ``is_deleted``, a bloom filter on ``id``), the two
  narrow-window queries on it against the table as it is, and reads by id on both (the
  writer reads the touched traces by id at every batch). The copy is dropped at the end.

Usage: python bench/clickhouse_floor.py --store DIR [--repeat 7]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

import clickhouse as bench
from heron.query.metrics import parse_metrics_query
from heron.store.clickhouse.metrics import compile_metrics
from metrics import single_queries

_PROJECT = f"project_id = '{bench.PROJECT}'"
_LAST_DAY = (
    f"start_time >= '{bench.END - bench.timedelta(days=1):%Y-%m-%d %H:%M:%S}' "
    f"AND start_time < '{bench.END:%Y-%m-%d %H:%M:%S}'"
)


class Timer:
    def __init__(self, session: Any, repeat: int) -> None:
        self.session, self.repeat = session, repeat

    def __call__(self, sql: str, params: dict[str, str] | None = None, fmt: str = "Null") -> float:
        self.session.query(sql, fmt, params=params or {})
        best = float("inf")
        for _ in range(self.repeat):
            t0 = time.perf_counter()
            self.session.query(sql, fmt, params=params or {})
            best = min(best, time.perf_counter() - t0)
        return best * 1000


def dashboard_query(session: Any, label: str) -> tuple[str, dict[str, str]]:
    """heron's SQL (with its settings) and parameters for one of bench/clickhouse.py's
    queries, as ``ClickHouseEvents`` sends them to this engine."""
    materialize = bench.materialized_ctes_chdb(session)
    window = {"fromTimestamp": f"{bench.START:%Y-%m-%dT%H:%M:%SZ}",
              "toTimestamp": f"{bench.END:%Y-%m-%dT%H:%M:%SZ}"}  # fmt: skip
    body = dict([*single_queries(), *bench.recent_queries()])[label]
    query = parse_metrics_query({**window, **body})
    c = compile_metrics(bench.PROJECT, query, materialize=materialize, hidden_traces=False)
    settings = "join_use_nulls = 1" + (", enable_materialized_cte = 1" if materialize else "")
    return f"{c.sql} SETTINGS {settings}", {k: bench._chdb_value(v) for k, v in c.params.items()}


def floor(session: Any, timer: Timer) -> None:
    print(f"SELECT 1                                          {timer('SELECT 1'):7.1f}")
    for label in ("trace count by hour, last day", "top 10 users by cost",
                  "generation cost by trace name by day"):  # fmt: skip
        sql, params = dashboard_query(session, label)
        plan = timer("EXPLAIN PLAN " + sql, params, fmt="TSVRaw")
        run = timer(sql, params)
        print(f"{label:40s} plan {plan:7.1f}  run {run:7.1f}")


def scans(timer: Timer) -> None:
    rows = [
        ("sum(total_cost) of every trace row", "SELECT sum(total_cost) FROM traces"),
        ("the same, the project's rows",
         f"SELECT sum(total_cost) FROM traces WHERE {_PROJECT}"),
        ("count() of the project's traces", f"SELECT count() FROM traces WHERE {_PROJECT}"),
        ("the same, FINAL", f"SELECT count() FROM traces FINAL WHERE {_PROJECT}"),
        ("traces of the last day, FINAL",
         f"SELECT count() FROM traces FINAL WHERE {_PROJECT} AND {_LAST_DAY}"),
        ("observations by day, FINAL",
         f"SELECT toStartOfDay(start_time) AS d, count() FROM observations FINAL "
         f"WHERE {_PROJECT} GROUP BY d"),
        ("the same joined to their traces' release",
         "SELECT toStartOfDay(o.start_time) AS d, tr.release, count() FROM observations AS o "
         f"FINAL LEFT JOIN (SELECT id, release FROM traces FINAL WHERE {_PROJECT}) AS tr "
         f"ON tr.id = o.trace_id WHERE o.{_PROJECT} GROUP BY d, tr.release"),
    ]  # fmt: skip
    for label, sql in rows:
        print(f"{label:50s} {timer(sql):7.1f}")


def time_ordered(session: Any, timer: Timer) -> None:
    ddl = str(session.query("SHOW CREATE TABLE traces", "TSVRaw")).strip()
    ddl = (
        ddl.replace("bench.traces", "bench.traces_by_hour")
        .replace("ReplacingMergeTree(row_version)", "ReplacingMergeTree(row_version, is_deleted)")
        .replace(
            "ORDER BY (project_id, id)",
            "ORDER BY (project_id, toStartOfHour(assumeNotNull(start_time)), id)",
        )
        .replace(
            "`retention_days` UInt16 DEFAULT 0,",
            "`retention_days` UInt16 DEFAULT 0, `is_deleted` UInt8 DEFAULT 0, "
            "INDEX traces_id id TYPE bloom_filter(0.001) GRANULARITY 1,",
        )
    )
    ddl = ddl.split("TTL")[0] + "SETTINGS allow_nullable_key = 1"
    session.query("DROP TABLE IF EXISTS traces_by_hour")
    session.query(ddl)
    try:
        session.query("INSERT INTO traces_by_hour SELECT *, 0 FROM traces FINAL")
        session.query("OPTIMIZE TABLE traces_by_hour FINAL")
        for label in ("trace count by hour, last day", "cost by trace name, last 7 days",
                      "traces count by day"):  # fmt: skip
            sql, params = dashboard_query(session, label)
            moved = sql.replace("FROM traces FINAL", "FROM traces_by_hour FINAL")
            a, b = timer(sql, params), timer(moved, params)
            print(f"{label:40s} by id {a:7.1f}  by hour {b:7.1f}")
        ids = str(session.query("SELECT id FROM traces LIMIT 20 OFFSET 5000", "CSV")).split()
        params = {"ids": str([i.strip('"') for i in ids])}
        read = "SELECT * FROM {t} FINAL WHERE " + _PROJECT + " AND id IN {{ids:Array(String)}}"
        print(
            f"{'20 traces read by id':40s} by id {timer(read.format(t='traces'), params):7.1f}"
            f"  by hour {timer(read.format(t='traces_by_hour'), params):7.1f}"
        )
    finally:
        session.query("DROP TABLE IF EXISTS traces_by_hour")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--store", type=Path, required=True, help="the chdb directory")
    parser.add_argument("--repeat", type=int, default=7)
    args = parser.parse_args()
    import chdb.session

    session = chdb.session.Session(str(args.store))
    session.query("USE bench")
    timer = Timer(session, args.repeat)
    try:
        print("-- the floor (ms)")
        floor(session, timer)
        print("-- scans (ms)")
        scans(timer)
        print("-- a trace table ordered by the hour of start_time (ms)")
        time_ordered(session, timer)
    finally:
        session.close()


if __name__ == "__main__":
    sys.exit(main())
