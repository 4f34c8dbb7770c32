"""The implicit-feedback detectors as a runner task (``implicit``), on by default.

For each changed session the runner hands over its traces in time order; the task turns them
into :class:`Turn` values, runs :func:`detect_session` with the project's settings (stored per
project, defaults when none) and returns each detection as a BOOLEAN score (value 1, source
EVAL) on the trace the user reacted to. Score ids are deterministic per (task, version,
project, session, detector, trace), so a re-run or a backfill upserts. While a session is
inside its idle timeout, the task asks the runner to judge it again when the timeout passes
(abandonment). See docs/feedback.md, "How detection runs".
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import threading
import time
from concurrent.futures import ProcessPoolExecutor
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

import orjson

from heron.implicit.detect import VERSION, detect_session
from heron.implicit.model import Detection, FeedbackConfig, Turn
from heron.ingest.lifeline import Lifeline, attach
from heron.runner.task import Outcome, Target

if TYPE_CHECKING:
    from heron.store import Store

NAME = "implicit"
SETTINGS_TTL_S = 2.0  # a settings change reaches the running detectors within this long
# A chunk of at least this many sessions (a backfill, a burst of changes) is judged by worker
# processes, one a core: detection is CPU-bound Python. Smaller ones run in the runner thread.
PARALLEL_MIN = 100
POOL_IDLE_S = 60.0  # the workers (each with its own copy of the model) stop after this idle

log = logging.getLogger("heron.implicit")


def config_of(settings: dict[str, Any] | None) -> FeedbackConfig:
    """A project's config from its stored settings (None: the defaults)."""
    return FeedbackConfig() if settings is None else FeedbackConfig.from_settings(settings)


def _io(text: Any, depth: int = 0) -> Any:
    """Inputs and outputs are stored as text; JSON text is the JSON it holds (as the API
    returns it), and a JSON string that holds JSON (an app that serialised a dict itself) the
    JSON inside it."""
    if not isinstance(text, str) or not text or text[0] not in '[{"' or depth > 1:
        return text
    try:
        value = orjson.loads(text)
    except orjson.JSONDecodeError:
        return text
    return _io(value, depth + 1) if isinstance(value, str) else value


def turns_of(traces: list[dict[str, Any]]) -> list[Turn]:
    """A session's traces (runner rows) as the detectors' turns."""
    return [
        Turn(
            trace_id=t["id"],
            timestamp=t["start_time"],
            input=_io(t["input"]),
            output=_io(t["output"]),
            level=t["level"],
            latency_ms=t["latency_ms"],
        )
        for t in traces
        if t["start_time"] is not None
    ]


def _detect_many(
    sessions: list[tuple[list[dict[str, Any]], FeedbackConfig]], now: datetime
) -> list[list[Detection] | Exception]:
    """Detections of several sessions (their trace rows; in a worker process, which parses
    them too); a session that fails gives its exception, not the others'."""
    out: list[list[Detection] | Exception] = []
    for traces, config in sessions:
        try:
            out.append(detect_session(turns_of(traces), config, now))
        except Exception as exc:
            out.append(exc)
    return out


def _cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


