"""The runner on a real DuckDB store with real tasks: exact change cursor, idempotent work,
due re-checks, backfill jobs with progress, cancel and resume."""

from __future__ import annotations

import threading
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from heron.model import ObservationRecord, TraceUpdate
from heron.runner import Outcome, Runner, Target, load_tasks, score_id
from heron.store import EmbeddedStore
from tests.support.runner_tasks import Abandoned, SessionTurns, TraceWords

NOW = datetime(2026, 12, 1, 12, 0, 0)


def us(dt: datetime) -> int:
    return int((dt - datetime(1970, 1, 1)).total_seconds() * 1_000_000)


def add(
    store: EmbeddedStore,
    trace_id: str,
    session: str | None,
    at: datetime = NOW,
    project: str = "p1",
    name: str = "chat",
) -> None:
    """One trace (a root span) of ``session`` starting at ``at``."""
    store.write_batch(
        [
            ObservationRecord(
                project_id=project,
                id=trace_id[:16],
                trace_id=trace_id,
                parent_id=None,
                type="span",
                name=name,
                start_us=us(at),
                end_us=us(at) + 1_000_000,
            )
        ],
        [TraceUpdate(project_id=project, trace_id=trace_id, is_root=True, session_id=session)],
    )


def scores(store: EmbeddedStore, project: str = "p1") -> dict[tuple[str, str], float]:
    """(target, score name) -> value of the runner's scores; fails on a duplicate id."""
    rows = (
        store.cursor()
        .execute(
            "SELECT id, coalesce(session_id, trace_id), name, value FROM scores "
            "WHERE project_id = ? AND source = 'EVAL'",
            [project],
        )
        .fetchall()
    )
    ids = [r[0] for r in rows]
    assert len(ids) == len(set(ids)), "duplicate score ids"
    out = {(target, name): value for _, target, name, value in rows}
    assert len(out) == len(rows), "two scores for one (target, name)"
    return out


def tid(n: int) -> str:
    return f"{n:032x}"


def test_cursor_is_exact_when_traces_carry_old_timestamps(store: EmbeddedStore) -> None:
    runner = Runner(store, [SessionTurns()], clock=lambda: NOW)
    add(store, tid(1), "before")  # before the task existed: history, left to a backfill
    runner.run_until_idle()
    assert scores(store) == {}
    add(store, tid(2), "s1")
    runner.run_until_idle()
    assert scores(store) == {("s1", "session_turns"): 1}
    # Late arrivals stamped years ago (a batch exporter's backlog, a replayed journal):
    # a time-based cursor would never see them; the change marker does.
    add(store, tid(3), "s1", at=datetime(2019, 1, 1))
    add(store, tid(4), "s2", at=datetime(2001, 1, 1))
    add(store, tid(5), None, at=datetime(2001, 1, 1))  # no session: no session target
    runner.run_until_idle()
    assert scores(store) == {
        ("s1", "session_turns"): 2,
        ("s1", "multi_turn"): 1,
        ("s2", "session_turns"): 1,
    }
    assert store.runner_cursor("turns") == store.change_position()


def test_the_cursor_survives_a_new_runner(tmp_path: Path) -> None:
    store = EmbeddedStore(tmp_path / "h.duckdb")
    Runner(store, [SessionTurns()]).run_until_idle()
    add(store, tid(1), "s1")
    store.close()
    store = EmbeddedStore(tmp_path / "h.duckdb")  # a restart: the change happened meanwhile
    try:
        Runner(store, [SessionTurns()]).run_until_idle()
        assert scores(store) == {("s1", "session_turns"): 1}
    finally:
        store.close()


def test_a_window_smaller_than_the_backlog_still_covers_it(store: EmbeddedStore) -> None:
    runner = Runner(store, [SessionTurns()], window=2, chunk=3)
    runner.run_until_idle()
    for n in range(20):
        add(store, tid(n), f"s{n % 7}")
    runner.run_until_idle()
    got = scores(store)
    assert {k: v for k, v in got.items() if k[1] == "session_turns"} == {
        (f"s{i}", "session_turns"): len(range(i, 20, 7)) for i in range(7)
    }


