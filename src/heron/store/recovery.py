"""Opening the DuckDB file when its write-ahead log is damaged.

DuckDB itself ignores a log cut short (it replays the intact transactions before the cut) and
a log whose header is not its own. One with a damaged entry, or one left from an older
checkpoint of the file, it refuses to open at all, and heron would not start. Then heron
moves the log aside (kept for inspection as ``heron.duckdb.wal.corrupt-<UTC time>``), says so
loudly, and opens the database file as of its last checkpoint. Spans lost with the log are
still in the ingest journal, which replays everything the store's recorded journal position
lacks. What only the log held (projects, keys, users, scores, dashboards created since the
last checkpoint) is lost.
"""

from __future__ import annotations

import logging
import os
import time
from pathlib import Path
from typing import Any

import duckdb

log = logging.getLogger("heron.store")


def wal_path(path: Path) -> Path:
    return path.with_name(path.name + ".wal")


def open_database(path: Path, config: dict[str, Any]) -> duckdb.DuckDBPyConnection:
    """Connect to the database file, moving aside a write-ahead log DuckDB cannot replay."""
    try:
        return duckdb.connect(str(path), config=config)
    except duckdb.Error as exc:
        wal = wal_path(path)
        # Only a log DuckDB refused (damaged, or left from an older checkpoint): a lock held
        # by another process must never move that process's log.
        if "WAL" not in str(exc) or "lock" in str(exc) or not wal.exists():
            raise
        stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
        aside = wal.with_name(f"{wal.name}.corrupt-{stamp}")
        os.replace(wal, aside)
        log.error(
            "THE DATABASE WRITE-AHEAD LOG IS CORRUPT and was moved to %s (%s). Opening %s as "
            "of its last checkpoint; spans acknowledged since are replayed from the ingest "
            "journal, but other changes since then (projects, keys, users, scores, "
            "dashboards) are lost. See docs/operations.md.",
            aside,
            exc,
            path,
        )
    return duckdb.connect(str(path), config=config)
