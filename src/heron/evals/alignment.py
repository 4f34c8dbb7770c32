"""Alignment: how far an evaluator agrees with the labels people gave, before it goes live.

:func:`start` takes an evaluator (a saved one's current version, or an unsaved draft) and a
label (:mod:`heron.evals.labels`), samples the labelled traces (at most :data:`MAX_LIMIT`;
stratified by label when there are more, so both sides keep their share), records the run
and its items (each trace with the person's label, nothing predicted yet) and starts a
runner job over exactly those traces. The job's task (:class:`AlignmentTask`,
``evaluators.align``, run in jobs only) evaluates each trace the way the evaluator task
does (code checks in process, judges through the project's connection with its
concurrency and retries, every judge call recorded as a ``heron-evaluation`` trace) but
writes no score: it records what the evaluator said on the run's items. :func:`figures`
compares: true positive and true negative rates, precision, accuracy, Cohen's kappa, the
counts, and the traces where the evaluator and the person disagree.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from heron.errors import BadRequest, Conflict
from heron.evals import fields as fieldmod
from heron.evals.labels import Labels
from heron.evals.task import EvaluatorTask, Job, Result
from heron.runner.task import Outcome, Target
from heron.store.reads import iso

TASK = "evaluators.align"
MAX_LIMIT = 500  # labelled traces one run evaluates
DISAGREEMENTS_SHOWN = 200
_KEYS = {"scoreName", "positive", "limit", "source", "evaluatorPositive", "threshold"}


def check_body(body: Any) -> dict[str, Any]:
    """The align request ``{scoreName, positive, limit?, source?, evaluatorPositive?,
    threshold?}``, its limit checked (at most :data:`MAX_LIMIT`)."""
    if not isinstance(body, dict):
        raise BadRequest("body: expected {scoreName, positive, limit?}")
    unknown = sorted(set(body) - _KEYS)
    if unknown:
        raise BadRequest(f"unknown fields {unknown}; expected some of {sorted(_KEYS)}")
    limit = body.get("limit", MAX_LIMIT)
    if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= MAX_LIMIT:
        raise BadRequest(f"limit: a whole number of labelled traces from 1 to {MAX_LIMIT}")
    return {**body, "limit": limit}


def sample(labels: Labels, limit: int) -> list[tuple[str, bool]]:
    """``(trace_id, positive)`` of at most ``limit`` labelled traces: all of them when they
    fit, else each side in proportion (at least one of each), a fixed choice (by a hash)."""
    pos = sorted(labels.positives, key=lambda i: _order(i["trace_id"]))
    neg = sorted(labels.negatives, key=lambda i: _order(i["trace_id"]))
    total = len(pos) + len(neg)
    if total > limit:
        take_pos = round(limit * len(pos) / total)
        take_pos = min(len(pos), max(1 if pos else 0, take_pos))
        take_pos = min(take_pos, limit - (1 if neg and limit > 1 else 0))
        pos, neg = pos[:take_pos], neg[: limit - take_pos]
    return [(i["trace_id"], True) for i in pos] + [(i["trace_id"], False) for i in neg]


def _order(trace_id: str) -> str:
    return hashlib.sha256(trace_id.encode()).hexdigest()


def positive_of(spec: Mapping[str, Any], labels: Labels, body: Mapping[str, Any]) -> Any:
    """What the evaluator answers for a positive: ``true`` for a BOOLEAN output, the label
    (or ``evaluatorPositive``) for a CATEGORICAL one, values from ``threshold`` up (default:
    the middle of the range) for a NUMERIC one."""
    output = spec.get("output") or {}
    kind = output.get("data_type")
    given = body.get("evaluatorPositive")
    if kind == "BOOLEAN":
        if given is not None and not isinstance(given, bool):
            raise BadRequest("evaluatorPositive: true or false for a BOOLEAN evaluator")
        return True if given is None else given
    if kind == "CATEGORICAL":
        wanted = labels.label if given is None else given
        for c in output.get("categories") or ():
            if isinstance(wanted, str) and c.lower() == wanted.lower():
                return c
        raise BadRequest(
            f"evaluatorPositive: which of the evaluator's categories {output.get('categories')} "
            f"means {labels.label!r}?"
        )
    if kind == "NUMERIC":
        threshold = body.get("threshold")
        if threshold is None:
            return (float(output.get("min", 0.0)) + float(output.get("max", 1.0))) / 2
        if isinstance(threshold, bool) or not isinstance(threshold, int | float):
            raise BadRequest("threshold: a number; values from it up count as positive")
        return float(threshold)
    raise BadRequest("the evaluator writes no BOOLEAN, CATEGORICAL or NUMERIC score")


def start(
    store: Any,
    runner: Any,
    project_id: str,
    evaluator: Mapping[str, Any],
    labels: Labels,
    body: Mapping[str, Any],
) -> dict[str, Any]:
    """Record a run of ``evaluator`` (``{id | None, name, version | None, spec}``) against
    ``labels`` and start its job; the run's view."""
    spec = evaluator["spec"]
    if spec["target"] != "traces":
        raise BadRequest("alignment compares labels on traces: only evaluators of traces")
    if not labels.negatives:
        raise BadRequest(
            f"{labels.score_name}: every labelled trace is {labels.label}; alignment needs "
            "negatives too (traces with another label)"
        )
    if TASK not in runner.tasks:
        raise Conflict(f"the runner task {TASK!r} is not registered (setting HERON_RUNNER_TASKS)")
    expected = positive_of(spec, labels, body)
    chosen = sample(labels, body["limit"])
    run_id = secrets.token_hex(8)
    store.create_alignment(
        project_id,
        {
            "id": run_id, "evaluator_id": evaluator.get("id"),
            "evaluator_name": evaluator["name"], "version": evaluator.get("version"),
            "spec": {**spec, "alignment_positive": expected}, "score_name": labels.score_name,
            "positive": labels.positive, "source": labels.source,
            "labelled": len(labels.positives) + len(labels.negatives), "sampled": len(chosen),
            "job_id": None,
        },
    )  # fmt: skip
    store.put_alignment_items(
        project_id, run_id, [{"trace_id": t, "human": side} for t, side in chosen]
    )
    job = runner.start_job(
        project_id, [TASK], options={"alignment": run_id}, targets=[t for t, _ in chosen]
    )
    store.set_alignment_job(project_id, run_id, job["id"])
    return view(store, project_id, store.get_alignment(project_id, run_id))


