"""Read latency with 1,000,000 traces stored, measured against a real `heron serve`.

The data: the demo workload goes through the real ingest path once (default 20,000 traces),
then the store file is grown to the target size by copying those traces in SQL under new
ids, users, sessions and times spread over 30 days (so content and shape stay realistic).
One extra trace with 200 observations is ingested for the detail measurement. The store
is kept under bench/results/ and reused when it already has the target size.

Usage: python bench/read.py [--traces 1000000] [--seed-traces 20000] [--repeat 20]
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import duckdb
import httpx
import orjson

from heron.demo import DemoConfig, send

from _common import SECRET_KEY, HeronProcess, machine, otlp, rss_mib

RESULTS = Path(__file__).resolve().parent / "results"
PB = {"Content-Type": "application/x-protobuf"}
DAY_US = 86_400_000_000


def populate(data_dir: Path, target: int, seed_traces: int) -> str:
    """Build the store if needed; return the id of the 200-observation trace."""
    db = data_dir / "heron.duckdb"
    marker = data_dir / "big-trace-id"
    if db.exists() and marker.exists():
        con = duckdb.connect(str(db))
        n = con.execute("SELECT count(*) FROM traces").fetchone()[0]
        con.close()
        if n >= target:
            print(f"reusing {db} ({n:,} traces)")
            return marker.read_text()
    for f in data_dir.glob("*"):
        f.unlink()
    server = HeronProcess(data_dir).start()
    try:
        t = time.perf_counter()
        stats = send(
            DemoConfig(seed=3, traces=seed_traces, days=30),
            server.url,
            SECRET_KEY,
            concurrency=4,
        )
        print(f"ingested {stats.spans:,} demo spans in {time.perf_counter() - t:.0f} s")
        tid, root = otlp.new_trace_id(), otlp.new_span_id()
        spans = [otlp.span(tid, root, "agent-run", duration_ms=60_000)]
        for k in range(199):
            spans.append(
                otlp.span(
                    tid,
                    otlp.new_span_id(),
                    f"step-{k}",
                    parent=root,
                    start_ns=otlp.T0_NS + k * 250_000_000,
                    duration_ms=200,
                    attributes={
                        "input.value": f"step {k} input " * 20,
                        "output.value": f"step {k} output " * 20,
                    },
                )
            )
        r = httpx.post(
            server.url + "/v1/traces",
            content=otlp.request(spans).SerializeToString(),
            headers={**server.auth, **PB},
        )
        r.raise_for_status()
    finally:
        server.stop()

    con = duckdb.connect(str(db))
    have = con.execute("SELECT count(*) FROM traces").fetchone()[0]
    copies = max(0, -(-(target - have) // have))
    t = time.perf_counter()
    con.execute("CREATE TEMP TABLE seed_t AS SELECT * FROM traces")
    con.execute("CREATE TEMP TABLE seed_o AS SELECT * FROM observations")
    for k in range(1, copies + 1):
        shift = f"INTERVAL ({(k * 7919) % 30} * 86400 + {k * 37} % 86400) SECOND"
        con.execute(
            f"""INSERT INTO traces SELECT * REPLACE (
                md5(id || '{k}') AS id,
                CASE WHEN user_id IS NULL THEN NULL ELSE user_id || '-{k % 40}' END AS user_id,
                CASE WHEN session_id IS NULL THEN NULL ELSE session_id || '-{k}' END
                    AS session_id,
                start_time - {shift} AS start_time, end_time - {shift} AS end_time,
                CASE WHEN root_observation_id IS NULL THEN NULL
                     ELSE substr(md5(root_observation_id || '{k}'), 1, 16) END
                    AS root_observation_id)
            FROM seed_t"""
        )
        con.execute(
            f"""INSERT INTO observations SELECT * REPLACE (
                substr(md5(id || '{k}'), 1, 16) AS id, md5(trace_id || '{k}') AS trace_id,
                CASE WHEN user_id IS NULL THEN NULL ELSE user_id || '-{k % 40}' END AS user_id,
                CASE WHEN session_id IS NULL THEN NULL ELSE session_id || '-{k}' END
                    AS session_id,
                CASE WHEN parent_id IS NULL THEN NULL
                     ELSE substr(md5(parent_id || '{k}'), 1, 16) END AS parent_id,
                start_time - {shift} AS start_time, end_time - {shift} AS end_time,
                completion_start_time - {shift} AS completion_start_time)
            FROM seed_o"""
        )
        if k % 10 == 0:
            print(f"  copied {k}/{copies}")
    con.execute("CHECKPOINT")
    n_t, n_o = (
        con.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for t in ("traces", "observations")
    )
    con.close()
    print(
        f"grew the store to {n_t:,} traces / {n_o:,} observations "
        f"in {time.perf_counter() - t:.0f} s"
    )
    marker.write_text(tid.hex())
    return tid.hex()


def timed(http: httpx.Client, url: str, repeat: int) -> tuple[float, float, dict]:
    times = []
    body: dict = {}
    for _ in range(repeat):
        t = time.perf_counter()
        r = http.get(url)
        times.append((time.perf_counter() - t) * 1000)
        r.raise_for_status()
        body = r.json()
    return statistics.median(times), max(times), body


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--traces", type=int, default=1_000_000)
    ap.add_argument("--seed-traces", type=int, default=20_000)
    ap.add_argument("--repeat", type=int, default=20)
    args = ap.parse_args()
    print(f"machine: {machine()}")
    data_dir = RESULTS / f"read-{args.traces}"
    data_dir.mkdir(parents=True, exist_ok=True)
    big = populate(data_dir, args.traces, args.seed_traces)

    server = HeronProcess(data_dir).start()
    try:
        with httpx.Client(base_url=server.url, headers=server.auth, timeout=60) as http:
            some = http.get("/api/traces?limit=1&order_by=cost.desc").json()["data"][0]
            user = some["user_id"]
            flt = orjson.dumps(
                [{"column": "metadata.plan", "operator": "=", "value": "enterprise"}]
            ).decode()
            cases = [
                ("first page, no filter", "/api/traces?limit=50"),
                ("first page, user filter", f"/api/traces?limit=50&user_id={user}"),
                ("first page, errors only", "/api/traces?limit=50&level=ERROR"),
                ("first page, tag + release", "/api/traces?limit=50&tags=billing&release=v1.5.0"),
                (
                    "first page, name, by cost",
                    "/api/traces?limit=50&name=support-chat&order_by=cost.desc",
                ),
                (
                    "first page, latency > 5 s, 7 days",
                    "/api/traces?limit=50&min_latency_ms=5000&from="
                    + time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() - 7 * 86400)),
                ),
                ("first page, metadata filter", f"/api/traces?limit=50&filter={flt}"),
                ("trace with 200 observations", f"/api/traces/{big}"),
                ("sessions, first page", "/api/sessions?limit=50"),
                ("users, first page", "/api/users?limit=50"),
                (
                    "observations, generations",
                    "/api/observations?limit=50&filter="
                    + orjson.dumps(
                        [{"column": "type", "operator": "=", "value": "generation"}]
                    ).decode(),
                ),
            ]
            n = http.get("/api/traces?limit=1").json()
            assert n["data"], "empty store"
            print(f"{'request':38} {'median ms':>10} {'max ms':>8}  rows")
            for label, url in cases:
                med, worst, body = timed(http, url, args.repeat)
                rows = len(body.get("data", body.get("observations", [])))
                if label.startswith("trace with"):
                    rows = body["observation_count"]
                print(f"{label:38} {med:10.1f} {worst:8.1f}  {rows}")
        print(f"server RSS after the reads: {rss_mib(server.proc.pid):.0f} MiB")  # type: ignore[union-attr]
    finally:
        server.stop()


if __name__ == "__main__":
    main()
