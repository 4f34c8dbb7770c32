"""What `heron backup` of a running server costs ingest.

Loads ``--traces`` demo traces into a real `heron serve`, then sends a paced load and takes a
backup in the middle of it: prints how long store writes were paused, how long the backup
took, and the acknowledgement latency of the requests sent during the backup against the
rest (acknowledgements come from the journal, which the backup does not pause).

Usage: python bench/backup.py [--traces 100000] [--rate 2000]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import threading
import time
from pathlib import Path

import httpx

from heron.admin_client import Admin
from ingest import PB, build

from _common import HeronProcess, machine


def _load(server: HeronProcess, bodies: list[bytes]) -> None:
    """Post every body from 4 clients as fast as they are acknowledged, then wait until all
    of it is in the store (a read waits for that)."""
    todo = list(bodies)
    lock = threading.Lock()
    started = time.perf_counter()

    def worker() -> None:
        with httpx.Client(headers={**server.auth, **PB}, timeout=120) as http:
            while True:
                with lock:
                    if not todo:
                        return
                    body = todo.pop()
                while (r := http.post(server.url + "/v1/traces", content=body)).status_code == 503:
                    time.sleep(0.1)
                r.raise_for_status()

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    acked = time.perf_counter() - started
    httpx.get(server.url + "/api/observations?limit=1", headers=server.auth, timeout=120)
    print(
        f"loaded {len(bodies)} requests: acknowledged in {acked:.1f} s, "
        f"queryable in {time.perf_counter() - started:.1f} s"
    )


def _paced_with_backup(
    server: HeronProcess, bodies: list[bytes], rate: float, dest: Path
) -> tuple[dict, list[tuple[float, float]], tuple[float, float]]:
    interval = 512 / rate
    samples: list[tuple[float, float]] = []  # (sent at, latency)
    lock = threading.Lock()
    todo = list(bodies)
    next_at = [time.perf_counter()]

    def worker() -> None:
        with httpx.Client(headers={**server.auth, **PB}, timeout=60) as http:
            while True:
                with lock:
                    if not todo:
                        return
                    body = todo.pop()
                    at = next_at[0]
                    next_at[0] += interval
                if (delay := at - time.perf_counter()) > 0:
                    time.sleep(delay)
                t = time.perf_counter()
                http.post(server.url + "/v1/traces", content=body).raise_for_status()
                with lock:
                    samples.append((t, time.perf_counter() - t))

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for th in threads:
        th.start()
    time.sleep(len(bodies) * interval / 3)
    began = time.perf_counter()
    result = Admin(server.data_dir).backup(dest)
    window = (began, time.perf_counter())
    for th in threads:
        th.join()
    return result, samples, window


def _ms(values: list[float]) -> str:
    if not values:
        return "-"
    v = sorted(values)
    p50 = statistics.median(v) * 1000
    return f"p50 {p50:.0f} ms, max {v[-1] * 1000:.0f} ms ({len(v)} requests)"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--traces", type=int, default=100_000)
    ap.add_argument("--rate", type=float, default=2000, help="spans/s sent during the backup")
    args = ap.parse_args()
    print(f"machine: {machine()}")
    bodies, _ = build(args.traces, seed=1)
    paced_bodies, _ = build(int(args.rate * 15 / 5.5), seed=2)
    with tempfile.TemporaryDirectory() as tmp:
        server = HeronProcess(Path(tmp) / "data").start()
        try:
            _load(server, bodies)
            result, samples, (began, ended) = _paced_with_backup(
                server, paced_bodies, args.rate, Path(tmp) / "backup"
            )
        finally:
            server.stop()
        during = [lat for at, lat in samples if began <= at <= ended]
        outside = [lat for at, lat in samples if not began <= at <= ended]
        print(
            f"backup of a running server: {result['traces']:,} traces, "
            f"{result['observations']:,} observations, {result['database_bytes'] / 1e6:,.0f} MB "
            f"database + {result['journal_bytes'] / 1e6:,.1f} MB journal"
        )
        print(
            f"  store writes paused {result['paused_ms']:,.0f} ms; backup took "
            f"{result['seconds']:.2f} s (client side {ended - began:.2f} s)"
        )
        print(f"  ack latency during the backup: {_ms(during)}")
        print(f"  ack latency otherwise:         {_ms(outside)}")
        t = time.perf_counter()
        offline = Admin(Path(tmp) / "data").backup(Path(tmp) / "offline")
        print(
            f"backup with the server stopped: {offline['database_bytes'] / 1e6:,.0f} MB in "
            f"{time.perf_counter() - t:.2f} s (store open and checkpoint included)"
        )


if __name__ == "__main__":
    main()
