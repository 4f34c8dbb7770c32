"""Scheduled work for runner tests: a periodic that records its runs in the store."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from heron.store import Store


class Ticker:
    """Runs every ``every_s`` seconds from its first ``due``; writes one row per run into a
    table of its own (created on ``bind``); ``fail`` runs raise before writing."""

    name = "ticker"

    def __init__(self, every_s: float = 60.0, fail: int = 0) -> None:
        self.every = timedelta(seconds=every_s)
        self.fail = fail
        self.runs: list[datetime] = []
        self.store: Store | None = None
        self.settings: Any = None
        self.closed = False
        self._last: datetime | None = None

    def bind(self, store: Store) -> None:
        self.store = store
        with store._admin() as cur:  # a table of the test's own, beside heron's
            cur.execute("CREATE TABLE IF NOT EXISTS ticks (t TIMESTAMP)")

    def configure(self, settings: Any) -> None:
        self.settings = settings

    def close(self) -> None:
        self.closed = True

    def due(self, now: datetime) -> datetime | None:
        return now if self._last is None else self._last + self.every

    def run(self, now: datetime) -> None:
        if self.fail:
            self.fail -= 1
            raise RuntimeError("ticker failed on purpose")
        assert self.store is not None
        with self.store._admin() as cur:
            cur.execute("INSERT INTO ticks VALUES (?)", [now])
        self.runs.append(now)
        self._last = now


ticker = Ticker
