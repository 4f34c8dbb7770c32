"""Metrics on ClickHouse beside DuckDB: the same data, the same queries, both latencies.

Issue 18 asks for metrics within 2x of DuckDB's on 10 million observations. This loads N
synthetic observations (default 1,000,000; ``--observations 10000000``) into an
EmbeddedStore (DuckDB, a file) and into ClickHouse (chdb 26 behind the test HTTP shim,
``tests/support/chdb_server.py``, reached with clickhouse-connect exactly as heron reaches a
ClickHouse server: ``ClickHouseEvents``), then times the metrics queries of
``bench/metrics.py`` (the dashboard's) on each: one warm-up, then the median of
``--repeat`` runs (default 5). Each query's rows are compared between the two backends.
Last, the same ClickHouse statements run in this process on chdb (column "chdb": the
engine without HTTP, the shim and the client's decoding).

The data: N / 10 traces over 30 days (8 names, 1,000 users, sessions of 5 traces, 6
releases, two environments, tags), each of 10 observations (a root span, 3 generations
over 5 models with usage, costs, prompts and a time to first token, 6 spans; 2% errors);
NUMERIC scores on 30% of the traces and BOOLEAN feedback on 12%. It is generated in DuckDB
SQL, then copied to ClickHouse through Parquet files (one row version per record, as after
ClickHouse's merges; reads still say FINAL); ClickHouse computes the traces' stored
aggregates itself (migration 2's backfill statement). Stores are kept under
bench/results/clickhouse-N/ and reused (a store of an older schema is migrated: the time of
its backfill is printed).

The ClickHouse side pays HTTP and the shim (one process, queries serialised) on every
query; a real ClickHouse server runs each query on all cores.

Usage: python bench/clickhouse.py [--observations 1000000] [--repeat 5] [--only WORD]
"""

from __future__ import annotations

import argparse
import math
import shutil
import statistics
import sys
import time
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb

from heron.query.metrics import parse_metrics_query
from heron.store import EmbeddedStore
from heron.store.clickhouse import ClickHouseEvents
from heron.store.clickhouse.client import connect
from heron.store.clickhouse.metrics import compile_metrics
from heron.store.clickhouse.migrations import migrate
from heron.store.clickhouse.schema import BACKFILL_TRACE_AGGREGATES
from metrics import single_queries

from _common import machine
from read import RESULTS

PROJECT = "p-bench"
END = datetime(2026, 1, 31)
START = END - timedelta(days=30)
DAY_US = 86_400_000_000