# -- the figures ---------------------------------------------------------------------------


def _rate(hits: int, total: int) -> float | None:
    return hits / total if total else None


def figures(items: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """Agreement of the evaluator (``predicted``) with people (``human``) over the items
    judged; items not run yet are ``pending``, those it failed on ``failed``."""
    tp = fn = tn = fp = failed = pending = 0
    for item in items:
        if item["predicted"] is None:
            if item["error"]:
                failed += 1
            else:
                pending += 1
        elif item["human"]:
            tp, fn = (tp + 1, fn) if item["predicted"] else (tp, fn + 1)
        else:
            tn, fp = (tn + 1, fp) if not item["predicted"] else (tn, fp + 1)
    n = tp + fn + tn + fp
    agree = tp + tn
    kappa = None
    if n:
        p_o = agree / n
        p_e = ((tp + fn) * (tp + fp) + (tn + fp) * (tn + fn)) / (n * n)
        kappa = (p_o - p_e) / (1 - p_e) if p_e < 1 else None
    return {
        "true_positive_rate": _rate(tp, tp + fn),
        "true_negative_rate": _rate(tn, tn + fp),
        "precision": _rate(tp, tp + fp),
        "accuracy": _rate(agree, n),
        "cohen_kappa": kappa,
        "counts": {
            "true_positives": tp, "false_negatives": fn, "true_negatives": tn,
            "false_positives": fp, "failed": failed, "pending": pending, "judged": n,
        },
    }  # fmt: skip


def view(store: Any, project_id: str, run: Mapping[str, Any] | None) -> dict[str, Any]:
    """A run as the API answers it: the label, the job's progress, figures and the traces
    where evaluator and person disagree (or the evaluator failed)."""
    if run is None:
        return {}
    items = store.alignment_items(project_id, run["id"])
    job = store.runner_job(run["job_id"]) if run["job_id"] else None
    disagreements = [
        {
            "traceId": i["trace_id"],
            "human": i["human"],
            "evaluator": i["predicted"],
            "value": i["value"],
            "reasoning": i["reasoning"],
            "error": i["error"],
            "judgeTraceId": i["judge_trace_id"],
        }
        for i in items
        if (i["predicted"] is not None and i["predicted"] != i["human"]) or i["error"]
    ]
    return {
        "id": run["id"],
        "evaluator": run["evaluator_name"],
        "version": run["version"],
        "scoreName": run["score_name"],
        "positive": run["positive"],
        "source": run["source"],
        "evaluatorPositive": run["spec"].get("alignment_positive"),
        "labelled": run["labelled"],
        "sampled": run["sampled"],
        "jobId": run["job_id"],
        "status": job["status"] if job else "unknown",
        "done": job["done"] if job else None,
        "total": job["total"] if job else None,
        "createdAt": iso(run["created_at"]),
        **figures(items),
        "disagreements": disagreements[:DISAGREEMENTS_SHOWN],
        "disagreementsTotal": len(disagreements),
    }


# -- the runner task -----------------------------------------------------------------------


def _predicted(result: Result, expected: Any) -> bool:
    if result.data_type == "NUMERIC":
        return float(result.value) >= float(expected)
    if result.data_type == "CATEGORICAL":
        return str(result.value).lower() == str(expected).lower()
    return bool(result.value) is bool(expected)


class AlignmentTask(EvaluatorTask):
    """Evaluates an alignment run's traces (``options.alignment``) without writing scores;
    runs in jobs only (never on new traces)."""

    name = TASK
    jobs_only = True

    def run_many(self, targets: Sequence[Target], now: datetime) -> list[Outcome | Exception]:
        by_run: dict[tuple[str, str], list[Target]] = {}
        for t in targets:
            run_id = (t.options or {}).get("alignment")
            if isinstance(run_id, str):
                by_run.setdefault((t.project_id, run_id), []).append(t)
        for (project_id, run_id), group in by_run.items():
            run = self.store.get_alignment(project_id, run_id)
            if run is not None:
                self._align(project_id, run, group)
        return [Outcome() for _ in targets]

    def _align(self, project_id: str, run: dict[str, Any], group: list[Target]) -> None:
        spec = {k: v for k, v in run["spec"].items() if k != "alignment_positive"}
        evaluator = {
            "id": run["evaluator_id"] or f"draft-{run['id']}",
            "project_id": project_id,
            "name": run["evaluator_name"],
            "version": run["version"] or 0,
            "spec": spec,
        }
        jobs = []
        for t in group:
            last = t.traces[-1]
            jobs.append(
                Job(evaluator=evaluator, target=t, record=fieldmod.record(last),
                    observation_id=None, trace_id=last["id"], session_id=None,
                    timestamp=t.traces[0]["start_time"], score_id="")
            )  # fmt: skip
        self._fill_context(jobs)
        results: list[Result | Exception]
        if spec["type"] == "llm_judge":
            from heron.evals.judging import run_judges

            results = run_judges(self, jobs)
        elif spec["type"] == "code":
            results = [self._run_code(j) for j in jobs]
        else:
            results = [self._run_custom(j) for j in jobs]
        expected = run["spec"].get("alignment_positive")
        items = []
        for job, result in zip(jobs, results, strict=True):
            item: dict[str, Any] = {"trace_id": job.target.id}
            if isinstance(result, Exception):
                kind = getattr(result, "kind", None)
                item["error"] = (f"{kind} error: {result}" if kind else
                                 f"{type(result).__name__}: {result}")[:2000]  # fmt: skip
            else:
                try:
                    item["predicted"] = _predicted(result, expected)
                except (TypeError, ValueError) as exc:
                    item["error"] = f"unusable value {result.value!r}: {exc}"[:2000]
                item["value"] = str(result.value)[:200]
                item["reasoning"] = (result.comment or "")[:4000] or None
                item["judge_trace_id"] = result.metadata.get("judge_trace_id")
            items.append(item)
        stored = self.store.alignment_items(project_id, run["id"])
        human = {i["trace_id"]: i["human"] for i in stored}
        for item in items:
            item["human"] = human.get(item["trace_id"], False)
        self.store.put_alignment_items(project_id, run["id"], items)
