"""Deletion and retention on the cluster backend beside DuckDB: ``delete_traces`` and
``delete_traces_before`` answer the same on both and leave the same reads (the trace, its
observations, scores and annotation-queue items gone, other projects untouched); retention on
ClickHouse is a TTL, forced here with ``OPTIMIZE TABLE ... FINAL``: expired rows of a project
with retention go, the rest stays. Real DuckDB, PostgreSQL and ClickHouse (chdb) stores."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from heron.errors import NotFound
from heron.model import ObservationRecord, TraceUpdate
from heron.scores import parse_score
from heron.server.retention import sweep
from heron.store import EmbeddedStore, ListQuery
from heron.store.clickhouse import ClickHouseEvents, retention
from heron.store.clickhouse import signals as chsignals
from heron.store.clickhouse.client import connect
from heron.store.clickhouse.migrations import migrate
from heron.store.clickhouse.schema import MIGRATIONS, RETENTION_TTL
from heron.store.cluster import ClusterStore, open_cluster
from heron.store.comments import CommentFilter
from heron.store.scores import ScoreFilter
from heron.store.signals import Signal
from tests.support.chdb_server import ChdbServer

NOW = datetime.now(UTC).replace(microsecond=0)


@pytest.fixture
def stores(duck: EmbeddedStore, cluster: ClusterStore) -> tuple[Any, Any]:
    return duck, cluster


def tid(n: int) -> str:
    return f"{n:032x}"


def put_trace(store: Any, project: str, trace_id: str, when: datetime, session: str) -> None:
    """A root and a child observation, a score on the trace and one on the child."""
    start = int(when.timestamp() * 1_000_000)
    root = ObservationRecord(
        project_id=project, id=trace_id[:16], trace_id=trace_id, parent_id=None, type="span",
        name="root", start_us=start, end_us=start + 1000,
    )  # fmt: skip
    child = ObservationRecord(
        project_id=project, id=trace_id[16:], trace_id=trace_id, parent_id=root.id,
        type="generation", name="llm", start_us=start + 10, end_us=start + 900,
    )  # fmt: skip
    store.write_batch(
        [root, child], [TraceUpdate(project_id=project, trace_id=trace_id, session_id=session)]
    )
    scores = [
        {"traceId": trace_id, "name": "quality", "value": 1, "timestamp": when.isoformat()},
        {"traceId": trace_id, "observationId": trace_id[16:], "name": "ok", "value": 1,
         "timestamp": when.isoformat()},
    ]  # fmt: skip
    store.write_scores([parse_score(s, project) for s in scores])
    store.create_comment(project, "TRACE", trace_id, f"on {trace_id[-2:]}", None)
    store.create_comment(project, "SESSION", session, f"on {session}", None, trace_id)


def signal(project: str, trace: str, when: datetime, issue: str) -> Signal:
    return Signal(
        project_id=project, id=f"sig-{issue}-{trace}", rule="error", severity="error",
        trace_id=trace, observation_id=None, score_id=None, time=when.replace(tzinfo=None),
        message="failed", issue_id=issue, fingerprint=f"fp-{issue}", name=None, user_id=None,
        session_id=None,
    )  # fmt: skip


def put_signals(store: Any, project: str, traces: list[tuple[str, datetime, str]]) -> None:
    """A signal of issue ``issue`` on each (trace id, time, issue)."""
    store.write_signals([signal(project, *t) for t in traces], {})


def seed(store: Any, name: str) -> tuple[str, str, str]:
    """Project a: traces 40 and 31 days old and one 5 days old (sessions s1, s1, s2), a queue
    with items on trace 1, on trace 2's child, on sessions s1 and s2, signals of issue "old"
    on traces 1 and 2 and of issue "all" on traces 1 to 3 and on trace 9, which was never
    stored (31 days old); project b: traces 40 and 1 days old, each with a signal. Returns
    (a, b, queue id)."""
    a = store.create_project(f"{name}-a")["id"]
    b = store.create_project(f"{name}-b")["id"]
    put_trace(store, a, tid(1), NOW - timedelta(days=40), "s1")
    put_trace(store, a, tid(2), NOW - timedelta(days=31), "s1")
    put_trace(store, a, tid(3), NOW - timedelta(days=5), "s2")
    put_trace(store, b, tid(4), NOW - timedelta(days=40), "s1")
    put_trace(store, b, tid(5), NOW - timedelta(days=1), "s1")
    queue = store.create_annotation_queue(a, {"name": "review", "score_config_ids": []})["id"]
    items = [("TRACE", tid(1)), ("OBSERVATION", tid(2)[16:]), ("SESSION", "s1"), ("SESSION", "s2")]
    store.add_queue_items(a, queue, items)
    ages = {n: NOW - timedelta(days=d) for n, d in ((1, 40), (2, 31), (3, 5), (9, 31))}
    put_signals(store, a, [(tid(n), ages[n], "old") for n in (1, 2)])
    put_signals(store, a, [(tid(n), ages[n], "all") for n in (1, 2, 3, 9)])
    put_signals(store, b, [(tid(4), NOW - timedelta(days=40), "b"), (tid(5), NOW, "b")])
    return a, b, queue


def state(store: Any, project: str, queue: str | None = None) -> dict[str, Any]:
    """What the reads show of a project: traces, observations, scores, comments, signals,
    issues (id, count) and queue items."""
    traces = store.list_traces(project, ListQuery(limit=100)).data
    observations = store.list_observations(project, ListQuery(limit=100)).data
    scores, _ = store.list_scores(project, ScoreFilter(), 1, 100)
    out = {
        "traces": sorted(t["id"] for t in traces),
        "observations": sorted(o["id"] for o in observations),
        "scores": sorted((s["traceId"], s["name"]) for s in scores),
        "comments": sorted(
            (c["objectType"], c["objectId"])
            for c in store.list_comments(project, CommentFilter(), 1, 100)[0]
        ),
    }
    signals, _ = store.list_signals(project, limit=100)
    out["signals"] = sorted((s["issue_id"], s["trace_id"]) for s in signals)
    if not isinstance(store, ClickHouseEvents):  # its issues are on PostgreSQL
        issues, _ = store.list_issues(project, limit=100)
        out["issues"] = sorted((i["id"], i["count"]) for i in issues)
    if queue is not None:
        items, _ = store.list_queue_items(project, queue)
        out["items"] = sorted((i["object_type"], i["object_id"]) for i in items)
    return out


def test_delete_traces_by_id_same_on_both(stores: tuple[Any, Any]) -> None:
    answers = []
    for store in stores:
        name = uuid.uuid4().hex[:8]
        a, b, queue = seed(store, name)
        # b's trace named from project a: not found, nothing deleted
        first = store.delete_traces(a, [tid(4), tid(9)])
        second = store.delete_traces(a, [tid(2), tid(2), tid(1), tid(9)])
        answers.append((first, second, state(store, a, queue), state(store, b)))
        with pytest.raises(NotFound):
            store.get_trace(a, tid(1))
    assert answers[0] == answers[1]
    first, second, a_state, b_state = answers[1]
    assert first == [] and second == [tid(2), tid(1)]
    assert a_state == {
        "traces": [tid(3)],
        "observations": sorted([tid(3)[:16], tid(3)[16:]]),
        "scores": [(tid(3), "ok"), (tid(3), "quality")],
        # session s1's comments went with its last trace
        "comments": [("SESSION", "s2"), ("TRACE", tid(3))],
        # the signals of the deleted traces went with them; issue "old" has none left, so it
        # is not listed; trace 9 was never stored, its signal stays
        "signals": [("all", tid(3)), ("all", tid(9))],
        "issues": [("all", 2)],
        # the items on trace 1, trace 2's child and session s1 (no trace left) are gone
        "items": [("SESSION", "s2")],
    }
    assert b_state["traces"] == [tid(4), tid(5)] and len(b_state["scores"]) == 4
    assert b_state["signals"] == [("b", tid(4)), ("b", tid(5))]


def test_delete_traces_before_same_on_both(stores: tuple[Any, Any]) -> None:
    answers = []
    for store in stores:
        a, b, queue = seed(store, uuid.uuid4().hex[:8])
        deleted = store.delete_traces_before(a, NOW - timedelta(days=30))
        again = store.delete_traces_before(a, NOW - timedelta(days=30))
        answers.append((deleted, again, state(store, a, queue), state(store, b)))
    assert answers[0] == answers[1]
    deleted, again, a_state, b_state = answers[1]
    assert (deleted, again) == (2, 0)
    assert a_state["traces"] == [tid(3)] and a_state["items"] == [("SESSION", "s2")]
    assert len(a_state["observations"]) == 2 and len(a_state["scores"]) == 2
    assert a_state["comments"] == [("SESSION", "s2"), ("TRACE", tid(3))]
    # with their traces, and by their own time: trace 9 was never stored
    assert a_state["signals"] == [("all", tid(3))] and a_state["issues"] == [("all", 1)]
    assert b_state["traces"] == [tid(4), tid(5)]  # the other project's old trace stays
    assert len(b_state["signals"]) == 2


def _optimize(cluster: ClusterStore) -> None:
    for table in RETENTION_TTL:
        cluster.events.client.command(f"OPTIMIZE TABLE {table} FINAL")


def test_retention_by_ttl_drops_expired_rows_per_project(cluster: ClusterStore) -> None:
    a, b, _ = seed(cluster, "ttl-" + uuid.uuid4().hex[:8])
    cluster.set_retention(a, 35)
    # the server's sweep on the cluster tags the rows and deletes nothing itself
    assert sweep(cluster) == {}
    _optimize(cluster)
    assert state(cluster, a)["traces"] == [tid(2), tid(3)]
    assert state(cluster, a)["observations"] == sorted(
        [tid(2)[:16], tid(2)[16:], tid(3)[:16], tid(3)[16:]]
    )
    assert {t for t, _ in state(cluster, a)["scores"]} == {tid(2), tid(3)}
    # signals by their own time: the 40 days old one on trace 1 went
    assert state(cluster, a)["signals"] == [
        ("all", tid(2)), ("all", tid(3)), ("all", tid(9)), ("old", tid(2))
    ]  # fmt: skip
    assert state(cluster, b)["traces"] == [tid(4), tid(5)]  # no retention: kept forever
    # retention changed: b keeps 2 days, a forever; rows written since are tagged too
    put_trace(cluster, a, tid(6), NOW - timedelta(days=20), "s3")  # within 35 days
    cluster.set_retention(b, 2)
    cluster.set_retention(a, None)
    assert cluster.sync_retention() >= 1
    assert cluster.sync_retention() == 0  # in step: no mutation
    _optimize(cluster)
    cluster.sync_retention()  # the next sweep: comments of the dropped traces go
    assert state(cluster, b) == {
        "traces": [tid(5)],
        "observations": sorted([tid(5)[:16], tid(5)[16:]]),
        "scores": [(tid(5), "ok"), (tid(5), "quality")],
        # trace 4's comment went; session s1 still has trace 5, so its comments stay
        "comments": [("SESSION", "s1"), ("SESSION", "s1"), ("TRACE", tid(5))],
        "signals": [("b", tid(5))],
        "issues": [("b", 1)],
    }
    assert state(cluster, a)["traces"] == [tid(2), tid(3), tid(6)]
    rows = cluster.events.client.query(
        "SELECT count() FROM observations WHERE project_id = {p:String}", parameters={"p": b}
    ).result_rows
    assert rows[0][0] == 2  # dropped from storage, not only hidden


def _retention_days(cluster: ClusterStore, project: str) -> dict[str, set[int]]:
    """The ``retention_days`` values of each events table's rows of the project (every
    version, merged away or not)."""
    return {
        table: {
            int(v)
            for (v,) in cluster.events.client.query(
                f"SELECT DISTINCT retention_days FROM {table} WHERE project_id = {{p:String}}",
                parameters={"p": project},
            ).result_rows
        }
        for table in RETENTION_TTL
    }


def test_rows_are_written_with_their_projects_retention(
    cluster: ClusterStore, cluster_urls: tuple[str, str], tmp_path: Any
) -> None:
    """The writers tag each row with its project's retention, so a sweep finds nothing to
    repair (no mutation); a replica that did not run the sync tags rows from its own read of
    the projects, and a row tagged before a change is repaired by the next sync."""
    a, b, _ = seed(cluster, "tag-" + uuid.uuid4().hex[:8])
    cluster.set_retention(a, 40)
    assert cluster.sync_retention() >= 1  # the rows seeded before are repaired
    put_trace(cluster, a, tid(7), NOW - timedelta(days=2), "s4")  # spans, trace, scores
    put_signals(cluster, a, [(tid(7), NOW - timedelta(days=2), "new")])
    assert _retention_days(cluster, a) == {table: {40} for table in RETENTION_TTL}
    assert _retention_days(cluster, b) == {table: {0} for table in RETENTION_TTL}
    assert cluster.sync_retention() == 0  # written in step: nothing to repair

    cluster.set_retention(b, 3)  # no sync: another replica reads it itself
    other = open_cluster(*cluster_urls, tmp_path / "other")
    try:
        put_trace(other, b, tid(8), NOW - timedelta(days=1), "s5")
        put_signals(other, b, [(tid(8), NOW - timedelta(days=1), "new")])
        for table in ("observations", "signals"):
            tags = other.events.client.query(
                f"SELECT DISTINCT retention_days FROM {table} WHERE project_id = {{p:String}} "
                "AND trace_id = {t:String}",
                parameters={"p": b, "t": tid(8)},
            ).result_rows
            assert tags == [(3,)], table
    finally:
        other.close()
    assert cluster.sync_retention() >= 1  # b's older rows still said 0
    assert _retention_days(cluster, b) == {table: {3} for table in RETENTION_TTL}


def test_project_retention_reads_again_when_old_and_keeps_its_copy_on_failure() -> None:
    reads: list[int] = []
    answer: dict[str, int | None] = {"p": 7, "q": None, "big": 10**6}

    def load() -> dict[str, int | None]:
        reads.append(1)
        if answer.get("fail"):
            raise OSError("control store down")
        return dict(answer)

    days = retention.ProjectRetention(load, max_age_s=3600)
    assert (days("p"), days("q"), days("big"), days("unknown")) == (7, 0, 65535, 0)
    assert len(reads) == 1  # one read for all, until it is old
    days.update({"p": 9})
    assert days("p") == 9 and len(reads) == 1
    stale = retention.ProjectRetention(load, max_age_s=0)
    assert stale("p") == 7
    answer["p"], answer["fail"] = 8, 1
    assert stale("p") == 7  # the read failed: the old copy stays
    del answer["fail"]
    assert stale("p") == 8 and len(reads) == 4


def test_sweep_on_duckdb_still_deletes(duck: EmbeddedStore) -> None:
    a, _, _ = seed(duck, "sweep-" + uuid.uuid4().hex[:8])
    duck.set_retention(a, 35)
    assert sweep(duck)[a] == 1
    assert state(duck, a)["traces"] == [tid(2), tid(3)]


def test_migration_7_on_stored_rows_drops_nothing_until_a_retention_is_set(
    chdb_server: ChdbServer,
) -> None:
    """Rows stored before migrations 7 and 8 keep their data until their project gets a
    retention."""
    client = connect(chdb_server.database_url("ttl_v2_" + uuid.uuid4().hex[:8]))
    migrate(client, migrations=[m for m in MIGRATIONS if m.version < 7])
    events = ClickHouseEvents(client)
    put_trace(events, "p", tid(1), NOW - timedelta(days=400), "s")
    put_trace(events, "p", tid(2), NOW - timedelta(days=2), "s")
    signals = [signal("p", tid(1), NOW - timedelta(days=400), "i"), signal("p", tid(2), NOW, "i")]
    chsignals.insert(client, signals, 1)
    assert {7, 8} <= set(migrate(client))
    for table in RETENTION_TTL:
        client.command(f"OPTIMIZE TABLE {table} FINAL")
    assert state(events, "p")["traces"] == [tid(1), tid(2)]
    assert len(state(events, "p")["signals"]) == 2
    assert retention.sync(client, {"p": 30}) == len(RETENTION_TTL)
    for table in RETENTION_TTL:
        client.command(f"OPTIMIZE TABLE {table} FINAL")
    events.delete_orphan_comments("p")  # what the cluster's sweep does after the sync
    assert state(events, "p") == {
        "traces": [tid(2)],
        "observations": sorted([tid(2)[:16], tid(2)[16:]]),
        "scores": [(tid(2), "ok"), (tid(2), "quality")],
        "comments": [("SESSION", "s"), ("SESSION", "s"), ("TRACE", tid(2))],
        "signals": [("i", tid(2))],
    }
    client.close()
