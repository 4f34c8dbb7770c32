"""The ingest journal: accepted batches, durable on disk before the client is answered.

An accepted request is appended here (and ``fdatasync``-ed with whatever else arrived in the
same few milliseconds) before heron answers 200; the store applies it shortly after. So an
acknowledgement costs one sequential write, not a database commit, and a database
checkpoint never stalls ingest. On start, records not yet applied to the store (its
``meta.journal_applied_seq``) are replayed; segments whose records are all applied and
checkpointed are deleted.

Layout: ``<data-dir>/journal/<first seq, 20 digits>.log``, each the 8-byte file magic
``HERONJ2\\n`` followed by a run of records::

    magic 4 bytes | seq u64 | length u32 | payload crc32 u32 | header crc32 u32 | payload

The per-record magic and header checksum let a reader *resynchronise*: a damaged record (a
flipped byte, a bad sector) is skipped, the next intact record is found and reading goes
on, so one bad record never hides the acknowledged records behind it. Damage is logged at
ERROR with its byte offsets and sequence numbers, and the damaged bytes are copied to
``journal/damaged/``. Only the tail of the *last* segment may be cut: a record a crash
interrupted there was never acknowledged (its fsync had not returned).

A failed append (disk full, I/O error) is rolled back (the file is cut back to its last
good length) before anything else is appended, so no torn record ever sits in front of
acknowledged ones. If even the rollback fails the journal refuses appends
(:class:`JournalUnavailable`) and retries the rollback on each later append.

Segments written by heron before this format (no file magic, ``seq | length | crc32``
records) are still read.
"""

from __future__ import annotations

import errno
import logging
import os
import struct
import time
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger("heron.journal")

FILE_MAGIC = b"HERONJ2\n"
_RECORD_MAGIC = b"\xe2\x97\x86J"
_HEADER = struct.Struct("<4sQIII")  # magic, seq, length, payload crc, header crc
_V1_HEADER = struct.Struct("<QII")
SEGMENT_BYTES = 64 * 1024 * 1024
_DISK_FULL = (errno.ENOSPC, errno.EDQUOT, errno.EFBIG)


class JournalUnavailable(OSError):
    """The journal cannot take appends now (a failed write could not be rolled back)."""


@dataclass(frozen=True, slots=True)
class Damage:
    """Bytes of a segment that hold no intact record."""

    segment: str
    start: int  # byte offsets in the segment
    end: int
    after_seq: int  # the last intact record before the damage (0: none)
    next_seq: int | None  # the first intact record after it (None: the damage ends the file)
    header_seq: int | None  # the sequence number a damaged header still names, if intact
    torn: bool  # an incomplete last record (cut short by a crash), not corruption

    @property
    def lost(self) -> tuple[int, int] | None:
        """The sequence numbers this damage took, when known (first, last)."""
        last = self.next_seq - 1 if self.next_seq is not None else self.header_seq
        if last is None or last <= self.after_seq:
            return None
        return (self.after_seq + 1, last)

    def as_dict(self) -> dict[str, object]:
        return {
            "segment": self.segment,
            "start": self.start,
            "end": self.end,
            "after_seq": self.after_seq,
            "next_seq": self.next_seq,
            "lost": list(self.lost) if self.lost else None,
            "torn": self.torn,
        }


