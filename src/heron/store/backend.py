"""The one place a store is opened from settings: DuckDB, or ClickHouse + PostgreSQL.

``heron serve``, the app without a given store, and ``heron worker``/``heron runner`` call
:func:`open_store`; with ``HERON_CLICKHOUSE_URL`` and ``HERON_POSTGRES_URL`` set it is the
cluster store (:mod:`heron.store.cluster`), else the embedded one in the data directory.
"""

from __future__ import annotations

import logging
from typing import Any

from heron.settings import Settings

log = logging.getLogger("heron.store")


def open_store(settings: Settings) -> Any:
    """The store the settings name: a :class:`~heron.store.cluster.ClusterStore` when both
    cluster URLs are set, else an :class:`~heron.store.EmbeddedStore`."""
    if settings.clickhouse_url and settings.postgres_url:
        try:
            from heron.store.cluster import open_cluster
        except ImportError as exc:  # the drivers are the optional `cluster` extra
            missing = (exc.name or "a driver").split(".")[0]
            raise RuntimeError(
                f"the cluster backend needs its drivers ({missing} is missing): "
                "pip install 'heron[cluster]'"
            ) from None

        if not settings.secret_key:
            log.warning(
                "cluster backend without HERON_SECRET_KEY: LLM connection keys and channel "
                "secrets are encrypted with this replica's own key file (secret.key in its data "
                "directory), which the other replicas cannot read; give every replica the same "
                "HERON_SECRET_KEY"
            )
        return open_cluster(settings.clickhouse_url, settings.postgres_url, settings.data_dir)
    from heron.store import EmbeddedStore
    from heron.store.embedded import store_options

    return EmbeddedStore(settings.db_path, **store_options(settings))


def store_location(settings: Settings) -> str:
    """Where the data lives, for banners and errors (no password shown)."""
    if settings.clickhouse_url and settings.postgres_url:
        ch, pg = _safe(settings.clickhouse_url), _safe(settings.postgres_url)
        return f"ClickHouse {ch} + PostgreSQL {pg}"
    return str(settings.db_path)


def _safe(url: str) -> str:
    """``url`` without its password."""
    from urllib.parse import urlsplit, urlunsplit

    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.hostname or ""
    if parts.port:
        host = f"{host}:{parts.port}"
    user = f"{parts.username}:***@" if parts.username else ""
    return urlunsplit(parts._replace(netloc=user + host))
