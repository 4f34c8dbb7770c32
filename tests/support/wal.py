"""Damaging a DuckDB write-ahead log the way DuckDB refuses to replay."""

from __future__ import annotations

import shutil
from pathlib import Path

import duckdb

from heron.store.recovery import wal_path


def refused_damage(path: Path, scratch: Path) -> bytes:
    """The log with one byte flipped where DuckDB notices (an entry's payload or checksum:
    a flipped length reads as a log cut short, which DuckDB accepts)."""
    original = wal_path(path).read_bytes()
    scratch.mkdir()
    for offset in range(len(original) // 10, len(original) // 10 + 256):
        damaged = bytearray(original)
        damaged[offset] ^= 0xFF
        trial = scratch / f"{offset}.duckdb"
        shutil.copyfile(path, trial)
        wal_path(trial).write_bytes(damaged)
        try:
            duckdb.connect(str(trial)).close()
        except duckdb.Error as exc:
            assert "WAL" in str(exc)
            return bytes(damaged)
    raise AssertionError("no damage DuckDB refuses")
