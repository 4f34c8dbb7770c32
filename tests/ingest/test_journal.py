"""The ingest journal and the pipeline around it, on real files and a real store."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pyarrow as pa
import pytest

from heron.errors import Overloaded
from heron.ingest.decoding import DecodedBatch
from heron.ingest.journal import Journal
from heron.ingest.pipeline import APPLIED_KEY, WritePipeline
from heron.model import ObservationRecord, TraceUpdate
from heron.store import EmbeddedStore, ListQuery
from heron.store.arrow import observations_table

T0 = 1_760_000_000_000_000


def batch(trace: str, n: int = 3, project: str = "p") -> DecodedBatch:
    records = [
        ObservationRecord(
            project_id=project,
            id=f"{trace[-8:]}{i:08x}",
            trace_id=trace,
            parent_id=None if i == 0 else f"{trace[-8:]}{0:08x}",
            type="span",
            name=f"s{i}",
            start_us=T0 + i,
        )
        for i in range(n)
    ]
    return DecodedBatch(
        observations_table(records, T0),
        [TraceUpdate(project_id=project, trace_id=trace, is_root=True, name="root", tags=["x"])],
    )


def test_round_trip_and_sequence_survive_reopen(tmp_path: Path) -> None:
    j = Journal(tmp_path / "j")
    assert j.append([b"one", b"two"]) == 2
    assert j.append([b"three"]) == 3
    j.close()
    j = Journal(tmp_path / "j")
    assert j.last_seq == 3
    assert list(j.read(1)) == [(2, b"two"), (3, b"three")]
    assert j.append([b"four"]) == 4
    assert [s for s, _ in j.read(0)] == [1, 2, 3, 4]


def test_torn_tail_is_cut_and_appends_stay_readable(tmp_path: Path) -> None:
    j = Journal(tmp_path / "j")
    j.append([b"a" * 100, b"b" * 100])
    j.close()
    [segment] = (tmp_path / "j").glob("*.log")
    data = segment.read_bytes()
    segment.write_bytes(data[:-30])  # the second record was cut short by a crash
    j = Journal(tmp_path / "j")
    assert j.last_seq == 1
    j.append([b"c"])
    assert list(j.read(0)) == [(1, b"a" * 100), (2, b"c")]


def test_corrupt_record_stops_reading(tmp_path: Path) -> None:
    j = Journal(tmp_path / "j")
    j.append([b"good", b"will-rot"])
    j.close()
    [segment] = (tmp_path / "j").glob("*.log")
    data = bytearray(segment.read_bytes())
    data[-3] ^= 0xFF
    segment.write_bytes(bytes(data))
    assert [s for s, _ in Journal(tmp_path / "j").read(0)] == [1]


def test_truncate_keeps_unapplied_and_active_segments(tmp_path: Path) -> None:
    j = Journal(tmp_path / "j", segment_bytes=64)
    for i in range(6):
        j.append([bytes([i]) * 50])  # each append rotates: one record per segment
    assert len(list((tmp_path / "j").glob("*.log"))) == 6
    j.truncate(4)
    assert [s for s, _ in j.read(0)] == [5, 6]
    j.truncate(6)
    assert [s for s, _ in j.read(0)] == [6]  # the active segment is never deleted


def test_recover_applies_journaled_but_unapplied_batches(tmp_path: Path) -> None:
    store = EmbeddedStore(tmp_path / "h.duckdb")
    journal = Journal(tmp_path / "j")
    # acknowledged (journaled), then the process died before the store applied them
    journal.append([batch("a" * 32).encode(), batch("b" * 32, n=5).encode()])
    pipeline = WritePipeline(store, journal)
    assert pipeline.recover() == 2
    assert store.get_meta(APPLIED_KEY) == "2"
    traces = {t["id"]: t for t in store.list_traces("p", ListQuery()).data}
    assert traces["a" * 32]["observation_count"] == 3
    assert traces["b" * 32]["observation_count"] == 5
    assert traces["b" * 32]["name"] == "root" and traces["b" * 32]["tags"] == ["x"]
    assert WritePipeline(store, journal).recover() == 0  # nothing applied twice
    store.close()


def test_pipeline_acks_then_applies_and_reads_catch_up(tmp_path: Path) -> None:
    store = EmbeddedStore(tmp_path / "h.duckdb")
    pipeline = WritePipeline(store, Journal(tmp_path / "j"))
    pipeline.recover()
    pipeline.start()

    async def go() -> None:
        await asyncio.gather(*(pipeline.submit(batch(f"{i:032x}")) for i in range(1, 21)))
        await pipeline.caught_up()

    asyncio.run(go())
    assert len(store.list_traces("p", ListQuery(limit=100)).data) == 20
    pipeline.stop()
    assert pipeline.stats.applied_spans == 60
    assert store.get_meta(APPLIED_KEY) == str(pipeline.journal.last_seq)
    store.close()


def test_full_queue_refuses_with_retry_after(tmp_path: Path) -> None:
    store = EmbeddedStore(tmp_path / "h.duckdb")
    pipeline = WritePipeline(store, Journal(tmp_path / "j"), max_queued_spans=5)
    pipeline.enqueue(batch("a" * 32, n=4))  # threads not started: the writer is "behind"
    with pytest.raises(Overloaded) as info:
        pipeline.enqueue(batch("b" * 32, n=4))
    assert info.value.retry_after >= 1 and "queue is full" in info.value.message
    assert pipeline.stats.rejected_requests == 1
    store.close()


def test_a_batch_the_store_refuses_is_kept_not_lost(tmp_path: Path) -> None:
    store = EmbeddedStore(tmp_path / "h.duckdb")
    journal = Journal(tmp_path / "j")
    bad = batch("c" * 32)
    column = bad.observations.schema.get_field_index("type")
    bad.observations = bad.observations.set_column(  # NOT NULL violation in the store
        column, "type", pa.array([None] * 3, pa.string())
    )
    journal.append([batch("a" * 32).encode(), bad.encode(), batch("b" * 32).encode()])
    WritePipeline(store, journal).recover()
    ids = {t["id"] for t in store.list_traces("p", ListQuery()).data}
    assert ids == {"a" * 32, "b" * 32}
    kept = list((tmp_path / "j" / "failed").glob("*.rec"))
    assert len(kept) == 1
    assert DecodedBatch.from_journal(kept[0].read_bytes()).traces[0].trace_id == "c" * 32
    store.close()
