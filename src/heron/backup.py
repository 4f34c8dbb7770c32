"""``heron backup``: a consistent copy of a data directory, taken while the server runs or not.

The server is the database file's only opener, so a running server makes the copy itself
(``POST /api/admin/backup``); otherwise the CLI opens the store and does the same. Either way:

1. ``CHECKPOINT`` (writes go on), then pause store writes (the apply thread and admin
   changes; clients are still acknowledged, their batches wait in the journal), so neither
   the database file nor its write-ahead log changes; copy the file and the log (what was
   committed since the checkpoint), and open the journal segments holding records the copy
   has not applied;
2. resume writes, copy those segments as they were, then check the copy opens and count what
   it holds.

The copy is a data directory: restore is ``heron serve --data-dir DEST``, which replays the
copied journal records the database lacks, exactly as after a crash.
"""

from __future__ import annotations

import os
import shutil
import time
from contextlib import suppress
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import duckdb

from heron.errors import BadRequest, Conflict
from heron.ingest.journal import fsync_dir
from heron.store.embedded import EmbeddedStore
from heron.store.recovery import wal_path

DATABASE = "heron.duckdb"
JOURNAL = "journal"
QUARANTINE = "quarantine"  # in the journal directory (see heron.ingest.quarantine)
APPLIED_KEY = "journal_applied_seq"


@dataclass(frozen=True, slots=True)
class BackupResult:
    destination: str
    database_bytes: int
    journal_files: int
    journal_bytes: int
    journal_position: int  # the last journal record the copied database holds
    traces: int
    observations: int
    paused_ms: float  # how long store writes waited for the copy
    seconds: float

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def check_destination(destination: str | Path) -> Path:
    """An absolute path that does not exist yet, or an empty directory."""
    dest = Path(destination)
    if not dest.is_absolute():
        raise BadRequest(f"the backup destination must be an absolute path, not {str(dest)!r}")
    if dest.exists() and (not dest.is_dir() or any(dest.iterdir())):
        raise Conflict(f"{dest} already exists and is not an empty directory")
    return dest


def backup(store: EmbeddedStore, journal_dir: Path, destination: str | Path) -> BackupResult:
    """Copy the store and its unapplied journal records into ``destination`` (a new directory)."""
    started = time.perf_counter()
    dest = check_destination(destination)
    if dest.resolve().is_relative_to(store.path.parent.resolve()):
        raise BadRequest("the backup destination must be outside the data directory")
    partial = dest / (DATABASE + ".partial")
    segments: list[_Segment] = []
    try:
        dest.mkdir(parents=True, exist_ok=True)
        # Checkpoint first, while writes go on (it delays commits as DuckDB's own do), so
        # little log is left to copy in the pause. DuckDB may decline (another transaction
        # open): then the log is copied whole.
        with suppress(duckdb.Error):
            store.cursor().execute("CHECKPOINT")
        paused = time.perf_counter()
        with store.writes_paused() as db_file:
            position = int(store.get_meta(APPLIED_KEY) or 0)
            wal_bytes = 0
            if wal_path(db_file).exists():  # not checkpointed: the log goes with the file
                wal_bytes = _copy(wal_path(db_file), wal_path(dest / DATABASE))
            _copy(db_file, partial)
            _hold_journal(journal_dir, position, segments)
            paused_ms = (time.perf_counter() - paused) * 1000
        journal_bytes = _copy_journal(segments, dest / JOURNAL)
        if (journal_dir / QUARANTINE).is_dir():  # refused spans kept for replay: theirs too
            shutil.copytree(journal_dir / QUARANTINE, dest / JOURNAL / QUARANTINE)
        partial.rename(dest / DATABASE)
        fsync_dir(dest)
    except BaseException as exc:
        partial.unlink(missing_ok=True)
        wal_path(dest / DATABASE).unlink(missing_ok=True)
        shutil.rmtree(dest / JOURNAL, ignore_errors=True)
        if isinstance(exc, OSError):  # permission denied, disk full: the caller's to fix
            raise BadRequest(f"cannot write the backup to {dest}: {exc.strerror or exc}") from exc
        raise
    finally:
        for segment in segments:
            os.close(segment.fd)
    traces, observations = _count(dest / DATABASE)
    return BackupResult(
        destination=str(dest),
        database_bytes=(dest / DATABASE).stat().st_size + wal_bytes,
        journal_files=len(segments),
        journal_bytes=journal_bytes,
        journal_position=position,
        traces=traces,
        observations=observations,
        paused_ms=round(paused_ms, 1),
        seconds=round(time.perf_counter() - started, 3),
    )


def _copy(source: Path, target: Path) -> int:
    shutil.copyfile(source, target)
    fd = os.open(target, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
    return target.stat().st_size


@dataclass(frozen=True, slots=True)
class _Segment:
    name: str
    fd: int
    size: int


def _hold_journal(journal_dir: Path, position: int, held: list[_Segment]) -> None:
    """Open the segments (``<first seq>.log``) holding any record after ``position`` into
    ``held``, with their sizes: the journal only appends, so these prefixes are its state
    now, and an open file outlives its deletion by the journal. Copied after writes resume."""
    segments = sorted((int(p.stem), p) for p in journal_dir.glob("*.log") if p.stem.isdigit())
    for i, (_, path) in enumerate(segments):
        if i + 1 == len(segments) or segments[i + 1][0] - 1 > position:
            fd = os.open(path, os.O_RDONLY)
            held.append(_Segment(path.name, fd, os.fstat(fd).st_size))


def _copy_journal(segments: list[_Segment], target: Path) -> int:
    """Write the held segment prefixes into ``target``. A record cut short at a prefix's end
    was not acknowledged when writes were paused; the restored journal drops it at start."""
    target.mkdir()
    for segment in segments:
        out = os.open(target / segment.name, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            offset = 0
            while offset < segment.size:
                sent = os.sendfile(out, segment.fd, offset, segment.size - offset)
                if sent == 0:
                    break
                offset += sent
            os.fsync(out)
        finally:
            os.close(out)
    fsync_dir(target)
    return sum(s.size for s in segments)


def _count(db_file: Path) -> tuple[int, int]:
    """Open the copy (read-only) and count what it holds: it is a usable database."""
    con = duckdb.connect(str(db_file), read_only=True)
    try:
        (traces,) = con.execute("SELECT count(*) FROM traces").fetchone() or (0,)
        (observations,) = con.execute("SELECT count(*) FROM observations").fetchone() or (0,)
    finally:
        con.close()
    return traces, observations
