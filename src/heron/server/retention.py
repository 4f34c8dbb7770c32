"""Per-project retention: a background task deletes traces older than their project keeps.

It sweeps once at start, then every ``retention_interval_s`` seconds, and at once when an
admin changes a project's retention. A trace's age is its start time; it goes with its
observations and scores (:meth:`heron.store.Store.delete_traces_before`), chunk by chunk
beside ingest. Spans sent later with timestamps older than the retention are stored and
then deleted by the next sweep.

On the cluster backend ClickHouse drops expired rows itself, by TTL: the sweep only keeps
the rows' retention in step with their projects' (``sync_retention``, see
:mod:`heron.store.clickhouse.retention`) and deletes nothing row by row.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from datetime import UTC, datetime, timedelta

from heron.store import Store

log = logging.getLogger("heron.retention")


def sweep(store: Store, now: datetime | None = None) -> dict[str, int]:
    """Delete every project's traces older than its retention; returns traces deleted by
    project id (projects without retention are not touched)."""
    sync_retention = getattr(store, "sync_retention", None)
    if sync_retention is not None:  # the cluster backend: ClickHouse's TTL drops rows
        sync_retention()
        return {}
    now = now or datetime.now(UTC)
    deleted: dict[str, int] = {}
    for project in store.list_projects():
        days = project.get("retention_days")
        if days:
            deleted[project["id"]] = store.delete_traces_before(
                project["id"], now - timedelta(days=days)
            )
    return deleted


class RetentionTask:
    """The sweep loop of a running server (an asyncio task; sweeps run in a thread)."""

    def __init__(self, store: Store, interval_s: float) -> None:
        self._store = store
        self._interval_s = interval_s
        self._wake = asyncio.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._task: asyncio.Task[None] | None = None
        self._sweeping = threading.Lock()
        self._stopped = False
        self.sweeps = 0

    def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._task = asyncio.create_task(self._run(), name="heron-retention")

    async def stop(self) -> None:
        """Stop the loop; a sweep under way finishes first (the store closes after)."""
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        await asyncio.to_thread(self._sweeping.acquire)
        self._stopped = True
        self._sweeping.release()

    def wake(self) -> None:
        """Sweep now (callable from any thread)."""
        if self._loop is not None:
            self._loop.call_soon_threadsafe(self._wake.set)

    async def _run(self) -> None:
        while True:
            self._wake.clear()
            await asyncio.to_thread(self._sweep)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self._interval_s)

    def _sweep(self) -> None:
        with self._sweeping:
            if self._stopped:
                return
            try:
                deleted = sweep(self._store)
            except Exception:
                log.exception("retention sweep failed; retrying at the next interval")
                return
            self.sweeps += 1
            total = sum(deleted.values())
            if total:
                log.warning("retention: deleted %d traces older than their retention", total)
