"""The runner: one thread that keeps every registered task's work up to date.

Each pass does three kinds of work, a chunk of targets per store transaction:

- **changes**: per task, the traces written since its cursor (the store's change marker,
  :mod:`heron.store.runner`), mapped to the task's targets (their sessions, or the traces);
  a trace task with ``follows_scores = True`` also gets the traces whose scores changed
  (score writes take change markers too; a task's own score writes never re-trigger it);
  the cursor moves in the same transaction as the last chunk of work it covers;
- **due re-checks**: targets whose run asked to be judged again at a time (``recheck_at``),
  once that time has passed;
- **backfill jobs**: chunks of the oldest queued or running job for about ``job_slice_s``,
  each chunk's progress committed with it, so a job resumes where it stopped after a crash.
  A chunk's commit runs in a second thread while the next chunk is read and judged (a
  backfill's store writes and its judging overlap); the next commit waits for it, so
  commits stay in order, a failed one makes the job resume from the last committed chunk,
  and every commit is done when the pass ends.

**Several runners** (the cluster backend: ``heron serve`` replicas and ``heron worker``
processes on one PostgreSQL) share the work through leases (:meth:`Store.runner_lease`):
a task's change cursor, a job and a periodic are each worked on by the runner holding its
lease, the cursor is read anew under the lease each pass, a due re-check is claimed by one
runner, and a commit of a cursor or a job's progress is refused
(:class:`~heron.store.runner.LeaseLost`) once another runner has taken the lease over. On
DuckDB one process opens the store, so every lease is always held.

Between passes with nothing to do the thread waits for the next committed batch (the
store's signal) or the next due time, at most ``idle_s``, and starts passes at most every
``min_pass_s``. Work never duplicates: scores
have deterministic ids and each (task, target) records the ids it wrote, so a redo (after a
crash, or a backfill over processed data) replaces them (see :meth:`Store.runner_commit`).
A task that raises on a target is logged and that target skipped (its earlier scores stay);
it is retried when the target changes again or by a backfill.

Beside tasks the runner hosts **periodic** work (:class:`heron.runner.task.Periodic`: alert
evaluation, notification delivery): each pass runs every periodic whose :meth:`due` time
has come, in this thread, and the idle wait ends at the earliest next due time. A periodic
whose ``run`` raises is logged and asked again after ``retry_s`` (it never stops the runner).
"""

from __future__ import annotations

import bisect
import logging
import os
import secrets
import socket
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from heron.errors import BadRequest, Conflict, NotFound
from heron.runner.task import Outcome, Periodic, Target, Task, unique
from heron.store import Store
from heron.store.reads import iso
from heron.store.runner import JobProgress, LeaseLost, WorkDone

log = logging.getLogger("heron.runner")

CHUNK = 500  # targets per transaction: the write lock is held for tens of milliseconds
# A pass works on a job for about this long, a chunk after another, so each chunk's commit
# overlaps the next chunk's judging; online work waits at most that long during a backfill.
JOB_SLICE_S = 1.0
LISTED_CHUNK = 25  # a job over listed targets (judge calls): progress and cancel stay prompt
WINDOW = 64  # change markers (committed batches) read per pass and task
IDLE_S = 1.0
# Woken by a commit, a pass starts at least this long after the previous one began: under
# steady ingest every batch would wake it, and each pass reads its targets' traces.
MIN_PASS_S = 0.1
LEASE_S = 30.0  # a killed runner's work is taken over this long after its last renewal
_PRUNE_SCORE_FEED_S = 60.0  # how often the score feed forgets what every task has passed
_RETRY_FAILED_S = 60.0  # a due re-check whose task raised waits this long before the next try
_RETRY_PERIODIC_S = 30.0  # a periodic whose run raised is tried again after this long


def utcnow() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


def _naive_utc(value: datetime | None) -> datetime | None:
    if value is not None and value.tzinfo is not None:
        return value.astimezone(UTC).replace(tzinfo=None)
    return value


@dataclass(slots=True)
class RunnerStats:
    runs: int = 0
    failures: int = 0
    last_failure: str | None = None


