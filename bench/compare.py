"""Change comparison at scale: two 7-day cohorts of a store with 1,000,000 traces over 30 days.

The data: the demo workload goes through the real ingest path once (default 20,000 traces in
one day, prompt v3 -> v4 inside it), then the store file is grown in SQL by copying those
traces under new ids, each copy shifted by a whole number of days so the traces spread evenly
over 30 days; non-generation spans are duplicated up to 10 observations a trace; one trace in
eight gets a boolean "user-feedback" score. The store is kept
under bench/results/ and reused. The comparisons run through ``EmbeddedStore.compare`` (the
function the API calls), in process, so the figures are the engine's, without HTTP.

Usage: python bench/compare.py [--traces 1000000] [--seed-traces 20000] [--repeat 5]
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import duckdb

from heron.compare import parse_compare_query
from heron.demo import DemoConfig, send
from heron.store import EmbeddedStore

from _common import SECRET_KEY, HeronProcess, machine

RESULTS = Path(__file__).resolve().parent / "results"
END = datetime(2025, 10, 9, tzinfo=UTC)
DAYS = 30


def populate(data_dir: Path, target: int, seed_traces: int) -> None:
    db = data_dir / "heron.duckdb"
    if db.exists():
        con = duckdb.connect(str(db))
        n = con.execute("SELECT count(*) FROM traces").fetchone()[0]
        con.close()
        if n >= target:
            print(f"reusing {db} ({n:,} traces)")
            return
    data_dir.mkdir(parents=True, exist_ok=True)
    for f in data_dir.glob("*"):
        if f.is_file():
            f.unlink()
    server = HeronProcess(data_dir).start()
    try:
        t = time.perf_counter()
        config = DemoConfig(
            seed=5,
            traces=seed_traces,
            days=1,
            end_us=int(END.timestamp() * 1e6),
            export_interval_s=600,
            batch_spans=4096,
        )
        stats = send(config, server.url, SECRET_KEY, concurrency=2)
        print(f"ingested {stats.spans:,} demo spans in {time.perf_counter() - t:.0f} s")
    finally:
        server.stop()

    con = duckdb.connect(str(db))
    have = con.execute("SELECT count(*) FROM traces").fetchone()[0]
    copies = max(0, -(-(target - have) // have))
    t = time.perf_counter()
    con.execute("CREATE TEMP TABLE seed_t AS SELECT * FROM traces")
    con.execute("CREATE TEMP TABLE seed_o AS SELECT * FROM observations")
    for k in range(1, copies + 1):
        shift = f"INTERVAL {k % DAYS} DAY"
        con.execute(
            f"""INSERT INTO traces SELECT * REPLACE (
                md5(id || '{k}') AS id,
                start_time - {shift} AS start_time, end_time - {shift} AS end_time)
            FROM seed_t"""
        )
        con.execute(
            f"""INSERT INTO observations SELECT * REPLACE (
                substr(md5(id || '{k}'), 1, 16) AS id, md5(trace_id || '{k}') AS trace_id,
                start_time - {shift} AS start_time, end_time - {shift} AS end_time,
                completion_start_time - {shift} AS completion_start_time)
            FROM seed_o"""
        )
    # the demo has ~6 spans a trace; extra tool/retrieval-like spans under the same traces
    # bring the store to 10 observations per trace, as in the target (they are not
    # generations, so they change no figure, only the work of the observation join)
    missing = 10 * target - con.execute("SELECT count(*) FROM observations").fetchone()[0]
    if missing > 0:
        con.execute(
            """INSERT INTO observations SELECT * REPLACE (substr(md5(id || 'pad'), 1, 16) AS id)
               FROM observations WHERE type <> 'generation' LIMIT ?""",
            [missing],
        )
    con.execute(
        """INSERT INTO scores (project_id, id, trace_id, name, value, string_value, data_type,
               source, timestamp)
           SELECT project_id, md5('s' || id), id, 'user-feedback',
               CASE WHEN hash(id) % 10 < 7 THEN 1.0 ELSE 0.0 END, NULL, 'BOOLEAN', 'API',
               start_time
           FROM traces WHERE hash(id) % 8 = 0"""
    )
    con.execute("CHECKPOINT")
    n_t, n_o, n_s = (
        con.execute(f"SELECT count(*) FROM {x}").fetchone()[0]
        for x in ("traces", "observations", "scores")
    )
    con.close()
    print(
        f"grew the store to {n_t:,} traces / {n_o:,} observations / {n_s:,} scores "
        f"in {time.perf_counter() - t:.0f} s"
    )


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--traces", type=int, default=1_000_000)
    ap.add_argument("--seed-traces", type=int, default=20_000)
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args()
    data_dir = RESULTS / f"compare-{args.traces}"
    populate(data_dir, args.traces, args.seed_traces)

    store = EmbeddedStore(data_dir / "heron.duckdb")
    try:
        [project] = store.list_projects()
        at = (END - timedelta(days=8)).strftime("%Y-%m-%dT%H:%M:%SZ")
        chat = [{"column": "name", "operator": "=", "value": "support-chat"}]
        cases = {
            "traces, before/after, 7 days each": {"at": at, "days": 7},
            "traces, prompt_version 3 vs 4, 7 days": {
                "filters": chat,
                "field": "prompt_version",
                "baseline_value": 3,
                "candidate_value": 4,
                "fromTimestamp": (END - timedelta(days=7)).isoformat(),
                "toTimestamp": END.isoformat(),
            },
            "observations, before/after, 7 days each": {
                "view": "observations",
                "at": at,
                "days": 7,
            },
        }
        print(machine(), "| load average", " ".join(f"{x:.1f}" for x in os.getloadavg()))
        for name, body in cases.items():
            query = parse_compare_query(body)
            times, cpu = [], []
            answer: dict = {}
            for _ in range(args.repeat):
                t, c = time.perf_counter(), time.process_time()
                answer = store.compare(project["id"], query)
                times.append(time.perf_counter() - t)
                cpu.append(time.process_time() - c)
            count = answer["metrics"][0]
            print(
                f"{name}: median {statistics.median(times):.2f} s, max {max(times):.2f} s, "
                f"median CPU {statistics.median(cpu):.2f} s "
                f"(n = {count['n_baseline']:,} vs {count['n_candidate']:,}, "
                f"{len(answer['metrics'])} metrics)"
            )
    finally:
        store.close()


if __name__ == "__main__":
    main()
