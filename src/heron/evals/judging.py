"""LLM judges inside heron: connections from the store, calls recorded as traces, estimates.

:mod:`heron.evals.judge` is the client (modes, retries, parsing); this module connects it to
a project: it decrypts the connection's key with the server's key, fills each evaluator's
prompt, runs the calls concurrently under each connection's limit, and records every call as
a trace of the project in the environment ``heron-evaluation`` (a GENERATION with the
prompt, the raw answer, tokens and cost), which default views leave out.
"""

from __future__ import annotations

import os
import secrets
import time
from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

import orjson

from heron.errors import NotFound
from heron.evals import fields as fieldmod
from heron.evals.judge import Connection, JudgeError, JudgeRequest, OutputSpec, render
from heron.evals.task import EVAL_ENVIRONMENT, Result
from heron.ingest.costing import cost_function, project_book
from heron.model import ObservationRecord, TraceUpdate

if TYPE_CHECKING:
    from heron.evals.task import EvaluatorTask, Job

ESTIMATE_SAMPLE = 20  # traces read to estimate a backfill's prompt size
OUTPUT_TOKENS_GUESS = 200  # a judge's reasoning and value


def connection_of(store: Any, project_id: str, name: str, secret: bytes | None) -> Connection:
    """The project's connection ``name`` with its key decrypted with ``secret`` (the
    server's key; ``None``: ``HERON_SECRET_KEY`` or the store's directory's key file)."""
    from heron.evals.secrets import decrypt, server_key

    found = store.get_connection(project_id, name, with_key=True)
    if found is None:
        raise NotFound(f"connection {name!r} not found in this project")
    spec = found["spec"]
    key = None
    if found["api_key"]:
        key = secret or server_key(store.path.parent, os.environ)
    return Connection(
        name=name,
        base_url=spec["base_url"],
        api_key=decrypt(found["api_key"], key) if key else "",
        model=spec["model"],
        headers=dict(spec.get("headers") or {}),
        provider=spec.get("provider", "openai"),
        api_version=spec.get("api_version"),
        max_concurrency=spec.get("max_concurrency", 8),
        timeout_s=spec.get("timeout_seconds", 60.0),
    )


async def test(connection: Connection) -> tuple[bool, str]:
    from heron.evals.judge import test_connection

    return await test_connection(connection)


def output_spec(output: dict[str, Any]) -> OutputSpec:
    return OutputSpec(
        data_type=output["data_type"],
        min=output.get("min", 0.0),
        max=output.get("max", 1.0),
        categories=tuple(output.get("categories") or ()),
    )


def prompt_of(spec: dict[str, Any], record: dict[str, Any]) -> str:
    return render(spec["prompt"], fieldmod.resolve_all(spec["variables"], record))


def run_judges(task: EvaluatorTask, jobs: Sequence[Job]) -> list[Result | Exception]:
    """Judge each job (concurrently); record each call as a trace; one result per job."""
    from heron.evals.judge import JudgePool

    if task._judges is None:
        task._judges = JudgePool()
    pool = task._judges
    connections: dict[tuple[str, str], Connection | Exception] = {}
    requests: list[JudgeRequest] = []
    slots: list[int] = []
    results: list[Result | Exception] = [RuntimeError("not judged")] * len(jobs)
    for i, job in enumerate(jobs):
        spec = job.evaluator["spec"]
        key = (job.evaluator["project_id"], spec["connection"])
        if key not in connections:
            try:
                connections[key] = connection_of(task.store, *key, task.secret)
            except Exception as exc:
                connections[key] = exc
        conn = connections[key]
        if isinstance(conn, Exception):
            results[i] = conn
            continue
        try:
            prompt = prompt_of(spec, job.record)
        except Exception as exc:
            results[i] = exc
            continue
        requests.append(JudgeRequest(conn, prompt, output_spec(spec["output"]), spec.get("model")))
        slots.append(i)
    answers = pool.judge_many(requests) if requests else []
    prices: dict[str, Any] = {}  # one price book a project for this batch
    traces: list[tuple[Job, Any, str]] = []
    for i, request, answer in zip(slots, requests, answers, strict=True):
        if isinstance(answer, Exception):
            results[i] = answer
            continue
        job = jobs[i]
        trace_id = secrets.token_hex(16)
        cost = _cost(task.store, job.evaluator["project_id"], answer, prices)
        results[i] = Result(
            value=answer.value,
            data_type=request.output.data_type,
            comment=answer.reasoning,
            metadata={"judge_model": answer.model, "judge_mode": answer.mode,
                      "judge_trace_id": trace_id},
            cost=cost,
            raw=answer.raw,
        )  # fmt: skip
        traces.append((job, answer, trace_id))
    if traces:
        _record_calls(task.store, traces, prices)
    return results