class Journal:
    def __init__(self, directory: Path, segment_bytes: int = SEGMENT_BYTES) -> None:
        self.directory = directory
        self.directory.mkdir(parents=True, exist_ok=True)
        self.segment_bytes = segment_bytes
        self._file: int | None = None
        self._size = 0
        self.last_seq = 0
        self.first_seq: int | None = None  # the first readable record, None when empty
        self.damage: list[Damage] = []
        self.error: OSError | None = None  # the last append's error, None after a success
        self.failed_at: float | None = None  # time.monotonic() of that error
        self._broken: tuple[int, int] | None = None  # (fd, good size) of a failed rollback
        self._repair()

    # -- opening -------------------------------------------------------------------------------

    def _repair(self) -> None:
        """Find the last sequence number; report damage; cut the torn tail of the last segment."""
        segments = self._segments()
        for _, path in segments:
            data = path.read_bytes()
            last_segment = path == segments[-1][1]
            end = 0
            for item in _scan_segment(path.name, data):
                if isinstance(item, Damage):
                    self._report(path, data, item, last_segment)
                    if item.header_seq is not None and not item.torn:
                        self.last_seq = max(self.last_seq, item.header_seq)
                    continue
                seq, _, end = item
                self.last_seq = max(self.last_seq, seq)
                if self.first_seq is None:
                    self.first_seq = seq
            if last_segment:
                if end == 0:
                    path.unlink()
                elif end < len(data):
                    os.truncate(path, end)

    def _report(self, path: Path, data: bytes, d: Damage, last_segment: bool) -> None:
        self.damage.append(d)
        copy = self.directory / "damaged" / f"{path.stem}-{d.start:012d}.bin"
        try:
            copy.parent.mkdir(exist_ok=True)
            copy.write_bytes(data[d.start : d.end])
        except OSError as exc:  # a full disk must not keep heron from starting
            log.error("journal: could not copy damaged bytes to %s: %s", copy, exc)
        if d.torn and last_segment and d.next_seq is None:
            log.warning(
                "journal %s: cut a torn last record (bytes %d-%d after seq %d, never "
                "acknowledged); copied to %s",
                path.name, d.start, d.end, d.after_seq, copy,
            )  # fmt: skip
            return
        if d.lost:
            lost = f"seq {d.lost[0]}-{d.lost[1]} unreadable"
        elif d.next_seq is not None:
            lost = "no record lost"
        else:
            lost = f"the records after seq {d.after_seq} unreadable"
        log.error(
            "journal %s is damaged at bytes %d-%d: %s (next intact record: %s); "
            "the damaged bytes are copied to %s",
            path.name, d.start, d.end, lost, d.next_seq or "none", copy,
        )  # fmt: skip

    def _segments(self) -> list[tuple[int, Path]]:
        out = []
        for path in self.directory.glob("*.log"):
            try:
                out.append((int(path.stem), path))
            except ValueError:
                continue
        return sorted(out)

    def resume_after(self, seq: int) -> None:
        """Number new records after ``seq`` at least (the store may be ahead of the journal,
        e.g. when a damaged last record was applied before the crash)."""
        self.last_seq = max(self.last_seq, seq)

    # -- reading -------------------------------------------------------------------------------

    def read(self, after_seq: int) -> Iterator[tuple[int, bytes]]:
        """Every intact record with a sequence number above ``after_seq``, in order."""
        segments = self._segments()
        for i, (_, path) in enumerate(segments):
            nxt = segments[i + 1][0] if i + 1 < len(segments) else None
            if nxt is not None and nxt - 1 <= after_seq:
                continue
            for item in _scan_segment(path.name, path.read_bytes()):
                if not isinstance(item, Damage) and item[0] > after_seq:
                    yield item[0], item[1]

    # -- writing -------------------------------------------------------------------------------

    @property
    def healthy(self) -> bool:
        """False while a failed append could not be rolled back (appends are refused)."""
        return self._broken is None

    @property
    def disk_full(self) -> bool:
        return self.error is not None and self.error.errno in _DISK_FULL

    def append(self, payloads: list[bytes]) -> int:
        """Write records and make them durable; returns the last sequence number.

        On an error nothing of this call stays in the journal (it is rolled back) and the
        error is raised; the records were not accepted."""
        try:
            self._heal()
            if self._file is None or self._size >= self.segment_bytes:
                self._rotate()
            assert self._file is not None
            data = b"".join(_record(self.last_seq + 1 + i, p) for i, p in enumerate(payloads))
            good = self._size
            try:
                view = memoryview(data)
                while view:
                    written = os.write(self._file, view)
                    view = view[written:]
                os.fdatasync(self._file)
            except OSError:
                self._roll_back(self._file, good)
                raise
        except OSError as exc:
            if not isinstance(exc, JournalUnavailable):  # keep the cause (e.g. disk full)
                self.error = exc
            self.failed_at = time.monotonic()
            raise
        self._size += len(data)
        self.last_seq += len(payloads)
        if self.first_seq is None:
            self.first_seq = self.last_seq - len(payloads) + 1
        self.error = self.failed_at = None
        return self.last_seq

    def _roll_back(self, fd: int, good: int) -> None:
        """Cut a failed append off; if that fails too, refuse appends until it succeeds."""
        try:
            os.ftruncate(fd, good)
            os.fdatasync(fd)
        except OSError as exc:
            self._broken = (fd, good)
            log.error("journal: rolling back a failed append failed (%s); appends refused", exc)
        else:
            self._broken = None

    def _heal(self) -> None:
        if self._broken is None:
            return
        fd, good = self._broken
        self._roll_back(fd, good)
        if self._broken is not None:
            raise JournalUnavailable(
                errno.EIO, "the journal could not roll back a failed write; appends are refused"
            )
        log.warning("journal: a failed append is rolled back; appends resume")

    def _rotate(self) -> None:
        path = self.directory / f"{self.last_seq + 1:020d}.log"
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        size = os.fstat(fd).st_size
        try:
            if size == 0:
                os.write(fd, FILE_MAGIC)
                os.fdatasync(fd)
                size = len(FILE_MAGIC)
            fsync_dir(self.directory)
        except OSError:
            os.close(fd)
            if os.stat(path).st_size <= len(FILE_MAGIC):
                path.unlink(missing_ok=True)
            raise
        if self._file is not None:
            os.close(self._file)
        self._file, self._size = fd, size

    # -- housekeeping ----------------------------------------------------------------------------

    def truncate(self, applied_seq: int) -> None:
        """Delete segments whose every record is applied (never the one being written)."""
        segments = self._segments()
        for i, (_, path) in enumerate(segments[:-1]):
            if segments[i + 1][0] - 1 <= applied_seq:
                path.unlink(missing_ok=True)
                self.first_seq = segments[i + 1][0]

    def close(self) -> None:
        if self._file is not None:
            os.close(self._file)
            self._file = None
        self._broken = None


