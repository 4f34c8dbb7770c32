"""Experiments against a real `heron serve`.

Part ``compare``: two runs of a 10,000-item dataset, each item's trace posted over OTLP
(latency, cost, tokens) with two numeric scores and one boolean score through
``POST /api/public/scores``; then ``GET /api/datasets/{name}/runs/compare`` timed by the
client, warm, repeated (target: under 1 s), and for reference the summary and the first
page of items. The dataset, its items, runs and run items are written in SQL before the
server starts (datasets have no API in this build yet).

Usage: python bench/experiments.py compare [--items 10000] [--repeat 10]
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
import uuid
from datetime import datetime
from pathlib import Path

import duckdb
import httpx
import numpy as np
import orjson
import psutil
import pyarrow as pa

from heron.store import EmbeddedStore

from _common import HeronProcess, machine, otlp

COMPARE_MS = 1000.0
DATASET = "bench-qa"
PB = {"Content-Type": "application/x-protobuf"}


def plant_rows(db: Path, items: int, trace_ids: dict[str, list[str]]) -> None:
    """The dataset, its items and one run item per item and run (project ``test``)."""
    store = EmbeddedStore(db)  # migrates
    project = store.create_project("test")["id"]
    store.close()
    now = datetime.now()
    ds = uuid.uuid4().hex
    ids = [f"item-{i:05d}" for i in range(items)]
    con = duckdb.connect(str(db))
    con.execute(
        "INSERT INTO datasets (project_id, id, name, created_at, updated_at) VALUES (?,?,?,?,?)",
        [project, ds, DATASET, now, now],
    )
    dataset_items = pa.table({"id": ids, "input": [orjson.dumps({"q": i}).decode() for i in ids]})
    con.register("new_items", dataset_items)
    con.execute(
        "INSERT INTO dataset_items (project_id, id, dataset_id, valid_from, status, input, "
        "created_at) SELECT ?, id, ?, ?, 'ACTIVE', input, ? FROM new_items",
        [project, ds, now, now],
    )
    for name, traces in trace_ids.items():
        run = uuid.uuid4().hex
        con.execute(
            "INSERT INTO dataset_runs (project_id, id, dataset_id, name, created_at, updated_at) "
            "VALUES (?,?,?,?,?,?)",
            [project, run, ds, name, now, now],
        )
        con.register("new_run_items", pa.table({"item": ids, "trace": traces}))
        con.execute(
            "INSERT INTO dataset_run_items (project_id, id, run_id, dataset_item_id, "
            "dataset_item_version, trace_id, created_at, updated_at) "
            "SELECT ?, uuid()::VARCHAR, ?, item, ?, trace, ?, ? FROM new_run_items",
            [project, run, now, now, now],
        )
    con.close()


def post_run(server: HeronProcess, traces: list[str], values: dict[str, np.ndarray]) -> None:
    """Each item's trace (root span + generation with usage and cost) and its scores."""
    rng = np.random.default_rng(len(traces))
    spans = []
    for k, tid in enumerate(traces):
        trace, root = bytes.fromhex(tid), otlp.new_span_id()
        start = otlp.T0_NS + k * 10_000_000
        latency = float(values["latency"][k])
        spans.append(
            otlp.span(
                trace,
                root,
                "item",
                start_ns=start,
                duration_ms=latency,
                attributes={"output.value": f"answer {k}"},
            )
        )
        spans.append(otlp.span(trace, otlp.new_span_id(), "chat", parent=root, start_ns=start,
                               duration_ms=latency / 2,
                               attributes={"gen_ai.operation.name": "chat",
                                           "gen_ai.request.model": "bench-model",
                                           "gen_ai.usage.input_tokens": int(rng.integers(200, 900)),
                                           "gen_ai.usage.output_tokens": 100,
                                           "gen_ai.usage.cost": 0.001}))  # fmt: skip
    for at in range(0, len(spans), 4000):
        body = otlp.request(spans[at : at + 4000]).SerializeToString()
        r = httpx.post(server.url + "/v1/traces", content=body, headers={**server.auth, **PB},
                       timeout=120)  # fmt: skip
        r.raise_for_status()
    scores = [
        {"traceId": tid, "name": name, "value": bool(v[k]) if name == "correct" else float(v[k])}
        for name, v in values.items() if name != "latency"
        for k, tid in enumerate(traces)
    ]  # fmt: skip
    for at in range(0, len(scores), 1000):
        body = orjson.dumps(scores[at : at + 1000])
        r = httpx.post(server.url + "/api/public/scores", content=body, headers=server.auth,
                       timeout=120)  # fmt: skip
        r.raise_for_status()


