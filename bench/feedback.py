"""Implicit-feedback detectors: quality on the labelled and held-out sets, and speed.

``python bench/feedback.py --quality`` prints precision and recall per detector on
tests/feedback/data/labelled.jsonl and holdout.jsonl; ``--speed`` measures ``detect_session``
on one core (sessions of about five traces in the stored shapes, the embedding model loaded
once); no flag runs both.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from datetime import datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from heron.feedback import DETECTORS, FeedbackConfig, Turn, detect_session
from tests.feedback.labelled import DATA, START, evaluate, load, turns_of

from _common import machine

TARGET = {"precision": 0.85, "recall": 0.75}


def quality() -> None:
    for name in ("labelled.jsonl", "holdout.jsonl"):
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quality", action="store_true", help="precision/recall per detector")
    parser.add_argument("--speed", action="store_true", help="sessions/s on one core")
    parser.add_argument("--sessions", type=int, default=5000, help="sessions for --speed")
    args = parser.parse_args()
    both = not (args.quality or args.speed)
    print(f"machine: {machine()}; {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}")
    if args.quality or both:
        quality()
        after_answer()
    if args.speed or both:
        speed(args.sessions)


if __name__ == "__main__":
    main()
