"""Storage: one narrow interface (:class:`Store`) and the embedded DuckDB implementation.

The names are loaded when first used, so a process that needs one small module of this
package (a CLI command talking to a running server) does not import DuckDB and Arrow.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from heron.store.base import Store
    from heron.store.embedded import EmbeddedStore
    from heron.store.reads import ListQuery, Page

__all__ = ["EmbeddedStore", "ListQuery", "Page", "Store"]

_HOMES = {
    "EmbeddedStore": "heron.store.embedded",
    "ListQuery": "heron.store.reads",
    "Page": "heron.store.reads",
    "Store": "heron.store.base",
}


def __getattr__(name: str) -> Any:
    if name not in _HOMES:
        raise AttributeError(f"module 'heron.store' has no attribute {name!r}")
    return getattr(importlib.import_module(_HOMES[name]), name)
