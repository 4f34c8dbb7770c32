"""Spans the store refused, set aside on disk until a fix lets them be applied.

When a journal record cannot be applied, the pipeline splits it and applies every span it
can; each span (or trace update) the store still refuses is kept here as
``<journal dir>/quarantine/<seq>-<n>.rec`` (the journal form of a one-span batch) with a
JSON sidecar ``<seq>-<n>.json`` naming why (the store's error), when, the project, and the
trace and span ids. ``GET /api/quarantine`` lists them (a key sees its own project's only)
and ``heron journal replay`` applies them again after a fix, deleting those that now apply.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson

from heron.ingest.decoding import DecodedBatch


class Quarantine:
    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self._lock = threading.Lock()
        self._spans: dict[str, int] = {}  # project id -> quarantined spans and updates
        for meta in self.entries():
            self._count(meta["project_id"], meta["spans"])

    def _count(self, project_id: str, n: int) -> None:
        with self._lock:
            self._spans[project_id] = self._spans.get(project_id, 0) + n
            if self._spans[project_id] <= 0:
                del self._spans[project_id]

    def spans(self, project_ids: set[str] | None = None) -> int:
        """Quarantined spans (and trace updates) of these projects (None: of every project)."""
        with self._lock:
            return sum(n for p, n in self._spans.items() if project_ids is None or p in project_ids)

    def put(self, seq: int, n: int, batch: DecodedBatch, reason: str) -> str:
        """Keep one refused piece of journal record ``seq``; durable before this returns."""
        self.directory.mkdir(parents=True, exist_ok=True)
        name = f"{seq:020d}-{n:06d}"
        obs = batch.observations
        project = (
            obs.column("project_id")[0].as_py() if obs.num_rows else batch.traces[0].project_id
        )
        meta = {
            "id": name,
            "journal_seq": seq,
            "project_id": project,
            "reason": reason,
            "quarantined_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "trace_ids": sorted(
                set(obs.column("trace_id").to_pylist()) | {t.trace_id for t in batch.traces}
            ),
            "span_ids": obs.column("id").to_pylist(),
            "spans": max(obs.num_rows, len(batch.traces)),
        }
        existed = (self.directory / f"{name}.json").exists()  # a replayed record, kept again
        _write_durably(self.directory / f"{name}.rec", batch.encode())
        _write_durably(self.directory / f"{name}.json", orjson.dumps(meta))
        if not existed:
            self._count(project, meta["spans"])
        return name

    def entries(self, project_id: str | None = None) -> list[dict[str, Any]]:
        """The sidecars, oldest first; only ``project_id``'s when given."""
        out = []
        for path in sorted(self.directory.glob("*.json")):
            try:
                meta = orjson.loads(path.read_bytes())
            except (OSError, orjson.JSONDecodeError):
                continue
            if project_id is None or meta.get("project_id") == project_id:
                out.append(meta)
        return out

    def replay(self, apply: Callable[[DecodedBatch], None]) -> dict[str, Any]:
        """Apply every quarantined piece again; delete those that apply, keep (with the new
        reason) those the store still refuses."""
        applied, kept = [], []
        for meta in self.entries():
            rec = self.directory / f"{meta['id']}.rec"
            try:
                apply(DecodedBatch.from_journal(rec.read_bytes()))
            except Exception as exc:
                meta["reason"] = describe(exc)
                _write_durably(self.directory / f"{meta['id']}.json", orjson.dumps(meta))
                kept.append({"id": meta["id"], "reason": meta["reason"]})
                continue
            rec.unlink(missing_ok=True)
            (self.directory / f"{meta['id']}.json").unlink(missing_ok=True)
            self._count(meta["project_id"], -meta["spans"])
            applied.append(meta["id"])
        return {"applied": applied, "kept": kept}


def describe(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"


def _write_durably(path: Path, data: bytes) -> None:
    tmp = path.with_suffix(path.suffix + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, path)
    dfd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dfd)
    finally:
        os.close(dfd)
