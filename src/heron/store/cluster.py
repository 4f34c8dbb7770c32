"""heron's store on the cluster backend: events on ClickHouse, control data on PostgreSQL.

:class:`ClusterStore` composes a :class:`~heron.store.clickhouse.ClickHouseEvents` and a
:class:`~heron.store.postgres.PostgresControl`; several ``heron serve`` replicas share both,
each with its own data directory (its journal). The routing rule, in :meth:`ClusterStore.route`:

1. what only makes sense composed is ClusterStore's own method or its mixins' (``write_batch``
   records the replica's journal position, ``get_meta``/``set_meta`` keep that position per replica,
   ``checkpoint``, ``size_bytes``, ``close``, the filter bar's suggestions read through the
   events half, the runner's change feed and commit in :mod:`heron.store.cluster_runner`);
2. else a :class:`~heron.store.base.Store` method the events half implements goes to ClickHouse;
3. else one the control half implements goes to PostgreSQL,

and none is left: ``tests/store/test_cluster_store.py`` fails for a ``Store`` method the
cluster does not implement. What only the embedded store has (a DuckDB cursor, pausing its
writes for ``heron backup``, its directory) raises :class:`~heron.errors.NotOnCluster`,
answered 501 naming it.

Rules 2 and 3 look at the halves when the store is built, so a method either half gains
later is routed to it without a change here.

Replicas coordinate through PostgreSQL: ClickHouse migrations run under a session advisory
lock (one replica migrates, the others wait and find nothing to do), and each batch's
read-merge-insert holds transaction advisory locks on its traces (:class:`TraceLocks`).
"""

from __future__ import annotations

import functools
import hashlib
import logging
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import psycopg
import psycopg_pool
import pyarrow as pa
from clickhouse_connect.driver.exceptions import OperationalError as ClickHouseDown

from heron.errors import HeronError, NotOnCluster
from heron.ingest.pipeline import APPLIED_KEY  # the journal position: one journal per replica
from heron.model import ObservationRecord, TraceUpdate
from heron.store import saved
from heron.store.arrow import observations_table
from heron.store.base import Store
from heron.store.clickhouse import ClickHouseEvents
from heron.store.clickhouse.client import connect as clickhouse_connect
from heron.store.clickhouse.migrations import migrate as migrate_clickhouse
from heron.store.clickhouse.retention import ProjectRetention
from heron.store.cluster_annotation import ClusterAnnotation
from heron.store.cluster_datasets import ClusterDatasets
from heron.store.cluster_deletion import ClusterDeletion
from heron.store.cluster_runner import ClusterRunner
from heron.store.cluster_signals import ClusterSignals
from heron.store.postgres import PostgresControl
from heron.store.postgres.connect import connect as postgres_connect
from heron.store.reads import ListQuery
from heron.store.writes import WriteResult

log = logging.getLogger("heron.store")

REPLICA_FILE = "replica_id"

# Advisory lock keys of heron's own (the bytes of "heronchm"): the ClickHouse migrations
# (one bigint key), and the trace slots (two int4 keys: a key space apart from bigint keys).
MIGRATION_LOCK = int.from_bytes(b"heronchm", "big") - 2**63
TRACE_LOCK_CLASS = int.from_bytes(b"hrtr", "big") - 2**31
# A batch locks the slots of its traces, not each trace: a batch of 16k traces then takes at
# most this many locks (PostgreSQL's shared lock table is bounded); two traces sharing a slot
# only wait for each other.
TRACE_LOCK_SLOTS = 1024

_STORE_NAMES = frozenset(n for n in vars(Store) if not n.startswith("_"))


class BackendUnavailable(ConnectionError, HeronError):
    """ClickHouse or PostgreSQL cannot be reached: an OSError, so the write pipeline retries
    (the journal keeps the batch) instead of quarantining its spans; a request answered 503."""

    status_code = 503
    code = "backend_unavailable"

    def __init__(self, message: str) -> None:
        ConnectionError.__init__(self, message)
        self.message = message


def trace_slot(project_id: str, trace_id: str) -> int:
    """The lock slot of a trace: the same on every replica."""
    digest = hashlib.blake2b(f"{project_id}\x00{trace_id}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") % TRACE_LOCK_SLOTS


