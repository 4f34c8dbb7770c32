"""Storage: one narrow interface (:class:`Store`) and the embedded DuckDB implementation."""

from heron.store.base import Store
from heron.store.embedded import EmbeddedStore
from heron.store.reads import ListQuery, Page

__all__ = ["EmbeddedStore", "ListQuery", "Page", "Store"]
