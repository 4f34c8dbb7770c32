"""The runner's store methods side by side: DuckDB (EmbeddedStore, a real file) and the cluster
(ClusterStore: ClickHouse over chdb's HTTP shim, PostgreSQL). The same calls go to both, in
the same order, so their change positions advance together; every answer must be the same,
and is checked against what it must be. Then what only the cluster has: leases, their
fencing and takeover, claims on due re-checks, and waiting on the feed."""

from __future__ import annotations

import threading
import time
import uuid
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from heron.model import ObservationRecord, TraceUpdate
from heron.scores import ScoreRecord
from heron.store import EmbeddedStore
from heron.store.cluster import ClusterStore, open_cluster
from heron.store.postgres import runner_feed as feed
from heron.store.runner import TRACE_FIELDS, JobProgress, LeaseLost, WorkDone

T0 = 1_760_000_000_000_000  # µs
S = 1_000_000
EPOCH = datetime(1970, 1, 1)
# Cursors of made-up tasks sit far ahead, so that they never hold back the feed's pruning
# (bounded by the least cursor of all tasks) in another test of the module.
BIG = 10**12


@pytest.fixture
def project() -> str:
    return "p-" + uuid.uuid4().hex[:12]


def span(project: str, trace: str, oid: str, start: int = 0, **kw: Any) -> ObservationRecord:
    return ObservationRecord(
        project_id=project,
        id=oid,
        trace_id=trace,
        parent_id=None,
        type="span",
        name=oid,
        start_us=T0 + start * S,
        end_us=T0 + start * S + S // 2,
        **kw,
    )


def score(project: str, sid: str, trace: str | None, value: float = 1.0) -> ScoreRecord:
    return ScoreRecord(
        project_id=project,
        id=sid,
        trace_id=trace,
        observation_id=None,
        session_id=None if trace else "s-x",
        name="quality",
        value=value,
        string_value=None,
        data_type="NUMERIC",
        source="API",
        comment=None,
        author=None,
        timestamp=EPOCH + timedelta(microseconds=T0),
        metadata=None,
        environment=None,
    )


def both(duck: EmbeddedStore, cluster: Any, call: Any) -> tuple[Any, Any]:
    return call(duck), call(cluster)


def mine(rows: list[tuple], project: str) -> list[tuple]:
    return sorted(r for r in rows if r[0] == project)


def test_the_feed_answers_as_on_duckdb(duck: EmbeddedStore, cluster: Any, project: str) -> None:
    """Batches, an API score write and a runner commit with scores each take a position; a
    trace written again later is reported at its last change (as ``traces.change_seq``);
    a task's own score writes are not its score changes; pruning forgets them."""
    p = project
    h0 = both(duck, cluster, lambda s: s.change_position())
    for store in (duck, cluster):
        store.write_batch(
            [span(p, "t1", "a"), span(p, "t2", "b", 1)], [TraceUpdate(p, "t1", session_id="s1")]
        )
        store.write_batch([span(p, "t3", "c", 2), span(p, "t1", "d", 3)], [])
        store.write_batch([], [TraceUpdate(p, "t3", session_id="s1")])
        store.write_scores([score(p, "api-1", "t2"), score(p, "api-2", None)])
        store.runner_commit([WorkDone("x", "1", p, "t3", [score(p, "run-1", "t3")])])
        store.runner_commit([WorkDone("x", "1", p, "t1")])  # no score: no position
    h1 = both(duck, cluster, lambda s: s.change_position())
    assert h1[0] - h0[0] == h1[1] - h0[1] == 5
    a, b = h0[0], h0[1]
    assert mine(duck.changed_traces(a, a + 1), p) == [(p, "t2", None)]  # t1: written again
    assert mine(cluster.changed_traces(b, b + 1), p) == [(p, "t2", None)]
    every = [(p, "t1", "s1"), (p, "t2", None), (p, "t3", "s1")]
    assert mine(duck.changed_traces(a, a + 3), p) == every
    assert mine(cluster.changed_traces(b, b + 3), p) == every
    assert mine(duck.changed_traces(a + 3, a + 5), p) == []
    assert mine(cluster.changed_traces(b + 3, b + 5), p) == []
    assert mine(duck.score_changed_traces(a, a + 5, "other"), p) == [(p, "t2"), (p, "t3")]
    assert mine(cluster.score_changed_traces(b, b + 5, "other"), p) == [(p, "t2"), (p, "t3")]
    assert mine(duck.score_changed_traces(a, a + 5, "x"), p) == [(p, "t2")]
    assert mine(cluster.score_changed_traces(b, b + 5, "x"), p) == [(p, "t2")]
    duck.prune_score_changes(h1[0])
    cluster.prune_score_changes(h1[1])
    assert duck.score_changed_traces(a, a + 5, "other") == []
    assert cluster.score_changed_traces(b, b + 5, "other") == []