class TraceLocks:
    """The per-trace lock of :class:`ClickHouseEvents`: while a batch is read, merged and
    inserted, a PostgreSQL transaction on a connection of its own holds
    ``pg_advisory_xact_lock`` on the batch's trace slots, taken in ascending order (two
    replicas never deadlock); the commit at the end releases them."""

    def __init__(self, url: str) -> None:
        self._url = url
        self._conn: psycopg.Connection | None = None
        self._mutex = threading.Lock()  # one batch at a time on the connection

    def __call__(self, traces: Sequence[tuple[str, str]]) -> Any:
        return self._held(sorted({trace_slot(p, t) for p, t in traces}))

    @contextmanager
    def _held(self, slots: list[int]) -> Iterator[None]:
        with self._mutex:
            try:
                conn = self._connection()
                with conn.transaction():
                    conn.execute(
                        "SELECT count(pg_advisory_xact_lock(%s, s)) FROM unnest(%s::int[]) AS s",
                        [TRACE_LOCK_CLASS, slots],
                    )
                    yield
            except psycopg.OperationalError as exc:
                self.close()  # a new connection next time
                raise BackendUnavailable(f"PostgreSQL (trace locks): {exc}") from exc

    def _connection(self) -> psycopg.Connection:
        if self._conn is None or self._conn.closed:
            self._conn = postgres_connect(self._url)
        return self._conn

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None


@contextmanager
def migration_lock(url: str) -> Iterator[None]:
    """A session advisory lock held while ClickHouse is migrated: one replica at a time."""
    with postgres_connect(url) as conn:
        conn.autocommit = True
        conn.execute("SELECT pg_advisory_lock(%s)", [MIGRATION_LOCK])
        try:
            yield
        finally:
            conn.execute("SELECT pg_advisory_unlock(%s)", [MIGRATION_LOCK])


def replica_id(data_dir: Path) -> str:
    """This replica's id, kept in its data directory (created on first start): the journal
    there is this replica's, and so is the position recorded for it."""
    path = data_dir / REPLICA_FILE
    try:
        return path.read_text().strip()
    except FileNotFoundError:
        pass
    data_dir.mkdir(parents=True, exist_ok=True)
    rid = uuid.uuid4().hex
    tmp = path.with_suffix(".tmp")
    tmp.write_text(rid + "\n")
    tmp.replace(path)
    return rid


