"""Decode, map and price one OTLP request, in a worker process or in the calling thread.

Decoding and mapping are pure Python work on every span; in worker processes they run in
parallel with the server's event loop and the writer, which is what lets one machine ingest
tens of thousands of spans per second. The result crosses the process boundary as an Arrow
IPC stream (observations) and plain tuples (trace updates), which are cheap to move.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import struct
import time
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field, fields
from typing import Any

import orjson
import pyarrow as pa

from heron.cost import PriceBook, PriceEntry, load_builtin_prices
from heron.errors import BadRequest
from heron.ingest.conventions import IngestLimits, map_request
from heron.ingest.lifeline import Lifeline, attach
from heron.ingest.limits import bound_cost
from heron.ingest.otlp import decode_request
from heron.model import ObservationRecord, TraceUpdate
from heron.store.arrow import observations_table


@dataclass(frozen=True, slots=True)
class PriceSpec:
    """A project's own price entries, with a version that changes whenever they do."""

    project_id: str
    version: int
    entries: tuple[dict[str, Any], ...] = ()


@dataclass(slots=True)
class DecodedBatch:
    observations: pa.Table
    traces: list[TraceUpdate]
    rejected: int = 0
    errors: list[str] = field(default_factory=list)
    ipc: list[bytes] | None = None  # the observations as Arrow IPC streams, when at hand

    @property
    def size(self) -> int:
        return max(self.observations.num_rows, len(self.traces), 1)

    def encode(self) -> bytes:
        """Journal form: the observations as Arrow IPC streams, then the trace updates (JSON)."""
        parts = self.ipc if self.ipc is not None else [_ipc(self.observations)]
        out = [_LEN.pack(len(parts))]
        for part in parts:
            out += [_LEN.pack(len(part)), part]
        out.append(orjson.dumps([[getattr(u, f) for f in _UPDATE_FIELDS] for u in self.traces]))
        return b"".join(out)

    @classmethod
    def from_journal(cls, payload: bytes) -> DecodedBatch:
        view = memoryview(payload)
        (count,) = _LEN.unpack_from(view)
        pos = _LEN.size
        tables = []
        for _ in range(count):
            (n,) = _LEN.unpack_from(view, pos)
            pos += _LEN.size
            tables.append(pa.ipc.open_stream(view[pos : pos + n]).read_all())
            pos += n
        updates = [TraceUpdate(*u) for u in orjson.loads(view[pos:])]
        return cls(_concat(tables), updates)


def _concat(tables: list[pa.Table]) -> pa.Table:
    return tables[0] if len(tables) == 1 else pa.concat_tables(tables)


_LEN = struct.Struct("<I")


def _ipc(table: pa.Table) -> bytes:
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table)
    return sink.getvalue().to_pybytes()


_books: dict[tuple[str, int], PriceBook] = {}
_SPLIT_BYTES = 64 * 1024
_INLINE_BYTES = 8 * 1024
_UPDATE_FIELDS = tuple(f.name for f in fields(TraceUpdate))


def price_book(spec: PriceSpec) -> PriceBook:
    """The price book of a project's spec (cached per spec version)."""
    key = (spec.project_id, spec.version)
    book = _books.get(key)
    if book is None:
        custom = [PriceEntry.from_dict(e, source="project") for e in spec.entries]
        book = PriceBook(load_builtin_prices(), custom)
        if len(_books) > 256:
            _books.clear()
        _books[key] = book
    return book


def apply_costs(
    observations: list[ObservationRecord], book: PriceBook, notes: list[str] | None = None
) -> None:
    """The client's cost wins; otherwise usage times the price valid at the span's start
    (bounded as client costs are, so no sum of stored costs can overflow)."""
    for r in observations:
        if r.cost or not r.model or not r.usage:
            continue
        cost = book.cost(r.model, r.usage, r.start_us)
        if cost:
            r.cost = bound_cost(cost, notes if notes is not None else [])


def _dedupe_updates(updates: list[TraceUpdate]) -> list[TraceUpdate]:
    """Child spans usually repeat the same trace attributes: keep one of each."""
    out: list[TraceUpdate] = []
    last: dict[str, TraceUpdate] = {}
    for u in updates:
        if last.get(u.trace_id) != u:
            out.append(u)
            last[u.trace_id] = u
    return out


