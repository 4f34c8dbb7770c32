"""The detectors as the runner task ``implicit`` on a real DuckDB store: score shape and ids,
the due re-check for abandonment, per-project settings, idempotent backfills, and the CLI on
a data directory."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import datetime, timedelta
from pathlib import Path

import orjson
import pytest

from heron.implicit import VERSION, FeedbackConfig
from heron.implicit.task import PARALLEL_MIN, FeedbackTask
from heron.model import ObservationRecord, TraceUpdate
from heron.runner import Runner, Target, load_tasks, score_id
from heron.settings import Settings
from heron.store import EmbeddedStore

NOW = datetime(2026, 12, 1, 12, 0, 0)


def us(dt: datetime) -> int:
    return int((dt - datetime(1970, 1, 1)).total_seconds() * 1_000_000)


def add(
    store: EmbeddedStore,
    trace_id: str,
    session: str,
    question: object,
    answer: object,
    at: datetime,
    project: str = "p1",
    level: str = "DEFAULT",
) -> None:
    """One trace (a root span) of ``session``: the user's message and the answer."""
    text = [v if isinstance(v, str) else orjson.dumps(v).decode() for v in (question, answer)]
    store.write_batch(
        [
            ObservationRecord(
                project_id=project,
                id=trace_id[:16],
                trace_id=trace_id,
                parent_id=None,
                type="span",
                name="chat",
                start_us=us(at),
                end_us=us(at) + 1_500_000,
                input=text[0],
                output=text[1],
                level=level,
            )
        ],
        [
            TraceUpdate(
                project_id=project,
                trace_id=trace_id,
                is_root=True,
                session_id=session,
                input=text[0],
                output=text[1],
            )
        ],
    )


def rows(store: EmbeddedStore, project: str = "p1") -> list[dict]:
    cur = store.cursor().execute(
        "SELECT id, trace_id, session_id, name, value, data_type, source, comment, metadata, "
        "timestamp FROM scores WHERE project_id = ? ORDER BY id",
        [project],
    )
    names = [d[0] for d in cur.description]
    out = [dict(zip(names, r, strict=True)) for r in cur.fetchall()]
    assert len({r["id"] for r in out}) == len(out)
    return out


def found(store: EmbeddedStore, project: str = "p1") -> set[tuple[str, str]]:
    return {(r["name"], r["trace_id"]) for r in rows(store, project)}


def tid(n: int) -> str:
    return f"{n:032x}"


def retry_session(
    store: EmbeddedStore, project: str = "p1", base: int = 0, session: str = "retry"
) -> None:
    t = NOW - timedelta(minutes=3)
    add(store, tid(base + 1), session, "How do I reset my password?", "", t, project, "ERROR")
    add(
        store, tid(base + 2), session, "how do I reset my pasword??",
        "Open Settings, then Security, and click Reset password.",
        t + timedelta(seconds=40), project,
    )  # fmt: skip


def disagreement_session(
    store: EmbeddedStore, project: str = "p1", base: int = 10, session: str = "disagree"
) -> None:
    # OpenAI chat shapes, as an instrumented client stores them
    t = NOW - timedelta(minutes=5)
    q1 = [{"role": "user", "content": "How long do I have to return a jacket?"}]
    a1 = {"choices": [{"message": {"role": "assistant", "content": "You have 30 days."}}]}
    q2 = [*q1, {"role": "user", "content": "That's wrong, your site says 14 days, not 30."}]
    a2 = {"choices": [{"message": {"role": "assistant", "content": "You're right: 14 days."}}]}
    add(store, tid(base + 1), session, q1, a1, t, project)
    add(store, tid(base + 2), session, q2, a2, t + timedelta(seconds=30), project)


def test_detections_become_boolean_eval_scores_on_the_trace_reacted_to(
    store: EmbeddedStore,
) -> None:
    runner = Runner(store, [FeedbackTask()], clock=lambda: NOW)
    runner.run_until_idle()  # the task starts at the current change marker
    retry_session(store)
    disagreement_session(store)
    runner.run_until_idle()
    scores = {r["name"]: r for r in rows(store)}
    assert set(scores) == {"implicit_retry", "implicit_disagreement"}
    retry = scores["implicit_retry"]
    assert retry["trace_id"] == tid(1) and retry["session_id"] == "retry"
    assert (retry["value"], retry["data_type"], retry["source"]) == (1.0, "BOOLEAN", "EVAL")
    assert retry["id"] == score_id("implicit", VERSION, "p1", "retry", "implicit_retry", tid(1))
    meta = orjson.loads(retry["metadata"])
    assert meta["reacting_trace_id"] == tid(2) and meta["detector_version"] == VERSION
    assert "after an error" in retry["comment"]
    assert retry["timestamp"] == NOW - timedelta(minutes=3) + timedelta(seconds=40)
    dis = scores["implicit_disagreement"]
    assert dis["trace_id"] == tid(11) and "14 days" in dis["comment"]


