"""Trying an evaluator on one stored target before saving it ("try on this trace").

The same path as the runner's (:class:`heron.evals.task.EvaluatorTask`) without writing a
score: the variables it read, the prompt it filled, the judge's raw answer and the parsed
score, or the error. A judge's call costs what a real one does and is recorded as a trace
in ``heron-evaluation`` like the runner's.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from heron.errors import BadRequest, NotFound
from heron.evals import fields as fieldmod
from heron.evals.task import EvaluatorTask, Job, Result, SessionEvaluatorTask
from heron.query.filters import parse_filters

_SHOWN = 4000  # characters of each variable shown back


def _shown(value: Any) -> Any:
    if isinstance(value, str) and len(value) > _SHOWN:
        return value[:_SHOWN] + f"… ({len(value):,} characters)"
    return value


def try_evaluator(
    store: Any,
    project_id: str,
    name: str,
    spec: dict[str, Any],
    target_id: str,
    observation_id: str | None = None,
) -> dict[str, Any]:
    """Evaluate ``target_id`` (a trace, or a session for a sessions evaluator) with a
    checked, unsaved evaluator ``spec``."""
    sessions = spec["target"] == "sessions"
    task: EvaluatorTask = SessionEvaluatorTask() if sessions else EvaluatorTask()
    task.bind(store)
    scope = "session" if sessions else "trace"
    traces = store.target_traces(project_id, scope, [target_id], task.fields).get(target_id)
    if not traces:
        raise NotFound(f"{scope} {target_id!r} not found in this project")
    from heron.runner.task import Target

    target = Target(task.name, task.version, project_id, scope, target_id, traces)
    last = traces[-1]
    record = fieldmod.record(last)
    obs_id = None
    if spec["target"] == "observations":
        wanted = spec.get("observation") or {}
        filters = [{"column": "trace_id", "operator": "=", "value": target_id}]
        if observation_id:
            filters.append({"column": "id", "operator": "=", "value": observation_id})
        for key in ("type", "name"):
            if wanted.get(key):
                filters.append({"column": key, "operator": "=", "value": wanted[key]})
        found = store.matching_observations(project_id, [target_id], parse_filters(filters))
        if not found:
            raise BadRequest("the trace has no observation this evaluator judges")
        obs = found[0]
        obs_id = obs["id"]
        record = fieldmod.record(obs)
    elif sessions:
        record = {**record, "conversation": fieldmod.conversation(traces), "session_id": target_id}
    evaluator = {
        "id": "trial",
        "project_id": project_id,
        "name": name,
        "version": 0,
        "spec": spec,
    }
    job = Job(
        evaluator=evaluator,
        target=target,
        record=record,
        observation_id=obs_id,
        trace_id=None if sessions else target_id,
        session_id=target_id if sessions else None,
        timestamp=datetime.now(UTC).replace(tzinfo=None),
        score_id="trial",
    )
    task._fill_context([job])
    out: dict[str, Any] = {
        "target": {"scope": scope, "id": target_id, "observation_id": obs_id},
        "variables": {
            k: _shown(v) for k, v in fieldmod.resolve_all(spec["variables"], job.record).items()
        },
        "prompt": None,
        "raw": None,
        "score": None,
        "error": None,
    }
    try:
        if spec["type"] == "llm_judge":
            from heron.evals.judging import prompt_of, run_judges

            out["prompt"] = prompt_of(spec, job.record)
            result = run_judges(task, [job])[0]
        elif spec["type"] == "code":
            result = task._run_code(job)
        else:
            result = task._run_custom(job)
    finally:
        task.close()
    if isinstance(result, Exception):
        out["error"] = f"{type(result).__name__}: {result}"
        return out
    assert isinstance(result, Result)
    out["raw"] = result.raw
    out["score"] = {
        "name": name,
        "value": result.value,
        "data_type": result.data_type,
        "comment": result.comment,
        "metadata": result.metadata,
        "cost": result.cost or None,
    }
    return out
