"""Evaluators as runner tasks: every active evaluator of a project on each new target, once.

Two tasks of the background runner (:mod:`heron.runner`): ``evaluators`` judges traces and
their observations, ``evaluators.sessions`` sessions. The runner hands them the targets that
changed (or a backfill's); for each target and each active evaluator of its project:

1. skip it when the evaluator's filter does not match, sampling leaves the target out
   (deterministic: a hash of evaluator and target id), or the target is a judge's own trace
   (environment ``heron-evaluation``);
2. keep the score when this evaluator version already scored the target: each version
   evaluates a target at most once, so a late span never pays for a second judge call;
3. wait (a re-check) while the target had a new span less than ``delay_seconds`` ago;
4. else evaluate, and the new score replaces the ones earlier versions wrote on the target.

Score ids are deterministic in (evaluator, version, target), so a redo after a crash
rewrites the same rows (see the runner's work records). A backfill job may name the
evaluators it runs (``options.evaluators``); the others keep what they wrote.
"""

from __future__ import annotations

import hashlib
import logging
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from heron.evals import fields as fieldmod
from heron.query.filters import parse_filters
from heron.runner.task import Outcome, Target
from heron.scores import ScoreRecord

log = logging.getLogger("heron.evals")

EVAL_ENVIRONMENT = "heron-evaluation"  # judge calls are traces of the project, kept apart
REFRESH_S = 2.0  # evaluator definitions are read again at most this often
PAUSE_AFTER = 5  # consecutive failures that pause an evaluator (the error shown)
TRACE_FIELDS = (
    "name", "user_id", "session_id", "release", "version", "environment", "tags", "metadata",
    "input", "output", "end_time", "latency_ms", "total_cost", "total_tokens", "level",
    "updated_at",
)  # fmt: skip


def score_id(evaluator_id: str, version: int, project_id: str, target: str, obs: str | None) -> str:
    key = "\x00".join(("heron-eval", evaluator_id, str(version), project_id, target, obs or ""))
    return hashlib.sha256(key.encode()).hexdigest()[:32]