_TRACES = f"""
CREATE TEMP TABLE tr AS
SELECT i, printf('%032x', i) AS id,
       TIMESTAMP '{START:%Y-%m-%d}'
           + to_microseconds(CAST(hash(i) % {30 * DAY_US} AS BIGINT)) AS t0,
       'trace-' || (hh(i * 7) % 8) AS name, 'user-' || (hh(i * 11) % 1000) AS user_id,
       's-' || (i // 5) AS session_id, 'v1.' || (hh(i * 13) % 6) || '.0' AS release,
       CASE WHEN hh(i * 17) % 5 = 0 THEN 'dev' ELSE 'prod' END AS environment,
       [['a'], ['a', 'b'], []::VARCHAR[]][hh(i * 19) % 3 + 1] AS tags
FROM range(?) r(i)
"""
_MODELS = "['gpt-4o', 'gpt-4o-mini', 'claude-3-5-sonnet', 'llama-3', 'mistral']"
_OBSERVATIONS = """
CREATE TEMP TABLE ob AS
SELECT tr.*, k, tr.id || '-' || k AS oid, k IN (1, 4, 7) AS gen,
       hh(i * 10 + k) AS h,
       CASE WHEN k = 0 THEN tr.t0 ELSE tr.t0 + to_milliseconds(k * 100) END AS st
FROM tr, range(10) r(k)
"""
_INSERT_OBSERVATIONS = f"""
INSERT INTO observations BY NAME
SELECT '{PROJECT}' AS project_id, oid AS id, id AS trace_id,
       CASE WHEN k = 0 THEN NULL ELSE id || '-0' END AS parent_id,
       CASE WHEN gen THEN 'generation' ELSE 'span' END AS type,
       CASE WHEN k = 0 THEN name WHEN gen THEN 'llm' ELSE 'step-' || k END AS name,
       st AS start_time,
       st + to_milliseconds(CASE WHEN k = 0 THEN 2000 + h % 8000 ELSE 50 + h % 3000 END)
           AS end_time,
       CASE WHEN gen THEN st + to_milliseconds(20 + h % 800) END AS completion_start_time,
       CASE WHEN gen THEN {_MODELS}[h % 5 + 1] END AS model,
       CASE WHEN h % 50 = 0 THEN 'ERROR' ELSE 'DEFAULT' END AS level,
       CASE WHEN gen THEN MAP {{'input': 100 + h % 900, 'output': 10 + h % 300,
                                'total': 110 + h % 900 + h % 300}} END AS usage,
       CASE WHEN gen THEN MAP {{'input': (100 + h % 900) * 1e-6, 'output': (10 + h % 300) * 4e-6,
                                'total': (100 + h % 900) * 1e-6 + (10 + h % 300) * 4e-6}}
            END AS cost,
       CASE WHEN gen THEN 'heron' END AS cost_source,
       CASE WHEN gen THEN 100 + h % 900 END AS input_tokens,
       CASE WHEN gen THEN 10 + h % 300 END AS output_tokens,
       CASE WHEN gen THEN 110 + h % 900 + h % 300 END AS total_tokens,
       CASE WHEN gen THEN (100 + h % 900) * 1e-6 + (10 + h % 300) * 4e-6 END AS total_cost,
       CASE WHEN gen THEN ['answer', 'summarize', NULL][h % 3 + 1] END AS prompt_name,
       CASE WHEN gen AND h % 3 < 2 THEN CAST(h % 4 + 1 AS INTEGER) END AS prompt_version,
       st AS updated_at, name AS trace_name, user_id, session_id, release,
       NULL AS version, environment
FROM ob ORDER BY st
"""
_INSERT_TRACES = f"""
INSERT INTO traces BY NAME
SELECT '{PROJECT}' AS project_id, tr.id, tr.name, tr.user_id, tr.session_id, tr.release,
       tr.environment, tr.tags, a.start_time, a.end_time,
       (epoch_us(a.end_time) - epoch_us(a.start_time)) / 1000 AS latency_ms, a.total_cost,
       a.input_tokens, a.output_tokens, a.total_tokens, a.observation_count, a.error_count,
       CASE WHEN a.error_count > 0 THEN 'ERROR' ELSE 'DEFAULT' END AS level, a.models,
       tr.id || '-0' AS root_observation_id, []::VARCHAR[] AS explicit, a.end_time AS updated_at
FROM tr JOIN (
    SELECT trace_id, min(start_time) AS start_time, max(end_time) AS end_time,
           sum(total_cost) AS total_cost, sum(input_tokens) AS input_tokens,
           sum(output_tokens) AS output_tokens, sum(total_tokens) AS total_tokens,
           count(*) AS observation_count, count(*) FILTER (WHERE level = 'ERROR') AS error_count,
           list_sort(list(DISTINCT model) FILTER (WHERE model IS NOT NULL)) AS models
    FROM observations WHERE project_id = '{PROJECT}' GROUP BY trace_id
) a ON a.trace_id = tr.id
ORDER BY a.start_time
"""
_INSERT_SCORES = f"""
INSERT INTO scores BY NAME
SELECT '{PROJECT}' AS project_id, 'h-' || id AS id, id AS trace_id, 'helpfulness' AS name,
       (hh(i * 23) % 101) / 100.0 AS value, 'NUMERIC' AS data_type, 'EVAL' AS source,
       t0 + INTERVAL 1 MINUTE AS timestamp, 'prod' AS environment,
       t0 + INTERVAL 1 MINUTE AS created_at, t0 + INTERVAL 1 MINUTE AS updated_at
FROM tr WHERE hh(i * 29) % 100 < 30
UNION ALL BY NAME
SELECT '{PROJECT}' AS project_id, 'f-' || id AS id, id AS trace_id, 'user_feedback' AS name,
       CAST(hh(i * 31) % 4 > 0 AS INTEGER) AS value, 'BOOLEAN' AS data_type, 'API' AS source,
       t0 + INTERVAL 2 MINUTE AS timestamp, 'prod' AS environment,
       t0 + INTERVAL 2 MINUTE AS created_at, t0 + INTERVAL 2 MINUTE AS updated_at
FROM tr WHERE hh(i * 37) % 100 < 12
"""