def test_abandonment_is_judged_when_the_idle_timeout_passes(store: EmbeddedStore) -> None:
    clock = [NOW]
    runner = Runner(store, [FeedbackTask()], clock=lambda: clock[0])
    runner.run_until_idle()
    add(store, tid(1), "left", "How do I export my invoices?", "", NOW - timedelta(minutes=5),
        level="ERROR")  # fmt: skip
    # loaded hours late: judged at once
    add(store, tid(2), "old", "Can I change my plan?", "Sorry, I can't help with that.",
        NOW - timedelta(hours=3))  # fmt: skip
    runner.run_until_idle()
    assert found(store) == {("implicit_abandonment", tid(2))}
    due = store.runner_next_due(["implicit"])
    assert due == NOW - timedelta(minutes=5) + timedelta(seconds=1801)
    clock[0] = NOW + timedelta(minutes=20)
    runner.run_until_idle()
    assert ("implicit_abandonment", tid(1)) not in found(store)
    clock[0] = due
    runner.run_until_idle()
    assert found(store) == {("implicit_abandonment", tid(1)), ("implicit_abandonment", tid(2))}
    assert store.runner_next_due(["implicit"]) is None


def test_settings_per_project_turn_detectors_off_and_leave_others_alone(
    store: EmbeddedStore,
) -> None:
    p2 = store.create_project("other")["id"]
    off = FeedbackConfig(enabled=frozenset({"implicit_disagreement"}))
    store.set_implicit_settings(p2, {"enabled": sorted(off.enabled)})
    runner = Runner(store, [FeedbackTask()], clock=lambda: NOW)
    runner.run_until_idle()
    retry_session(store, p2)
    disagreement_session(store, p2)
    retry_session(store, "p1", base=100)
    runner.run_until_idle()
    assert {n for n, _ in found(store, p2)} == {"implicit_disagreement"}
    assert found(store, "p1") == {("implicit_retry", tid(101))}
    # a project's backfill touches only its scores
    before = rows(store, p2)
    job = runner.start_job("p1", ["implicit"])
    runner.run_until_idle()
    assert store.runner_job(job["id"])["status"] == "done"
    assert rows(store, p2) == before


def test_backfill_twice_writes_the_same_scores(store: EmbeddedStore) -> None:
    pid = store.create_project("shop")["id"]
    retry_session(store, pid)  # history: before the task ever ran
    disagreement_session(store, pid)
    runner = Runner(store, [FeedbackTask()], clock=lambda: NOW)
    runner.run_until_idle()
    assert rows(store, pid) == []
    first_job = runner.start_job(pid, ["implicit"], NOW - timedelta(hours=1), NOW)
    runner.run_until_idle()
    first = rows(store, pid)
    assert {r["name"] for r in first} == {"implicit_retry", "implicit_disagreement"}
    runner.start_job(pid, ["implicit"])
    runner.run_until_idle()
    assert rows(store, pid) == first
    assert store.runner_job(first_job["id"])["done"] == 2
    # a detector turned off and a backfill: its detections go, the others keep their ids
    store.set_implicit_settings(pid, {"enabled": ["implicit_retry"]})
    runner = Runner(store, [FeedbackTask()], clock=lambda: NOW)
    runner.start_job(pid, ["implicit"])
    runner.run_until_idle()
    assert [r["id"] for r in rows(store, pid)] == [
        r["id"] for r in first if r["name"] == "implicit_retry"
    ]