def test_redo_and_backfill_replace_never_duplicate(store: EmbeddedStore) -> None:
    runner = Runner(store, [SessionTurns(), TraceWords()], chunk=2)
    runner.run_until_idle()
    for n in range(6):
        add(store, tid(n), f"s{n % 3}", name="x" * (n + 1))
    runner.run_until_idle()
    first = scores(store)
    assert len(first) == 3 * 2 + 6  # turns and multi_turn per session, a length per trace
    job = runner.start_job("p1")  # over data already processed
    runner.run_until_idle()
    assert store.runner_job(job["id"])["status"] == "done"
    assert scores(store) == first
    # The same task on the same target writes the same ids.
    sid = score_id("turns", "1", "p1", "s0", "session_turns")
    assert store.runner_work("turns", "p1", "s0")["outputs"] == [sid, score_id(
        "turns", "1", "p1", "s0", "multi_turn")]  # fmt: skip
    # A trace deleted: a backfill recomputes, and a score that no longer holds goes.
    store.delete_traces("p1", [tid(0)])
    runner.start_job("p1", ["turns"])
    runner.run_until_idle()
    after = scores(store)
    assert after[("s0", "session_turns")] == 1
    assert ("s0", "multi_turn") not in after
    assert after[("s1", "multi_turn")] == 1


def test_a_new_version_replaces_the_old_versions_scores(store: EmbeddedStore) -> None:
    Runner(store, [SessionTurns()]).run_until_idle()
    add(store, tid(1), "s1")
    add(store, tid(2), "s1")
    Runner(store, [SessionTurns()]).run_until_idle()
    v1 = scores(store)
    runner = Runner(store, [SessionTurns(version="2")])
    runner.start_job("p1")
    runner.run_until_idle()
    assert scores(store) == v1  # same values, one row per (target, name)
    authors = store.cursor().execute("SELECT DISTINCT author FROM scores").fetchall()
    assert authors == [("heron-runner/turns@2",)]


def test_projects_are_apart(store: EmbeddedStore) -> None:
    runner = Runner(store, [SessionTurns()])
    runner.run_until_idle()
    add(store, tid(1), "s1", project="p1")
    add(store, tid(2), "s1", project="p2")
    add(store, tid(3), "s1", project="p2")
    runner.run_until_idle()
    assert scores(store, "p1") == {("s1", "session_turns"): 1}
    assert scores(store, "p2") == {("s1", "session_turns"): 2, ("s1", "multi_turn"): 1}
    with pytest.raises(Exception, match="not found"):
        runner.cancel_job("p2", runner.start_job("p1")["id"])


def test_due_recheck_judges_abandonment_when_the_idle_time_passes(store: EmbeddedStore) -> None:
    now = [NOW]
    runner = Runner(store, [Abandoned(idle_s=60)], clock=lambda: now[0])
    runner.run_until_idle()
    add(store, tid(1), "s1", at=NOW - timedelta(seconds=10))
    runner.run_until_idle()
    assert scores(store) == {("s1", "abandoned"): 0}
    assert store.runner_next_due(["abandon"]) == NOW - timedelta(seconds=10) + timedelta(
        seconds=61
    )  # last trace's end (1 s long) + idle time
    now[0] = NOW + timedelta(seconds=30)
    runner.run_until_idle()
    assert scores(store) == {("s1", "abandoned"): 0}
    now[0] = NOW + timedelta(seconds=52)
    runner.run_until_idle()
    assert scores(store) == {("s1", "abandoned"): 1}
    assert store.runner_next_due(["abandon"]) is None


