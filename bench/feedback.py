"""Implicit-feedback detectors: quality on the labelled, held-out, dev, fresh and fresh2 sets;
speed.

``python bench/feedback.py --quality`` prints precision and recall per detector on
tests/implicit/data/labelled.jsonl, holdout.jsonl, dev.jsonl, fresh.jsonl and fresh2.jsonl (the
test set, never tuned on); ``--speed``
measures ``detect_session`` on one core (sessions of about five traces in the stored shapes,
the embedding model loaded once); no flag runs both.

``--backfill`` measures the detectors end to end through the runner: ``--backfill-sessions``
sessions (default 100,000, about 580,000 traces; labelled conversations in their stored chat
shapes, with retries, rephrases, corrections, errors) written straight into a store with
``EmbeddedStore.write_batch`` (50,000 traces a batch), then a ``feedback`` backfill job over
the project, timed (reading traces, detecting, writing scores), twice (the second replaces
every score). ``--online`` starts ``heron serve`` with its defaults and times a retry's
acknowledgement -> the ``implicit_retry`` score readable on the first trace.
"""

from __future__ import annotations

import argparse
import logging
import os
import statistics
import sys
import tempfile
import time
from datetime import datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import httpx
import orjson

from heron.implicit import DETECTORS, FeedbackConfig, Turn, detect_session
from heron.implicit.task import FeedbackTask
from heron.model import ObservationRecord, TraceUpdate
from heron.runner import Runner
from heron.store import EmbeddedStore
from tests.implicit.labelled import DATA, START, evaluate, load, turns_of

from _common import HeronProcess, machine, otlp

TARGET = {"precision": 0.85, "recall": 0.75}


def quality() -> None:
    for name in ("labelled.jsonl", "holdout.jsonl", "dev.jsonl", "fresh.jsonl", "fresh2.jsonl"):
        convs = load(name)
        scores = evaluate(convs)
        print(f"\n{name}: {len(convs)} conversations")
        print(f"{'detector':<24} {'labels':>6} {'found':>6} {'precision':>9} {'recall':>7}")
        for det in DETECTORS:
            s = scores[det]
            flag = ""
            if s.precision < TARGET["precision"] or s.recall < TARGET["recall"]:
                flag = "  below target"
            print(
                f"{det:<24} {s.tp + s.fn:>6} {s.tp + s.fp:>6} {s.precision:>9.3f}"
                f" {s.recall:>7.3f}{flag}"
            )


def after_answer() -> None:
    """Rephrases right after a correct, on-topic answer (no failure to lean on): the
    scenarios' request in other words against their follow-up and an unrelated question."""
    sys.path.insert(0, str(DATA))
    from scenarios import SCENARIOS

    def taken(request: str, answer: str, reply: str) -> bool:
        turns = [
            Turn("a", START, request, answer, None, 900.0),
            Turn("b", START + timedelta(seconds=40), reply, "OK.", None, 900.0),
        ]
        found = detect_session(turns, FeedbackConfig(), START + timedelta(minutes=2))
        return any(d.name == "implicit_rephrase" for d in found)

    n = len(SCENARIOS)
    rephrases = sum(taken(s[1], s[2], s[3]) for s in SCENARIOS)
    follow_ups = sum(taken(s[1], s[2], s[4]) for s in SCENARIOS)
    others = sum(taken(s[1], s[2], SCENARIOS[(i + 7) % n][1]) for i, s in enumerate(SCENARIOS))
    print(
        f"\nrephrase right after a correct answer ({n} scenarios): {rephrases}/{n} found; "
        f"taken for a rephrase: follow-ups {follow_ups}/{n}, other questions {others}/{n}"
    )


def sessions(count: int) -> list[tuple[list[Turn], datetime]]:
    """Sessions of about five traces: labelled conversations joined two or three at a time."""
    convs = load("labelled.jsonl")
    out = []
    k = 0
    while len(out) < count:
        turns: list[Turn] = []
        while len(turns) < 5:
            part, _ = turns_of(k, convs[k % len(convs)])
            shift = (
                (turns[-1].timestamp - part[0].timestamp + timedelta(seconds=60))
                if turns
                else timedelta(0)
            )
            turns += [
                Turn(f"{len(out)}-{len(turns) + i}", t.timestamp + shift, t.input, t.output,
                     t.level, t.latency_ms)
                for i, t in enumerate(part)
            ]  # fmt: skip
            k += 1
        out.append((turns, turns[-1].timestamp + timedelta(hours=1)))
    return out


def speed(count: int) -> None:
    os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})  # one core
    config = FeedbackConfig()
    batch = sessions(count)
    detect_session(*batch[0][:1], config, batch[0][1])  # load the embedding model
    traces = sum(len(t) for t, _ in batch)
    best = wall = float("inf")
    for _ in range(3):
        start, start_wall = time.process_time(), time.perf_counter()
        found = 0
        for turns, now in batch:
            found += len(detect_session(turns, config, now))
        best = min(best, time.process_time() - start)
        wall = min(wall, time.perf_counter() - start_wall)
    print(
        f"\nspeed: {count} sessions ({traces} traces, {found} detections) in {best:.2f} s of "
        f"CPU on one core ({wall:.2f} s wall, load {os.getloadavg()[0]:.1f}): "
        f"{count / best:,.0f} sessions/s, {traces / best:,.0f} traces/s (best of 3)"
    )
    print(f"100,000 sessions on 2 cores: about {100_000 / (2 * count / best):.0f} s")


BATCH = 50_000  # traces per write_batch
EPOCH = datetime(1970, 1, 1)


def _text(value: object) -> str | None:
    return value if value is None or isinstance(value, str) else orjson.dumps(value).decode()


