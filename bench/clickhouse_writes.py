"""write_batch throughput on ClickHouse (ClickHouseEvents over the chdb HTTP shim) and DuckDB.

Two shapes of batches, each into a fresh database:

- ``new traces``: every batch brings 10 new traces of 10 spans each (a root, 3 generations
  with usage and cost, 6 spans) and each trace's attributes (an SDK's flush of finished
  traces);
- ``growing traces``: 20 long-lived traces, every batch adds one span to each and re-sends
  the previous one with its end (an agent's trace streamed over many batches; the writer
  re-reads each touched trace's spans every time).

Reported: batches per second and spans per second (median of ``--repeat`` runs of
``--batches`` batches). The ClickHouse side pays HTTP and the shim (queries serialised).

Usage: python bench/clickhouse_writes.py [--batches 200] [--repeat 3]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from heron.model import ObservationRecord, TraceUpdate
from heron.store import EmbeddedStore
from heron.store.clickhouse import ClickHouseEvents
from heron.store.clickhouse.client import connect
from heron.store.clickhouse.migrations import migrate

from _common import machine

S = 1_000_000
T0 = 1_760_000_000 * S
Batch = tuple[list[ObservationRecord], list[TraceUpdate]]


def _span(trace: str, oid: str, parent: str | None, start: int, k: int, **kw: Any) -> Any:
    gen = k in (1, 4, 7)
    fields: dict[str, Any] = {
        "project_id": "p-w",
        "id": oid,
        "trace_id": trace,
        "parent_id": parent,
        "type": "generation" if gen else "span",
        "name": "llm" if gen else f"step-{k}",
        "start_us": start,
    }
    if gen:
        fields.update(
            model="gpt-4o",
            usage={"input": 100 + k, "output": 20, "total": 120 + k},
            cost={"input": 1e-4, "output": 2e-4, "total": 3e-4},
        )
    fields.update(kw)
    return ObservationRecord(**fields)


def new_traces(batches: int) -> list[Batch]:
    out = []
    for b in range(batches):
        spans, updates = [], []
        for j in range(10):
            t = f"n{b:06d}{j:02d}".ljust(32, "0")
            start = T0 + (b * 10 + j) * S
            for k in range(10):
                parent = None if k == 0 else f"{t}-0"
                spans.append(
                    _span(t, f"{t}-{k}", parent, start + k * 1000, k, end_us=start + 5000 + k)
                )
            updates.append(
                TraceUpdate(
                    project_id="p-w", trace_id=t, name="chat", user_id=f"u{j}", session_id=f"s{b}"
                )
            )
        out.append((spans, updates))
    return out


def growing_traces(batches: int) -> list[Batch]:
    out = []
    for b in range(batches):
        spans = []
        for j in range(20):
            t = f"g{j:02d}".ljust(32, "0")
            start = T0 + b * S
            spans.append(_span(t, f"{t}-{b}", None if b == 0 else f"{t}-0", start, b % 10))
            if b:  # the previous span again, now ended
                spans.append(_span(t, f"{t}-{b - 1}", None if b == 1 else f"{t}-0",
                                   start - S, (b - 1) % 10, end_us=start))  # fmt: skip
        out.append((spans, []))
    return out


def run(
    write: Callable[[list[ObservationRecord], list[TraceUpdate]], Any], data: list[Batch]
) -> float:
    t0 = time.perf_counter()
    for spans, updates in data:
        write(spans, updates)
    return time.perf_counter() - t0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batches", type=int, default=200)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    from tests.support.chdb_server import start_server, stop_server

    shapes = {
        "new traces": new_traces(args.batches),
        "growing traces": growing_traces(args.batches),
    }
    results: dict[tuple[str, str], list[float]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        server = start_server(Path(tmp) / "chdb")
        try:
            for r in range(args.repeat):
                for shape, data in shapes.items():
                    client = connect(server.database_url(f"w{r}_{shape[0]}"))
                    migrate(client)
                    events = ClickHouseEvents(client)
                    results.setdefault(("clickhouse", shape), []).append(
                        run(events.write_batch, data)
                    )
                    client.close()
                    store = EmbeddedStore(Path(tmp) / f"d{r}{shape[0]}.duckdb")
                    results.setdefault(("duckdb", shape), []).append(run(store.write_batch, data))
                    store.close()
        finally:
            stop_server(server.proc)
    print(f"{machine()}; {args.batches} batches, median of {args.repeat}")
    print(f"{'backend':<11} {'shape':<15} {'batches/s':>10} {'spans/s':>9} {'ms/batch':>9}")
    for (backend, shape), times in results.items():
        seconds = statistics.median(times)
        spans = sum(len(s) for s, _ in shapes[shape])
        print(
            f"{backend:<11} {shape:<15} {args.batches / seconds:>10.1f} {spans / seconds:>9.0f} "
            f"{seconds * 1000 / args.batches:>9.1f}"
        )


if __name__ == "__main__":
    sys.exit(main())