class FeedbackTask:
    """The runner task ``implicit``: implicit-feedback detections of a session as scores."""

    name = NAME
    version = VERSION  # the detectors' version: a change in judgement re-keys the work
    scope = "session"
    fields = ("input", "output", "level", "latency_ms")

    def __init__(self, store: Store | None = None) -> None:
        self._store = store
        self._configs: dict[str, tuple[float, FeedbackConfig]] = {}
        self._lock = threading.Lock()
        self._executor: ProcessPoolExecutor | None = None
        self._lifeline: Lifeline | None = None
        self._timer: threading.Timer | None = None
        self._busy = False

    def bind(self, store: Store) -> None:
        """The store the project settings are read from (the runner calls this)."""
        self._store = store
        with self._lock:
            self._configs.clear()

    def config(self, project_id: str) -> FeedbackConfig:
        """The project's settings, read again at most every :data:`SETTINGS_TTL_S`."""
        now = time.monotonic()
        with self._lock:
            cached = self._configs.get(project_id)
        if cached is not None and now - cached[0] < SETTINGS_TTL_S:
            return cached[1]
        stored = self._store.implicit_settings(project_id) if self._store is not None else None
        config = config_of(stored)
        with self._lock:
            self._configs[project_id] = (now, config)
        return config

    def run(self, target: Target, now: datetime) -> Outcome:
        config = self.config(target.project_id)
        turns = turns_of(target.traces)
        if not turns or not config.enabled:
            return Outcome()
        return self._outcome(target, config, detect_session(turns, config, now), now)

    def run_many(self, targets: list[Target], now: datetime) -> list[Outcome | Exception]:
        """A chunk of sessions: on worker processes (one a core) when it is large."""
        workers = _cores()
        if len(targets) < PARALLEL_MIN or workers < 2:
            out: list[Outcome | Exception] = []
            for target in targets:
                try:
                    out.append(self.run(target, now))
                except Exception as exc:
                    out.append(exc)
            return out
        jobs = [(t, self.config(t.project_id)) for t in targets]
        todo = [(t.traces, config) for t, config in jobs if config.enabled]
        size = max(1, -(-len(todo) // workers))
        try:
            pool = self._pool(workers)
            parts = [
                pool.submit(_detect_many, todo[i : i + size], now)
                for i in range(0, len(todo), size)
            ]
            found = iter([d for part in parts for d in part.result()])
        finally:
            self._release()
        results: list[Outcome | Exception] = []
        for target, config in jobs:
            detections = next(found) if config.enabled else []
            if isinstance(detections, Exception):
                results.append(detections)
            else:
                results.append(self._outcome(target, config, detections, now))
        return results

    def _outcome(
        self, target: Target, config: FeedbackConfig, detections: list[Detection], now: datetime
    ) -> Outcome:
        times = {t["id"]: t["start_time"] for t in target.traces}
        scores = []
        for d in detections:
            reacting = d.metadata.get("reacting_trace_id")
            scores.append(
                target.score(
                    d.name,
                    1,
                    data_type="BOOLEAN",
                    trace_id=d.trace_id,
                    comment=d.comment,
                    metadata=d.metadata,
                    # when the user reacted (abandonment: the abandoned trace), not "now":
                    # a re-run writes the same row
                    timestamp=times.get(reacting) or times[d.trace_id],
                )
            )
        recheck = None
        last = max((t for t in times.values() if t is not None), default=None)
        if "implicit_abandonment" in config.enabled and last is not None:
            due = last + timedelta(seconds=config.idle_timeout_s)
            if due > now:
                recheck = due + timedelta(seconds=1)
        return Outcome(scores, recheck_at=recheck)

    # -- worker processes --------------------------------------------------------------------

    def _pool(self, workers: int) -> ProcessPoolExecutor:
        with self._lock:
            self._busy = True
            if self._timer is not None:
                self._timer.cancel()
                self._timer = None
            if self._executor is None:
                # spawn, not fork: the server has threads (and DuckDB) a fork would copy mid-use
                context = multiprocessing.get_context("spawn")
                # the workers die with the server, even a server killed with SIGKILL
                self._lifeline = Lifeline()
                self._executor = ProcessPoolExecutor(
                    workers,
                    mp_context=context,
                    initializer=attach,
                    initargs=(self._lifeline.worker_end, self._lifeline.server_pid),
                )
                log.info("implicit: %d worker processes for a large chunk", workers)
            return self._executor

    def _release(self) -> None:
        """Stop the workers once no large chunk came for :data:`POOL_IDLE_S`."""
        with self._lock:
            self._busy = False
            if self._timer is not None:
                self._timer.cancel()
            self._timer = threading.Timer(POOL_IDLE_S, self.close, kwargs={"idle": True})
            self._timer.daemon = True
            self._timer.start()

    def close(self, idle: bool = False) -> None:
        """Stop the worker processes (started again when needed); ``idle``: unless in use."""
        with self._lock:
            if idle and self._busy:
                return
            executor, self._executor = self._executor, None
            lifeline, self._lifeline = self._lifeline, None
            if self._timer is not None:
                self._timer.cancel()
                self._timer = None
        if executor is not None:
            executor.shutdown(wait=True, cancel_futures=True)
        if lifeline is not None:
            lifeline.close()