class ClusterStore(
    ClusterSignals, ClusterAnnotation, ClusterDatasets, ClusterDeletion, ClusterRunner
):
    """heron's :class:`~heron.store.base.Store` on ClickHouse + PostgreSQL (see the module
    docstring for the routing rule). Build it with :func:`open_cluster`."""

    def __init__(
        self,
        control: PostgresControl,
        events: ClickHouseEvents,
        replica: str,
        trace_locks: TraceLocks | None = None,
    ) -> None:
        self.control = control
        self.events = events
        self.replica = replica
        self._trace_locks = trace_locks
        # rows are written tagged with their project's retention, for ClickHouse's TTL
        self.project_retention = ProjectRetention(
            lambda: {p["id"]: p.get("retention_days") for p in control.list_projects()}
        )
        events.retention_days = self.project_retention
        self._routes: dict[str, Callable[..., Any]] = {}
        for name in _STORE_NAMES:
            if _composed(name):
                continue
            for half in (events, control):
                method = getattr(half, name, None)
                if callable(method):
                    self._routes[name] = _guarded(method)
                    break

    def route(self, name: str) -> str:
        """Which part serves Store method ``name``: ``"cluster"``, ``"events"`` (ClickHouse),
        ``"control"`` (PostgreSQL) or ``"none"`` (not on the cluster)."""
        if _composed(name):
            return "cluster"
        target = self._routes.get(name)
        if target is None:
            return "none"
        owner = target.__wrapped__.__self__  # type: ignore[attr-defined]
        return "events" if owner is self.events else "control"

    def __getattr__(self, name: str) -> Any:
        # only reached for names not defined on the class: the routed Store methods
        if name.startswith("_"):
            raise AttributeError(name)
        target = self.__dict__.get("_routes", {}).get(name)
        if target is not None:
            return target
        raise AttributeError(f"{type(self).__name__} has no attribute {name!r}")

    # -- writes: ClickHouse, then the replica's journal position in PostgreSQL ------------------

    def write_batch(
        self,
        observations: pa.Table | Sequence[ObservationRecord],
        trace_updates: Sequence[TraceUpdate],
        journal_seq: int | None = None,
        price: Callable[[ObservationRecord], dict[str, float] | None] | None = None,
    ) -> WriteResult:
        """Write one batch to ClickHouse, the runs and run items its Langfuse experiment
        spans speak of (:mod:`heron.store.cluster_datasets`), then record ``journal_seq`` as
        this replica's applied position and the batch's traces in the runner's change feed
        (one PostgreSQL transaction, :mod:`heron.store.cluster_runner`). Writes are
        idempotent, so a crash in between only replays the batch at the next start."""
        if not isinstance(observations, pa.Table):
            observations = observations_table(list(observations), time.time_ns() // 1000)
        with _unavailable_as_oserror():
            result = self.events.write_batch(observations, trace_updates, price=price)
            self.record_experiment_runs(observations)  # Langfuse experiment spans: run items
            self._record_batch(sorted(result.trace_ids), self._meta_key(APPLIED_KEY), journal_seq)
        return result

    def get_meta(self, key: str) -> str | None:
        with _unavailable_as_oserror():
            return self.control.get_meta(self._meta_key(key))

    def set_meta(self, key: str, value: str) -> None:
        with _unavailable_as_oserror():
            self.control.set_meta(self._meta_key(key), value)

    def _meta_key(self, key: str) -> str:
        """The journal position is the replica's; every other meta key is shared."""
        return f"{key}@{self.replica}" if key == APPLIED_KEY else key

    # -- reads composed from the events half ------------------------------------------------

    def recent_filter_values(self, project_id: str) -> dict[str, list[str]]:
        """The filter bar's suggestions, from the project's newest traces (as on DuckDB)."""
        with _unavailable_as_oserror():
            page = self.events.list_traces(project_id, ListQuery(limit=saved.RECENT_TRACES))
        keys = ("name", "user_id", "models", "tags", "release", "version", "environment")
        return saved.suggestions([tuple(t.get(k) for k in keys) for t in page.data])

    # -- what the embedded store needs and the cluster does not --------------------------------

    def checkpoint(self) -> None:
        """Nothing to do: ClickHouse and PostgreSQL hold what they acknowledged, so the
        journal is truncated up to what is applied."""

    def size_bytes(self) -> int:
        """Bytes on disk of the ClickHouse database's active parts (PostgreSQL not counted)."""
        with _unavailable_as_oserror():
            rows = self.events.client.query(
                "SELECT sum(bytes_on_disk) FROM system.parts "
                "WHERE database = currentDatabase() AND active"
            ).result_rows
        return int(rows[0][0] or 0) if rows else 0

    def cursor(self) -> Any:
        raise NotOnCluster("cursor (a DuckDB cursor)")

    def writes_paused(self) -> Any:
        raise NotOnCluster("writes_paused (heron backup: back up ClickHouse and PostgreSQL)")

    @property
    def path(self) -> Path:
        raise NotOnCluster(
            "the store's directory (the key file of LLM connection secrets: set HERON_SECRET_KEY)"
        )

    def close(self) -> None:
        self.control.close()
        self.events.client.close()
        if self._trace_locks is not None:
            self._trace_locks.close()


def _composed(name: str) -> bool:
    """Whether ClusterStore itself (or a mixin of it composing both halves) defines ``name``."""
    return any(name in vars(k) for k in ClusterStore.__mro__ if k is not object)


@contextmanager
def _unavailable_as_oserror() -> Iterator[None]:
    try:
        yield
    except (psycopg.OperationalError, psycopg_pool.PoolTimeout, ClickHouseDown) as exc:
        raise BackendUnavailable(f"the cluster backend is unreachable: {exc}") from exc


def _guarded(method: Callable[..., Any]) -> Callable[..., Any]:
    """``method`` with a backend that cannot be reached raised as BackendUnavailable."""

    @functools.wraps(method)
    def call(*args: Any, **kwargs: Any) -> Any:
        with _unavailable_as_oserror():
            return method(*args, **kwargs)

    return call


def open_cluster(clickhouse_url: str, postgres_url: str, data_dir: Path) -> ClusterStore:
    """Connect to both backends and migrate them (PostgreSQL under its advisory lock, then
    ClickHouse under another, so replicas starting together migrate once); the replica's id
    comes from ``data_dir``."""
    control = PostgresControl(postgres_url)
    try:
        client = clickhouse_connect(clickhouse_url)
        applied = migrate_clickhouse(client, lock=lambda: migration_lock(postgres_url))
    except BaseException:
        control.close()
        raise
    if applied:
        log.info("ClickHouse migrated to version %d", max(applied))
    locks = TraceLocks(postgres_url)
    events = ClickHouseEvents(client, trace_lock=locks)
    return ClusterStore(control, events, replica_id(data_dir), locks)
