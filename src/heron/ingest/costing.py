"""Which price entries each project has: read once, versioned, handed to the decoders."""

from __future__ import annotations

import itertools
import logging
import threading
from collections.abc import Iterable
from typing import Any

from heron.cost import PriceEntry, PriceEntryError
from heron.ingest.decoding import PriceSpec
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

    def __init__(self, store: Store) -> None:
        self._store = store
        self._specs: dict[str, PriceSpec] = {}
        self._versions = itertools.count(1)
        self._lock = threading.Lock()

    def spec(self, project_id: str) -> PriceSpec:
        spec = self._specs.get(project_id)
        if spec is None:
            entries = usable_entries(project_id, self._store.list_prices(project_id))
            with self._lock:
                spec = PriceSpec(project_id, next(self._versions), entries)
                self._specs[project_id] = spec
        return spec

    def invalidate(self, project_id: str) -> None:
        with self._lock:
            self._specs.pop(project_id, None)
