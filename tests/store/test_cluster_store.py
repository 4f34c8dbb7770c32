"""ClusterStore (heron.store.cluster): the routing rule, the 501 refusal, the journal position
kept per replica, the trace locks and migrations under PostgreSQL advisory locks. Real
PostgreSQL (tests/support/postgres.py) and ClickHouse's HTTP protocol on chdb."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

import psycopg
import pytest

from heron.errors import NotOnCluster
from heron.model import ObservationRecord
from heron.store.base import Store
from heron.store.cluster import (
    APPLIED_KEY,
    MIGRATION_LOCK,
    BackendUnavailable,
    ClusterStore,
    TraceLocks,
    _guarded,
    migration_lock,
    open_cluster,
    replica_id,
    trace_slot,
)
from tests.support.server import free_port

T0 = 1_760_000_000_000_000  # µs


def test_routing_rule_covers_every_store_method(cluster: ClusterStore) -> None:
    """ClusterStore's own methods (and its mixins'), then events, then control; none is
    left unrouted."""
    names = [n for n in vars(Store) if not n.startswith("_")]
    routes = {n: cluster.route(n) for n in names}
    assert routes["write_batch"] == "cluster"
    assert routes["get_meta"] == "cluster"
    assert routes["checkpoint"] == "cluster"
    assert routes["list_traces"] == "events"
    assert routes["get_trace"] == "events"
    assert routes["write_scores"] == "cluster"  # then the score feed in PostgreSQL
    assert routes["runner_commit"] == routes["changed_traces"] == "cluster"
    assert routes["target_traces"] == routes["next_runner_targets"] == "events"
    assert routes["runner_due"] == routes["runner_lease"] == "control"
    assert routes["create_project"] == "control"
    assert routes["key_table"] == "control"
    assert routes["delete_traces"] == routes["delete_traces_before"] == "cluster"
    for name, route in routes.items():
        if route == "events":
            assert hasattr(cluster.events, name), name
        elif route == "control":
            assert not hasattr(cluster.events, name) and hasattr(cluster.control, name), name
    # every Store method is on the cluster: one added without a cluster implementation fails
    assert [n for n, route in routes.items() if route == "none"] == []
    assert routes["compare"] == routes["reprice"] == routes["list_signals"] == "events"
    # signals and issues: ClickHouse and PostgreSQL composed by the cluster's mixin
    assert routes["write_signals"] == routes["list_issues"] == routes["get_issue"] == "cluster"
    assert routes["create_comment"] == routes["list_comments"] == "events"
    assert routes["analysis_notes"] == "events"
    # dataset runs: runs in PostgreSQL, run items in ClickHouse, composed by the cluster
    assert routes["create_dataset_run_item"] == routes["experiment_runs"] == "cluster"
    assert routes["ensure_dataset_run"] == routes["get_dataset_run_by_id"] == "control"
    assert routes["experiment_run_scores"] == "events"
    assert routes["alert_series"] == "events"  # alert evaluation and backtests
    assert cluster.list_issues("p", status=("open",), limit=1) == ([], 0)


def test_what_only_duckdb_has_raises_501_naming_it(cluster: ClusterStore) -> None:
    with pytest.raises(NotOnCluster, match="writes_paused"):
        cluster.writes_paused()
    with pytest.raises(AttributeError):
        cluster.no_such_thing  # noqa: B018 (not a Store method: a plain AttributeError)


def test_journal_position_is_per_replica_and_written_after_the_batch(
    cluster_urls: tuple[str, str], cluster: ClusterStore, tmp_path: Path
) -> None:
    other = open_cluster(*cluster_urls, tmp_path / "replica-b")
    try:
        assert other.replica != cluster.replica
        project = "p-" + uuid.uuid4().hex[:8]
        span = ObservationRecord(
            project_id=project,
            id="s1",
            trace_id="t1",
            parent_id=None,
            type="span",
            name="a",
            start_us=T0,
        )
        cluster.write_batch([span], [], journal_seq=41)
        assert cluster.get_meta(APPLIED_KEY) == "41"
        assert other.get_meta(APPLIED_KEY) is None  # its journal is its own
        assert other.get_trace(project, "t1")["id"] == "t1"  # the data is shared
        cluster.set_meta("shared", "x")
        assert other.get_meta("shared") == "x"  # every other key is shared
        with psycopg.connect(cluster_urls[1]) as conn:
            keys = [r[0] for r in conn.execute("SELECT key FROM meta WHERE key LIKE 'journal%'")]
        assert f"{APPLIED_KEY}@{cluster.replica}" in keys
    finally:
        other.close()


def test_replica_id_is_kept_in_the_data_dir(tmp_path: Path) -> None:
    first = replica_id(tmp_path)
    assert replica_id(tmp_path) == first and len(first) == 32
    assert replica_id(tmp_path / "other") != first


def test_trace_locks_serialise_the_same_trace_across_connections(
    cluster_urls: tuple[str, str],
) -> None:
    """Two replicas' lock holders: the second waits until the first commits; another trace
    (another slot) does not wait."""
    a, b = TraceLocks(cluster_urls[1]), TraceLocks(cluster_urls[1])
    key = ("p", "trace-1")
    other = next(("p", f"t{i}") for i in range(100) if trace_slot("p", f"t{i}") != trace_slot(*key))
    events: list[str] = []
    try:
        with a([key]):
            with b([other]):
                events.append("other trace at once")

            def second() -> None:
                with b([key]):
                    events.append("second")

            t = threading.Thread(target=second)
            t.start()
            time.sleep(0.3)
            events.append("first done")
        t.join(10)
        assert events == ["other trace at once", "first done", "second"]
    finally:
        a.close()
        b.close()


def test_clickhouse_migrations_run_under_a_session_advisory_lock(
    cluster_urls: tuple[str, str],
) -> None:
    """While one replica migrates ClickHouse, another cannot take the lock (it waits)."""
    with psycopg.connect(cluster_urls[1], autocommit=True) as conn:
        with migration_lock(cluster_urls[1]):
            row = conn.execute("SELECT pg_try_advisory_lock(%s)", [MIGRATION_LOCK]).fetchone()
            assert row is not None and row[0] is False
        row = conn.execute("SELECT pg_try_advisory_lock(%s)", [MIGRATION_LOCK]).fetchone()
        assert row is not None and row[0] is True  # released at the end of the block


def test_an_unreachable_backend_is_an_oserror_and_a_503() -> None:
    """The write pipeline retries an OSError (the journal keeps the batch) instead of
    quarantining spans; a request gets 503, not 500."""
    dead = f"postgresql://postgres@127.0.0.1:{free_port()}/none"
    locks = TraceLocks(dead)
    with pytest.raises(BackendUnavailable) as caught, locks([("p", "t")]):
        pass
    assert isinstance(caught.value, OSError)
    assert caught.value.status_code == 503 and "PostgreSQL" in caught.value.message

    def read() -> None:
        raise psycopg.OperationalError("connection refused")

    with pytest.raises(BackendUnavailable, match="unreachable: connection refused"):
        _guarded(read)()


def test_missing_cluster_drivers_are_named_with_the_extra_to_install(tmp_path: Path) -> None:
    """Without the optional `cluster` extra, both URLs set is a clear error, not a traceback."""
    script = (
        "import sys\n"
        "sys.modules['clickhouse_connect'] = None  # as if the extra were not installed\n"
        "from heron.settings import Settings\n"
        "from heron.store.backend import open_store\n"
        f"s = Settings(data_dir={str(tmp_path)!r}, clickhouse_url='http://h:8123/d',\n"
        "             postgres_url='postgresql://u@h/d')\n"
        "try:\n"
        "    open_store(s)\n"
        "except RuntimeError as exc:\n"
        "    print(exc)\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert "clickhouse_connect is missing" in done.stdout
    assert "pip install 'heron[cluster]'" in done.stdout
