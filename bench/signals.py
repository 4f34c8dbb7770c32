"""Trace rules on a real `heron serve`: what 20 active rules cost ingest, and how soon a
signal is readable after its trace is acknowledged.

1. Throughput: the demo workload posted by 4 clients (as in bench/ingest.py) to a server
   running the default runner tasks, then to one running them and the rules task with 20
   rules (the 6 built-ins and 14 of the project's, one of which matches every trace).
   "Rules caught up" is when that rule has a signal on every trace: the rules' work is done.
2. Latency: single traces with a failing span posted one at a time; the time from the
   acknowledgement until `GET /api/signals?traceId=` returns the error rule's signal.

Usage: python bench/signals.py [--traces 10000] [--probes 50]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import threading
import time
from pathlib import Path

import httpx

from ingest import build
from tests.support.otlp import new_span_id, new_trace_id, request, span

from _common import HeronProcess, machine

PB = {"Content-Type": "application/x-protobuf"}
DEFAULT_TASKS = "heron.implicit.task:FeedbackTask,heron.evals.task:tasks"  # HERON_RUNNER_TASKS
RULES_TASK = "heron.signals.task:RulesTask"


def _f(column: str, operator: str, value: object = None) -> dict:
    return {"column": column, "operator": operator, "value": value}


USER_RULES = {
    "every-trace": ("traces", []),
    "slower-5s": ("traces", [_f("latency_ms", ">", 5000)]),
    "slower-20s": ("traces", [_f("latency_ms", ">", 20000)]),
    "cost-1c": ("traces", [_f("total_cost", ">", 0.01)]),
    "cost-10c": ("traces", [_f("total_cost", ">", 0.1)]),
    "support-chat": ("traces", [_f("name", "=", "support-chat")]),
    "low-rating": ("traces", [_f("scores.user_rating", "<=", 2)]),
    "production": ("traces", [_f("environment", "=", "production")]),
    "with-errors": ("traces", [_f("error_count", ">", 0)]),
    "many-tokens": ("traces", [_f("total_tokens", ">", 5000)]),
    "generations": ("observations", [_f("type", "=", "generation"), _f("total_tokens", ">", 4000)]),
    "warnings": ("observations", [_f("level", "=", "WARNING")]),
    "search-tool": ("observations", [_f("name", "contains", "search")]),
    "slow-first-token": ("observations", [_f("time_to_first_token_ms", ">", 3000)]),
}


def add_rules(server: HeronProcess) -> None:
    for name, (target, filters) in USER_RULES.items():
        r = httpx.put(
            f"{server.url}/api/rules/{name}",
            json={"target": target, "filter": filters, "severity": "info"},
            headers=server.auth,
        )
        r.raise_for_status()
    assert len(httpx.get(server.url + "/api/rules", headers=server.auth).json()["data"]) == 20


def post_all(server: HeronProcess, bodies: list[bytes], clients: int) -> tuple[float, float]:
    """Post every body from ``clients`` threads; the start (perf_counter) and the seconds
    until the last acknowledgement."""
    todo = list(bodies)
    lock = threading.Lock()

    def worker() -> None:
        with httpx.Client(headers={**server.auth, **PB}, timeout=60) as http:
            while True:
                with lock:
                    if not todo:
                        return
                    body = todo.pop()
                while True:
                    r = http.post(server.url + "/v1/traces", content=body)
                    if r.status_code == 503:
                        time.sleep(float(r.headers.get("retry-after", "1")) / 10)
                        continue
                    r.raise_for_status()
                    break

    started = time.perf_counter()
    threads = [threading.Thread(target=worker) for _ in range(clients)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    return started, time.perf_counter() - started


def count(server: HeronProcess, path: str, **params: object) -> int:
    r = httpx.get(server.url + path, params={**params, "limit": 1}, headers=server.auth)
    r.raise_for_status()
    return int(r.json()["meta"]["totalItems"])


def trace_count(server: HeronProcess) -> int:
    r = httpx.post(
        server.url + "/api/metrics",
        json={
            "view": "traces",
            "metrics": [{"measure": "count", "aggregation": "count"}],
            "fromTimestamp": "2000-01-01T00:00:00Z",
            "toTimestamp": "2100-01-01T00:00:00Z",
        },
        headers=server.auth,
    )
    r.raise_for_status()
    return int(next(iter(r.json()["data"][0].values())))


def latency(server: HeronProcess, probes: int) -> list[float]:
    auth = {"Authorization": server.auth["Authorization"]}
    out = []
    with httpx.Client(base_url=server.url, timeout=10) as http:
        for n in range(probes):
            trace_id, root = new_trace_id(), new_span_id()
            spans = [
                span(trace_id, root, "probe"),
                span(trace_id, new_span_id(), "db", parent=root, error=f"probe failure {n}"),
            ]
            r = http.post(
                "/v1/traces", content=request(spans).SerializeToString(), headers={**auth, **PB}
            )
            r.raise_for_status()
            acked = time.perf_counter()
            while not http.get(
                "/api/signals", params={"traceId": trace_id.hex(), "rule": "error"}, headers=auth
            ).json()["data"]:
                time.sleep(0.005)
            out.append(time.perf_counter() - acked)
            time.sleep(0.05)
    return sorted(out)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--traces", type=int, default=10_000)
    ap.add_argument("--clients", type=int, default=4)
    ap.add_argument("--probes", type=int, default=50)
    args = ap.parse_args()
    print(f"machine: {machine()}")
    bodies, spans = build(args.traces, seed=1)
    print(f"workload: {args.traces:,} traces, {spans:,} spans in {len(bodies)} requests")
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        for label, tasks in (
            ("no rules", DEFAULT_TASKS),
            ("20 rules", f"{DEFAULT_TASKS},{RULES_TASK}"),
        ):
            server = HeronProcess(Path(tmp) / label.replace(" ", "-"), env={
                "HERON_RUNNER_TASKS": tasks})  # fmt: skip
            server.start()
            try:
                if RULES_TASK in tasks:
                    add_rules(server)
                started, acked = post_all(server, bodies, args.clients)
                results[label] = spans / acked
                print(f"{label}: acknowledged in {acked:.2f} s: {spans / acked:,.0f} spans/s")
                if RULES_TASK in tasks:
                    traces = trace_count(server)
                    while count(server, "/api/signals", rule="every-trace") < traces:
                        time.sleep(0.05)
                    caught = time.perf_counter() - started
                    print(f"  rules caught up on {traces:,} traces {caught:.2f} s after the "
                          f"first post: {spans / caught:,.0f} spans/s")  # fmt: skip
                    print(f"  signals: {count(server, '/api/signals'):,}, "
                          f"issues: {count(server, '/api/issues'):,}")  # fmt: skip
                    lat = latency(server, args.probes)
                    p95 = lat[int(0.95 * (len(lat) - 1))]
                    print(f"  signal latency after the ack ({len(lat)} probes): median "
                          f"{statistics.median(lat) * 1000:.0f} ms, p95 {p95 * 1000:.0f} ms, "
                          f"max {lat[-1] * 1000:.0f} ms")  # fmt: skip
            finally:
                server.stop()
    cost = 1 - results["20 rules"] / results["no rules"]
    print(f"ingest throughput cost of 20 rules: {cost * 100:.1f}%")


if __name__ == "__main__":
    main()