def test_target_traces_and_backfill_targets_answer_as_on_duckdb(
    duck: EmbeddedStore, cluster: Any, project: str
) -> None:
    p = project
    meta = {"team": "a", "n": 1}
    for store in (duck, cluster):
        store.write_batch(
            [
                span(p, "t1", "a", 0, input="q1", output="a1", level="ERROR"),
                span(p, "t2", "b", 5, input="q2", output="a2"),
                span(p, "t3", "c", 9),
                span(p, "t4", "d", 2),
            ],
            [
                TraceUpdate(p, "t1", session_id="s1", name="chat", user_id="u", tags=["x"]),
                TraceUpdate(
                    p, "t2", session_id="s1", release="r1", environment="prod", metadata=meta
                ),
                TraceUpdate(p, "t3", session_id="s2"),
                TraceUpdate(p, "t5", session_id="s9"),  # no span: not a trace yet
            ],
        )
    fields = [f for f in TRACE_FIELDS if f != "updated_at"]  # each store's own write clock
    for scope, targets in (("session", ["s1", "s2", "s9", "nope"]), ("trace", ["t2", "t1"])):
        d = duck.target_traces(p, scope, targets, fields)
        c = cluster.target_traces(p, scope, targets, fields)
        assert c == d
    sessions = duck.target_traces(p, "session", ["s1"], fields)
    assert [t["id"] for t in sessions["s1"]] == ["t1", "t2"]  # in time order
    assert sessions["s1"][1]["metadata"] == meta and sessions["s1"][0]["level"] == "ERROR"
    assert sessions["s1"][0]["start_time"] == EPOCH + timedelta(microseconds=T0)
    with_clock = cluster.target_traces(p, "trace", ["t3"], ["updated_at"])["t3"][0]
    assert isinstance(with_clock["updated_at"], datetime)

    start = EPOCH + timedelta(microseconds=T0 + 2 * S)
    end = EPOCH + timedelta(microseconds=T0 + 9 * S)
    for scope in ("session", "trace"):
        for window in ((None, None), (start, None), (None, end), (start, end)):
            counts = [s.count_runner_targets(p, scope, *window) for s in (duck, cluster)]
            assert counts[0] == counts[1]
            pages = [s.next_runner_targets(p, scope, *window, None, 2) for s in (duck, cluster)]
            assert pages[0] == pages[1]
            after = [
                s.next_runner_targets(p, scope, *window, pages[0][0], 9) for s in (duck, cluster)
            ]
            assert after[0] == after[1]
    assert duck.count_runner_targets(p, "trace", start, end) == 2  # t4 (2 s), t2 (5 s)
    assert cluster.next_runner_targets(p, "trace", None, None, "t1", 2) == ["t2", "t3"]
    assert cluster.count_runner_targets(p, "session", None, None) == 2


def test_runner_work_outputs_and_due_answer_as_on_duckdb(
    duck: EmbeddedStore, cluster: Any, project: str
) -> None:
    """A commit records outputs and due times; a redo replaces what the task wrote, except
    what it keeps; the cursor and the job progress move with it."""
    p = project
    due = datetime(2030, 1, 1)
    for store in (duck, cluster):
        store.write_batch([span(p, "t1", "a"), span(p, "t2", "b")], [])
        store.create_runner_job(f"job-{p}", p, {"tasks": ["x"], "from": None, "to": None})
        first = [
            WorkDone("x", "1", p, "t1", [score(p, "o1", "t1"), score(p, "o2", "t1")], due),
            WorkDone("x", "1", p, "t2", [score(p, "o3", "t2")]),
        ]
        store.runner_commit(
            first, cursors={f"cur-{p}": BIG + 7}, job=JobProgress(f"job-{p}", 2, 0, "t2")
        )
        redo = WorkDone("x", "2", p, "t1", [score(p, "o4", "t1")], keep=["o2"])
        store.runner_commit([redo])
    outputs = both(duck, cluster, lambda s: s.runner_outputs("x", p, ["t1", "t2", "t9"]))
    assert outputs[0] == outputs[1] == {"t1": ["o4", "o2"], "t2": ["o3"]}
    work = both(duck, cluster, lambda s: s.runner_work("x", p, "t1"))
    assert [{k: w[k] for k in ("version", "outputs")} for w in work] == [
        {"version": "2", "outputs": ["o4", "o2"]}
    ] * 2
    for store in (duck, cluster):
        assert store.get_score(p, "o1") is None  # replaced by the redo
        assert store.get_score(p, "o2") is not None and store.get_score(p, "o4") is not None
        assert store.runner_cursor(f"cur-{p}") == BIG + 7
        job = store.runner_job(f"job-{p}")
        assert (job["done"], job["phase"], job["after"]) == (2, 0, "t2")
    # the redo cleared t1's due time; a new one is set, then it is due
    for store in (duck, cluster):
        store.runner_commit([WorkDone("y", "1", p, "t2", [], datetime(2000, 1, 1))])
    dues = both(duck, cluster, lambda s: s.runner_due(["y"], datetime(2001, 1, 1), 10))
    assert (
        [r for r in dues[0] if r[1] == p] == [r for r in dues[1] if r[1] == p] == [("y", p, "t2")]
    )
    nexts = both(duck, cluster, lambda s: s.runner_next_due(["y"]))
    assert nexts[0] == nexts[1] == datetime(2000, 1, 1)


