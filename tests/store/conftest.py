"""The shared store suite's two backends: each module gets a DuckDB file and a cluster
store (ClickHouse on the run's chdb shim, a PostgreSQL database of its own), and runs the
same calls on both."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest

from heron.store import EmbeddedStore
from heron.store.cluster import ClusterStore, open_cluster
from tests.conftest import seed_db
from tests.support.chdb_server import ChdbServer


@pytest.fixture(scope="module")
def duck(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedStore]:
    """An EmbeddedStore on a new file, with the test project (``seed_db``)."""
    path = tmp_path_factory.mktemp("duck") / "heron.duckdb"
    seed_db(path)
    store = EmbeddedStore(path)
    yield store
    store.close()


@pytest.fixture(scope="module")
def cluster_urls(chdb_server: ChdbServer, postgres_server: Any) -> tuple[str, str]:
    """A new ClickHouse database and a new PostgreSQL database: (ClickHouse URL,
    PostgreSQL URL), as ``open_cluster`` and ``heron serve`` take them."""
    ch = chdb_server.database_url("store_" + uuid.uuid4().hex[:8])
    return ch, postgres_server.create_database()


@pytest.fixture(scope="module")
def cluster(
    cluster_urls: tuple[str, str], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ClusterStore]:
    """A replica's ClusterStore on the module's databases (its journal in a new directory)."""
    store = open_cluster(*cluster_urls, tmp_path_factory.mktemp("replica"))
    yield store
    store.close()


@pytest.fixture(scope="module")
def both(duck: EmbeddedStore, cluster: ClusterStore) -> tuple[Any, Any]:
    """(DuckDB store, cluster store)."""
    return duck, cluster


def new_project(stores: tuple[Any, Any]) -> str:
    """A project of the same id on both stores (ids are random when the store makes them)."""
    p = "p-" + uuid.uuid4().hex[:12]
    sql = "INSERT INTO projects (id, name, created_at) VALUES (?, ?, ?)"
    now = datetime.now(UTC).replace(tzinfo=None)
    with stores[0]._admin() as cur:
        cur.execute(sql, [p, p, now])
    with stores[1].control._admin() as cur:
        cur.execute(sql, [p, p, now])
    return p