# The ClickHouse tables' columns, as DuckDB selects them for the Parquet copies.
_CH_COLUMNS = {
    "observations": (
        "project_id, id, trace_id, parent_id, type, name, start_time, end_time, "
        "completion_start_time, model, CAST(model_parameters AS VARCHAR) AS model_parameters, "
        "input, output, CAST(metadata AS VARCHAR) AS metadata, level, status_message, "
        "coalesce(usage, MAP {}::MAP(VARCHAR, BIGINT)) AS usage, "
        "coalesce(cost, MAP {}::MAP(VARCHAR, DOUBLE)) AS cost, cost_source, input_tokens, "
        "output_tokens, total_tokens, total_cost, prompt_name, prompt_version, updated_at, "
        "CAST(1 AS UBIGINT) AS row_version"
    ),
    "traces": (
        "project_id, id, name, user_id, session_id, release, version, environment, "
        "coalesce(tags, []::VARCHAR[]) AS tags, CAST(metadata AS VARCHAR) AS metadata, input, "
        "output, input_preview, public, coalesce(explicit, []::VARCHAR[]) AS explicit, "
        "NULL::TIMESTAMP AS own_time, updated_at, CAST(1 AS UBIGINT) AS row_version"
    ),
    "scores": (
        "project_id, id, trace_id, observation_id, session_id, name, value, string_value, "
        "data_type, source, comment, author, timestamp, CAST(metadata AS VARCHAR) AS metadata, "
        "environment, config_id, queue_id, dataset_run_id, created_at, updated_at, "
        "CAST(1 AS UBIGINT) AS row_version"
    ),
}


