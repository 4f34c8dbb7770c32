"""Scrape cost of GET /metrics with 1,000,000 traces stored, against a real `heron serve`.

Uses the store of bench/read.py (built the same way, and reused). A scrape computes the
project's LLM totals from the store; a slow computation is reused for ten times its
duration, so the first number is the query cost and the second what a scrape costs within
that window.

Usage: python bench/prometheus.py [--traces 1000000] [--repeat 5] [--data-dir DIR]
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import httpx
from prometheus_client.parser import text_string_to_metric_families

from _common import HeronProcess, machine
from read import RESULTS, populate


def scrape(http: httpx.Client) -> tuple[float, int, int]:
    """Milliseconds, bytes, and how many samples the exposition holds."""
    t = time.perf_counter()
    r = http.get("/metrics")
    ms = (time.perf_counter() - t) * 1000
    r.raise_for_status()
    samples = sum(len(f.samples) for f in text_string_to_metric_families(r.text))
    return ms, len(r.content), samples


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--traces", type=int, default=1_000_000)
    ap.add_argument("--seed-traces", type=int, default=20_000)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--data-dir", type=Path, default=None)
    args = ap.parse_args()
    print(f"machine: {machine()}")
    data_dir = args.data_dir or RESULTS / f"read-{args.traces}"
    data_dir.mkdir(parents=True, exist_ok=True)
    populate(data_dir, args.traces, args.seed_traces)

    server = HeronProcess(data_dir).start()
    try:
        with httpx.Client(base_url=server.url, headers=server.auth, timeout=60) as http:
            fresh, reused = [], []
            for _ in range(args.repeat):
                ms, size, samples = scrape(http)
                fresh.append(ms)
                reused.append(scrape(http)[0])
                time.sleep(ms / 1000 * 10 + 0.1)  # past the reuse window
            print(f"exposition: {size / 1024:.0f} KiB, {samples} samples")
            print(
                f"scrape, totals computed: median {statistics.median(fresh):.0f} ms, "
                f"max {max(fresh):.0f} ms"
            )
            print(
                f"scrape, totals reused:   median {statistics.median(reused):.0f} ms, "
                f"max {max(reused):.0f} ms"
            )
    finally:
        server.stop()


if __name__ == "__main__":
    main()
