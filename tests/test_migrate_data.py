"""``heron migrate-data``: an embedded store of demo traces (the demo generator's OTLP requests
and scores) and control data, copied into PostgreSQL and ClickHouse (chdb); the cluster store
then answers the lists, details and metrics the DuckDB store answers. A run cut short and run
again gives the same; what stops a run is said plainly. Real DuckDB, PostgreSQL, ClickHouse."""

from __future__ import annotations

import subprocess
import sys
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from heron.datasets.spec import DatasetSpec, ItemSpec
from heron.demo.batching import generate
from heron.demo.model import DemoConfig
from heron.demo.scores import demo_scores
from heron.ingest.decoding import PriceSpec, decode
from heron.ingest.journal import Journal
from heron.ingest.limits import IngestLimits
from heron.ingest.otlp import PROTOBUF
from heron.migrate_data import MigrationError, migrate_data
from heron.query.metrics import parse_metrics_query
from heron.scores import parse_score
from heron.store import EmbeddedStore, ListQuery
from heron.store import datasets as datasetdb
from heron.store.cluster import ClusterStore, open_cluster
from heron.store.scores import ScoreFilter
from tests.conftest import seed_db
from tests.support.chdb_server import ChdbServer

END = datetime(2026, 11, 20, tzinfo=UTC)
CONFIG = DemoConfig(seed=11, traces=120, days=3, end_us=int(END.timestamp() * 1e6))
RANGE = {"fromTimestamp": "2026-11-10T00:00:00Z", "toTimestamp": "2026-11-21T00:00:00Z"}


def _fill(store: EmbeddedStore) -> dict[str, Any]:
    """Two projects: one with the demo's traces and scores, keys, a user, a queue, a dataset
    and a retention; one small."""
    pid = store.create_project("demo")["id"]
    other = store.create_project("other")["id"]
    store.create_key(pid)
    store.create_user("ann@example.test", "a-long-password-1")
    for request in generate(CONFIG):
        batch = decode(
            request.SerializeToString(), PROTOBUF, pid, IngestLimits(), PriceSpec(pid, 0)
        )
        store.write_batch(batch.observations, batch.traces)
    store.write_scores([parse_score(s, pid) for s in demo_scores(CONFIG)])
    _put_small(store, other)
    store.set_retention(other, 3650)
    traces = store.list_traces(pid, ListQuery(limit=5)).data
    queue = store.create_annotation_queue(pid, {"name": "review", "score_config_ids": []})["id"]
    store.add_queue_items(pid, queue, [("TRACE", t["id"]) for t in traces])
    dataset = store.create_dataset(pid, DatasetSpec("qa", "questions", {"k": 1}))["id"]
    store.put_dataset_items(pid, "qa", [ItemSpec("i1", {"q": "2+2"}, "4"), ItemSpec("i2", "x")])
    return {"project": pid, "other": other, "queue": queue, "dataset": dataset}


def _put_small(store: EmbeddedStore, pid: str) -> None:
    """A few demo traces into project ``pid``."""
    small = decode(
        next(iter(generate(DemoConfig(seed=2, traces=3, days=1, end_us=CONFIG.end_us))))
        .SerializeToString(),
        PROTOBUF, pid, IngestLimits(), PriceSpec(pid, 0),
    )  # fmt: skip
    store.write_batch(small.observations, small.traces)


@pytest.fixture(scope="module")
def source(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any]]:
    data = tmp_path_factory.mktemp("source")
    seed_db(data / "heron.duckdb")
    store = EmbeddedStore(data / "heron.duckdb")
    try:
        made = _fill(store)
    finally:
        store.close()
    return data, made


@pytest.fixture(scope="module")
def targets(chdb_server: ChdbServer, postgres_server: Any) -> tuple[str, str]:
    ch = chdb_server.database_url("migrate_" + uuid.uuid4().hex[:8])
    return ch, postgres_server.create_database()


@pytest.fixture(scope="module")
def migrated(source: tuple[Path, dict[str, Any]], targets: tuple[str, str]) -> dict[str, Any]:
    """A run cut short after 300 event rows, then a run to the end."""
    data, _ = source
    first = migrate_data(data, *targets, max_rows=300)
    second = migrate_data(data, *targets)
    third = migrate_data(data, *targets)
    return {"first": first, "second": second, "third": third}