def decode(
    body: bytes,
    kind: str,
    project_id: str,
    limits: IngestLimits,
    prices: PriceSpec,
    part: tuple[int, int] = (0, 1),
) -> DecodedBatch:
    notes: list[str] = []
    request = decode_request(body, kind, notes)
    mapped = map_request(request, project_id, limits, part)
    if part[0] == 0:
        mapped.errors[:0] = notes
    apply_costs(mapped.observations, price_book(prices), mapped.errors)
    now_us = time.time_ns() // 1000
    return DecodedBatch(
        observations_table(mapped.observations, now_us),
        _dedupe_updates(mapped.traces),
        mapped.rejected,
        mapped.errors,
    )


def records_batch(
    observations: list[ObservationRecord], traces: list[TraceUpdate], prices: PriceSpec
) -> DecodedBatch:
    """Records mapped elsewhere (Langfuse ingestion events), priced and packed as
    :func:`decode` packs a request's spans, for the journal."""
    apply_costs(observations, price_book(prices))
    now_us = time.time_ns() // 1000
    return DecodedBatch(observations_table(observations, now_us), _dedupe_updates(traces))


def _decode_packed(*args: Any) -> tuple[bytes, list[tuple], int, list[str]]:
    """Worker-process entry: like :func:`decode`, in a form that pickles cheaply."""
    batch = decode(*args)
    return (
        _ipc(batch.observations),
        [tuple(getattr(u, f) for f in _UPDATE_FIELDS) for u in batch.traces],
        batch.rejected,
        batch.errors,
    )


def _warm() -> bool:
    load_builtin_prices()
    return True


class Decoder:
    """Runs :func:`decode` on a pool of worker processes (``workers=0``: in a thread)."""

    def __init__(self, workers: int) -> None:
        self.workers = workers
        self._pool: ProcessPoolExecutor | None = None
        self._lifeline: Lifeline | None = None

    def start(self) -> None:
        if self.workers > 0:
            if self._lifeline is not None:  # a replaced pool: its workers go with their line
                self._lifeline.close()
            line = self._lifeline = Lifeline()
            self._pool = ProcessPoolExecutor(
                self.workers,
                mp_context=multiprocessing.get_context("spawn"),
                initializer=attach,
                initargs=(line.worker_end, line.server_pid),
            )
            # the pool starts workers on demand: start them all now, from this thread
            # (PR_SET_PDEATHSIG follows the starting thread, see lifeline.py)
            for f in [self._pool.submit(_warm) for _ in range(self.workers)]:
                f.result()

    def stop(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None
        if self._lifeline is not None:
            self._lifeline.close()
            self._lifeline = None

    async def decode(
        self, body: bytes, kind: str, project_id: str, limits: IngestLimits, prices: PriceSpec
    ) -> DecodedBatch:
        loop = asyncio.get_running_loop()
        args = (body, kind, project_id, limits, prices)
        pool = self._pool
        if pool is None or len(body) < _INLINE_BYTES:
            # small requests cost less to decode here than to ship to a worker and back
            return await loop.run_in_executor(None, decode, *args)
        # A large request is shared by all workers (each maps every n-th span), so one
        # request's latency does not wait on a single core.
        parts = self.workers if len(body) >= _SPLIT_BYTES else 1
        try:
            results = await asyncio.gather(
                *(
                    loop.run_in_executor(pool, _decode_packed, *args, (k, parts))
                    for k in range(parts)
                )
            )
        except BrokenProcessPool:
            # A worker died (it should not: decoding is pure Python). Replace the pool once
            # (concurrent requests see the same broken pool) and tell this client its
            # request was not taken.
            if self._pool is pool:
                self._pool = None
                pool.shutdown(wait=False, cancel_futures=True)
                await loop.run_in_executor(None, self.start)
            raise BadRequest("the request could not be decoded (decoder process failed)") from None
        parts = [ipc for ipc, _, _, _ in results]
        return DecodedBatch(
            _concat([pa.ipc.open_stream(ipc).read_all() for ipc in parts]),
            [TraceUpdate(*t) for _, traces, _, _ in results for t in traces],
            sum(r[2] for r in results),
            [e for r in results for e in r[3]][:20],
            parts,
        )
