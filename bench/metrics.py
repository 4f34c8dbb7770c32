"""Metrics speed with 10,000,000 observations (1,000,000 traces over 30 days).

Measured against a real `heron serve` over HTTP, warm, each request repeated:
(1) single metrics queries like the dashboard's (target: under 300 ms each),
(2) the whole default dashboard, `GET /api/dashboards/default/data` (target: under 1 s),
(3) a comparison of two 7-day cohorts, `POST /api/compare` (target: under 2 s).
Parts whose endpoint this build does not have are printed as "not available". Beside the
wall times, "cpu ms" is the server process's CPU time per request (all its threads): on a
shared machine it shows the work done whatever the other processes take.

The data: the 1,000,000-trace store of bench/read.py (built by it when missing: the demo
ingested through the real path, then copied in SQL under new ids, users, sessions and
times) is copied; traces older than the newest one's last 30 days move forward by whole
30-day periods; then the observations grow to the target: for a share of the traces
(picked by a hash of the trace id) every non-root observation gets a sibling copy (a
parallel branch: same parent, times, model, usage and cost), and those traces' aggregates
(observation and error counts, cost, tokens) are updated to match. Scores are added as an
application would post them: user feedback (BOOLEAN) on 12% of the support-chat traces
with the demo's planted thumbs-down rates by prompt version, and a NUMERIC "helpfulness"
evaluation on 30% of all traces. Last, both tables are rewritten in time order, as live
ingest leaves them. The store is kept under bench/results/ and reused when present.

Usage: python bench/metrics.py [--observations 10000000] [--repeat 10] [--memory-limit 4GB]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import time
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb
import httpx
import psutil

from heron.demo.model import THUMBS_DOWN_RATE

from _common import HeronProcess, machine, rss_mib
from read import RESULTS
from read import populate as populate_read

TRACES = 1_000_000
SINGLE_MS, DASHBOARD_MS, COMPARE_MS = 300.0, 1000.0, 2000.0


def populate(target_obs: int) -> Path:
    """Build (or reuse) the store with ``target_obs`` observations; return its directory."""
    data_dir = RESULTS / f"metrics-{target_obs}"
    db = data_dir / "heron.duckdb"
    done = data_dir / "built"
    if db.exists() and done.exists():
        con = duckdb.connect(str(db), read_only=True)
        n_t, n_o = (
            con.execute(f"SELECT count(*) FROM {t}").fetchone()[0]  # type: ignore[index]
            for t in ("traces", "observations")
        )
        con.close()
        print(f"reusing {db} ({n_t:,} traces, {n_o:,} observations)")
        return data_dir
    source = RESULTS / f"read-{TRACES}"
    source.mkdir(parents=True, exist_ok=True)
    populate_read(source, TRACES, 20_000)
    if data_dir.exists():
        shutil.rmtree(data_dir)
    t0 = time.perf_counter()
    shutil.copytree(source, data_dir)
    print(f"copied the {TRACES:,}-trace store in {time.perf_counter() - t0:.0f} s")

    con = duckdb.connect(str(db))
    t0 = time.perf_counter()
    have = con.execute("SELECT count(*) FROM observations").fetchone()[0]  # type: ignore[index]
    need = max(0, target_obs - have)
    _fold_into_30_days(con)
    # Traces in a fixed pseudo-random order, taken while their copies still fit in `need`.
    con.execute(
        """CREATE TEMP TABLE pick AS
        SELECT trace_id FROM (
            SELECT trace_id, count(*) AS n, hash(trace_id || 'grow') AS h
            FROM observations WHERE parent_id IS NOT NULL GROUP BY trace_id)
        QUALIFY sum(n) OVER (ORDER BY h ROWS UNBOUNDED PRECEDING) <= ?""",
        [need],
    )
    con.execute("BEGIN")
    # Each copy has its original's usage, cost and level: the picked traces' non-root sums
    # (taken before the copies go in) are what each trace gains. The times, and so latency,
    # level and models, are unchanged.
    con.execute(
        """UPDATE traces SET
            observation_count = traces.observation_count + d.n,
            error_count = traces.error_count + d.errors,
            total_cost = traces.total_cost + coalesce(d.cost, 0),
            input_tokens = traces.input_tokens + coalesce(d.input_tokens, 0),
            output_tokens = traces.output_tokens + coalesce(d.output_tokens, 0),
            total_tokens = traces.total_tokens + coalesce(d.total_tokens, 0)
        FROM (
            SELECT o.project_id, o.trace_id, count(*) AS n,
                count(*) FILTER (WHERE o.level = 'ERROR') AS errors,
                sum(o.total_cost) AS cost, sum(o.input_tokens) AS input_tokens,
                sum(o.output_tokens) AS output_tokens, sum(o.total_tokens) AS total_tokens
            FROM observations o JOIN pick p ON p.trace_id = o.trace_id
            WHERE o.parent_id IS NOT NULL
            GROUP BY o.project_id, o.trace_id) d
        WHERE traces.project_id = d.project_id AND traces.id = d.trace_id"""
    )
    con.execute(
        """INSERT INTO observations
        SELECT o.* REPLACE (
            substr(md5(o.id || 'grow'), 1, 16) AS id,
            CASE WHEN o.parent_id = t.root_observation_id THEN o.parent_id
                 ELSE substr(md5(o.parent_id || 'grow'), 1, 16) END AS parent_id)
        FROM observations o
        JOIN pick p ON p.trace_id = o.trace_id
        JOIN traces t ON t.project_id = o.project_id AND t.id = o.trace_id
        WHERE o.parent_id IS NOT NULL"""
    )
    con.execute("COMMIT")
    print(f"  grew the observations by up to {need:,} in {time.perf_counter() - t0:.0f} s")
    t0 = time.perf_counter()
    _add_scores(con)
    print(f"  added scores in {time.perf_counter() - t0:.0f} s")
    t0 = time.perf_counter()
    for table in ("traces", "observations"):
        _order_by_time(con, table)
    con.execute("CHECKPOINT")
    print(f"  stored traces and observations in time order in {time.perf_counter() - t0:.0f} s")
    n_t, n_o, n_s = (
        con.execute(f"SELECT count(*) FROM {t}").fetchone()[0]  # type: ignore[index]
        for t in ("traces", "observations", "scores")
    )
    bad = con.execute(
        """SELECT count(*) FROM traces t JOIN (
            SELECT project_id, trace_id, count(*) AS n FROM observations GROUP BY ALL) c
        ON c.project_id = t.project_id AND c.trace_id = t.id
        WHERE c.n <> t.observation_count"""
    ).fetchone()[0]  # type: ignore[index]
    con.close()
    assert bad == 0, f"{bad} traces whose observation_count disagrees with their observations"
    print(f"store: {n_t:,} traces, {n_o:,} observations, {n_s:,} scores")
    done.write_text(datetime.now().isoformat())
    return data_dir


def _fold_into_30_days(con: duckdb.DuckDBPyConnection) -> None:
    """Move traces older than the last 30 days forward by whole 30-day periods (time of day
    and weekday pattern kept) so that every trace lies in the 30 days before the newest."""
    con.execute(
        """CREATE TEMP TABLE fold AS
        WITH w AS (SELECT max(start_time) - INTERVAL 30 DAY AS lo FROM traces)
        SELECT t.project_id, t.id,
            to_days(30 * ceil(epoch(w.lo - t.start_time) / (30 * 86400))::INTEGER) AS shift
        FROM traces t, w WHERE t.start_time < w.lo"""
    )
    con.execute("BEGIN")
    con.execute(
        """UPDATE traces SET start_time = traces.start_time + f.shift,
            end_time = traces.end_time + f.shift
        FROM fold f WHERE traces.project_id = f.project_id AND traces.id = f.id"""
    )
    con.execute(
        """UPDATE observations SET start_time = observations.start_time + f.shift,
            end_time = observations.end_time + f.shift,
            completion_start_time = observations.completion_start_time + f.shift
        FROM fold f WHERE observations.project_id = f.project_id AND observations.trace_id = f.id"""
    )
    con.execute("COMMIT")


def _order_by_time(con: duckdb.DuckDBPyConnection, table: str) -> None:
    """Rewrite ``table`` in start_time order, as live ingest (which arrives in time order)
    leaves it; the SQL copies above appended whole shifted copies out of order."""
    ddl = con.execute("SELECT sql FROM duckdb_tables() WHERE table_name = ?", [table]).fetchone()[0]  # type: ignore[index]
    indexes = [
        r[0]
        for r in con.execute(
            "SELECT sql FROM duckdb_indexes() WHERE table_name = ?", [table]
        ).fetchall()
    ]
    con.execute("BEGIN")
    con.execute(ddl.replace(f"CREATE TABLE {table}(", f"CREATE TABLE {table}_ordered(", 1))
    con.execute(f"INSERT INTO {table}_ordered SELECT * FROM {table} ORDER BY start_time")
    con.execute(f"DROP TABLE {table}")
    con.execute(f"ALTER TABLE {table}_ordered RENAME TO {table}")
    for sql in indexes:
        con.execute(sql)
    con.execute("COMMIT")


def _add_scores(con: duckdb.DuckDBPyConnection) -> None:
    """User feedback on 12% of support-chat traces, a helpfulness evaluation on 30% of all."""
    down = THUMBS_DOWN_RATE
    con.execute(
        """CREATE TEMP TABLE trace_prompt AS
        SELECT project_id, trace_id, max(prompt_version) AS version FROM observations
        WHERE prompt_name = 'support-system' GROUP BY ALL"""
    )
    cols = (
        "project_id, id, trace_id, session_id, name, value, data_type, source, timestamp, "
        "environment"
    )
    # u(x): a fixed pseudo-random number in [0, 1) per trace and purpose.
    con.execute(
        f"""INSERT INTO scores ({cols})
        SELECT t.project_id, md5(t.id || 'feedback'), t.id, t.session_id, 'user-feedback',
            CASE WHEN (hash(t.id || 'down') % 10000) / 10000.0
                      < (CASE WHEN p.version = 4 THEN ? ELSE ? END) THEN 0 ELSE 1 END,
            'BOOLEAN', 'API', t.end_time + INTERVAL 20 SECOND, t.environment
        FROM traces t LEFT JOIN trace_prompt p ON p.project_id = t.project_id
            AND p.trace_id = t.id
        WHERE t.name = 'support-chat' AND (hash(t.id || 'feedback') % 10000) < 1200""",
        [down[4], down[3]],
    )
    con.execute(
        f"""INSERT INTO scores ({cols})
        SELECT t.project_id, md5(t.id || 'helpfulness'), t.id, t.session_id, 'helpfulness',
            round(least(1.0, 0.55 + CASE WHEN p.version = 4 THEN 0.1 ELSE 0 END
                  + (hash(t.id || 'value') % 10000) / 25000.0), 3),
            'NUMERIC', 'EVAL', t.end_time + INTERVAL 5 MINUTE, t.environment
        FROM traces t LEFT JOIN trace_prompt p ON p.project_id = t.project_id
            AND p.trace_id = t.id
        WHERE (hash(t.id || 'eval') % 10000) < 3000"""
    )


def window(data_dir: Path) -> tuple[datetime, datetime]:
    """The 30 days that end just after the newest trace (the store's data window)."""
    con = duckdb.connect(str(data_dir / "heron.duckdb"), read_only=True)
    newest = con.execute("SELECT max(start_time) FROM traces").fetchone()[0]  # type: ignore[index]
    con.close()
    end = newest.replace(second=0, microsecond=0) + timedelta(minutes=1)
    return end - timedelta(days=30), end


def iso(t: datetime) -> str:
    return t.strftime("%Y-%m-%dT%H:%M:%SZ")


def _m(measure: str, aggregation: str) -> dict[str, str]:
    return {"measure": measure, "aggregation": aggregation}


def single_queries() -> list[tuple[str, dict[str, Any]]]:
    """Metrics queries like the dashboard's, each over the whole 30-day window."""
    day = {"granularity": "day"}
    generations = [{"column": "type", "operator": "=", "value": "generation"}]
    by = lambda field: [{"field": field}]  # noqa: E731
    return [
        ("traces count by day", {"view": "traces", "metrics": [_m("count", "count")],
                                 "timeDimension": day}),
        ("trace latency p50/p95/p99 by day", {
            "view": "traces", "timeDimension": day,
            "metrics": [_m("latency", "p50"), _m("latency", "p95"), _m("latency", "p99")]}),
        ("generation latency p50/p95/p99 by model by day", {
            "view": "observations", "dimensions": by("model"), "filters": generations,
            "timeDimension": day,
            "metrics": [_m("latency", "p50"), _m("latency", "p95"), _m("latency", "p99")]}),
        ("observations count + tokens by day", {
            "view": "observations", "timeDimension": day,
            "metrics": [_m("count", "count"), _m("input_tokens", "sum"),
                        _m("output_tokens", "sum")]}),
        ("time to first token p50/p95 by day", {
            "view": "observations", "timeDimension": day,
            "metrics": [_m("time_to_first_token", "p50"), _m("time_to_first_token", "p95")]}),
        ("cost by trace name", {"view": "traces", "dimensions": by("name"),
                                "metrics": [_m("total_cost", "sum")]}),
        ("cost by model (observations)", {"view": "observations", "dimensions": by("model"),
                                          "metrics": [_m("total_cost", "sum")]}),
        ("top 10 users by cost", {
            "view": "traces", "dimensions": by("user_id"),
            "metrics": [_m("total_cost", "sum"), _m("count", "count")],
            "filters": [{"column": "user_id", "operator": "is not null"}],
            "orderBy": [{"field": "sum_total_cost", "direction": "desc"}],
            "config": {"row_limit": 10}}),
        ("score averages by name by day", {
            "view": "scores", "dimensions": by("name"), "timeDimension": day,
            "metrics": [_m("value", "avg"), _m("count", "count")]}),
        ("observations by release (trace-level)", {
            "view": "observations", "dimensions": by("release"),
            "metrics": [_m("count", "count"), _m("latency", "p95")]}),
        ("generation cost by trace name by day", {
            "view": "observations", "dimensions": by("trace_name"), "filters": generations,
            "timeDimension": day, "metrics": [_m("total_cost", "sum")]}),
        ("observations of one release by day", {
            "view": "observations", "timeDimension": day, "metrics": [_m("count", "count")],
            "filters": [{"column": "release", "operator": "=", "value": "v1.5.0"}]}),
        ("trace count by hour, Europe/Paris", {
            "view": "traces", "metrics": [_m("count", "count")],
            "timeDimension": {"granularity": "hour"}, "timezone": "Europe/Paris"}),
        ("generation latency histogram", {
            "view": "observations", "filters": generations,
            "metrics": [_m("latency", "histogram")], "config": {"bins": 20}}),
    ]  # fmt: skip


def timed(
    http: httpx.Client, send: Any, repeat: int, server: psutil.Process
) -> tuple[list[float], float, httpx.Response]:
    """Milliseconds of ``repeat`` warm requests (after one untimed), the server's CPU
    milliseconds per request (all its threads), and the last response."""
    r = send(http)
    if r.status_code >= 400:
        return [], 0.0, r
    times = []
    cpu = _cpu_s(server)
    for _ in range(repeat):
        t = time.perf_counter()
        r = send(http)
        times.append((time.perf_counter() - t) * 1000)
        r.raise_for_status()
    return times, (_cpu_s(server) - cpu) * 1000 / repeat, r


def _cpu_s(p: psutil.Process) -> float:
    t = p.cpu_times()
    return t.user + t.system


def pct(times: list[float], q: float) -> float:
    ordered = sorted(times)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def report(label: str, times: list[float], cpu_ms: float, target: float, rows: str) -> bool:
    p50, p95 = statistics.median(times), pct(times, 0.95)
    ok = p95 < target
    print(
        f"  {label:50} {p50:7.0f} {p95:7.0f} {max(times):7.0f} {cpu_ms:7.0f}  < {target:5.0f}  "
        f"{'ok' if ok else 'SLOW':4}  {rows}"
    )
    return ok


def unavailable(label: str, r: httpx.Response) -> None:
    print(f"  {label:50} not available (HTTP {r.status_code}: {r.text[:80]})")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--observations", type=int, default=10_000_000)
    ap.add_argument("--repeat", type=int, default=10)
    ap.add_argument("--memory-limit", default=None, help="HERON_MEMORY_LIMIT for the server")
    ap.add_argument("--build-only", action="store_true")
    args = ap.parse_args()
    print(f"machine: {machine()}")
    data_dir = populate(args.observations)
    if args.build_only:
        return
    # The machine may be shared: the load says how much of it the server had.
    print("load average before the run: " + " ".join(f"{x:.1f}" for x in os.getloadavg()))
    lo, hi = window(data_dir)
    env = {"HERON_MEMORY_LIMIT": args.memory_limit} if args.memory_limit else {}
    print(f"window: {iso(lo)} .. {iso(hi)}; server memory limit: {args.memory_limit or 'default'}")
    server = HeronProcess(data_dir, env=env).start(timeout=120)
    head = f"  {'request':50} {'p50 ms':>7} {'p95 ms':>7} {'max ms':>7} {'cpu ms':>7}  target    ok"
    proc = psutil.Process(server.proc.pid)  # type: ignore[union-attr]
    try:
        with httpx.Client(base_url=server.url, headers=server.auth, timeout=120) as http:
            print(f"(1) single metrics queries, 30 days, {args.repeat} warm repeats each")
            print(head)
            for label, q in single_queries():
                body = {**q, "fromTimestamp": iso(lo), "toTimestamp": iso(hi)}
                times, cpu, r = timed(http, lambda h, b=body: h.post("/api/metrics", json=b),
                                      args.repeat, proc)  # fmt: skip
                if not times:
                    unavailable(label, r)
                    continue
                report(label, times, cpu, SINGLE_MS, f"{len(r.json()['data'])} rows")

            print("(2) the whole default dashboard")
            print(head)
            for days in (7, 30):
                label = f"default dashboard, last {days} days"
                params = {"fromTimestamp": iso(hi - timedelta(days=days)), "toTimestamp": iso(hi)}
                times, cpu, r = timed(
                    http, lambda h, p=params: h.get("/api/dashboards/default/data", params=p),
                    args.repeat, proc)  # fmt: skip
                if not times:
                    unavailable(label, r)
                    continue
                widgets = r.json().get("widgets", [])
                report(label, times, cpu, DASHBOARD_MS, f"{len(widgets)} widgets")

            print("(3) a comparison of two 7-day cohorts")
            print(head)
            mid = hi - timedelta(days=7)
            comparisons = [
                (
                    f"compare, {view}: 7 days before vs after",
                    {
                        "view": view,
                        "baseline": {
                            "fromTimestamp": iso(mid - timedelta(days=7)),
                            "toTimestamp": iso(mid),
                        },
                        "candidate": {"fromTimestamp": iso(mid), "toTimestamp": iso(hi)},
                    },
                )
                for view in ("traces", "observations")
            ]
            comparisons.append(
                (
                    "compare, support-chat traces of 7 days: prompt v3 vs v4",
                    {
                        "view": "traces",
                        "filters": [{"column": "name", "operator": "=", "value": "support-chat"}],
                        "field": "prompt_version",
                        "baseline_value": 3,
                        "candidate_value": 4,
                        "fromTimestamp": iso(mid),
                        "toTimestamp": iso(hi),
                    },
                )
            )
            for label, body in comparisons:
                times, cpu, r = timed(http, lambda h, b=body: h.post("/api/compare", json=b),
                                      max(3, args.repeat // 2), proc)  # fmt: skip
                if not times:
                    unavailable(label, r)
                    continue
                report(label, times, cpu, COMPARE_MS, f"{len(r.json().get('metrics', []))} metrics")
        print("load average after the run: " + " ".join(f"{x:.1f}" for x in os.getloadavg()))
        print(f"server RSS after the run: {rss_mib(server.proc.pid):.0f} MiB")  # type: ignore[union-attr]
    finally:
        server.stop()


if __name__ == "__main__":
    main()