@pytest.fixture(scope="module")
def both(
    source: tuple[Path, dict[str, Any]],
    targets: tuple[str, str],
    migrated: dict[str, Any],
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[EmbeddedStore, ClusterStore]]:
    duck = EmbeddedStore(source[0] / "heron.duckdb")
    cluster = open_cluster(*targets, tmp_path_factory.mktemp("replica"))
    yield duck, cluster
    cluster.close()
    duck.close()


def test_an_interrupted_run_continues(migrated: dict[str, Any], source: Any) -> None:
    first, second, third = migrated["first"], migrated["second"], migrated["third"]
    assert first.control["projects"] == 2 and first.control["api_keys"] >= 1
    copied = sum(first.events.values())
    assert 300 <= copied < 300 + 50_000  # stopped at the first chunk past the budget
    duck = EmbeddedStore(source[0] / "heron.duckdb")
    try:
        cur = duck.cursor()
        rows = {
            t: cur.execute(f"SELECT count(*) FROM {t}").fetchone()[0]  # type: ignore[index]
            for t in ("observations", "traces", "scores")
        }
    finally:
        duck.close()
    # the second run copies the rest and no control table again
    assert second.control == {} and "projects" in second.skipped
    for table, n in rows.items():
        assert first.events.get(table, 0) + second.events.get(table, 0) == n, table
    # a third run finds everything done
    assert third.control == {} and third.events == {}


def _rounded(value: Any) -> Any:
    """Floats to 12 significant digits: sums in another order differ in the last bits."""
    if isinstance(value, float):
        return float(f"{value:.12g}")
    if isinstance(value, dict):
        return {k: _rounded(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return type(value)(_rounded(v) for v in value)
    return value


def _same(duck: Any, cluster: Any, call: Any) -> Any:
    a, b = _rounded(call(duck)), _rounded(call(cluster))
    assert a == b
    return a


def test_the_cluster_answers_what_duckdb_answers(
    both: tuple[EmbeddedStore, ClusterStore], source: Any
) -> None:
    duck, cluster = both
    made = source[1]
    pid = made["project"]
    projects = _same(duck, cluster, lambda s: s.list_projects())
    assert {p["name"]: p["retention_days"] for p in projects} == {"demo": None, "other": 3650}
    _same(duck, cluster, lambda s: s.list_keys(pid))
    _same(duck, cluster, lambda s: s.key_table())
    for order in ("timestamp.desc", "latency.desc", "cost.desc"):
        q = ListQuery(order_by=order, limit=200)
        traces = _same(duck, cluster, lambda s, q=q: s.list_traces(pid, q).data)
    assert len(traces) == 120
    for t in traces[:10]:
        _same(duck, cluster, lambda s, t=t: s.get_trace(pid, t["id"]))
    observations = _same(
        duck, cluster, lambda s: s.list_observations(pid, ListQuery(limit=500)).data
    )
    assert len(observations) > 120
    sessions = _same(duck, cluster, lambda s: s.list_sessions(pid, ListQuery(limit=100)).data)
    assert sessions
    _same(duck, cluster, lambda s: s.get_session(pid, sessions[0]["id"]))
    users = _same(duck, cluster, lambda s: s.list_users(pid, ListQuery(limit=100)).data)
    assert users
    scores = _same(duck, cluster, lambda s: s.list_scores(pid, ScoreFilter(), 1, 1000))
    assert scores[1] > 0
    for query in (
        {"view": "traces", "metrics": [{"measure": "count", "aggregation": "count"}], **RANGE},
        {"view": "observations", "dimensions": [{"field": "model"}],
         "metrics": [{"measure": "totalCost", "aggregation": "sum"},
                     {"measure": "latency", "aggregation": "p95"}], **RANGE},
        {"view": "traces", "metrics": [{"measure": "count", "aggregation": "count"}],
         "timeDimension": {"granularity": "day"}, "timezone": "Europe/Paris", **RANGE},
    ):  # fmt: skip
        parsed = parse_metrics_query(query)
        assert _same(duck, cluster, lambda s, q=parsed: s.metrics(pid, q))
    _same(duck, cluster, lambda s: s.list_queue_items(pid, made["queue"]))
    f = datasetdb.ItemFilter(dataset_id=made["dataset"])
    items = _same(duck, cluster, lambda s: s.list_dataset_items(pid, f, 1, 10))
    assert items[1] == 2
    _same(duck, cluster, lambda s: s.list_traces(made["other"], ListQuery(limit=50)).data)


def test_retention_is_copied_onto_the_event_rows(
    both: tuple[EmbeddedStore, ClusterStore], source: Any
) -> None:
    _, cluster = both
    rows = cluster.events.client.query(
        "SELECT project_id, max(retention_days), min(retention_days) FROM traces "
        "GROUP BY project_id"
    ).result_rows
    days = {pid: (hi, lo) for pid, hi, lo in rows}
    assert days[source[1]["other"]] == (3650, 3650)
    assert days[source[1]["project"]] == (0, 0)


def _cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "heron.cli", "migrate-data", *args],
        capture_output=True, text=True, timeout=120, env=env,
    )  # fmt: skip