def settle(server: HeronProcess, timeout: float = 120.0) -> float:
    """Wait until the server process is idle (under 10% of a core over a second)."""
    assert server.proc is not None
    proc = psutil.Process(server.proc.pid)
    start = time.perf_counter()
    while time.perf_counter() - start < timeout:
        if proc.cpu_percent(interval=1.0) < 10:
            break
    return time.perf_counter() - start


def timed(server: HeronProcess, path: str, params: dict, repeat: int) -> tuple[list[float], dict]:
    ms, answer = [], {}
    for i in range(repeat + 1):  # the first is the warm-up
        t = time.perf_counter()
        r = httpx.get(server.url + path, params=params, headers=server.auth, timeout=120)
        elapsed = (time.perf_counter() - t) * 1000
        r.raise_for_status()
        answer = r.json()
        if i:
            ms.append(elapsed)
    return ms, answer


def figures(label: str, ms: list[float]) -> str:
    ms = sorted(ms)
    p95 = ms[min(len(ms) - 1, int(len(ms) * 0.95))]
    return f"{label}: median {statistics.median(ms):.0f} ms, p95 {p95:.0f} ms, n={len(ms)}"


def compare_part(items: int, repeat: int) -> None:
    rng = np.random.default_rng(17)
    base = {
        "quality": rng.normal(3.5, 0.8, items),
        "relevance": rng.uniform(0, 1, items),
        "correct": rng.random(items) < 0.7,
        "latency": rng.lognormal(7, 0.4, items),
    }
    cand = {
        "quality": base["quality"] + rng.normal(0.05, 0.5, items),
        "relevance": base["relevance"] + rng.normal(0, 0.1, items),
        "correct": np.where(rng.random(items) < 0.05, ~base["correct"], base["correct"]),
        "latency": base["latency"] * rng.lognormal(0, 0.1, items),
    }
    traces = {name: [uuid.uuid4().hex for _ in range(items)] for name in ("baseline", "candidate")}
    with tempfile.TemporaryDirectory(prefix="heron-bench-experiments-") as tmp:
        data_dir = Path(tmp) / "data"
        data_dir.mkdir()
        t = time.perf_counter()
        plant_rows(data_dir / "heron.duckdb", items, traces)
        server = HeronProcess(data_dir).start()
        try:
            post_run(server, traces["baseline"], base)
            post_run(server, traces["candidate"], cand)
            print(f"planted 2 runs of {items:,} items in {time.perf_counter() - t:.0f} s")
            path = f"/api/datasets/{DATASET}/runs"
            print(f"server idle after {settle(server):.0f} s (the runner's work on the scores)")
            runs = {"baseline": "baseline", "candidate": "candidate"}
            ms, answer = timed(server, f"{path}/compare", runs, repeat)
            assert answer["pairs"]["paired"] == items, answer["pairs"]
            for row in answer["rows"]:
                print(f"  {row['name']:<10} {row['difference']:+.4g} "
                      f"[{row['ci_low']:.4g}, {row['ci_high']:.4g}] {row['verdict']} "
                      f"({row['test']}, n={row['n_pairs']})")  # fmt: skip
            verdict = "meets" if statistics.median(ms) < COMPARE_MS else "MISSES"
            print(figures("compare", ms) + f"  ({verdict} the {COMPARE_MS:.0f} ms target)")
            ms, _ = timed(server, f"{path}/summary", {"runs": "baseline,candidate"}, repeat)
            print(figures("summary", ms))
            ms, _ = timed(server, f"{path}/items", {"runs": "baseline,candidate"}, repeat)
            print(figures("items (first page of 50)", ms))
        finally:
            server.stop()
    print(f"load average after: {', '.join(f'{x:.1f}' for x in os.getloadavg())}")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("part", choices=["compare"])
    parser.add_argument("--items", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=10)
    args = parser.parse_args()
    print(machine())
    print(f"load average before: {', '.join(f'{x:.1f}' for x in os.getloadavg())}")
    if args.part == "compare":
        compare_part(args.items, args.repeat)


if __name__ == "__main__":
    main()
