"""Annotation queue speed on a real store file: fills and the next item.

(1) Fills of 10,000 traces out of ``--traces`` (default 200,000): the dry run (count and
    pick) of each sample (``newest``, ``random``, ``stratified`` by model, ``lowest_scores``)
    and the add itself.
(2) The annotator's next item (``claim_queue_item``, target: a small part of the 150 ms the
    annotator view may take) and ``complete_queue_item`` on a 10,000-item queue: at its
    start, and once half of it is done, with two annotators on a double-annotated queue.
(3) Eight annotators in threads working through 2,000 items: items per second, and a check
    that no item went to two of them.

The traces are synthetic and built in SQL (kept under bench/results/ and reused).

Usage: python bench/queues.py [--traces 200000] [--claims 300]
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import threading
import time
from datetime import datetime, timedelta
from pathlib import Path

import duckdb

from heron.annotation.fill import parse_fill, run_fill
from heron.store import EmbeddedStore

from _common import machine

RESULTS = Path(__file__).parent / "results"
END = datetime(2026, 11, 30)


def build(traces: int) -> tuple[Path, str]:
    """A store with ``traces`` traces over 30 days, a quarter of them scored (reused)."""
    data_dir = RESULTS / f"queues-{traces}"
    db = data_dir / "heron.duckdb"
    if (data_dir / "built").exists():
        return db, (data_dir / "built").read_text()
    shutil.rmtree(data_dir, ignore_errors=True)
    data_dir.mkdir(parents=True)
    store = EmbeddedStore(db)
    pid = store.create_project("bench")["id"]
    store.close()
    con = duckdb.connect(str(db))
    step_us = 30 * 86400 * 1_000_000 // traces
    con.execute(
        f"""
        INSERT INTO traces (project_id, id, name, user_id, release, models, start_time,
            end_time, latency_ms, observation_count, error_count, level, updated_at)
        SELECT ?, printf('%032x', i), ['support-chat', 'search', 'summarise'][1 + i % 3],
               'u' || (i % 5000), 'r' || (i % 4),
               [['gpt-4o', 'gpt-4o', 'gpt-4o', 'gpt-4o-mini', 'claude'][1 + (hash(i) % 5)::BIGINT]],
               TIMESTAMP '{END - timedelta(days=30)}' + to_microseconds(i * {step_us}),
               TIMESTAMP '{END - timedelta(days=30)}' + to_microseconds(i * {step_us} + 900000),
               900, 3, 0, 'DEFAULT', TIMESTAMP '{END}'
        FROM range({traces}) r(i)
        """,
        [pid],
    )
    con.execute(
        f"""
        INSERT INTO scores (project_id, id, trace_id, name, value, data_type, source,
            timestamp)
        SELECT ?, 's' || i, printf('%032x', i), 'quality', (hash(i * 7) % 100) / 100.0,
               'NUMERIC', 'API', TIMESTAMP '{END}'
        FROM range(0, {traces}, 4) r(i)
        """,
        [pid],
    )
    con.close()
    (data_dir / "built").write_text(pid)
    return db, pid


def timed(fn, *args, **kwargs) -> tuple[float, object]:
    start = time.perf_counter()
    out = fn(*args, **kwargs)
    return (time.perf_counter() - start) * 1000, out


SEARCH = {"column": "name", "operator": "=", "value": "search"}


def fills(store: EmbeddedStore, pid: str) -> None:
    print("fill of 10,000 (ms)          dry run    add")
    for name, body in (
        ("newest", {}),
        ("random", {"sample": "random", "seed": 3}),
        ("stratified by model", {"sample": "stratified", "by": "model"}),
        ("lowest_scores", {"sample": "lowest_scores", "score": "quality"}),
        ("filter name = search", {"filter": [SEARCH]}),
    ):
        queue = store.create_annotation_queue(pid, {"name": name, "score_config_ids": []})
        full = {**body, "limit": 10_000}
        dry = parse_fill({**full, "dry_run": True})
        dry_ms, counted = timed(run_fill, store, pid, queue["id"], dry)
        add_ms, done = timed(run_fill, store, pid, queue["id"], parse_fill(full))
        assert done["added"] == counted["selected"] == 10_000, (counted, done)  # type: ignore[index]
        matching = counted["matching"]  # type: ignore[index]
        print(f"  {name:<26} {dry_ms:8.0f} {add_ms:7.0f}   ({matching:,} matching)")


def claims(store: EmbeddedStore, pid: str, rounds: int) -> None:
    queue = store.create_annotation_queue(
        pid, {"name": "claims", "score_config_ids": [], "annotations_per_item": 2}
    )
    qid = queue["id"]
    store.add_queue_items(pid, qid, [("TRACE", f"{i:032x}") for i in range(10_000)])

    def run(label: str) -> None:
        took, done = [], []
        for n in range(rounds):
            user = ("ann", "bo")[n % 2]
            ms, item = timed(store.claim_queue_item, pid, qid, user)
            assert item is not None
            took.append(ms)
            ms, _ = timed(store.complete_queue_item, pid, qid, item["id"], user)  # type: ignore[index]
            done.append(ms)
        took.sort()
        done.sort()
        p95 = took[int(len(took) * 0.95)]
        print(f"  {label:<26} claim median {statistics.median(took):5.1f}  p95 {p95:5.1f}  "
              f"max {took[-1]:5.1f}   complete median {statistics.median(done):5.1f}")  # fmt: skip

    print(f"next item, 10,000-item double-annotated queue, {rounds} claims (ms)")
    run("at the start")
    cur = store.cursor()  # half of the queue done, by two other people (nothing else runs)
    cur.execute(
        "INSERT INTO annotation_queue_annotations SELECT project_id, queue_id, id, u, "
        "updated_at FROM annotation_queue_items, (VALUES ('x'), ('y')) v(u) "
        "WHERE project_id = ? AND queue_id = ? AND position <= 5000 AND status = 'PENDING'",
        [pid, qid],
    )
    cur.execute(
        "UPDATE annotation_queue_items SET status = 'COMPLETED', completed_at = updated_at "
        "WHERE project_id = ? AND queue_id = ? AND position <= 5000",
        [pid, qid],
    )
    run("half done")


def threads(store: EmbeddedStore, pid: str) -> None:
    queue = store.create_annotation_queue(pid, {"name": "threads", "score_config_ids": []})
    qid = queue["id"]
    store.add_queue_items(pid, qid, [("TRACE", f"{i:032x}") for i in range(2_000)])
    got: list[str] = []
    lock = threading.Lock()

    def work(user: str) -> None:
        while (item := store.claim_queue_item(pid, qid, user)) is not None:
            store.complete_queue_item(pid, qid, item["id"], user)
            with lock:
                got.append(item["id"])

    workers = [threading.Thread(target=work, args=(f"u{i}",)) for i in range(8)]
    start = time.perf_counter()
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    seconds = time.perf_counter() - start
    assert len(got) == len(set(got)) == 2_000
    print(f"8 annotators in threads: 2,000 items in {seconds:.1f} s "
          f"({2_000 / seconds:,.0f} claim+complete per second), none twice")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--traces", type=int, default=200_000)
    parser.add_argument("--claims", type=int, default=300)
    args = parser.parse_args()
    print(machine())
    db, pid = build(args.traces)
    work = db.with_name("work.duckdb")
    shutil.copy(db, work)
    store = EmbeddedStore(work)
    try:
        print(f"{args.traces:,} traces")
        fills(store, pid)
        claims(store, pid, args.claims)
        threads(store, pid)
    finally:
        store.close()
        work.unlink(missing_ok=True)
        work.with_name(work.name + ".wal").unlink(missing_ok=True)


if __name__ == "__main__":
    main()
