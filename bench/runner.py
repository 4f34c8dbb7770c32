"""The background runner: throughput of an almost empty session task, and change-to-score
latency on a real server.

1. Stores ``--sessions`` sessions of ``--turns`` traces each through ``EmbeddedStore``
   (one observation per trace), with a runner registered first, so every session is a
   change; ``run_until_idle`` then scores them all (the change path), and a backfill job
   over the whole project scores them again (the job path, replacing every score). Reports
   sessions/s and traces/s of each and, from a thread writing a one-trace batch every
   50 ms meanwhile, how long ingest batches took (they share the write lock with the
   runner's commits).
2. Starts ``heron serve`` with the same task, posts one trace of a new session at a time
   and times acknowledgement -> score visible (through the metrics API), ``--probes`` times.

Run: ``python bench/runner.py`` (100,000 sessions / 500,000 traces by default).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import threading
import time
from datetime import datetime
from pathlib import Path

import httpx

from _common import HeronProcess, machine, otlp

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from heron.model import ObservationRecord, TraceUpdate
from heron.runner import Runner
from heron.store import EmbeddedStore
from tests.support.runner_tasks import SessionTurns

T0 = 1_760_000_000_000_000
BATCH = 50_000  # traces per write_batch


class IngestProbe:
    """Writes a one-trace batch every 50 ms while the runner works and times each: what an
    ingest batch waits for the runner's commits (they share the store's write lock)."""

    def __init__(self, store: EmbeddedStore) -> None:
        self.store = store
        self.times: list[float] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run)
        self._n = 0

    def __enter__(self) -> IngestProbe:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        while not self._stop.wait(0.05):
            self._n += 1
            trace = f"{10**9 + self._n:032x}"
            start = time.perf_counter()
            self.store.write_batch(
                [ObservationRecord("probe", trace[:16], trace, None, "span", "p", T0)],
                [TraceUpdate("probe", trace, is_root=True)],  # no session: no runner work
            )
            self.times.append(time.perf_counter() - start)


def build(store: EmbeddedStore, sessions: int, turns: int) -> float:
    start = time.perf_counter()
    total = sessions * turns
    for first in range(0, total, BATCH):
        ids = range(first, min(first + BATCH, total))
        store.write_batch(
            [
                ObservationRecord("p", f"{i:016x}", f"{i:032x}", None, "span", "turn", T0 + i)
                for i in ids
            ],
            [
                TraceUpdate("p", f"{i:032x}", is_root=True, session_id=f"s{i % sessions:07d}")
                for i in ids
            ],
        )
    return time.perf_counter() - start


def throughput(sessions: int, turns: int) -> None:
    store = EmbeddedStore(Path(tempfile.mkdtemp()) / "heron.duckdb")
    runner = Runner(store, [SessionTurns()])
    runner.run_until_idle()  # the task's cursor starts here: everything below is a change
    built = build(store, sessions, turns)
    print(f"stored {sessions:,} sessions / {sessions * turns:,} traces in {built:.1f} s")

    with IngestProbe(store) as probe:
        time.sleep(2)
    ms = sorted(b * 1000 for b in probe.times)
    print(
        f"ingest batches with the runner idle: median {statistics.median(ms):.1f} ms, "
        f"max {ms[-1]:.1f} ms"
    )
    with IngestProbe(store) as probe:
        start = time.perf_counter()
        runner.run_until_idle()
        elapsed = time.perf_counter() - start
    report("change path", sessions, turns, elapsed, probe.times)

    job = runner.start_job("p")
    with IngestProbe(store) as probe:
        start = time.perf_counter()
        runner.run_until_idle()
        elapsed = time.perf_counter() - start
    assert store.runner_job(job["id"])["done"] == sessions
    report("backfill job", sessions, turns, elapsed, probe.times)
    rows = store.cursor().execute("SELECT count(*), count(DISTINCT id) FROM scores").fetchall()
    assert rows[0] == (2 * sessions, 2 * sessions), rows  # session_turns, multi_turn
    store.close()


def report(what: str, sessions: int, turns: int, elapsed: float, batches: list[float]) -> None:
    ms = sorted(b * 1000 for b in batches)
    print(
        f"{what}: {sessions:,} sessions in {elapsed:.1f} s = {sessions / elapsed:,.0f} "
        f"sessions/s ({sessions * turns / elapsed:,.0f} traces/s); meanwhile {len(ms)} ingest "
        f"batches took median {statistics.median(ms):.0f} ms, p99 "
        f"{ms[int(len(ms) * 0.99)]:.0f} ms, max {ms[-1]:.0f} ms"
    )


def count_scores(server: HeronProcess) -> int:
    r = httpx.post(
        server.url + "/api/metrics",
        json={
            "view": "scores",
            "metrics": [{"measure": "count", "aggregation": "count"}],
            "fromTimestamp": "2020-01-01T00:00:00Z",
            "toTimestamp": "2030-01-01T00:00:00Z",
        },
        headers={"Authorization": server.auth["Authorization"]},
        timeout=10,
    )
    return int(r.json()["data"][0]["count_count"])


def latency(probes: int) -> None:
    env = {"HERON_RUNNER_TASKS": "tests.support.runner_tasks:SessionTurns"}
    server = HeronProcess(Path(tempfile.mkdtemp()) / "data", env=env).start()
    try:
        waits = []
        for n in range(probes):
            spans = otlp.genai_trace(session=f"probe-{n}", n_children=1)[1]
            r = httpx.post(
                server.url + "/v1/traces",
                content=otlp.request(spans).SerializeToString(),
                headers={**server.auth, "Content-Type": "application/x-protobuf"},
                timeout=10,
            )
            acked = time.perf_counter()
            assert r.status_code == 200, r.text
            while count_scores(server) < n + 1:
                time.sleep(0.005)
            waits.append(time.perf_counter() - acked)
            time.sleep(0.2)
    finally:
        server.stop()
    waits_ms = sorted(w * 1000 for w in waits)
    print(
        f"change-to-score latency ({probes} probes, acknowledged -> score readable): "
        f"median {statistics.median(waits_ms):.0f} ms, max {waits_ms[-1]:.0f} ms"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sessions", type=int, default=100_000)
    parser.add_argument("--turns", type=int, default=5)
    parser.add_argument("--probes", type=int, default=20)
    args = parser.parse_args()
    print(f"{datetime.now():%Y-%m-%d %H:%M}, {machine()}")
    throughput(args.sessions, args.turns)
    latency(args.probes)


if __name__ == "__main__":
    main()
