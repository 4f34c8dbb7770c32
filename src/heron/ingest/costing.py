"""Cost at ingest: the client's cost wins, else usage times the price valid at the span's time."""

from __future__ import annotations

import threading
from collections.abc import Iterable

from heron.cost import PriceBook, PriceEntry, load_builtin_prices
from heron.model import ObservationRecord
from heron.store import Store


class Pricing:
    """Per-project price books (built-in table plus the project's own entries), cached."""

    def __init__(self, store: Store) -> None:
        self._store = store
        self._builtin = load_builtin_prices()
        self._books: dict[str, PriceBook] = {}
        self._lock = threading.Lock()

    def book(self, project_id: str) -> PriceBook:
        book = self._books.get(project_id)
        if book is None:
            custom = [
                PriceEntry.from_dict(e, source="project")
                for e in self._store.list_prices(project_id)
            ]
            book = PriceBook(self._builtin, custom)
            with self._lock:
                self._books[project_id] = book
        return book

    def invalidate(self, project_id: str) -> None:
        with self._lock:
            self._books.pop(project_id, None)

    def apply(self, observations: Iterable[ObservationRecord]) -> None:
        """Fill in ``cost`` where the client sent none and the model has a price."""
        for r in observations:
            if r.cost or not r.model or not r.usage:
                continue
            cost = self.book(r.project_id).cost(r.model, r.usage, r.start_us)
            if cost:
                r.cost = cost