def test_backfill_progress_cancel_and_resume(tmp_path: Path) -> None:
    store = EmbeddedStore(tmp_path / "h.duckdb")
    for n in range(30):
        add(store, tid(n), f"s{n:02d}", at=NOW + timedelta(minutes=n))
    # one chunk a pass (job_slice_s=0), to see the progress between chunks
    runner = Runner(store, [SessionTurns()], chunk=4, job_slice_s=0)
    ranged = runner.start_job(
        "p1", start=NOW + timedelta(minutes=10), end=NOW + timedelta(minutes=20)
    )
    runner.run_until_idle()
    ranged = store.runner_job(ranged["id"])
    assert (ranged["status"], ranged["done"], ranged["total"]) == ("done", 10, 10)
    assert len(scores(store)) == 10

    job = runner.start_job("p1")
    runner.step()  # queued -> running, total counted
    runner.step()
    runner.step()
    mid = store.runner_job(job["id"])
    assert (mid["status"], mid["done"], mid["total"]) == ("running", 8, 30)
    store.close()  # as if the process ended here: a new runner resumes from the position

    store = EmbeddedStore(tmp_path / "h.duckdb")
    runner = Runner(store, [SessionTurns()], chunk=4, job_slice_s=0)
    runner.step()
    assert store.runner_job(job["id"])["done"] == 12
    cancelled = runner.cancel_job("p1", job["id"])
    assert cancelled["status"] == "cancelled" and cancelled["finished_at"] is not None
    runner.run_until_idle()
    assert store.runner_job(job["id"])["done"] == 12  # nothing after the cancel
    with pytest.raises(Exception, match="already ended"):
        runner.cancel_job("p1", job["id"])
    store.close()


class FailsOnce(EmbeddedStore):
    """A real store whose commit of one job chunk fails once (a disk error, say), and that
    notes each job chunk it commits and which thread commits it."""

    def __init__(self, path: Path, fail_at: int) -> None:
        super().__init__(path)
        self.fail_at: int | None = fail_at
        self.committed: list[tuple[int, str]] = []

    def runner_commit(self, work, cursors=None, job=None, *, holder=None):  # type: ignore[no-untyped-def]
        if job is not None and job.done == self.fail_at:
            self.fail_at = None
            raise OSError("disk error on purpose")
        super().runner_commit(work, cursors, job, holder=holder)
        if job is not None and work:  # a chunk (not the move to the next phase)
            self.committed.append((job.done, threading.current_thread().name))


def test_a_pass_commits_job_chunks_behind_in_order_and_a_failed_commit_is_redone(
    tmp_path: Path,
) -> None:
    store = FailsOnce(tmp_path / "h.duckdb", fail_at=12)
    for n in range(30):
        add(store, tid(n), f"s{n:02d}", at=NOW + timedelta(minutes=n))
    runner = Runner(store, [SessionTurns()], chunk=4)
    job = runner.start_job("p1")
    failures = 0
    for _ in range(20):  # as the runner's thread does: a failed pass is logged, then retried
        try:
            if not runner.step():
                break
        except OSError:
            failures += 1
            # the pass ended without a commit under way; the store shows the last one
            assert store.runner_job(job["id"])["done"] == 8
    assert failures == 1
    ended = store.runner_job(job["id"])
    assert (ended["status"], ended["done"], ended["total"]) == ("done", 30, 30)
    assert len(scores(store)) == 30
    done = [d for d, _ in store.committed]
    assert done == [4, 8, 12, 16, 20, 24, 28, 30]  # in order; the failed chunk redone once
    assert {name for _, name in store.committed} == {"heron-runner-commit_0"}
    store.close()


def test_a_failing_task_skips_its_target_only(store: EmbeddedStore) -> None:
    class Picky:
        name, version, scope, fields = "picky", "1", "session", ()

        def run(self, target: Target, now: datetime) -> Outcome:
            if target.id == "bad":
                raise RuntimeError("cannot judge this one")
            return Outcome([target.score("ok", 1)])

    runner = Runner(store, [Picky()])
    runner.run_until_idle()
    add(store, tid(1), "bad")
    add(store, tid(2), "good")
    runner.run_until_idle()
    assert scores(store) == {("good", "ok"): 1}
    assert runner.stats.failures == 1 and "cannot judge" in (runner.stats.last_failure or "")
    assert store.runner_cursor("picky") == store.change_position()


def test_job_requests_are_checked(store: EmbeddedStore) -> None:
    runner = Runner(store, [SessionTurns()])
    with pytest.raises(Exception, match="unknown"):
        runner.start_job("p1", ["nope"])
    with pytest.raises(Exception, match="before"):
        runner.start_job("p1", start=NOW, end=NOW)
    with pytest.raises(Exception, match="no runner tasks"):
        Runner(store, []).start_job("p1")


