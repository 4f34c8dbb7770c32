"""Scrape cost of GET /metrics with 1,000,000 traces stored, against a real `heron serve`.

Uses the store of bench/read.py (built the same way, and reused). A scrape computes the
project's LLM totals from the store; a slow computation is reused for ten times its
duration, so the first number is the query cost and the second what a scrape costs within
that window.

``--scores N`` measures the score series instead: a store of its own (bench/results/
scores-N) holding N scores of the scraped project (14 names in the shapes heron writes:
explicit feedback, the implicit detectors, the browser widget, evaluators) and N/5 of a
second project, written with ``EmbeddedStore.write_scores``. ``--distinct-names`` gives
every score of the project a name of its own instead (the worst case: a client spraying
names), which the scrape must still answer with at most the capped label values.

Usage: python bench/prometheus.py [--traces 1000000] [--repeat 5] [--data-dir DIR]
       python bench/prometheus.py --scores 1000000 [--distinct-names] [--repeat 5]
"""

from __future__ import annotations

import argparse
import statistics
import time
from datetime import datetime
from pathlib import Path

import duckdb
import httpx
from prometheus_client.parser import text_string_to_metric_families

from heron.scores import ScoreRecord
from heron.store import EmbeddedStore
from heron.store.scorestats import score_totals

from _common import HeronProcess, machine
from read import RESULTS, populate

# name, data type, source, share of the scores, values drawn from
SCORE_MIX: tuple[tuple[str, str, str, float, tuple[float, ...]], ...] = (
    ("user_feedback", "BOOLEAN", "API", 0.15, (1.0, 1.0, 1.0, 0.0)),
    ("user_rating", "NUMERIC", "API", 0.05, (1.0, 3.0, 4.0, 5.0, 5.0)),
    ("implicit_retry", "BOOLEAN", "EVAL", 0.12, (1.0,)),
    ("implicit_rephrase", "BOOLEAN", "EVAL", 0.08, (1.0,)),
    ("implicit_disagreement", "BOOLEAN", "EVAL", 0.04, (1.0,)),
    ("implicit_frustration", "BOOLEAN", "EVAL", 0.03, (1.0,)),
    ("implicit_abandonment", "BOOLEAN", "EVAL", 0.08, (1.0,)),
    ("implicit_copy", "BOOLEAN", "API", 0.10, (1.0,)),
    ("implicit_accept", "BOOLEAN", "API", 0.05, (1.0,)),
    ("helpfulness", "NUMERIC", "EVAL", 0.12, (0.2, 0.5, 0.8, 0.9, 1.0)),
    ("correctness", "NUMERIC", "EVAL", 0.08, (0.0, 0.5, 1.0)),
    ("toxicity", "BOOLEAN", "EVAL", 0.04, (0.0, 0.0, 0.0, 1.0)),
    ("tone", "CATEGORICAL", "EVAL", 0.04, ()),
    ("review_note", "TEXT", "ANNOTATION", 0.02, ()),
)
CHUNK = 100_000


def _score(project_id: str, i: int, distinct: bool, at: datetime) -> ScoreRecord:
    # A deterministic spread over the mix, by position within each block of 100.
    k, acc = i % 100, 0.0
    name, data_type, source, _, values = SCORE_MIX[-1]
    for entry in SCORE_MIX:
        acc += entry[3] * 100
        if k < acc:
            name, data_type, source, _, values = entry
            break
    value = values[i % len(values)] if values else None
    return ScoreRecord(
        project_id=project_id, id=f"s{i}", trace_id=f"{i // 3:032x}", observation_id=None,
        session_id=None, name=f"sprayed-{i:07}" if distinct else name, value=value,
        string_value=None if values else "polite", data_type=data_type, source=source,
        comment=None, author=None, timestamp=at, metadata=None, environment=None,
    )  # fmt: skip


def populate_scores(data_dir: Path, n: int, distinct: bool) -> None:
    """A store whose project 'test' holds ``n`` scores and 'neighbour' ``n // 5``."""
    db = data_dir / "heron.duckdb"
    if db.exists():
        store = EmbeddedStore(db)
        project = store.project_by_name("test")
        have = 0 if project is None else sum(t.count for t in _totals(store, project["id"]))
        store.close()
        if have >= n:
            print(f"reusing {db} ({have:,} scores in the project)")
            return
    for f in data_dir.glob("*"):
        if f.is_file():
            f.unlink()
    HeronProcess(data_dir).start().stop()  # the project 'test' and its keys
    store = EmbeddedStore(db)
    test = store.project_by_name("test")
    assert test is not None
    neighbour = store.project_by_name("neighbour") or store.create_project("neighbour")
    at = datetime(2026, 12, 1)
    t = time.perf_counter()
    for project_id, count in ((test["id"], n), (neighbour["id"], n // 5)):
        for start in range(0, count, CHUNK):
            chunk = range(start, min(start + CHUNK, count))
            store.write_scores([_score(project_id, i, distinct, at) for i in chunk])
    store.close()
    print(f"wrote {n + n // 5:,} scores in {time.perf_counter() - t:.0f} s")


def _totals(store: EmbeddedStore, project_id: str) -> list:
    return store.score_totals(project_id, [], 20, 128)


def score_query(db: Path, repeat: int) -> list[float]:
    """Milliseconds of the score query alone, through a read-only connection."""
    con = duckdb.connect(str(db), read_only=True)
    project_id = con.execute("SELECT id FROM projects WHERE name = 'test'").fetchone()[0]
    out = []
    for _ in range(repeat):
        t = time.perf_counter()
        score_totals(con, project_id, [], 20, 128)
        out.append((time.perf_counter() - t) * 1000)
    con.close()
    return out


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
    ap.add_argument("--scores", type=int, default=0, help="measure the score series")
    ap.add_argument("--distinct-names", action="store_true", help="a name per score")
    args = ap.parse_args()
    print(f"machine: {machine()}")
    if args.scores:
        kind = "names" if args.distinct_names else "mix"
        data_dir = args.data_dir or RESULTS / f"scores-{args.scores}-{kind}"
        data_dir.mkdir(parents=True, exist_ok=True)
        populate_scores(data_dir, args.scores, args.distinct_names)
        alone = score_query(data_dir / "heron.duckdb", args.repeat)
        print(
            f"score query alone: median {statistics.median(alone):.0f} ms, "
            f"min {min(alone):.0f} ms, max {max(alone):.0f} ms"
        )
    else:
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