def build(store: EmbeddedStore, count: int) -> int:
    """``count`` sessions (about six traces each) of project "p", one root span a trace,
    sessions a minute apart; the number of traces."""
    obs: list[ObservationRecord] = []
    updates: list[TraceUpdate] = []
    n = 0
    for chunk_start in range(0, count, 5000):
        for j, (turns, _) in enumerate(sessions(min(5000, count - chunk_start))):
            session = f"s{chunk_start + j:07d}"
            shift = timedelta(minutes=chunk_start + j)
            for t in turns:
                trace = f"{n:032x}"
                start = int((t.timestamp + shift - EPOCH).total_seconds() * 1e6)
                latency = int((t.latency_ms or 900) * 1000)
                inp, out = _text(t.input), _text(t.output)
                obs.append(
                    ObservationRecord("p", trace[:16], trace, None, "span", "chat", start,
                                      start + latency, input=inp, output=out,
                                      level=t.level or "DEFAULT")
                )  # fmt: skip
                updates.append(
                    TraceUpdate("p", trace, is_root=True, session_id=session, input=inp,
                                output=out)
                )  # fmt: skip
                n += 1
            if len(obs) >= BATCH:
                store.write_batch(obs, updates)
                obs, updates = [], []
    if obs:
        store.write_batch(obs, updates)
    return n


def backfill(count: int, data: Path) -> None:
    store = EmbeddedStore(data / "heron.duckdb")
    start = time.perf_counter()
    traces = build(store, count)
    print(f"\nstored {count:,} sessions / {traces:,} traces in {time.perf_counter() - start:.0f} s")
    runner = Runner(store, [FeedbackTask()])
    runner.run_until_idle()  # a new task starts at the current marker: the rest is history
    for label in ("backfill", "again (replacing)"):
        job = runner.start_job("p", ["implicit"])
        start, cpu = time.perf_counter(), time.process_time()
        runner.run_until_idle()
        elapsed, cpu = time.perf_counter() - start, time.process_time() - cpu
        assert store.runner_job(job["id"])["done"] == count
        n, distinct = (
            store.cursor()
            .execute("SELECT count(*), count(DISTINCT id) FROM scores WHERE project_id = 'p'")
            .fetchone()
        )
        assert n == distinct
        print(
            f"{label}: {count:,} sessions ({traces:,} traces) in {elapsed:.1f} s "
            f"({cpu:.1f} s CPU) = {count / elapsed:,.0f} sessions/s, {n:,} scores; "
            f"load {os.getloadavg()[0]:.1f}"
        )
    by_name = (
        store.cursor()
        .execute("SELECT name, count(*) FROM scores WHERE project_id = 'p' GROUP BY 1 ORDER BY 1")
        .fetchall()
    )
    print("  " + ", ".join(f"{name} {c:,}" for name, c in by_name))
    store.close()


def online(probes: int, data: Path) -> None:
    server = HeronProcess(data / "serve").start()  # its defaults: the feedback task on
    ns = 1_000_000_000
    try:
        waits = []
        for i in range(probes):
            t0 = int(time.time() * ns) - 40 * ns
            tids = [otlp.new_trace_id() for _ in range(2)]
            texts = [
                ("How do I reset my password?", "", "timeout"),
                ("how do I reset my pasword??", "Open Settings > Security.", None),
            ]
            for k, (tid, (q, a, err)) in enumerate(zip(tids, texts, strict=True)):
                root = otlp.span(
                    tid, otlp.new_span_id(), "chat", start_ns=t0 + k * 40 * ns,
                    attributes={"session.id": f"probe-{i}", "input.value": q,
                                "output.value": a}, error=err,
                )  # fmt: skip
                r = httpx.post(
                    server.url + "/v1/traces",
                    content=otlp.request([root]).SerializeToString(),
                    headers={**server.auth, "Content-Type": "application/x-protobuf"},
                    timeout=10,
                )
                assert r.status_code == 200, r.text
                if k == 0:
                    time.sleep(0.5)
            acked = time.perf_counter()
            while True:
                r = httpx.get(f"{server.url}/api/traces/{tids[0].hex()}", headers=server.auth)
                if r.status_code == 200 and any(
                    s["name"] == "implicit_retry" for s in r.json()["scores"]
                ):
                    break
                time.sleep(0.01)
            waits.append(time.perf_counter() - acked)
    finally:
        server.stop()
    ms = sorted(w * 1000 for w in waits)
    print(
        f"\nonline retry ({probes} probes, second trace acknowledged -> implicit_retry on the "
        f"first readable): median {statistics.median(ms):.0f} ms, max {ms[-1]:.0f} ms"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quality", action="store_true", help="precision/recall per detector")
    parser.add_argument("--speed", action="store_true", help="sessions/s on one core")
    parser.add_argument("--sessions", type=int, default=5000, help="sessions for --speed")
    parser.add_argument("--backfill", action="store_true", help="a backfill job, end to end")
    parser.add_argument("--backfill-sessions", type=int, default=100_000)
    parser.add_argument("--online", action="store_true", help="retry latency on heron serve")
    parser.add_argument("--probes", type=int, default=10)
    args = parser.parse_args()
    both = not (args.quality or args.speed or args.backfill or args.online)
    logging.getLogger("httpx").setLevel(logging.WARNING)
    print(f"machine: {machine()}; {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}")
    if args.quality or both:
        quality()
        after_answer()
    if args.speed or both:
        speed(args.sessions)
    if args.backfill or args.online:
        with tempfile.TemporaryDirectory() as tmp:
            if args.backfill:
                backfill(args.backfill_sessions, Path(tmp))
            if args.online:
                online(args.probes, Path(tmp))


if __name__ == "__main__":
    main()