# -- what only the cluster has ---------------------------------------------------------------


def dead_holder_takes(cluster: Any, key: str, holder: str, seconds: float) -> bool:
    """A lease taken by a runner that then dies: nothing renews it."""
    with cluster.control._admin() as cur:
        return feed.take_lease(cur, key, holder, seconds)


def test_a_lease_is_one_runners_until_it_expires_and_a_taken_over_commit_is_refused(
    cluster: Any, project: str
) -> None:
    task = f"task-{project}"
    key = f"task:{task}"
    assert dead_holder_takes(cluster, key, "dead", 1.0)
    assert not cluster.runner_lease(key, "live", 30)  # the dead runner's for now
    assert dead_holder_takes(cluster, key, "dead", 1.0)  # renewed by its holder
    cluster.runner_commit([], cursors={task: BIG + 3}, holder="dead")
    time.sleep(1.2)
    assert cluster.runner_lease(key, "live", 30)  # expired: taken over
    with pytest.raises(LeaseLost, match=key):  # the old holder's commit is fenced off
        cluster.runner_commit([], cursors={task: BIG + 9}, holder="dead")
    assert cluster.runner_cursor(task) == BIG + 3
    cluster.runner_commit([], cursors={task: BIG + 5}, holder="live")
    assert cluster.runner_cursor(task) == BIG + 5
    time.sleep(1.2)  # the live holder's lease is renewed in the background
    assert not dead_holder_takes(cluster, key, "dead", 1.0)
    cluster.runner_release("live")
    assert dead_holder_takes(cluster, key, "other", 1.0)  # released: free at once


def test_two_runners_claim_different_due_rechecks(cluster: Any, project: str) -> None:
    p = project
    task = f"due-{p}"
    then = datetime(2000, 1, 1)
    work = [WorkDone(task, "1", p, f"t{i}", [], then + timedelta(seconds=i)) for i in range(6)]
    cluster.runner_commit(work)
    now = datetime(2001, 1, 1)
    got: dict[str, list[tuple]] = {}

    def claim(holder: str) -> None:
        got[holder] = cluster.runner_due([task], now, 3, holder=holder, lease_s=1.0)

    threads = [threading.Thread(target=claim, args=(h,)) for h in ("a", "b")]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(got["a"]) == len(got["b"]) == 3
    assert sorted(got["a"] + got["b"]) == sorted((task, p, f"t{i}") for i in range(6))
    assert cluster.runner_due([task], now, 10, holder="c") == []  # all claimed
    assert cluster.runner_next_due([task]) > datetime.utcnow()  # ... until the claims end
    cluster.runner_commit([WorkDone(task, "1", p, "t0")])  # done: no re-check left
    time.sleep(1.1)
    assert len(cluster.runner_due([task], now, 10, holder="c", lease_s=1.0)) == 5


def test_waiting_for_the_feed_ends_at_another_replicas_write_or_a_wake(
    cluster: Any, cluster_urls: tuple[str, str], tmp_path: Path, project: str
) -> None:
    other: ClusterStore = open_cluster(*cluster_urls, tmp_path / "other")
    try:
        head = cluster.change_position()
        threading.Timer(0.5, lambda: other.write_batch([span(project, "t1", "a")], [])).start()
        began = time.monotonic()
        assert cluster.wait_for_change(head, 10) == head + 1  # seen by polling PostgreSQL
        assert time.monotonic() - began < 3
        threading.Timer(0.3, cluster.wake_waiters).start()
        began = time.monotonic()
        assert cluster.wait_for_change(head + 1, 10) == head + 1
        assert time.monotonic() - began < 2
        began = time.monotonic()
        assert cluster.wait_for_change(head + 1, 0.5) == head + 1  # the timeout
        assert 0.4 < time.monotonic() - began < 2
    finally:
        other.close()
