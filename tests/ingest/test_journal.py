"""The ingest journal and the pipeline around it, on real files and a real store."""

from __future__ import annotations

import asyncio
import errno
import logging
import os
import subprocess
import sys
from pathlib import Path

import pyarrow as pa
import pytest

from heron.errors import Overloaded
from heron.ingest.decoding import DecodedBatch
from heron.ingest.journal import Journal, JournalUnavailable
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


def test_a_rotten_last_record_is_reported_and_set_aside(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    j = Journal(tmp_path / "j")
    j.append([b"good", b"will-rot"])
    j.close()
    [segment] = (tmp_path / "j").glob("*.log")
    data = bytearray(segment.read_bytes())
    data[-3] ^= 0xFF
    segment.write_bytes(bytes(data))
    with caplog.at_level(logging.ERROR, "heron.journal"):
        j = Journal(tmp_path / "j")
    assert [s for s, _ in j.read(0)] == [1]
    assert j.last_seq == 2  # its number is never given to another record
    assert [d.lost for d in j.damage] == [(2, 2)]
    assert "seq 2-2 unreadable" in caplog.text
    assert len(list((tmp_path / "j" / "damaged").glob("*.bin"))) == 1


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


def test_a_bad_span_is_quarantined_and_the_rest_of_its_record_stored(tmp_path: Path) -> None:
    store = EmbeddedStore(tmp_path / "h.duckdb")
    journal = Journal(tmp_path / "j")
    bad = batch("c" * 32)
    column = bad.observations.schema.get_field_index("type")
    bad.observations = bad.observations.set_column(  # NOT NULL violation for one span only
        column, "type", pa.array(["span", None, "span"], pa.string())
    )
    journal.append([batch("a" * 32).encode(), bad.encode(), batch("b" * 32).encode()])
    pipeline = WritePipeline(store, journal)
    pipeline.recover()
    traces = {t["id"]: t for t in store.list_traces("p", ListQuery()).data}
    assert traces["c" * 32]["observation_count"] == 2  # the record's other spans are stored
    assert traces["c" * 32]["name"] == "root"  # and its trace update
    assert traces["a" * 32]["observation_count"] == traces["b" * 32]["observation_count"] == 3
    assert store.get_meta(APPLIED_KEY) == "3"
    [entry] = pipeline.quarantine.entries()
    assert entry["project_id"] == "p" and entry["journal_seq"] == 2
    assert entry["trace_ids"] == ["c" * 32] and entry["span_ids"] == ["cccccccc00000001"]
    assert "NOT NULL" in entry["reason"] and entry["quarantined_at"]
    assert pipeline.quarantine.spans() == 1 and pipeline.quarantine.entries("other") == []
    assert pipeline.health()["quarantined_spans"] == 1
    assert pipeline.stats.failed_commits >= 2
    # kept on disk: a restart finds it again, and applies nothing twice
    again = WritePipeline(store, journal)
    assert again.recover() == 0 and again.quarantine.spans() == 1
    store.close()


def test_replay_applies_what_now_applies_and_keeps_the_rest(tmp_path: Path) -> None:
    store = EmbeddedStore(tmp_path / "h.duckdb")
    journal = Journal(tmp_path / "j")
    bad = batch("c" * 32, n=1)
    bad.observations = bad.observations.set_column(
        bad.observations.schema.get_field_index("type"), "type", pa.array([None], pa.string())
    )
    journal.append([bad.encode()])
    pipeline = WritePipeline(store, journal)
    pipeline.recover()
    assert pipeline.quarantine.spans() == 1
    # a piece whose cause was fixed (e.g. by an upgrade) is now acceptable to the store
    pipeline.quarantine.put(7, 0, batch("d" * 32, n=2), "was refused before the fix")
    assert pipeline.quarantine.spans() == 3
    result = pipeline.replay_quarantine().result(10)
    assert result["applied"] == [f"{7:020d}-000000"]
    assert [k["id"] for k in result["kept"]] == [f"{1:020d}-000000"]
    assert "NOT NULL" in result["kept"][0]["reason"]
    assert pipeline.quarantine.spans() == 1
    traces = {t["id"]: t for t in store.list_traces("p", ListQuery()).data}
    assert traces["d" * 32]["observation_count"] == 2
    store.close()


def test_a_flipped_byte_mid_journal_loses_only_its_record(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    j = Journal(tmp_path / "j")
    for i in range(1, 11):
        j.append([bytes([i]) * 200])
    j.close()
    [segment] = (tmp_path / "j").glob("*.log")
    data = bytearray(segment.read_bytes())
    middle = len(data) // 2
    data[middle] ^= 0x01
    segment.write_bytes(bytes(data))
    with caplog.at_level(logging.ERROR, "heron.journal"):
        j = Journal(tmp_path / "j")
    seqs = [s for s, _ in j.read(0)]
    [damage] = j.damage
    assert damage.lost is not None and len(range(*damage.lost)) == 0  # exactly one record
    assert seqs == [s for s in range(1, 11) if s != damage.lost[0]]  # everything after it too
    assert j.last_seq == 10 and segment.stat().st_size == len(data)  # nothing cut
    assert damage.start <= middle < damage.end
    assert f"bytes {damage.start}-{damage.end}" in caplog.text
    assert f"seq {damage.lost[0]}-{damage.lost[1]}" in caplog.text
    [copy] = (tmp_path / "j" / "damaged").glob("*.bin")
    assert copy.read_bytes() == bytes(data[damage.start : damage.end])
    assert j.append([b"next"]) == 11


def test_a_damaged_header_resyncs_too(tmp_path: Path) -> None:
    j = Journal(tmp_path / "j")
    j.append([b"x" * 50, b"y" * 50, b"z" * 50])
    j.close()
    [segment] = (tmp_path / "j").glob("*.log")
    data = bytearray(segment.read_bytes())
    data[8 + 24 + 50 + 13] ^= 0x80  # the length field of record 2
    segment.write_bytes(bytes(data))
    assert [s for s, _ in Journal(tmp_path / "j").read(0)] == [1, 3]


def test_segments_of_the_first_format_are_still_read(tmp_path: Path) -> None:
    import struct
    import zlib

    directory = tmp_path / "j"
    directory.mkdir()
    old = b"".join(
        struct.pack("<QII", seq, len(p), zlib.crc32(p)) + p for seq, p in ((1, b"one"), (2, b"two"))
    )
    (directory / f"{1:020d}.log").write_bytes(old)
    j = Journal(directory)
    assert j.last_seq == 2
    assert j.append([b"three"]) == 3
    assert list(j.read(0)) == [(1, b"one"), (2, b"two"), (3, b"three")]


def _append_until_full(j: Journal) -> tuple[int, OSError]:
    acked = j.last_seq
    while True:
        try:
            acked = j.append([b"r" * 3000])
        except OSError as exc:
            return acked, exc


def _check_rolled_back(directory: Path, acked: int) -> None:
    """Every record up to ``acked`` reads back and nothing follows the last one."""
    reopened = Journal(directory)
    assert [s for s, _ in reopened.read(0)] == list(range(1, acked + 1))
    assert reopened.damage == []  # no torn record left behind by the failed append
    reopened.close()


def test_a_full_disk_rolls_the_failed_append_back(tmp_path: Path) -> None:
    from tests.support.disk import can_mount, fill, small_disk

    if not can_mount():  # not root: the file size limit makes the same error (EFBIG)
        _full_disk_by_file_size_limit(tmp_path)
        return
    with small_disk(tmp_path / "disk", 256 * 1024) as disk:
        j = Journal(disk / "j")
        acked, exc = _append_until_full(j)
        assert j.disk_full and j.healthy and exc.errno == errno.ENOSPC
        assert acked > 10
        size = os.path.getsize(disk / "j" / f"{1:020d}.log")
        filler = fill(disk)  # the disk stays full: appends keep failing, nothing is torn
        with pytest.raises(OSError):
            j.append([b"s" * 3000])
        assert os.path.getsize(disk / "j" / f"{1:020d}.log") == size
        filler.unlink()  # space returns: appends resume at the next sequence number
        assert j.append([b"t" * 100]) == acked + 1
        assert j.error is None and not j.disk_full
        j.close()
        _check_rolled_back(disk / "j", acked + 1)


def _full_disk_by_file_size_limit(tmp_path: Path) -> None:
    script = f"""
import resource, signal, sys
sys.path.insert(0, {str(Path(__file__).parents[2] / "src")!r})
from pathlib import Path
from heron.ingest.journal import Journal, JournalUnavailable
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
resource.setrlimit(resource.RLIMIT_FSIZE, (200_000, 200_000))
j = Journal(Path({str(tmp_path / "j")!r}), segment_bytes=10**9)
acked = j.last_seq
while True:
    try:
        acked = j.append([b"r" * 3000])
    except OSError as exc:
        assert exc.errno == 27 and j.disk_full and j.healthy, exc
        break
print(acked)
"""
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    _check_rolled_back(tmp_path / "j", int(out.stdout))


def test_a_rollback_that_fails_refuses_appends(tmp_path: Path) -> None:
    j = Journal(tmp_path / "j")
    j.append([b"a"])
    assert j._file is not None
    os.close(j._file)  # the descriptor is gone: the write and its rollback fail (EBADF)
    with pytest.raises(OSError):
        j.append([b"b"])
    assert not j.healthy
    with pytest.raises(JournalUnavailable):
        j.append([b"c"])
    assert j.last_seq == 1
    j._file = None
    j.close()


def test_segments_are_deleted_only_once_checkpointed(tmp_path: Path) -> None:
    store = EmbeddedStore(tmp_path / "h.duckdb")
    journal = Journal(tmp_path / "j", segment_bytes=256)
    pipeline = WritePipeline(store, journal, checkpoint_s=3600)
    pipeline.recover()
    pipeline.start()

    async def go() -> None:
        for i in range(1, 41):
            await pipeline.submit(batch(f"{i:032x}", n=1))
        await pipeline.caught_up()

    asyncio.run(go())
    assert pipeline.backlog == 0
    # applied, but only in DuckDB's WAL so far: the journal keeps every record
    assert [s for s, _ in journal.read(0)] == list(range(1, 41))
    assert (tmp_path / "h.duckdb.wal").stat().st_size > 0
    pipeline.stop()  # checkpoints, then deletes what the database file now holds
    assert pipeline.health()["store"]["checkpointed_seq"] == 40
    assert len(list((tmp_path / "j").glob("*.log"))) == 1
    store.close()


def test_a_gap_between_store_and_journal_is_reported(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    store = EmbeddedStore(tmp_path / "h.duckdb")
    store.set_meta(APPLIED_KEY, "3")
    directory = tmp_path / "j"
    journal = Journal(directory)
    journal.resume_after(6)  # records 4-6 were acknowledged, then their segment vanished
    journal.append([batch("a" * 32).encode()])
    journal.close()
    pipeline = WritePipeline(store, Journal(directory))
    with caplog.at_level(logging.ERROR, "heron.ingest"):
        assert pipeline.recover() == 1
    assert "acknowledged records 4-6 are missing" in caplog.text
    health = pipeline.health()
    assert not health["ready"] and health["gaps"] == [{"first": 4, "last": 6, "why": "missing"}]
    assert any("4-6" in p for p in health["problems"])
    store.close()


def test_journal_replay_command_works_on_the_data_directory(tmp_path: Path) -> None:
    data = tmp_path / "data"
    store = EmbeddedStore(data / "heron.duckdb")
    journal = Journal(data / "journal")
    bad = batch("c" * 32, n=1)
    bad.observations = bad.observations.set_column(
        bad.observations.schema.get_field_index("type"), "type", pa.array([None], pa.string())
    )
    journal.append([bad.encode()])
    pipeline = WritePipeline(store, journal)
    pipeline.recover()
    pipeline.quarantine.put(9, 0, batch("d" * 32, n=2), "was refused before the fix")
    journal.close()
    store.close()

    out = subprocess.run(
        [sys.executable, "-m", "heron.cli", "journal", "replay", "--data-dir", str(data)],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "COLUMNS": "200"},
    )
    assert out.returncode == 1, out.stderr  # one record is still refused: not all done
    assert "Applied 1 quarantined records" in out.stdout
    assert "still refused" in out.stdout and "NOT NULL" in out.stdout
    store = EmbeddedStore(data / "heron.duckdb")
    traces = {t["id"]: t for t in store.list_traces("p", ListQuery()).data}
    assert traces["d" * 32]["observation_count"] == 2
    assert len(list((data / "journal" / "quarantine").glob("*.rec"))) == 1
    store.close()


def test_records_an_earlier_version_set_aside_join_the_quarantine(tmp_path: Path) -> None:
    store = EmbeddedStore(tmp_path / "h.duckdb")
    journal = Journal(tmp_path / "j")
    (tmp_path / "j" / "failed").mkdir()
    (tmp_path / "j" / "failed" / f"{4:020d}.rec").write_bytes(batch("e" * 32, n=2).encode())
    pipeline = WritePipeline(store, journal)
    pipeline.recover()
    [entry] = pipeline.quarantine.entries()
    assert entry["journal_seq"] == 4 and entry["spans"] == 2
    assert not list((tmp_path / "j" / "failed").glob("*.rec"))
    assert pipeline.replay_quarantine().result(10)["applied"] == [entry["id"]]
    assert pipeline.quarantine.spans() == 0
    store.close()


def test_a_damaged_file_magic_loses_nothing(tmp_path: Path) -> None:
    j = Journal(tmp_path / "j")
    j.append([b"one", b"two"])
    j.close()
    [segment] = (tmp_path / "j").glob("*.log")
    data = bytearray(segment.read_bytes())
    data[0] ^= 0xFF
    segment.write_bytes(bytes(data))
    j = Journal(tmp_path / "j")
    assert list(j.read(0)) == [(1, b"one"), (2, b"two")]
    assert [d.lost for d in j.damage] == [None]