class Runner:
    """The background runner over ``store`` for ``tasks`` (see the module docstring)."""

    def __init__(
        self,
        store: Store,
        tasks: Sequence[Task | Periodic],
        *,
        clock: Callable[[], datetime] = utcnow,
        chunk: int = CHUNK,
        window: int = WINDOW,
        idle_s: float = IDLE_S,
        min_pass_s: float = MIN_PASS_S,
        retry_s: float = _RETRY_PERIODIC_S,
        lease_s: float = LEASE_S,
        job_slice_s: float = JOB_SLICE_S,
    ) -> None:
        self.store = store
        self.lease_s = lease_s
        self.job_slice_s = job_slice_s
        self.holder = f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(4)}"
        unique(tasks)
        self.tasks = {t.name: t for t in tasks if isinstance(t, Task)}
        self.periodics = {
            t.name: t for t in tasks if not isinstance(t, Task) and isinstance(t, Periodic)
        }
        for task in self.hosted():  # a task reading the store (its settings) gets it
            bind = getattr(task, "bind", None)
            if callable(bind):
                bind(store)
        self.clock = clock
        self.chunk = chunk
        self.window = window
        self.idle_s = idle_s
        self.min_pass_s = min_pass_s
        self.retry_s = retry_s
        self._next: dict[str, datetime | None] = {}  # periodic name -> when it runs next
        self._retry: dict[str, datetime] = {}  # periodics that failed -> when to try again
        self._last_pass = 0.0
        self._pruned_at = time.monotonic()
        self.stats = RunnerStats()
        self._cursors: dict[str, int] = {}
        self._seen = 0
        self._failed: dict[tuple[str, str, str], float] = {}  # due targets backing off
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        # a job chunk's commit under way in the committer thread, and the progress it saves
        self._committer: ThreadPoolExecutor | None = None
        self._behind: tuple[Future[None], JobProgress] | None = None

    def hosted(self) -> list[Task | Periodic]:
        """Every task and periodic this runner hosts."""
        return [*self.tasks.values(), *self.periodics.values()]

    # -- lifecycle ---------------------------------------------------------------------------

    def start(self) -> None:
        """Run in a background thread (does nothing without tasks or periodics)."""
        if not self.hosted() or self._thread is not None:
            return
        self._thread = threading.Thread(target=self._loop, name="heron-runner", daemon=True)
        self._thread.start()

    def stop(self, timeout_s: float = 30.0) -> None:
        """Stop after the chunk under way (its work is committed or not at all)."""
        self._stopping.set()
        self.store.wake_waiters()  # not a second of idle wait left before the thread ends
        deadline = time.monotonic() + timeout_s
        while self._thread is not None and self._thread.is_alive():
            if time.monotonic() >= deadline:
                break
            # again until it ends: a wake that comes before the thread begins to wait is lost,
            # and the wait would last the idle second
            self._thread.join(0.05)
            self.store.wake_waiters()
        if self._committer is not None:
            self._committer.shutdown()
            self._committer = None
        try:  # another runner takes over at once, not when the leases expire
            self.store.runner_release(self.holder)
        except Exception:  # the backend away: they expire
            log.warning("runner %s: giving up its leases failed", self.holder, exc_info=True)
        for task in self.hosted():  # a task with helpers (worker processes) stops them
            close = getattr(task, "close", None)
            if callable(close):
                close()

    def run_until_idle(self) -> None:
        """Do every pending change, due re-check and job, and each periodic due now once,
        then return (``heron worker --until-idle``, tests)."""
        while not self._stopping.is_set() and self.step():
            pass

    def _loop(self) -> None:
        delay = 0.1
        while not self._stopping.is_set():
            try:
                busy = self.step()
            except Exception as exc:  # the store failing: retried, the cursor has not moved
                log.exception("runner pass failed")
                self.stats.last_failure = str(exc) or type(exc).__name__
                self._stopping.wait(delay)
                delay = min(delay * 2, 5.0)
                continue
            delay = 0.1
            if not busy:
                self._idle()

    def _idle(self) -> None:
        timeout = self.idle_s
        nxt = self.store.runner_next_due(list(self.tasks)) if self.tasks else None
        for due in self._next.values():
            if due is not None and (nxt is None or due < nxt):
                nxt = due
        if nxt is not None:
            timeout = min(timeout, max((nxt - self.clock()).total_seconds(), 0.01))
        self.store.wait_for_change(self._seen, timeout)
        self._stopping.wait(max(0.0, self._last_pass + self.min_pass_s - time.monotonic()))

    def step(self) -> bool:
        """One pass; True if it found work (then another pass follows at once)."""
        self._last_pass = time.monotonic()
        self._periodic()
        busy = self._changes()
        busy = self._due() or busy
        return self._job_chunk() or busy

    # -- periodic work -------------------------------------------------------------------------

    def _lease(self, key: str) -> bool:
        return self.store.runner_lease(key, self.holder, self.lease_s)

    def _periodic(self) -> None:
        """Run each periodic whose time has come (and whose lease this runner holds). ``due``
        is asked every pass (what it plans may change between passes: an alert added); one
        that failed waits ``retry_s``. Its runs never make a pass busy: a periodic catching
        up runs once per pass, paced by the idle wait, so one that is always due cannot spin
        the thread."""
        for name, periodic in self.periodics.items():
            if not self._lease(f"periodic:{name}"):
                self._next[name] = None  # another runner runs it
                continue
            now = self.clock()
            retry = self._retry.get(name)
            if retry is not None and retry > now:
                self._next[name] = retry
                continue
            due = self._next[name] = self._ask(periodic, now)
            if due is None or due > now:
                continue
            try:
                periodic.run(now)
            except Exception as exc:
                log.exception("runner periodic %s failed", name)
                self.stats.failures += 1
                self.stats.last_failure = f"{name}: {exc}"
                self._retry[name] = self._next[name] = now + timedelta(seconds=self.retry_s)
                continue
            self._retry.pop(name, None)
            self.stats.runs += 1
            self._next[name] = self._ask(periodic, self.clock())

    def _ask(self, periodic: Periodic, now: datetime) -> datetime | None:
        try:
            return _naive_utc(periodic.due(now))
        except Exception as exc:
            log.exception("runner periodic %s: due failed", periodic.name)
            self.stats.last_failure = f"{periodic.name}: {exc}"
            self._retry[periodic.name] = now + timedelta(seconds=self.retry_s)
            return self._retry[periodic.name]

    # -- changes -----------------------------------------------------------------------------

    def _cursor(self, task: Task, head: int) -> int:
        """The task's cursor, read under its lease (another runner may have moved it)."""
        position = self.store.runner_cursor(task.name)
        if position is None:  # a new task starts from now; history is a backfill job
            position = head
            self.store.runner_commit([], cursors={task.name: head}, holder=self.holder)
        self._cursors[task.name] = position
        return position

    def _changes(self) -> bool:
        head = self.store.change_position()
        self._seen = head
        busy = False
        for task in self.tasks.values():
            if getattr(task, "jobs_only", False):
                continue  # runs in jobs only (an alignment run), never on changes
            if not self._lease(f"task:{task.name}"):
                continue  # another runner follows this task's changes
            try:
                busy = self._task_changes(task, head) or busy
            except LeaseLost as exc:  # taken over while working: the new holder redoes it
                log.warning("runner task %s: %s", task.name, exc)
        self._prune_score_feed(head)
        return busy

    def _task_changes(self, task: Task, head: int) -> bool:
        """Run ``task`` on the changes past its cursor (a window of them); whether any."""
        cursor = self._cursor(task, head)
        if cursor >= head:
            return False
        upto = min(head, cursor + self.window)
        targets: dict[str, dict[str, None]] = {}
        for project_id, trace_id, session_id in self.store.changed_traces(cursor, upto):
            target = session_id if task.scope == "session" else trace_id
            if target is not None:
                targets.setdefault(project_id, {})[target] = None
        if task.scope == "trace" and getattr(task, "follows_scores", False):
            # traces whose scores changed (the API's, other tasks'; never its own)
            for project_id, trace_id in self.store.score_changed_traces(cursor, upto, task.name):
                targets.setdefault(project_id, {})[trace_id] = None
        self._run(task, {p: list(t) for p, t in targets.items()}, {task.name: upto})
        self._cursors[task.name] = upto
        return True

    def _prune_score_feed(self, head: int) -> None:
        """At most once a minute, forget score changes every score-following task has
        passed (all of them before ``head`` when none follows scores: a task registered
        later starts at the head)."""
        if time.monotonic() - self._pruned_at < _PRUNE_SCORE_FEED_S:
            return
        self._pruned_at = time.monotonic()
        followers = [
            self._cursors.get(t.name, 0)
            for t in self.tasks.values()
            if getattr(t, "follows_scores", False)
        ]
        self.store.prune_score_changes(min(followers, default=head))

    def _run(
        self,
        task: Task,
        targets: dict[str, list[str]],
        cursors: dict[str, int] | None = None,
    ) -> None:
        """Run ``task`` on the targets (by project) a chunk per transaction; ``cursors``
        are committed with the last chunk."""
        chunks = [
            (project_id, ids[i : i + self.chunk])
            for project_id, ids in sorted(targets.items())
            for i in range(0, len(ids), self.chunk)
        ]
        for n, (project_id, ids) in enumerate(chunks):
            last = n == len(chunks) - 1
            self.store.runner_commit(
                self._work(task, project_id, ids),
                cursors=cursors if last else None,
                holder=self.holder,
            )
        if not chunks and cursors:
            self.store.runner_commit([], cursors=cursors, holder=self.holder)

    def _work(
        self,
        task: Task,
        project_id: str,
        ids: Sequence[str],
        options: dict[str, Any] | None = None,
    ) -> list[WorkDone]:
        traces = self.store.target_traces(project_id, task.scope, ids, task.fields)
        previous = self.store.runner_outputs(task.name, project_id, ids)
        now = self.clock()
        targets = [
            Target(
                task.name,
                task.version,
                project_id,
                task.scope,
                t,
                traces[t],
                frozenset(previous.get(t, ())),
                options,
            )
            for t in ids
            if traces.get(t)
        ]
        results = dict(zip((t.id for t in targets), _outcomes(task, targets, now), strict=True))
        out = []
        for target_id in ids:
            if target_id not in results:  # deleted since: what the task wrote on it goes too
                out.append(WorkDone(task.name, task.version, project_id, target_id))
                continue
            done = self._done(
                task, project_id, target_id, results[target_id], now, previous.get(target_id, ())
            )
            if done is not None:
                out.append(done)
        return out

    def _done(
        self,
        task: Task,
        project_id: str,
        target_id: str,
        result: Outcome | Exception,
        now: datetime,
        previous: Sequence[str] = (),
    ) -> WorkDone | None:
        try:
            if isinstance(result, Exception):
                raise result
            if not isinstance(result, Outcome):
                raise TypeError(f"run returned {type(result).__name__}, not an Outcome")
            for score in result.scores:
                if score.project_id != project_id:
                    raise ValueError("a score names another project")
        except Exception as exc:
            log.exception("runner task %s failed on %s %s", task.name, task.scope, target_id)
            self.stats.failures += 1
            self.stats.last_failure = f"{task.name} on {target_id}: {exc}"
            self._failed[(task.name, project_id, target_id)] = time.monotonic()
            return None
        self.stats.runs += 1
        done = WorkDone(task.name, task.version, project_id, target_id, list(result.scores))
        if result.keep:  # only what the previous run wrote can be kept
            done.keep = [i for i in result.keep if i in set(previous)]
        due = _naive_utc(result.recheck_at)
        if due is not None and due <= now:
            due = now + timedelta(seconds=self.idle_s)  # never a re-check that is always due
        done.due_at = due
        return done

    # -- due re-checks -----------------------------------------------------------------------

    def _due(self) -> bool:
        now = self.clock()
        rows = self.store.runner_due(
            list(self.tasks), now, self.chunk, holder=self.holder, lease_s=self.lease_s
        )
        backoff = time.monotonic() - _RETRY_FAILED_S
        self._failed = {k: t for k, t in self._failed.items() if t > backoff}
        rows = [r for r in rows if tuple(r) not in self._failed]
        if not rows:
            return False
        groups: dict[tuple[str, str], list[str]] = {}
        for task_name, project_id, target in rows:
            groups.setdefault((task_name, project_id), []).append(target)
        for (task_name, project_id), ids in sorted(groups.items()):
            self._run(self.tasks[task_name], {project_id: ids})
        return True

    # -- backfill jobs -----------------------------------------------------------------------

    def start_job(
        self,
        project_id: str,
        tasks: Iterable[str] | None = None,
        start: datetime | None = None,
        end: datetime | None = None,
        *,
        options: dict[str, Any] | None = None,
        limit: int | None = None,
        targets: Sequence[str] | None = None,
    ) -> dict[str, Any]:
        """Queue a backfill: run ``tasks`` (default: all) on every target of the project
        with a trace starting in ``[start, end)`` (default: all time), at most ``limit``
        targets per task. ``options`` reach the tasks as :attr:`Target.options`.
        ``targets``: only these target ids (an alignment run's labelled traces)."""
        if not self.tasks:
            raise BadRequest("no runner tasks are registered (setting HERON_RUNNER_TASKS)")
        names = (
            list(dict.fromkeys(tasks))
            if tasks is not None  # by default, every task but those run in jobs only
            else sorted(n for n, t in self.tasks.items() if not getattr(t, "jobs_only", False))
        )
        unknown = [n for n in names if n not in self.tasks]
        if unknown or not names:
            raise BadRequest(
                f"tasks: unknown {unknown or 'none given'}; registered: {sorted(self.tasks)}"
            )
        start, end = _naive_utc(start), _naive_utc(end)
        if start is not None and end is not None and start >= end:
            raise BadRequest("from must be before to")
        spec = {
            "tasks": names,
            "from": start.isoformat() if start else None,
            "to": end.isoformat() if end else None,
        }
        if options:
            spec["options"] = options
        if limit is not None:
            if limit < 1:
                raise BadRequest("limit must be at least 1")
            spec["limit"] = limit
        if targets is not None:
            spec["targets"] = sorted(set(targets))
        job_id = secrets.token_hex(8)
        self.store.create_runner_job(job_id, project_id, spec)
        job = self.store.runner_job(job_id)
        assert job is not None
        self.store.wake_waiters()  # the runner takes the job up now, not after its idle wait
        return job

    def cancel_job(self, project_id: str | None, job_id: str) -> dict[str, Any]:
        """Cancel a queued or running job (``project_id`` None: any project's). Work
        committed stays; the chunk under way finishes."""
        job = self.store.runner_job(job_id)
        if job is None or (project_id is not None and job["project_id"] != project_id):
            raise NotFound(f"runner job {job_id!r} not found")
        if not self.store.update_runner_job(job_id, status="cancelled"):
            raise Conflict(f"runner job {job_id} has already ended ({job['status']})")
        return self.store.runner_job(job_id) or job

    def _job_chunk(self) -> bool:
        """Chunks of the oldest active job whose lease this runner takes, for about
        ``job_slice_s``: each chunk's commit runs while the next one is read and judged; all
        are committed when this returns."""
        started = time.monotonic()
        try:
            try:
                busy = self._one_job_chunk()
                while (
                    busy
                    and self._behind is not None
                    and time.monotonic() - started < self.job_slice_s
                    and not self._stopping.is_set()
                ):
                    busy = self._one_job_chunk()
            finally:  # no commit is under way between passes
                self._flush()
        except LeaseLost as exc:  # taken over while working: the new holder redoes it
            log.warning("runner %s: %s", self.holder, exc)
            return True
        return busy

    def _one_job_chunk(self) -> bool:
        jobs = self.store.runner_jobs(None, active=True)
        job = next((j for j in jobs if self._lease(f"job:{j['id']}")), None)
        if job is None or (self._behind and self._behind[1].job_id != job["id"]):
            self._flush()
        if job is not None:  # read again under the lease: another runner may have moved it
            job = self.store.runner_job(job["id"])
        if job is None or job["status"] not in ("queued", "running"):
            return False  # cancelled: the chunk under way is committed still (by the caller)
        return self._job_step(job)

    def _flush(self) -> None:
        """Wait for the job chunk's commit under way, if any (raising what it raised)."""
        behind, self._behind = self._behind, None
        if behind is not None:
            behind[0].result()

    def _commit_behind(self, work: list[WorkDone], progress: JobProgress) -> None:
        """Commit a job chunk in the committer thread, after the one before it."""
        self._flush()
        if self._committer is None:
            self._committer = ThreadPoolExecutor(1, thread_name_prefix="heron-runner-commit")
        future = self._committer.submit(
            self.store.runner_commit, work, job=progress, holder=self.holder
        )
        self._behind = (future, progress)

    def _end_job(self, job: dict[str, Any], **values: Any) -> bool:
        self._flush()
        self.store.update_runner_job(job["id"], **values)
        self.store.runner_release(self.holder, [f"job:{job['id']}"])
        return True

    def _next_phase(self, job: dict[str, Any], done: int) -> bool:
        self._flush()
        progress = JobProgress(job["id"], done, job["phase"] + 1, None)
        self.store.runner_commit([], job=progress, holder=self.holder)
        return True

    def _job_step(self, job: dict[str, Any]) -> bool:
        spec = job["spec"]
        names = spec["tasks"]
        missing = [n for n in names if n not in self.tasks]
        if missing:
            return self._end_job(
                job, status="failed", error=f"tasks not registered here: {missing}"
            )
        start = datetime.fromisoformat(spec["from"]) if spec["from"] else None
        end = datetime.fromisoformat(spec["to"]) if spec["to"] else None
        limit = spec.get("limit")
        if spec.get("targets") is not None:
            self._flush()
            return self._listed_chunk(job)
        if job["status"] == "queued":
            counts = [
                self.store.count_runner_targets(job["project_id"], self.tasks[n].scope, start, end)
                for n in names
            ]
            total = sum(min(c, limit) if limit else c for c in counts)
            self.store.update_runner_job(job["id"], status="running", total=total)
            return True
        phase = job["phase"]
        if phase >= len(names):
            return self._end_job(job, status="done")
        task = self.tasks[names[phase]]
        done, after = job["done"], job["after"]
        if self._behind is not None and self._behind[1].job_id == job["id"]:
            # the store's row lags the chunk being committed: go on from that chunk
            done, after = self._behind[1].done, self._behind[1].after
        size = self.chunk
        if limit:  # targets of this task done so far: the job's count less earlier phases'
            earlier = sum(
                min(
                    limit,
                    self.store.count_runner_targets(
                        job["project_id"], self.tasks[n].scope, start, end
                    ),
                )
                for n in names[:phase]
            )
            size = min(size, limit - (done - earlier))
        ids = (
            self.store.next_runner_targets(job["project_id"], task.scope, start, end, after, size)
            if size > 0
            else []
        )
        if not ids:
            return self._next_phase(job, done)
        work = self._work(task, job["project_id"], ids, spec.get("options"))
        self._commit_behind(work, JobProgress(job["id"], done + len(ids), phase, ids[-1]))
        return True

    def _listed_chunk(self, job: dict[str, Any]) -> bool:
        """A chunk of a job over listed targets (sorted ids; ``after``: the last done)."""
        listed: list[str] = job["spec"]["targets"]
        names = job["spec"]["tasks"]
        if job["status"] == "queued":
            total = len(listed) * len(names)
            self.store.update_runner_job(job["id"], status="running", total=total)
            return True
        phase = job["phase"]
        if phase >= len(names):
            return self._end_job(job, status="done")
        start = bisect.bisect_right(listed, job["after"]) if job["after"] is not None else 0
        ids = listed[start : start + min(self.chunk, LISTED_CHUNK)]
        if not ids:
            return self._next_phase(job, job["done"])
        task = self.tasks[names[phase]]
        work = self._work(task, job["project_id"], ids, job["spec"].get("options"))
        progress = JobProgress(job["id"], job["done"] + len(ids), phase, ids[-1])
        self.store.runner_commit(work, job=progress, holder=self.holder)
        return True


