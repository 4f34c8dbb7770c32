"""Ingest throughput and latency of a real `heron serve` over OTLP/HTTP protobuf.

1. Throughput: 4 concurrent clients post the demo workload in 512-span requests as fast as
   the server acknowledges them; an acknowledgement means committed, so the time from the
   first post to the last acknowledgement (plus one read that sees every trace) is
   "posted until queryable".
2. Latency: a paced load of about 5,000 spans/s; request latency percentiles.

Usage: python bench/ingest.py [--traces 25000] [--rate 5000] [--seconds 20]
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import threading
import time
from pathlib import Path

import httpx
import psutil

from heron.demo import DemoConfig, generate

from _common import HeronProcess, machine, rss_mib

PB = {"Content-Type": "application/x-protobuf"}
END_US = 1_790_000_000_000_000  # fixed, so every run sends the same bytes


def build(traces: int, seed: int) -> tuple[list[bytes], int]:
    bodies, spans = [], 0
    for req in generate(
        DemoConfig(
            seed=seed, traces=traces, days=7, batch_spans=512, end_us=END_US, export_interval_s=1e9
        )
    ):
        bodies.append(req.SerializeToString())
        spans += sum(len(ss.spans) for rs in req.resource_spans for ss in rs.scope_spans)
    return bodies, spans


def throughput(server: HeronProcess, bodies: list[bytes], spans: int, clients: int) -> None:
    todo = list(enumerate(bodies))
    lock = threading.Lock()
    latencies: list[float] = []
    retries = 0

    def worker() -> None:
        nonlocal retries
        with httpx.Client(headers={**server.auth, **PB}, timeout=60) as http:
            while True:
                with lock:
                    if not todo:
                        return
                    _, body = todo.pop()
                while True:
                    t = time.perf_counter()
                    r = http.post(server.url + "/v1/traces", content=body)
                    if r.status_code == 503:
                        retries += 1
                        time.sleep(float(r.headers.get("retry-after", "1")) / 10)
                        continue
                    r.raise_for_status()
                    latencies.append(time.perf_counter() - t)
                    break

    server_cpu = _cpu_s(server)
    client_cpu = time.process_time()
    started = time.perf_counter()
    threads = [threading.Thread(target=worker) for _ in range(clients)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    acked = time.perf_counter() - started
    total = httpx.get(server.url + "/api/observations?limit=1", headers=server.auth)
    total.raise_for_status()
    queryable = time.perf_counter() - started
    server_cpu = {k: v - server_cpu.get(k, 0.0) for k, v in _cpu_s(server).items()}
    client_cpu = time.process_time() - client_cpu
    lat = sorted(latencies)
    print(f"throughput: {spans:,} spans in {len(bodies)} requests from {clients} clients")
    print(f"  acknowledged (committed) in {acked:.2f} s: {spans / acked:,.0f} spans/s")
    print(f"  posted until queryable  in {queryable:.2f} s: {spans / queryable:,.0f} spans/s")
    print(
        f"  request latency p50 {lat[len(lat) // 2] * 1000:.0f} ms, "
        f"p99 {lat[int(len(lat) * 0.99)] * 1000:.0f} ms; 503 retries: {retries}"
    )
    # Server, decoders and clients share the cores: their CPU time says which one bounds it.
    print(
        f"  cpu seconds: server process {server_cpu['server']:.1f}, decode workers "
        f"{server_cpu['workers']:.1f}, clients {client_cpu:.1f} "
        f"(of {queryable * (os.cpu_count() or 1):.1f} available)"
    )


def _cpu_s(server: HeronProcess) -> dict[str, float]:
    """CPU seconds used so far by the server process and by its children (decode workers)."""
    proc = psutil.Process(server.proc.pid)  # type: ignore[union-attr]
    times = proc.cpu_times()
    workers = 0.0
    for child in proc.children(recursive=True):
        try:
            t = child.cpu_times()
        except psutil.NoSuchProcess:
            continue
        workers += t.user + t.system
    return {"server": times.user + times.system, "workers": workers}


def paced(
    server: HeronProcess, bodies: list[bytes], rate: float, seconds: float, quiet: bool = False
) -> None:
    spans_per_req = 512
    interval = spans_per_req / rate
    latencies: list[float] = []
    end = time.perf_counter() + seconds
    lock = threading.Lock()
    next_at = [time.perf_counter()]
    sent = [0]

    def worker(offset: int) -> None:
        i = offset
        with httpx.Client(headers={**server.auth, **PB}, timeout=60) as http:
            while True:
                with lock:
                    at = next_at[0]
                    next_at[0] += interval
                if at > end:
                    return
                delay = at - time.perf_counter()
                if delay > 0:
                    time.sleep(delay)
                t = time.perf_counter()
                r = http.post(server.url + "/v1/traces", content=bodies[i % len(bodies)])
                r.raise_for_status()
                with lock:
                    latencies.append(time.perf_counter() - t)
                    sent[0] += 1
                i += 4

    threads = [threading.Thread(target=worker, args=(k,)) for k in range(4)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    if quiet:
        return
    lat = sorted(latencies)
    q = statistics.quantiles(lat, n=100)
    print(
        f"latency at {rate:,.0f} spans/s target ({sent[0] * spans_per_req / seconds:,.0f} "
        f"achieved, {sent[0]} requests of {spans_per_req} spans over {seconds:.0f} s):"
    )
    print(
        f"  p50 {q[49] * 1000:.1f} ms, p90 {q[89] * 1000:.1f} ms, p99 {q[98] * 1000:.1f} ms, "
        f"max {lat[-1] * 1000:.1f} ms"
    )


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--traces", type=int, default=40_000)
    ap.add_argument("--clients", type=int, default=4)
    ap.add_argument("--rate", type=float, default=5000)
    ap.add_argument("--seconds", type=float, default=20)
    ap.add_argument("--workers", default="auto", help="HERON_INGEST_WORKERS for the server")
    args = ap.parse_args()
    print(f"machine: {machine()}")
    t = time.perf_counter()
    bodies, spans = build(args.traces, seed=1)
    print(f"built {len(bodies)} requests ({spans:,} spans) in {time.perf_counter() - t:.1f} s")
    with tempfile.TemporaryDirectory() as tmp:
        env = {"HERON_INGEST_WORKERS": args.workers}
        server = HeronProcess(Path(tmp) / "data", env=env).start()
        try:
            throughput(server, bodies, spans, args.clients)
            print(f"  server RSS after load: {rss_mib(server.proc.pid):.0f} MiB")  # type: ignore[union-attr]
        finally:
            server.stop()
        server = HeronProcess(Path(tmp) / "data2", env=env).start()
        try:
            # enough distinct traces that nothing is sent twice (re-sent spans take the
            # slower merge path), plus a warm-up of two seconds that is not measured
            need = int(args.rate * (args.seconds + 3) / 5.5)
            paced_bodies, _ = build(need, seed=2)
            warm = int(2 * args.rate / 512)
            paced(server, paced_bodies[:warm], args.rate, 2, quiet=True)
            paced(server, paced_bodies[warm:], args.rate, args.seconds)
        finally:
            server.stop()


if __name__ == "__main__":
    main()
