"""Deleting traces on a real DuckDB file: by id, by retention, beside the writer; migration 8."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import duckdb
import pytest

from heron.errors import BadRequest
from heron.model import ObservationRecord, TraceUpdate
from heron.scores import parse_score
from heron.server.retention import sweep
from heron.store import EmbeddedStore, ListQuery
from heron.store.schema import MIGRATIONS

NOW = datetime(2026, 6, 1, tzinfo=UTC)
DAY_US = 86_400 * 1_000_000


def _us(when: datetime) -> int:
    return int(when.timestamp() * 1_000_000)


def put_trace(store: EmbeddedStore, project: str, trace_id: str, when: datetime) -> None:
    """A root and a child observation, a score on the trace and one on the child."""
    start = _us(when)
    root = ObservationRecord(
        project_id=project, id=trace_id[:16], trace_id=trace_id, parent_id=None, type="span",
        name="root", start_us=start, end_us=start + 1000,
    )  # fmt: skip
    child = ObservationRecord(
        project_id=project, id=trace_id[16:], trace_id=trace_id, parent_id=root.id,
        type="generation", name="llm", start_us=start + 10, end_us=start + 900,
    )  # fmt: skip
    store.write_batch([root, child], [TraceUpdate(project_id=project, trace_id=trace_id)])
    store.write_scores(
        [
            parse_score({"traceId": trace_id, "name": "quality", "value": 1}, project),
            parse_score(
                {"traceId": trace_id, "observationId": trace_id[16:], "name": "ok", "value": 1},
                project,
            ),
        ]
    )


def counts(store: EmbeddedStore, project: str) -> tuple[int, int, int]:
    cur = store.cursor()
    return tuple(  # type: ignore[return-value]
        cur.execute(f"SELECT count(*) FROM {table} WHERE project_id = ?", [project]).fetchone()[0]
        for table in ("traces", "observations", "scores")
    )


def trace_ids(store: EmbeddedStore, project: str) -> set[str]:
    return {t["id"] for t in store.list_traces(project, ListQuery(limit=1000)).data}


def tid(n: int) -> str:
    return f"{n:032x}"


@pytest.fixture
def two_projects(store: EmbeddedStore) -> EmbeddedStore:
    """Project a: two old traces and a recent one; project b: an old one and a recent one."""
    a = store.create_project("a")["id"]
    b = store.create_project("b")["id"]
    put_trace(store, a, tid(1), NOW - timedelta(days=40))
    put_trace(store, a, tid(2), NOW - timedelta(days=31))
    put_trace(store, a, tid(3), NOW - timedelta(days=5))
    put_trace(store, b, tid(4), NOW - timedelta(days=40))
    put_trace(store, b, tid(5), NOW - timedelta(days=1))
    store.a, store.b = a, b  # type: ignore[attr-defined]
    return store


def test_delete_traces_before_removes_old_traces_with_observations_and_scores(
    two_projects: EmbeddedStore,
) -> None:
    s = two_projects
    a, b = s.a, s.b  # type: ignore[attr-defined]
    assert counts(s, a) == (3, 6, 6)
    assert s.delete_traces_before(a, NOW - timedelta(days=30)) == 2
    assert trace_ids(s, a) == {tid(3)}
    assert counts(s, a) == (1, 2, 2)
    # the other project is untouched, old trace included
    assert trace_ids(s, b) == {tid(4), tid(5)} and counts(s, b) == (2, 4, 4)
    assert s.delete_traces_before(a, NOW - timedelta(days=30)) == 0


def test_retention_sweep_uses_each_projects_days(two_projects: EmbeddedStore) -> None:
    s = two_projects
    a, b = s.a, s.b  # type: ignore[attr-defined]
    s.set_retention(a, 35)
    assert {p["name"]: p["retention_days"] for p in s.list_projects()} == {"a": 35, "b": None}
    assert sweep(s, NOW) == {a: 1}
    assert trace_ids(s, a) == {tid(2), tid(3)}
    assert trace_ids(s, b) == {tid(4), tid(5)}  # no retention: kept forever
    s.set_retention(b, 2)
    s.set_retention(a, None)
    assert sweep(s, NOW) == {b: 1}
    assert trace_ids(s, b) == {tid(5)} and trace_ids(s, a) == {tid(2), tid(3)}
    with pytest.raises(BadRequest, match="at least 1 day"):
        s.set_retention(a, 0)


def test_delete_traces_by_id_is_project_scoped(two_projects: EmbeddedStore) -> None:
    s = two_projects
    a, b = s.a, s.b  # type: ignore[attr-defined]
    # b's trace named from project a: not found, nothing deleted
    assert s.delete_traces(a, [tid(4), tid(9)]) == []
    assert counts(s, b) == (2, 4, 4)
    assert s.delete_traces(a, [tid(1), tid(1), tid(3)]) == [tid(1), tid(3)]
    assert trace_ids(s, a) == {tid(2)} and counts(s, a) == (1, 2, 2)


def test_same_trace_id_in_two_projects_only_one_goes(store: EmbeddedStore) -> None:
    a = store.create_project("a")["id"]
    b = store.create_project("b")["id"]
    put_trace(store, a, tid(7), NOW)
    put_trace(store, b, tid(7), NOW)
    assert store.delete_traces(a, [tid(7)]) == [tid(7)]
    assert counts(store, a) == (0, 0, 0) and counts(store, b) == (1, 2, 2)


def test_a_deleted_trace_can_arrive_again(store: EmbeddedStore) -> None:
    # the writer's Bloom filter still "may contain" the id: the look-up finds nothing
    a = store.create_project("a")["id"]
    put_trace(store, a, tid(8), NOW)
    store.delete_traces(a, [tid(8)])
    put_trace(store, a, tid(8), NOW)
    assert trace_ids(store, a) == {tid(8)} and counts(store, a) == (1, 2, 2)
    assert store.get_trace(a, tid(8))["observation_count"] == 2


def test_deletions_beside_the_writer_thread(store: EmbeddedStore) -> None:
    """Deletions in one thread while batches rewrite the same trace in another: without the
    store's write lock DuckDB aborts one of them ("conflict on tuple deletion")."""
    a = store.create_project("a")["id"]
    put_trace(store, a, tid(1), NOW - timedelta(days=60))
    errors: list[BaseException] = []

    def write() -> None:
        try:
            for _ in range(40):
                put_trace(store, a, tid(2), NOW)  # re-sent spans: rows rewritten each time
        except BaseException as exc:  # pragma: no cover - the failure being tested
            errors.append(exc)

    writer = threading.Thread(target=write)
    writer.start()
    deletions = 0
    deadline = time.monotonic() + 30
    while writer.is_alive() and time.monotonic() < deadline:
        deletions += len(store.delete_traces(a, [tid(2)]))
        store.delete_traces_before(a, NOW - timedelta(days=30))
    writer.join(30)
    assert not errors and deletions > 0
    assert tid(1) not in trace_ids(store, a)
    put_trace(store, a, tid(2), NOW)
    assert store.get_trace(a, tid(2))["observation_count"] == 2