def test_loading_tasks_names_the_problem() -> None:
    assert [t.name for t in load_tasks("tests.support.runner_tasks:all_tasks")] == [
        "turns",
        "abandon",
        "words",
    ]
    assert load_tasks("tests.support.runner_tasks:SessionTurns")[0].name == "turns"
    for spec, message in (
        ("nocolon", "module:attribute"),
        ("tests.support.runner_tasks:missing", "cannot be loaded"),
        ("heron.settings:Settings", "not a runner task"),
        (
            "tests.support.runner_tasks:SessionTurns,tests.support.runner_tasks:SessionTurns",
            "twice",
        ),
    ):
        with pytest.raises(ValueError, match=message):
            load_tasks(spec)


def test_the_change_marker_is_kept_and_only_grows(tmp_path: Path) -> None:
    store = EmbeddedStore(tmp_path / "h.duckdb")
    add(store, tid(1), "s1")
    add(store, tid(2), "s1")
    assert store.change_position() == 2
    store.delete_traces("p1", [tid(2)])  # the newest trace gone: the marker is not reused
    store.close()
    store = EmbeddedStore(tmp_path / "h.duckdb")
    try:
        assert store.change_position() == 2
        add(store, tid(3), "s2")
        assert store.change_position() == 3
        assert store.changed_traces(2, 3) == [("p1", tid(3), "s2")]
        assert store.wait_for_change(2, 0.01) == 3
    finally:
        store.close()


class OncePerVersion:
    """A task that scores a trace once and keeps that score on later runs (as evaluators
    do); counts its real evaluations and records the options it was given."""

    name = "once"
    version = "1"
    scope = "trace"
    fields = ("name",)

    def __init__(self) -> None:
        self.evaluated: list[str] = []
        self.options: list[dict | None] = []

    def run(self, target: Target, now: datetime) -> Outcome:
        self.options.append(target.options)
        mine = target.score("once", 1)
        if mine.id in target.previous:
            return Outcome(keep=[mine.id, "not-a-previous-id"])
        self.evaluated.append(target.id)
        return Outcome([mine])


def test_kept_scores_survive_later_runs_and_only_previous_ids_can_be_kept(
    store: EmbeddedStore,
) -> None:
    task = OncePerVersion()
    runner = Runner(store, [task], clock=lambda: NOW)
    runner.run_until_idle()
    add(store, tid(1), None)
    runner.run_until_idle()
    assert task.evaluated == [tid(1)]
    assert scores(store) == {(tid(1), "once"): 1}
    add(store, tid(1), None)  # a late span: the target changed, the task keeps its score
    runner.run_until_idle()
    assert task.evaluated == [tid(1)]
    assert scores(store) == {(tid(1), "once"): 1}
    work = store.runner_work("once", "p1", tid(1))
    assert work is not None and work["outputs"] == [
        score_id("once", "1", "p1", tid(1), "once", tid(1))
    ]


def test_a_backfill_passes_its_options_and_stops_at_its_limit(store: EmbeddedStore) -> None:
    task = OncePerVersion()
    runner = Runner(store, [task], clock=lambda: NOW)
    runner.run_until_idle()
    for n in range(1, 6):
        add(store, tid(n), None, at=NOW - timedelta(days=1))
    runner.run_until_idle()
    task.evaluated.clear()
    task.options.clear()
    store.cursor().execute("DELETE FROM runner_work")  # as if never run: the job does them
    store.cursor().execute("DELETE FROM scores")
    job = runner.start_job("p1", ["once"], options={"evaluators": ["e1"]}, limit=3)
    runner.run_until_idle()
    done = store.runner_job(job["id"])
    assert done is not None and done["status"] == "done"
    assert (done["total"], done["done"]) == (3, 3)
    assert task.evaluated == [tid(1), tid(2), tid(3)]
    assert task.options == [{"evaluators": ["e1"]}] * 3
    with pytest.raises(Exception, match="limit"):
        runner.start_job("p1", ["once"], limit=0)