def test_a_large_chunk_is_judged_on_worker_processes_alike(store: EmbeddedStore) -> None:
    sessions = []
    for i in range(PARALLEL_MIN // 2 + 1):  # one chunk of more than PARALLEL_MIN sessions
        retry_session(store, "p1", 1000 + 20 * i, f"r{i:03d}")
        disagreement_session(store, "p1", 1010 + 20 * i, f"d{i:03d}")
        sessions += [f"r{i:03d}", f"d{i:03d}"]
    task = FeedbackTask()
    runner = Runner(store, [task], clock=lambda: NOW)
    try:
        runner.start_job("p1", ["implicit"])
        runner.run_until_idle()
        assert task._executor is not None  # the chunk went to the workers
    finally:
        runner.stop()
    assert task._executor is None  # stopped with the runner
    parallel = {
        r["id"]: (r["name"], r["comment"], orjson.loads(r["metadata"])) for r in rows(store)
    }
    assert len(parallel) == len(sessions)
    # the same sessions judged one by one in this process
    traces = store.target_traces("p1", "session", sessions, task.fields)
    alone = {}
    for session in sessions:
        target = Target("implicit", VERSION, "p1", "session", session, traces[session])
        for score in task.run(target, NOW).scores:
            alone[score.id] = (score.name, score.comment, score.metadata)
    assert alone == parallel


def test_feedback_is_a_default_task_and_an_empty_setting_disables_it() -> None:
    tasks = load_tasks(Settings.load(env={}).runner_tasks or "")
    assert [(t.name, t.version) for t in tasks if t.name == "implicit"] == [("implicit", VERSION)]
    assert load_tasks(Settings.load(env={"HERON_RUNNER_TASKS": ""}).runner_tasks or "") == []


def heron(*args: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("HERON_")}
    return subprocess.run(
        [sys.executable, "-m", "heron.cli", *args],
        capture_output=True,
        text=True,
        timeout=120,
        env={**env, "COLUMNS": "200"},
    )


def test_cli_settings_and_backfill_on_a_data_directory(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    store = EmbeddedStore(data / "heron.duckdb")
    pid = store.create_project("shop")["id"]
    retry_session(store, pid)
    disagreement_session(store, pid)
    store.close()
    dd = ("--data-dir", str(data))
    out = heron("feedback", "settings", "-p", "shop", "--set", "slow_ms=nope", *dd)
    assert out.returncode == 1 and "slow_ms" in out.stderr
    out = heron(
        "feedback", "settings", "-p", "shop", "--set", 'enabled=["implicit_retry"]', "--json", *dd
    )
    assert out.returncode == 0, out.stderr
    assert orjson.loads(out.stdout)["changed"] == {"enabled": ["implicit_retry"]}
    out = heron("feedback", "backfill", "-p", "shop", "--from", "2026-11-30", *dd)
    assert out.returncode == 0, out.stderr
    assert "done, 2 targets" in out.stderr
    store = EmbeddedStore(data / "heron.duckdb")
    try:
        assert found(store, pid) == {("implicit_retry", tid(1))}
    finally:
        store.close()
    out = heron("feedback", "settings", "-p", "nope", *dd)
    assert out.returncode == 1 and "'nope' not found" in out.stderr


@pytest.mark.parametrize(
    "settings",
    [
        {"enabled": ["implicit_magic"]},
        {"idle_timeout_s": -1},
        {"extra_markers": {"refusal": ["(?=x)"]}},
    ],
)
def test_bad_settings_are_refused_and_nothing_is_stored(
    store: EmbeddedStore, settings: dict
) -> None:
    from heron.errors import HeronError
    from heron.implicit import admin as implicit_admin

    store.create_project("shop")
    with pytest.raises(HeronError) as err:
        implicit_admin.update(store, "shop", settings)
    assert err.value.status_code == 400
    assert implicit_admin.view(store, "shop")["changed"] == {}


_HOLDS_A_POOL = """
import sys, time
from heron.implicit.task import FeedbackTask
task = FeedbackTask()
pool = task._pool(2)
for f in [pool.submit(time.sleep, 0.2) for _ in range(4)]:
    f.result()
print("ready", flush=True)
time.sleep(120)
"""


def test_the_detector_workers_exit_when_their_process_is_killed() -> None:
    """A server killed with SIGKILL leaves no detector worker behind (the ingest lifeline)."""
    import psutil

    proc = subprocess.Popen(
        [sys.executable, "-c", _HOLDS_A_POOL], stdout=subprocess.PIPE, text=True
    )
    try:
        assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
        workers = [
            p
            for p in psutil.Process(proc.pid).children(recursive=True)
            if "spawn_main" in " ".join(p.cmdline())
        ]
        assert len(workers) == 2
    finally:
        proc.kill()
        proc.wait(10)
    _, alive = psutil.wait_procs(workers, timeout=5)
    for p in alive:
        p.kill()
    assert not alive, [p.pid for p in alive]