def _outcomes(task: Task, targets: list[Target], now: datetime) -> list[Outcome | Exception]:
    """Each target's outcome, or what its run raised. A task with ``run_many(targets, now)``
    (one result per target, in order) judges a chunk at once, e.g. on several cores."""
    many = getattr(task, "run_many", None)
    if callable(many) and len(targets) > 1:
        try:
            results = list(many(targets, now))
        except Exception as exc:
            return [exc] * len(targets)
        if len(results) == len(targets):
            return results
        return [ValueError("run_many returned a result count unlike its targets")] * len(targets)
    out: list[Outcome | Exception] = []
    for target in targets:
        try:
            out.append(task.run(target, now))
        except Exception as exc:
            out.append(exc)
    return out


def job_view(job: dict[str, Any]) -> dict[str, Any]:
    """A job as the API shows it."""
    spec = job["spec"]
    return {
        "id": job["id"],
        "project_id": job["project_id"],
        "tasks": spec["tasks"],
        "from": spec["from"] and spec["from"] + "Z",
        "to": spec["to"] and spec["to"] + "Z",
        "limit": spec.get("limit"),
        "options": spec.get("options"),
        "status": job["status"],
        "done": job["done"],
        "total": job["total"],
        "error": job["error"],
        "created_at": iso(job["created_at"]),
        "finished_at": iso(job["finished_at"]),
    }


def configured(runner: Runner, settings: Any) -> Runner:
    """``runner`` with each task that has ``configure(settings)`` given the server's
    settings (the evaluators take the key of connection secrets)."""
    for task in runner.hosted():
        configure = getattr(task, "configure", None)
        if callable(configure):
            configure(settings)
    return runner
