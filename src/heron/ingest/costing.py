"""Which price entries each project has: read once, versioned, handed to the decoders."""

from __future__ import annotations

import itertools
import threading

from heron.ingest.decoding import PriceSpec
from heron.store import Store


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
            entries = tuple(self._store.list_prices(project_id))
            with self._lock:
                spec = PriceSpec(project_id, next(self._versions), entries)
                self._specs[project_id] = spec
        return spec

    def invalidate(self, project_id: str) -> None:
        with self._lock:
            self._specs.pop(project_id, None)