def test_migration_8_gives_old_keys_full_scope(tmp_path: Path) -> None:
    path = tmp_path / "v7.duckdb"
    con = duckdb.connect(str(path))
    for ddl in MIGRATIONS[:7]:
        con.execute(ddl)
    con.execute("INSERT INTO meta VALUES ('schema_version', '7')")
    con.execute("INSERT INTO projects VALUES ('prj_1', 'old', now())")
    con.execute("INSERT INTO api_keys VALUES ('pk-old', 'hash', 'sk-…', 'prj_1', now())")
    con.close()
    s = EmbeddedStore(path)
    try:
        assert s.key_table() == {"hash": ("pk-old", "prj_1", "full")}
        assert s.list_projects()[0]["retention_days"] is None
        created = s.create_key("prj_1", scope="ingest")
        assert s.key_table()[_hash(created["secret_key"])][2] == "ingest"
        with pytest.raises(BadRequest, match="unknown key scope 'admin'"):
            s.create_key("prj_1", scope="admin")
    finally:
        s.close()


def _hash(secret: str) -> str:
    from heron.store.keys import hash_secret

    return hash_secret(secret)


def _derived(store: EmbeddedStore, project: str, trace_id: str, session: str) -> None:
    """Queue items on the trace, its child observation and its session (one annotated), an
    error-analysis note and an alignment result on the trace."""
    now = datetime(2026, 6, 1)
    objects = [("TRACE", trace_id), ("OBSERVATION", trace_id[16:]), ("SESSION", session)]
    with store._admin() as cur:
        for n, (kind, ident) in enumerate(objects):
            item = f"{project}-{trace_id}-{n}"
            cur.execute(
                "INSERT INTO annotation_queue_items VALUES "
                "(?, ?, 'q', ?, ?, 'PENDING', ?, NULL, NULL, NULL, ?, ?)",
                [project, item, kind, ident, n, now, now],
            )
            cur.execute(
                "INSERT INTO annotation_queue_annotations VALUES (?, 'q', ?, 'u', ?)",
                [project, item, now],
            )
        cur.execute(
            "INSERT INTO error_analysis_notes VALUES (?, 'ea', ?, ?, 'wrong refund', 'c', 0)",
            [project, trace_id, trace_id],
        )
        cur.execute(
            "INSERT INTO evaluator_alignment_items VALUES "
            "(?, 'al', ?, true, false, 'false', 'looked fine', NULL, NULL)",
            [project, trace_id],
        )