def _record(seq: int, payload: bytes) -> bytes:
    head = _HEADER.pack(_RECORD_MAGIC, seq, len(payload), zlib.crc32(payload), 0)[:-4]
    return head + struct.pack("<I", zlib.crc32(head)) + payload


def _record_at(data: bytes, pos: int, after: int) -> tuple[int, bytes, int] | None:
    """The intact record at ``pos`` (with a sequence number above ``after``), else None."""
    if pos + _HEADER.size > len(data) or data[pos : pos + 4] != _RECORD_MAGIC:
        return None
    _, seq, length, crc, head_crc = _HEADER.unpack_from(data, pos)
    if zlib.crc32(data[pos : pos + _HEADER.size - 4]) != head_crc or seq <= after:
        return None
    start = pos + _HEADER.size
    payload = data[start : start + length]
    if len(payload) < length or zlib.crc32(payload) != crc:
        return None
    return seq, payload, start + length


def _scan_segment(name: str, data: bytes) -> Iterator[tuple[int, bytes, int] | Damage]:
    if data.startswith(FILE_MAGIC):
        yield from _scan(name, data, len(FILE_MAGIC))
        return
    v1 = list(_scan_v1(data))
    if v1 or not data:
        yield from v1
        end = v1[-1][2] if v1 else 0
        if end < len(data):
            after = v1[-1][0] if v1 else 0
            yield Damage(name, end, len(data), after, None, None, True)
        return
    yield from _scan(name, data, 0)  # a new-format segment whose file magic is damaged


def _scan(name: str, data: bytes, pos: int) -> Iterator[tuple[int, bytes, int] | Damage]:
    """Records and damaged stretches of a segment, resynchronising after each damage."""
    after = 0
    while pos < len(data):
        found = _record_at(data, pos, after)
        if found is not None:
            after, pos = found[0], found[2]
            yield found
            continue
        nxt, record = pos + 1, None
        while record is None:
            nxt = data.find(_RECORD_MAGIC, nxt)
            if nxt < 0:
                break
            record = _record_at(data, nxt, after)
            if record is None:
                nxt += 1
        header_seq, complete = _damaged_header(data, pos)
        if record is None:
            yield Damage(name, pos, len(data), after, None, header_seq, not complete)
            return
        yield Damage(name, pos, nxt, after, record[0], header_seq, False)
        pos = nxt


def _damaged_header(data: bytes, pos: int) -> tuple[int | None, bool]:
    """(sequence number, whole record present) of a record whose header is intact."""
    if pos + _HEADER.size > len(data) or data[pos : pos + 4] != _RECORD_MAGIC:
        return None, False
    _, seq, length, _, head_crc = _HEADER.unpack_from(data, pos)
    if zlib.crc32(data[pos : pos + _HEADER.size - 4]) != head_crc:
        return None, False
    return seq, pos + _HEADER.size + length <= len(data)


def _scan_v1(data: bytes) -> Iterator[tuple[int, bytes, int]]:
    """Records of a segment in the first format, stopping at the first bad one."""
    pos = 0
    while pos + _V1_HEADER.size <= len(data):
        seq, length, crc = _V1_HEADER.unpack_from(data, pos)
        start = pos + _V1_HEADER.size
        payload = data[start : start + length]
        if len(payload) < length or zlib.crc32(payload) != crc:
            return
        pos = start + length
        yield seq, payload, pos


def fsync_dir(directory: Path) -> None:
    """Make the directory's entries (files created, renamed or removed) durable."""
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