def _price(store: Any, project_id: str, prices: dict[str, Any]) -> Any:
    if project_id not in prices:
        prices[project_id] = cost_function(project_book(store, project_id))
    return prices[project_id]


def _cost(store: Any, project_id: str, answer: Any, prices: dict[str, Any]) -> float:
    usage = _usage(answer)
    if not usage:
        return 0.0
    price = _price(store, project_id, prices)
    cost = price(answer.model or "", usage, int(time.time() * 1_000_000))
    return float(cost.get("total", 0.0)) if cost else 0.0


def _usage(answer: Any) -> dict[str, int]:
    return {k: int(v) for k, v in (answer.usage or {}).items() if isinstance(v, int)}


def _record_calls(
    store: Any, calls: Sequence[tuple[Job, Any, str]], prices: dict[str, Any]
) -> None:
    """Each judge call as a one-observation trace in the ``heron-evaluation`` environment."""
    observations: list[ObservationRecord] = []
    updates: list[TraceUpdate] = []
    for job, answer, trace_id in calls:
        ev = job.evaluator
        project_id = ev["project_id"]
        started = answer.started_at
        start_us = int(started.timestamp() * 1_000_000)
        end_us = start_us + int((answer.latency_ms or 0) * 1000)
        usage = _usage(answer)
        price = _price(store, project_id, prices)
        cost = (price(answer.model or "", usage, start_us) or {}) if usage else {}
        metadata = {
            "evaluator": ev["name"],
            "evaluator_id": ev["id"],
            "evaluator_version": ev["version"],
            "judged_trace_id": job.trace_id,
            "judged_observation_id": job.observation_id,
            "judged_session_id": job.session_id,
            "mode": answer.mode,
        }
        observations.append(
            ObservationRecord(
                project_id=project_id,
                id=secrets.token_hex(8),
                trace_id=trace_id,
                parent_id=None,
                type="generation",
                name=f"judge {ev['name']}",
                start_us=start_us,
                end_us=end_us,
                model=answer.model,
                input=orjson.dumps(answer.request).decode(),
                output=answer.raw
                if isinstance(answer.raw, str)
                else orjson.dumps(answer.raw).decode(),
                metadata={k: v for k, v in metadata.items() if v is not None},
                usage=usage,
                cost=cost,
            )
        )
        updates.append(
            TraceUpdate(
                project_id=project_id,
                trace_id=trace_id,
                is_root=True,
                name=f"judge {ev['name']}",
                environment=EVAL_ENVIRONMENT,
                metadata={k: v for k, v in metadata.items() if v is not None},
            )
        )
    store.write_batch(observations, updates)


def estimate(
    store: Any,
    ev: dict[str, Any],
    total: int | None,
    start: datetime | None,
    end: datetime | None,
) -> dict[str, Any]:
    """What a judge backfill may cost: targets in range times sampling, times the prompt
    tokens of a sample of them (about 4 characters a token) and a guess of the answer's, at
    the connection model's price. ``cost_usd`` is None when the model has no price."""
    spec = ev["spec"]
    project_id = ev["project_id"]
    if total is None:
        scope = "session" if spec["target"] == "sessions" else "trace"
        total = store.count_runner_targets(project_id, scope, start, end)
    targets = round(total * spec["sampling"])
    ids = store.next_runner_targets(project_id, "trace", start, end, None, ESTIMATE_SAMPLE)
    rows = store.target_traces(project_id, "trace", ids, ("input", "output", "metadata"))
    sizes = []
    for rows_of in rows.values():
        for row in rows_of:
            try:
                sizes.append(len(prompt_of(spec, fieldmod.record(row))))
            except Exception:
                continue
    input_tokens = int(sum(sizes) / len(sizes) / 4) if sizes else len(spec["prompt"]) // 4
    conn = store.get_connection(project_id, spec["connection"])
    model = spec.get("model") or (conn["spec"]["model"] if conn else None)
    usage = {"input": input_tokens * targets, "output": OUTPUT_TOKENS_GUESS * targets}
    usage["total"] = usage["input"] + usage["output"]
    cost = None
    if model and targets:
        priced = cost_function(project_book(store, project_id))(
            model, usage, int(time.time() * 1_000_000)
        )
        cost = round(priced["total"], 6) if priced and "total" in priced else None
    return {
        "targets": targets,
        "model": model,
        "input_tokens_per_call": input_tokens,
        "output_tokens_per_call": OUTPUT_TOKENS_GUESS,
        "cost_usd": cost if targets else 0.0,
        "note": "an estimate: prompt tokens from a sample of the targets (4 characters a "
        "token) and a guess of the answer's; the model's price from the project's price list",
    }


__all__ = ["JudgeError", "connection_of", "estimate", "run_judges", "test"]