def derived_counts(store: EmbeddedStore, project: str) -> tuple[int, ...]:
    cur = store.cursor()
    return tuple(
        cur.execute(f"SELECT count(*) FROM {table} WHERE project_id = ?", [project]).fetchone()[0]
        for table in (
            "annotation_queue_items",
            "annotation_queue_annotations",
            "error_analysis_notes",
            "evaluator_alignment_items",
        )
    )


@pytest.mark.parametrize("how", ["by_id", "retention"])
def test_deleting_a_trace_deletes_what_annotation_and_analysis_keep_of_it(
    store: EmbeddedStore, how: str
) -> None:
    a = store.create_project("a")["id"]
    b = store.create_project("b")["id"]
    for project in (a, b):
        for n, when in ((1, NOW - timedelta(days=40)), (2, NOW - timedelta(days=40))):
            put_trace(store, project, tid(n), when)
            # trace 1 is the only trace of session s1; trace 2 shares s2 with trace 3
            session = f"s{n}"
            store.write_batch(
                [], [TraceUpdate(project_id=project, trace_id=tid(n), session_id=session)]
            )
            _derived(store, project, tid(n), session)
        put_trace(store, project, tid(3), NOW)
        store.write_batch([], [TraceUpdate(project_id=project, trace_id=tid(3), session_id="s2")])
    assert derived_counts(store, a) == (6, 6, 2, 2)
    if how == "by_id":
        assert store.delete_traces(a, [tid(1), tid(2)]) == [tid(1), tid(2)]
    else:
        assert store.delete_traces_before(a, NOW - timedelta(days=30)) == 2
    # every item on the traces and observations goes; s2 still has trace 3, so its item stays
    left = (
        store.cursor()
        .execute(
            "SELECT object_type, object_id FROM annotation_queue_items WHERE project_id = ?", [a]
        )
        .fetchall()
    )
    assert left == [("SESSION", "s2")]
    assert derived_counts(store, a) == (1, 1, 0, 0)
    assert derived_counts(store, b) == (6, 6, 2, 2)  # the other project keeps everything
