"""Which price entries each project has: read once, versioned, handed to the decoders."""

from __future__ import annotations

import itertools
import logging
import threading
import time
from collections.abc import Callable, Iterable
from typing import Any

from heron.cost import PriceBook, PriceEntry, PriceEntryError, load_builtin_prices
from heron.ingest.decoding import PriceSpec, price_book
from heron.ingest.limits import bound_cost
from heron.model import ObservationRecord
from heron.store import Store

log = logging.getLogger(__name__)


def usable_entries(project_id: str, stored: Iterable[dict[str, Any]]) -> tuple[dict[str, Any], ...]:
    """The stored entries that still validate. An entry saved before patterns were checked
    with RE2 (a lookahead, say) is skipped with a warning instead of failing every ingest."""
    usable = []
    for entry in stored:
        try:
            PriceEntry.from_dict(entry, source="project")
        except PriceEntryError as exc:
            log.warning("project %s: price entry skipped: %s", project_id, exc)
            continue
        usable.append(entry)
    return tuple(usable)


class Pricing:
    """Per-project price specs (the project's own entries; built-ins are known everywhere)."""

    def __init__(self, store: Store, max_age_s: float | None = None) -> None:
        self._store = store
        self._specs: dict[str, PriceSpec] = {}
        self._versions = itertools.count(1)
        self._lock = threading.Lock()
        # Replicas sharing a store (the cluster backend) re-read a project's entries at least
        # this often, so prices changed through another replica are used here too.
        self._max_age_s = max_age_s
        self._read_at: dict[str, float] = {}

    def spec(self, project_id: str) -> PriceSpec:
        spec = self._specs.get(project_id)
        stale = (
            spec is not None
            and self._max_age_s is not None
            and time.monotonic() - self._read_at.get(project_id, 0.0) > self._max_age_s
        )
        if spec is None or stale:
            entries = usable_entries(project_id, self._store.list_prices(project_id))
            with self._lock:
                self._read_at[project_id] = time.monotonic()
                if spec is None or entries != spec.entries:  # a new version only on a change
                    spec = PriceSpec(project_id, next(self._versions), entries)
                    self._specs[project_id] = spec
        return spec

    def price(self, record: ObservationRecord) -> dict[str, float] | None:
        """A record's cost as ingestion computes it now (for versions merged in the store:
        a Langfuse update bringing the usage of a generation whose create named the model)."""
        if not record.model or not record.usage:
            return None
        cost = price_book(self.spec(record.project_id)).cost(
            record.model, record.usage, record.start_us
        )
        return bound_cost(cost, []) if cost else None

    def invalidate(self, project_id: str) -> None:
        with self._lock:
            self._specs.pop(project_id, None)


def project_book(store: Store, project_id: str) -> PriceBook:
    """The prices ingestion uses for the project now: its usable entries, then built-ins."""
    custom = [
        PriceEntry.from_dict(e, source="project")
        for e in usable_entries(project_id, store.list_prices(project_id))
    ]
    return PriceBook(load_builtin_prices(), custom)


def cost_function(book: PriceBook) -> Callable[[str, dict[str, int], int], dict[str, float] | None]:
    """A price function for :meth:`heron.store.Store.reprice`: cost as ingestion computes it
    (usage times the price valid at the observation's start, bounded), ``None`` when unpriced."""

    def price(model: str, usage: dict[str, int], at_us: int) -> dict[str, float] | None:
        cost = book.cost(model, usage, at_us)
        return bound_cost(cost, []) if cost else None

    return price