def test_what_stops_a_run_is_said_plainly(
    tmp_path: Path, targets: tuple[str, str], source: Any
) -> None:
    ch, pg = targets
    with pytest.raises(MigrationError, match="no such directory"):
        migrate_data(tmp_path / "missing", ch, pg)
    with pytest.raises(MigrationError, match="no heron database"):
        migrate_data(tmp_path, ch, pg)
    empty = tmp_path / "empty"
    seed_db(empty / "heron.duckdb")
    with pytest.raises(MigrationError, match="PostgreSQL cannot be reached"):
        migrate_data(empty, ch, "postgresql://heron@127.0.0.1:1/none?connect_timeout=2")
    with pytest.raises(MigrationError, match="ClickHouse cannot be reached"):
        migrate_data(empty, "http://127.0.0.1:1/heron", pg)
    # a server's store open on the data directory holds DuckDB's lock
    holder = subprocess.Popen(
        [sys.executable, "-c",
         "import sys, time; from heron.store import EmbeddedStore; "
         f"s = EmbeddedStore({str(empty / 'heron.duckdb')!r}); print('open', flush=True); "
         "time.sleep(60)"],
        stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "open"
        done = _cli("--from", str(empty), "--clickhouse-url", ch, "--postgres-url", pg)
        assert done.returncode == 1
        assert "is in use" in done.stderr and "stop the server" in done.stderr
    finally:
        holder.kill()
        holder.wait()
    done = _cli("--from", str(source[0]), "--clickhouse-url", ch)
    assert done.returncode == 2 and "--postgres-url" in done.stderr


def test_the_command_shows_its_progress_and_totals(
    tmp_path: Path, chdb_server: ChdbServer, postgres_server: Any
) -> None:
    data = tmp_path / "data"
    seed_db(data / "heron.duckdb")
    store = EmbeddedStore(data / "heron.duckdb")
    pid = store.create_project("cli")["id"]
    _put_small(store, pid)
    store.close()
    urls = ["--clickhouse-url", chdb_server.database_url("cli_" + uuid.uuid4().hex[:8]),
            "--postgres-url", postgres_server.create_database()]  # fmt: skip
    done = _cli("--from", str(data), *urls)
    assert done.returncode == 0, done.stderr
    assert "events (ClickHouse)" in done.stdout and "observations" in done.stdout
    again = _cli("--from", str(data), *urls)
    assert again.returncode == 0 and "done by an earlier run" in again.stdout


def test_batches_acknowledged_but_not_applied_are_applied_first(
    tmp_path: Path, chdb_server: ChdbServer, postgres_server: Any
) -> None:
    """A server killed between acknowledging a batch and applying it leaves the batch in its
    journal only: migrate-data applies it to the DuckDB file, as ``heron serve`` would at start,
    before copying, so the cluster has it."""
    data = tmp_path / "data"
    seed_db(data / "heron.duckdb")
    store = EmbeddedStore(data / "heron.duckdb")
    pid = store.create_project("journal")["id"]
    store.close()
    request = next(iter(generate(DemoConfig(seed=5, traces=4, days=1, end_us=CONFIG.end_us))))
    batch = decode(request.SerializeToString(), PROTOBUF, pid, IngestLimits(), PriceSpec(pid, 0))
    journal = Journal(data / "journal")
    journal.append([batch.encode()])  # what a server acknowledges, before applying it
    journal.close()
    sent = set(batch.observations.column("trace_id").to_pylist())
    urls = (
        chdb_server.database_url("jr_" + uuid.uuid4().hex[:8]),
        postgres_server.create_database(),
    )
    report = migrate_data(data, *urls)
    assert (report.journal, report.journal_gaps) == (1, [])
    cluster = open_cluster(*urls, tmp_path / "replica")
    try:
        stored = {t["id"] for t in cluster.list_traces(pid, ListQuery(limit=100)).data}
    finally:
        cluster.close()
    assert sent and sent <= stored
    assert migrate_data(data, *urls).journal == 0  # applied once: the store says so now
