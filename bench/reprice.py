"""Re-pricing speed and how long each chunk holds the store's write lock.

Stores 40,000 generations (half of an unpriced model) in 4,000 traces, then re-prices that
model with ``EmbeddedStore.reprice`` and reports observations/s and the time per chunk
(one chunk = one write transaction under the write lock). Run: ``python bench/reprice.py``.
"""

from __future__ import annotations

import itertools
import tempfile
import time
from pathlib import Path

from heron.cost import PriceBook, PriceEntry, load_builtin_prices
from heron.ingest.costing import cost_function
from heron.model import ObservationRecord
from heron.store import EmbeddedStore

T0 = 1_760_000_000_000_000
ENTRY = {"id": "a", "model_name": "acme-x", "match_pattern": "^acme-x$",
         "prices": {"input": 1e-6, "output": 2e-6}}  # fmt: skip


def main() -> None:
    store = EmbeddedStore(Path(tempfile.mkdtemp()) / "heron.duckdb")
    for b in range(20):
        records = [
            ObservationRecord(
                "p",
                f"{t:08x}{g:08x}",
                f"{b:04x}{t:028x}",
                None,
                "generation",
                "g",
                T0 + t,
                model="acme-x" if g < 5 else "gpt-4o-mini",
                usage={"input": 100 + g, "output": 50},
            )
            for t in range(200)
            for g in range(10)
        ]
        store.write_batch(records, [])
    book = PriceBook(load_builtin_prices(), [PriceEntry.from_dict(ENTRY, source="project")])
    marks: list[float] = []
    start = time.perf_counter()
    n = store.reprice(
        "p", ["acme-x"], cost_function(book), lambda d, t: marks.append(time.perf_counter())
    )
    elapsed = time.perf_counter() - start
    gaps = [b - a for a, b in itertools.pairwise(marks)]
    print(
        f"{n} observations (of 40,000 stored) in {elapsed:.2f} s, {n / elapsed:,.0f}/s; "
        f"per chunk: max {max(gaps) * 1000:.0f} ms, mean {sum(gaps) / len(gaps) * 1000:.0f} ms"
    )
    store.close()


if __name__ == "__main__":
    main()
