"""What a runner task is: a named, versioned function from one target to its scores.

A target is a session (its traces in time order) or a single trace. The runner calls
:meth:`Task.run` when the target changed, when a re-check it asked for is due, and in
backfill jobs; the scores it returns replace what the same task wrote on the same target
before (see :mod:`heron.runner.engine`), so running it again never duplicates anything.
Score ids come from :func:`score_id`: the same (task, version, target, name) is the same id,
so the write is an upsert through the one score write path.
"""

from __future__ import annotations

import hashlib
import importlib
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol, runtime_checkable

from heron.scores import DATA_TYPES, ScoreRecord
from heron.store.runner import SCOPES, TRACE_FIELDS

SOURCE = "EVAL"  # Langfuse's source for scores an evaluator (not a person or the API) wrote
_NAME = re.compile(r"^[a-z][a-z0-9_.-]{0,63}$")


@dataclass(slots=True)
class Outcome:
    """What one run produced: scores (replacing the previous run's) and, for judgements that
    depend on time passing (abandonment), when to run again (``None``: not needed).
    ``keep`` names scores of the previous run (:attr:`Target.previous`) to leave as they
    are, for work done once per version (an LLM judge is not asked again)."""

    scores: list[ScoreRecord] = field(default_factory=list)
    recheck_at: datetime | None = None
    keep: list[str] = field(default_factory=list)


@runtime_checkable
class Task(Protocol):
    """A runner task. ``name`` and ``version`` identify its work (bump ``version`` when its
    judgement changes, then backfill); ``scope`` is ``"session"`` or ``"trace"``; ``fields``
    names the trace columns ``run`` reads (:data:`heron.store.runner.TRACE_FIELDS`; ``id``
    and ``start_time`` always come)."""

    name: str
    version: str
    scope: str
    fields: tuple[str, ...]

    def run(self, target: Target, now: datetime) -> Outcome: ...


@runtime_checkable
class Periodic(Protocol):
    """Work on a schedule rather than on changed targets (alert evaluation, notification
    delivery). The runner calls :meth:`run` when the time :meth:`due` last answered has
    come, in its own thread; ``run`` must be idempotent (after a crash it runs again for
    the same time). ``due`` answers the next time it wants to run (``None``: nothing
    planned; it is asked again after every pass)."""

    name: str

    def due(self, now: datetime) -> datetime | None: ...

    def run(self, now: datetime) -> None: ...


def score_id(
    task: str, version: str, project_id: str, target: str, name: str, trace_id: str | None = None
) -> str:
    """The deterministic id of a task's score: 32 hex characters."""
    key = "\x00".join(("heron-runner", task, version, project_id, target, name, trace_id or ""))
    return hashlib.sha256(key.encode()).hexdigest()[:32]


@dataclass(slots=True)
class Target:
    """One session (``scope == "session"``) or trace a task judges, with its traces in time
    order (dicts of the task's ``fields``; times are naive UTC datetimes). ``previous``: the
    ids of the scores the task's last run on it wrote; ``options``: the options of the
    backfill job running it (``None`` outside a job)."""

    task: str
    version: str
    project_id: str
    scope: str
    id: str
    traces: list[dict[str, Any]]
    previous: frozenset[str] = frozenset()
    options: dict[str, Any] | None = None

    def score(
        self,
        name: str,
        value: float | str | bool,
        *,
        data_type: str = "NUMERIC",
        trace_id: str | None = None,
        comment: str | None = None,
        metadata: dict[str, Any] | None = None,
        timestamp: datetime | None = None,
    ) -> ScoreRecord:
        """A score of this target with its deterministic id. A session score names no trace
        unless ``trace_id`` (one turn) is given; a trace task's scores are on its trace. The
        timestamp defaults to the last trace's start, so a re-run writes the same row."""
        if data_type not in DATA_TYPES:
            raise ValueError(f"data_type must be one of {DATA_TYPES}")
        if self.scope == "trace":
            trace_id = self.id
        numeric = data_type in ("NUMERIC", "BOOLEAN")
        return ScoreRecord(
            project_id=self.project_id,
            id=score_id(self.task, self.version, self.project_id, self.id, name, trace_id),
            trace_id=trace_id,
            observation_id=None,
            session_id=self.id if self.scope == "session" else None,
            name=name,
            value=float(value) if numeric else None,
            string_value=None if numeric else str(value),
            data_type=data_type,
            source=SOURCE,
            comment=comment,
            author=f"heron-runner/{self.task}@{self.version}",
            timestamp=timestamp or (self.traces[-1]["start_time"] if self.traces else None),
            metadata=metadata,
            environment=self.traces[-1].get("environment") if self.traces else None,
        )


def check_task(task: Any) -> Task:
    """``task`` if it is a usable task (ValueError naming the problem otherwise)."""
    if not isinstance(task, Task):
        raise ValueError(f"{task!r} is not a runner task (name, version, scope, fields, run)")
    if not isinstance(task.name, str) or not _NAME.match(task.name):
        raise ValueError(f"task name {task.name!r}: lowercase letters, digits, _ . -, at most 64")
    if not isinstance(task.version, str) or not task.version or len(task.version) > 64:
        raise ValueError(f"task {task.name}: version must be a short non-empty string")
    if task.scope not in SCOPES:
        raise ValueError(f"task {task.name}: scope must be one of {SCOPES}")
    unknown = [f for f in task.fields if f not in TRACE_FIELDS]
    if unknown:
        raise ValueError(f"task {task.name}: unknown trace fields {unknown}")
    return task


def check_periodic(periodic: Any) -> Periodic:
    """``periodic`` if it is usable scheduled work (ValueError naming the problem otherwise)."""
    if not isinstance(periodic.name, str) or not _NAME.match(periodic.name):
        raise ValueError(
            f"periodic name {periodic.name!r}: lowercase letters, digits, _ . -, at most 64"
        )
    return periodic


def check_hosted(obj: Any) -> Task | Periodic:
    """A task, or else a periodic; ValueError naming the problem for anything else."""
    if not isinstance(obj, Task) and isinstance(obj, Periodic):
        return check_periodic(obj)
    return check_task(obj)


def load_tasks(spec: str) -> list[Task | Periodic]:
    """Tasks and periodics named by ``module:attribute`` entries, comma-separated (the
    ``HERON_RUNNER_TASKS`` setting). An attribute is a task or periodic, a list of them, or
    a callable returning either."""
    tasks: list[Task | Periodic] = []
    for entry in (e.strip() for e in spec.split(",")):
        if not entry:
            continue
        module_name, sep, attr = entry.partition(":")
        if not sep or not module_name or not attr:
            raise ValueError(f"runner task {entry!r}: expected 'module:attribute'")
        try:
            obj = getattr(importlib.import_module(module_name), attr)
        except (ImportError, AttributeError) as exc:
            raise ValueError(f"runner task {entry!r} cannot be loaded: {exc}") from exc
        if isinstance(obj, type) or (callable(obj) and not isinstance(obj, Task | Periodic)):
            obj = obj()
        tasks.extend(check_hosted(t) for t in (obj if isinstance(obj, list | tuple) else [obj]))
    return unique(tasks)


def unique(tasks: Sequence[Any]) -> list[Any]:
    names = [t.name for t in tasks]
    twice = sorted({n for n in names if names.count(n) > 1})
    if twice:
        raise ValueError(f"runner tasks registered twice: {', '.join(twice)}")
    return list(tasks)
