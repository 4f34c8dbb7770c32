"""The ingest journal: accepted batches, durable on disk before the client is answered.

An accepted request is appended here (and ``fdatasync``-ed with whatever else arrived in the
same few milliseconds) before heron answers 200; the store applies it shortly after. So an
acknowledgement costs one sequential write, not a database commit, and a database
checkpoint never stalls ingest. On start, records not yet applied to the store (its
``meta.journal_applied_seq``) are replayed; applied segments are deleted.

Layout: ``<data-dir>/journal/<first seq, 20 digits>.log``, each a run of records::

    seq u64 | length u32 | crc32 u32 | payload (length bytes)

A record cut short by a crash was never acknowledged (its fsync had not returned), so
reading stops at the first incomplete or corrupt record.
"""

from __future__ import annotations

import os
import struct
import zlib
from collections.abc import Iterator
from pathlib import Path

_HEADER = struct.Struct("<QII")
SEGMENT_BYTES = 64 * 1024 * 1024


class Journal:
    def __init__(self, directory: Path, segment_bytes: int = SEGMENT_BYTES) -> None:
        self.directory = directory
        self.directory.mkdir(parents=True, exist_ok=True)
        self.segment_bytes = segment_bytes
        self._file: int | None = None
        self._size = 0
        self.last_seq = 0
        self._repair()

    def _repair(self) -> None:
        """Cut a torn tail (a record whose write a crash interrupted) off the last segment."""
        segments = self._segments()
        for _, path in segments:
            end = 0
            for seq, _, record_end in _scan(path.read_bytes()):
                self.last_seq, end = seq, record_end
            if path == segments[-1][1]:
                if end == 0:
                    path.unlink()
                elif end < path.stat().st_size:
                    os.truncate(path, end)

    def _segments(self) -> list[tuple[int, Path]]:
        out = []
        for path in self.directory.glob("*.log"):
            try:
                out.append((int(path.stem), path))
            except ValueError:
                continue
        return sorted(out)

    def read(self, after_seq: int) -> Iterator[tuple[int, bytes]]:
        """Every intact record with a sequence number above ``after_seq``, in order."""
        segments = self._segments()
        for i, (_, path) in enumerate(segments):
            nxt = segments[i + 1][0] if i + 1 < len(segments) else None
            if nxt is not None and nxt - 1 <= after_seq:
                continue
            for seq, payload, _ in _scan(path.read_bytes()):
                if seq > after_seq:
                    yield seq, payload

    def append(self, payloads: list[bytes]) -> int:
        """Write records and make them durable; returns the last sequence number."""
        if self._file is None or self._size >= self.segment_bytes:
            self._rotate()
        assert self._file is not None
        chunks = []
        for payload in payloads:
            self.last_seq += 1
            chunks.append(_HEADER.pack(self.last_seq, len(payload), zlib.crc32(payload)))
            chunks.append(payload)
        data = b"".join(chunks)
        view = memoryview(data)
        while view:
            written = os.write(self._file, view)
            view = view[written:]
        os.fdatasync(self._file)
        self._size += len(data)
        return self.last_seq

    def _rotate(self) -> None:
        if self._file is not None:
            os.close(self._file)
        path = self.directory / f"{self.last_seq + 1:020d}.log"
        self._file = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        self._size = os.fstat(self._file).st_size
        _fsync_dir(self.directory)

    def truncate(self, applied_seq: int) -> None:
        """Delete segments whose every record is applied (never the one being written)."""
        segments = self._segments()
        for i, (_, path) in enumerate(segments[:-1]):
            if segments[i + 1][0] - 1 <= applied_seq:
                path.unlink(missing_ok=True)

    def keep_failed(self, seq: int, payload: bytes) -> Path:
        """Set aside a record the store refused, so it can be inspected and replayed."""
        failed = self.directory / "failed"
        failed.mkdir(exist_ok=True)
        path = failed / f"{seq:020d}.rec"
        path.write_bytes(payload)
        return path

    def close(self) -> None:
        if self._file is not None:
            os.close(self._file)
            self._file = None


def _scan(data: bytes) -> Iterator[tuple[int, bytes, int]]:
    """(seq, payload, end offset) of each intact record, stopping at the first bad one."""
    pos = 0
    while pos + _HEADER.size <= len(data):
        seq, length, crc = _HEADER.unpack_from(data, pos)
        start = pos + _HEADER.size
        payload = data[start : start + length]
        if len(payload) < length or zlib.crc32(payload) != crc:
            return
        pos = start + length
        yield seq, payload, pos


def _fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