def build_duckdb(directory: Path, observations: int) -> Path:
    """The EmbeddedStore file with the synthetic data (reused when built)."""
    db = directory / "heron.duckdb"
    if (directory / "duckdb-built").exists():
        return db
    shutil.rmtree(directory, ignore_errors=True)
    directory.mkdir(parents=True)
    EmbeddedStore(db).close()  # the schema
    t0 = time.perf_counter()
    con = duckdb.connect(str(db))
    con.execute("CREATE TEMP MACRO hh(x) AS CAST(hash(x) % 1000000007 AS BIGINT)")
    con.execute(_TRACES, [observations // 10])
    con.execute(_OBSERVATIONS)
    con.execute(_INSERT_OBSERVATIONS)
    con.execute(_INSERT_TRACES)
    con.execute(_INSERT_SCORES)
    for table, columns in _CH_COLUMNS.items():
        path = directory / f"{table}.parquet"
        con.execute(
            f"COPY (SELECT {columns} FROM {table} WHERE project_id = '{PROJECT}') "
            f"TO '{path}' (FORMAT parquet)"
        )
    con.close()
    (directory / "duckdb-built").touch()
    print(f"DuckDB store and Parquet copies built in {time.perf_counter() - t0:.0f} s")
    return db


def load_clickhouse(events: ClickHouseEvents, directory: Path) -> None:
    client = events.client
    if client.command("SELECT count() FROM observations") > 0:
        return
    t0 = time.perf_counter()
    for table in _CH_COLUMNS:
        path = (directory / f"{table}.parquet").resolve()
        given = {r[0] for r in client.query(f"DESCRIBE TABLE file('{path}', Parquet)").result_rows}
        columns = client.query(
            "SELECT name FROM system.columns WHERE database = currentDatabase() "
            "AND table = {t:String} ORDER BY position",
            parameters={"t": table},
        ).result_rows
        names = ", ".join(c for (c,) in columns if c in given)
        client.command(f"INSERT INTO {table} ({names}) SELECT {names} FROM file('{path}', Parquet)")
    t1 = time.perf_counter()
    client.command(BACKFILL_TRACE_AGGREGATES)
    t2 = time.perf_counter()
    client.command("OPTIMIZE TABLE observations FINAL")
    client.command("OPTIMIZE TABLE traces FINAL")
    print(
        f"ClickHouse loaded from Parquet in {t1 - t0:.0f} s, trace aggregates computed in "
        f"{t2 - t1:.0f} s, tables merged in {time.perf_counter() - t2:.0f} s"
    )


def _close(value: Any) -> Any:
    if isinstance(value, float):
        return float(f"{value:.9g}") if math.isfinite(value) else value
    if isinstance(value, dict):
        return {k: _close(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_close(v) for v in value]
    return value


def timed(run: Any, repeat: int) -> tuple[float, Any]:
    answer = run()  # warm
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        run()
        times.append((time.perf_counter() - t0) * 1000)
    return statistics.median(times), answer


def _chdb_value(value: Any) -> str:
    """A query parameter as chdb's ``params`` take it (ClickHouse's text form)."""
    if isinstance(value, list):
        return "[" + ", ".join(_chdb_literal(v) for v in value) + "]"
    return str(value)


def _chdb_literal(value: Any) -> str:
    if isinstance(value, str):
        return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"
    return str(value)


def in_process(data: Path, queries: list[tuple[str, Any]], repeat: int) -> dict[str, float]:
    """The same statements run by chdb in this process (no HTTP, no shim): the engine's own
    time, for telling it from the transport's."""
    import chdb.session

    session = chdb.session.Session(str(data))
    session.query("USE bench")
    materialize = materialized_ctes_chdb(session)
    out = {}
    hidden = hidden_traces_chdb(session)
    for label, q in queries:
        c = compile_metrics(PROJECT, q, materialize=materialize, hidden_traces=hidden)
        settings = "join_use_nulls = 1" + (", enable_materialized_cte = 1" if materialize else "")
        sql = f"{c.sql} SETTINGS {settings}"
        params = {k: _chdb_value(v) for k, v in c.params.items()}
        ms, _ = timed(lambda sql=sql, params=params: session.query(sql, "Null", params=params),
                      repeat)  # fmt: skip
        out[label] = ms
    session.close()
    return out


def hidden_traces_chdb(session: Any) -> bool:
    """Whether the project has traces of heron's own environments (as run_metrics asks)."""
    found = session.query(
        f"SELECT count() FROM traces WHERE project_id = '{PROJECT}' "
        "AND startsWith(coalesce(environment, ''), 'heron-')",
        "CSV",
    )
    return str(found).strip() != "0"


def materialized_ctes_chdb(session: Any) -> bool:
    found = session.query(
        "SELECT count() FROM system.settings WHERE name = 'enable_materialized_cte'", "CSV"
    )
    return str(found).strip() == "1"


def recent_queries() -> list[tuple[str, dict[str, Any]]]:
    """Trace queries over the last days of the data only (both read the stored trace rows,
    DuckDB those of the window, ClickHouse every trace row, ``FINAL``, then filters)."""
    count = [{"measure": "count", "aggregation": "count"}]
    cost = [{"measure": "total_cost", "aggregation": "sum"}]
    week = {"fromTimestamp": f"{END - timedelta(days=7):%Y-%m-%dT%H:%M:%SZ}"}
    day = {"fromTimestamp": f"{END - timedelta(days=1):%Y-%m-%dT%H:%M:%SZ}"}
    return [
        ("cost by trace name, last 7 days", {"view": "traces", "dimensions": [{"field": "name"}],
                                             "metrics": cost, **week}),
        ("trace count by hour, last day", {"view": "traces", "metrics": count,
                                           "timeDimension": {"granularity": "hour"}, **day}),
    ]  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--observations", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--only", default="", help="run the queries whose label has this")
    args = parser.parse_args()
    # importable once _common has put the repository's root on sys.path
    from tests.support.chdb_server import start_server, stop_server

    directory = RESULTS / f"clickhouse-{args.observations}"
    db = build_duckdb(directory, args.observations)
    window = {"fromTimestamp": f"{START:%Y-%m-%dT%H:%M:%SZ}",
              "toTimestamp": f"{END:%Y-%m-%dT%H:%M:%SZ}"}  # fmt: skip
    queries = [
        (label, parse_metrics_query({**window, **body}))
        for label, body in [*single_queries(), *recent_queries()]
        if args.only in label
    ]
    rows = []
    server = start_server(directory / "chdb", timeout=300)
    try:
        client = connect(server.database_url("bench"))
        t0 = time.perf_counter()
        if migrate(client) and client.command("SELECT count() FROM observations") > 0:
            client.command("OPTIMIZE TABLE traces FINAL")  # one version per trace, as loaded
            print(f"ClickHouse store migrated in {time.perf_counter() - t0:.0f} s")
        events = ClickHouseEvents(client)
        load_clickhouse(events, directory)
        store = EmbeddedStore(db)
        for label, q in queries:
            duck_ms, want = timed(lambda q=q: store.metrics(PROJECT, q), args.repeat)
            ch_ms, got = timed(lambda q=q: events.metrics(PROJECT, q), args.repeat)
            rows.append((label, duck_ms, ch_ms, _close(got) == _close(want)))
        store.close()
        client.close()
    finally:
        stop_server(server.proc)
    engine = in_process(directory / "chdb", queries, args.repeat)

    print(f"{machine()}; {args.observations:,} observations, median of {args.repeat}")
    print(f"{'query':<50} {'duckdb':>7} {'ch http':>8} {'ratio':>6} {'chdb':>6} {'ratio':>6}  same")
    for label, duck_ms, ch_ms, same in rows:
        e = engine[label]
        print(
            f"{label:<50} {duck_ms:>7.0f} {ch_ms:>8.0f} {ch_ms / duck_ms:>6.2f} "
            f"{e:>6.0f} {e / duck_ms:>6.2f}  {same}"
        )
    if rows:
        http = statistics.geometric_mean([r[2] / r[1] for r in rows])
        alone = statistics.geometric_mean([engine[r[0]] / r[1] for r in rows])
        print(f"geometric mean ratio: {http:.2f} over HTTP, {alone:.2f} in process (ms)")


if __name__ == "__main__":
    sys.exit(main())