def sampled(evaluator_id: str, target: str, rate: float) -> bool:
    """Deterministic sampling: the same target is in or out for the evaluator every time."""
    if rate >= 1.0:
        return True
    digest = hashlib.sha256(f"{evaluator_id}\x00{target}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64 < rate


@dataclass(slots=True)
class Job:
    """One evaluation to make: an evaluator on one target (or one observation of it)."""

    evaluator: dict[str, Any]
    target: Target
    record: dict[str, Any]
    observation_id: str | None
    trace_id: str | None
    session_id: str | None
    timestamp: datetime
    score_id: str


@dataclass(slots=True)
class Result:
    value: float | bool | str
    data_type: str
    comment: str | None = None
    metadata: dict[str, Any] = field(default_factory=dict)
    cost: float = 0.0
    raw: str | None = None  # a judge's answer as it came


class EvaluatorTask:
    """The runner task for evaluators of traces and observations (``scope = "trace"``);
    :class:`SessionEvaluatorTask` is the one for sessions."""

    name = "evaluators"
    version = "1"
    scope = "trace"
    targets = ("traces", "observations")
    fields = TRACE_FIELDS

    def __init__(self) -> None:
        self.store: Any = None
        self._cache: dict[str, list[dict[str, Any]]] = {}
        self._read_at = 0.0
        self._lock = threading.Lock()
        self._failures: dict[str, int] = {}
        self._custom: Any = None
        self._judges: Any = None
        self._records: dict[int, dict[str, Any]] = {}
        self.secret: bytes | None = None  # the server's key for connection secrets

    def configure(self, settings: Any) -> None:
        """Take the server's settings (its key for connection secrets)."""
        from heron.evals.secrets import settings_key

        self.secret = settings_key(settings)

    def bind(self, store: Any) -> None:
        self.store = store

    def close(self) -> None:
        for runner in (self._custom or {}).values():
            runner.close()
        self._custom = None
        if self._judges is not None:
            self._judges.close()
            self._judges = None

    # -- definitions -------------------------------------------------------------------------

    def evaluators(self, project_id: str) -> list[dict[str, Any]]:
        """The project's active evaluators of this task's targets (cached briefly)."""
        with self._lock:
            if time.monotonic() - self._read_at > REFRESH_S:
                cache: dict[str, list[dict[str, Any]]] = {}
                for e in self.store.list_evaluators(None, active_only=True):
                    if e["spec"]["target"] in self.targets:
                        cache.setdefault(e["project_id"], []).append(e)
                self._cache = cache
                self._read_at = time.monotonic()
            return self._cache.get(project_id, [])

    def refresh(self) -> None:
        """Read the definitions again at the next run (after an edit in this process)."""
        with self._lock:
            self._read_at = 0.0

    # -- the runner's entry points -----------------------------------------------------------

    def run(self, target: Target, now: datetime) -> Outcome:
        return self.run_many([target], now)[0]

    def run_many(self, targets: Sequence[Target], now: datetime) -> list[Outcome | Exception]:
        outcomes = {id(t): Outcome(keep=list(t.previous)) for t in targets}
        self._records = {}
        by_project: dict[str, list[Target]] = {}
        for t in targets:
            by_project.setdefault(t.project_id, []).append(t)
        jobs: list[Job] = []
        for project_id, group in by_project.items():
            evaluators = self.evaluators(project_id)
            only = (group[0].options or {}).get("evaluators")
            if only is not None:
                evaluators = [e for e in evaluators if e["id"] in only]
            if evaluators:
                jobs.extend(self._plan(project_id, group, evaluators, now, outcomes))
        if jobs:
            self._evaluate(jobs, outcomes)
        return [outcomes[id(t)] for t in targets]

    # -- planning ----------------------------------------------------------------------------

    def _plan(
        self,
        project_id: str,
        group: list[Target],
        evaluators: list[dict[str, Any]],
        now: datetime,
        outcomes: dict[int, Outcome],
    ) -> list[Job]:
        live = [t for t in group if not _is_judge_trace(t)]
        ids = [t.id for t in live]
        jobs: list[Job] = []
        for ev in evaluators:
            spec = ev["spec"]
            if spec["target"] == "observations":
                jobs.extend(self._plan_observations(project_id, live, ev, now, outcomes))
                continue
            filters = parse_filters(spec["filter"])
            matched = self.store.matching_traces(project_id, ids, filters) if filters else set(ids)
            for t in live:
                if t.id not in matched or not sampled(ev["id"], t.id, spec["sampling"]):
                    continue
                job = self._job(ev, t, None, now, outcomes[id(t)])
                if job is not None:
                    jobs.append(job)
        return jobs

    def _plan_observations(
        self,
        project_id: str,
        live: list[Target],
        ev: dict[str, Any],
        now: datetime,
        outcomes: dict[int, Outcome],
    ) -> list[Job]:
        spec = ev["spec"]
        filters = parse_filters(spec["filter"])
        wanted = spec.get("observation") or {}
        if wanted.get("type"):
            filters += parse_filters([{"column": "type", "operator": "=", "value": wanted["type"]}])
        if wanted.get("name"):
            filters += parse_filters([{"column": "name", "operator": "=", "value": wanted["name"]}])
        by_trace: dict[str, list[dict[str, Any]]] = {}
        for obs in self.store.matching_observations(project_id, [t.id for t in live], filters):
            by_trace.setdefault(obs["trace_id"], []).append(obs)
        jobs = []
        for t in live:
            for obs in by_trace.get(t.id, ()):
                if sampled(ev["id"], obs["id"], spec["sampling"]):
                    job = self._job(ev, t, obs, now, outcomes[id(t)])
                    if job is not None:
                        jobs.append(job)
        return jobs

    def _job(
        self,
        ev: dict[str, Any],
        target: Target,
        obs: dict[str, Any] | None,
        now: datetime,
        outcome: Outcome,
    ) -> Job | None:
        obs_id = obs["id"] if obs else None
        sid = score_id(ev["id"], ev["version"], target.project_id, target.id, obs_id)
        if sid in target.previous:
            return None  # this version has scored it: once per version
        quiet_at = _last_write(target) + timedelta(seconds=ev["spec"]["delay_seconds"])
        if quiet_at > now:
            due = outcome.recheck_at
            outcome.recheck_at = quiet_at if due is None or quiet_at < due else due
            return None
        last = target.traces[-1]
        if obs is not None:
            record = fieldmod.record(obs)
            record["latency_ms"] = _ms(obs.get("start_time"), obs.get("end_time"))
        else:  # one record a target, shared by its evaluators (they only read it)
            record = self._records.get(id(target))
            if record is None:
                record = self._records[id(target)] = fieldmod.record(last)
        return Job(
            evaluator=ev,
            target=target,
            record=record,
            observation_id=obs_id,
            trace_id=last["id"] if target.scope == "trace" else None,
            session_id=target.id if target.scope == "session" else None,
            timestamp=target.traces[0]["start_time"],
            score_id=sid,
        )

    # -- evaluation --------------------------------------------------------------------------

    def _evaluate(self, jobs: list[Job], outcomes: dict[int, Outcome]) -> None:
        self._fill_context(jobs)
        self._fill_expected(jobs)
        results: list[Result | Exception] = [RuntimeError("not run")] * len(jobs)
        judge_jobs: list[int] = []
        for i, job in enumerate(jobs):
            kind = job.evaluator["spec"]["type"]
            if kind == "code":
                results[i] = self._run_code(job)
            elif kind == "custom":
                results[i] = self._run_custom(job)
            else:
                judge_jobs.append(i)
        if judge_jobs:
            from heron.evals.judging import run_judges

            for i, result in zip(
                judge_jobs, run_judges(self, [jobs[i] for i in judge_jobs]), strict=True
            ):
                results[i] = result
        self._record(jobs, results, outcomes)

    def _fill_context(self, jobs: list[Job]) -> None:
        """Retrieved documents for evaluators that read ``context``."""
        wanting = [
            j
            for j in jobs
            if "context" in j.evaluator["spec"].get("variables", {}).values()
            and j.target.scope == "trace"
        ]
        if not wanting:
            return
        by_project: dict[str, set[str]] = {}
        for j in wanting:
            by_project.setdefault(j.target.project_id, set()).add(j.target.id)
        docs: dict[tuple[str, str], list[dict[str, Any]]] = {}
        retriever = parse_filters([{"column": "type", "operator": "=", "value": "retriever"}])
        for project_id, ids in by_project.items():
            for obs in self.store.matching_observations(project_id, sorted(ids), retriever):
                docs.setdefault((project_id, obs["trace_id"]), []).append(obs)
        for j in wanting:
            j.record["context"] = fieldmod.context_text(
                docs.get((j.target.project_id, j.target.id), [])
            )

    def _fill_expected(self, jobs: list[Job]) -> None:
        """The expected output of the dataset item a trace ran (an experiment's run item),
        for evaluators that read ``expected_output``; missing for other traces."""
        wanting = [
            j
            for j in jobs
            if "expected_output" in j.evaluator["spec"].get("variables", {}).values()
            and (j.trace_id or j.record.get("trace_id"))
        ]
        by_project: dict[str, set[str]] = {}
        for j in wanting:
            by_project.setdefault(j.target.project_id, set()).add(
                j.trace_id or j.record["trace_id"]
            )
        expected: dict[tuple[str, str], Any] = {}
        for project_id, ids in by_project.items():
            found = self.store.run_item_expected_outputs(project_id, sorted(ids))
            expected.update(((project_id, t), v) for t, v in found.items())
        for j in wanting:
            key = (j.target.project_id, j.trace_id or j.record["trace_id"])
            if key in expected:
                j.record["expected_output"] = expected[key]

    def _run_code(self, job: Job) -> Result | Exception:
        from heron.evals.checks import run_check

        spec = job.evaluator["spec"]
        try:
            variables = fieldmod.resolve_all(spec["variables"], job.record)
            r = run_check(spec["check"], spec["args"], variables)
        except Exception as exc:
            return exc
        return Result(r.value, r.data_type, r.comment)

    def _run_custom(self, job: Job) -> Result | Exception:
        from heron.evals.custom import CustomRunner

        spec = job.evaluator["spec"]
        if self._custom is None:
            self._custom = {}
        timeout = float(spec["timeout_seconds"])
        runner = self._custom.get(timeout)
        if runner is None:  # one worker per timeout in use (a handful at most)
            runner = self._custom[timeout] = CustomRunner(max_workers=1, timeout_s=timeout)
        try:
            variables = fieldmod.resolve_all(spec["variables"], job.record)
            r = runner.run(spec["function"], variables, spec["args"])
        except Exception as exc:
            return exc
        return Result(r.value, r.data_type, r.comment)

    def _record(
        self, jobs: list[Job], results: list[Result | Exception], outcomes: dict[int, Outcome]
    ) -> None:
        stats: dict[tuple[str, str, int], dict[str, Any]] = {}
        lines: list[dict[str, Any]] = []
        configs = self._configs(jobs)
        for job, result in zip(jobs, results, strict=True):
            ev = job.evaluator
            key = (ev["project_id"], ev["id"], ev["version"])
            stat = stats.setdefault(
                key,
                {"project_id": key[0], "evaluator_id": key[1], "version": key[2],
                 "scored": 0, "failed": 0, "cost": 0.0},
            )  # fmt: skip
            target_label = job.observation_id or job.target.id
            if isinstance(result, Exception):
                stat["failed"] += 1
                kind = getattr(result, "kind", None)  # a judge's error says which
                message = (
                    f"{kind} error: {result}" if kind else f"{type(result).__name__}: {result}"
                )
                stat["last_error"] = message
                lines.append(_line(ev, "error", message, target_label))
                self._failed(ev, message)
                continue
            self._failures.pop(ev["id"], None)
            stat["scored"] += 1
            stat["cost"] += result.cost
            try:
                score = self._score(job, result, configs)
            except ValueError as exc:
                stat["failed"] += 1
                stat["scored"] -= 1
                stat["last_error"] = str(exc)
                lines.append(_line(ev, "error", str(exc), target_label))
                continue
            outcome = outcomes[id(job.target)]
            outcome.scores.append(score)
            if ev["version"] > 1 and outcome.keep:
                superseded = _superseded(ev, job, outcome.keep)
                outcome.keep = [i for i in outcome.keep if i not in superseded]
        if stats or lines:
            try:
                self.store.record_evaluator_runs(list(stats.values()), lines)
            except Exception:  # statistics must never fail the scores
                log.exception("evaluator statistics not recorded")

    def _configs(self, jobs: list[Job]) -> dict[tuple[str, str], dict[str, Any]]:
        """Score configs by (project, name) for the evaluators that write under one."""
        from heron.config.document import all_score_configs

        out: dict[tuple[str, str], dict[str, Any]] = {}
        for project_id in {
            j.evaluator["project_id"] for j in jobs if j.evaluator["spec"].get("score_config")
        }:
            for c in all_score_configs(self.store, project_id):
                out[(project_id, c["name"])] = c
        return out

    def _score(
        self, job: Job, result: Result, configs: dict[tuple[str, str], dict[str, Any]]
    ) -> ScoreRecord:
        ev = job.evaluator
        spec = ev["spec"]
        config = configs.get((ev["project_id"], spec.get("score_config") or ""))
        value, string_value = _value(result, config)
        metadata = {
            "evaluator_id": ev["id"],
            "evaluator": ev["name"],
            "evaluator_version": ev["version"],
            **result.metadata,
        }
        return ScoreRecord(
            project_id=ev["project_id"],
            id=job.score_id,
            trace_id=job.trace_id,
            observation_id=job.observation_id,
            session_id=job.session_id,
            name=ev["name"],
            value=value,
            string_value=string_value,
            data_type=result.data_type,
            source="EVAL",
            comment=(result.comment or None) and result.comment[:10_000],
            author=f"heron-evaluator/{ev['name']}@v{ev['version']}",
            timestamp=job.timestamp,
            metadata=metadata,
            environment=job.target.traces[-1].get("environment"),
            config_id=config["id"] if config else None,
        )

    def _failed(self, ev: dict[str, Any], message: str) -> None:
        count = self._failures.get(ev["id"], 0) + 1
        self._failures[ev["id"]] = count
        if count >= PAUSE_AFTER:
            reason = f"paused after {count} failures in a row; last: {message}"[:2000]
            try:
                self.store.set_evaluator_status(ev["project_id"], ev["id"], "paused", reason)
                log.warning("evaluator %s paused: %s", ev["name"], message)
            finally:
                self._failures.pop(ev["id"], None)
                self.refresh()


class SessionEvaluatorTask(EvaluatorTask):
    """Evaluators of sessions: the conversation as a whole."""

    name = "evaluators.sessions"
    scope = "session"
    targets = ("sessions",)

    def _plan(
        self,
        project_id: str,
        group: list[Target],
        evaluators: list[dict[str, Any]],
        now: datetime,
        outcomes: dict[int, Outcome],
    ) -> list[Job]:
        jobs = []
        for t in group:
            traces = [x for x in t.traces if x.get("environment") != EVAL_ENVIRONMENT]
            if not traces:
                continue
            for ev in evaluators:
                spec = ev["spec"]
                if spec["filter"]:
                    ids = [x["id"] for x in traces]
                    if not self.store.matching_traces(
                        project_id, ids, parse_filters(spec["filter"])
                    ):
                        continue
                if not sampled(ev["id"], t.id, spec["sampling"]):
                    continue
                job = self._job(ev, t, None, now, outcomes[id(t)])
                if job is not None:
                    last = fieldmod.record(traces[-1])
                    job.record = {
                        **last,
                        "conversation": fieldmod.conversation(traces),
                        "session_id": t.id,
                    }
                    jobs.append(job)
        return jobs


def tasks() -> list[EvaluatorTask]:
    """The evaluator tasks (``heron.evals.task:tasks`` in ``HERON_RUNNER_TASKS``): traces and
    observations, sessions, and alignment runs (jobs only, :mod:`heron.evals.alignment`)."""
    from heron.evals.alignment import AlignmentTask

    return [EvaluatorTask(), SessionEvaluatorTask(), AlignmentTask()]


def _is_judge_trace(target: Target) -> bool:
    return bool(target.traces) and target.traces[-1].get("environment") == EVAL_ENVIRONMENT


def _last_write(target: Target) -> datetime:
    times = [t["updated_at"] for t in target.traces if t.get("updated_at") is not None]
    return max(times) if times else target.traces[-1]["start_time"]


def _ms(start: datetime | None, end: datetime | None) -> float | None:
    if start is None or end is None:
        return None
    return (end - start).total_seconds() * 1000


def _line(ev: dict[str, Any], level: str, message: str, target: str | None) -> dict[str, Any]:
    return {
        "project_id": ev["project_id"],
        "evaluator_id": ev["id"],
        "level": level,
        "message": message,
        "target": target,
    }


def _superseded(ev: dict[str, Any], job: Job, previous: list[str]) -> set[str]:
    """Ids of earlier versions' scores of ``ev`` on the same target (replaced by the new)."""
    return {
        score_id(ev["id"], v, job.target.project_id, job.target.id, job.observation_id)
        for v in range(1, ev["version"])
    } & set(previous)


def _value(result: Result, config: dict[str, Any] | None) -> tuple[float | None, str | None]:
    if result.data_type == "BOOLEAN":
        return (1.0 if result.value else 0.0), None
    if result.data_type == "NUMERIC":
        if isinstance(result.value, bool) or not isinstance(result.value, int | float):
            raise ValueError(f"a NUMERIC result must be a number, got {result.value!r}")
        return float(result.value), None
    label = str(result.value)
    if config and config.get("categories"):
        for c in config["categories"]:
            if c["label"].lower() == label.lower():
                return float(c["value"]), c["label"]
        raise ValueError(f"{label!r} is not a category of score config {config['name']}")
    return None, label
