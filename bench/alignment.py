"""Alignment of evaluators with people's labels: drafting from a label, and aligning a code
evaluator and an LLM judge on the labelled traces.

``--labels`` traces (default 20,000) written straight into a store, each labelled with the
CATEGORICAL score ``failure_mode`` (one of four categories, a quarter each), a fifth of
them holding a marker in their output. Timed: reading the labels and drafting a judge from
one category (its examples read from the store); an alignment run of a ``contains`` code
evaluator over the 500 sampled traces through the runner; the same run of an LLM judge
against the fake OpenAI server (``tests/evals/fake_openai.py``, its own process, answering
at once; connection ``max_concurrency: 16``), each call recorded as a trace.
"""

from __future__ import annotations

import argparse
import os
import random
import secrets
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._common import machine

from heron.config import document
from heron.evals import alignment, drafts, labels
from heron.evals.secrets import encrypt, hint, server_key
from heron.evals.task import tasks
from heron.model import ObservationRecord, TraceUpdate
from heron.runner import Runner
from heron.scores import ScoreRecord
from heron.store import EmbeddedStore

CATEGORIES = ("hallucinated refund", "rude tone", "wrong language", "ignored question")
MARKER = "REFUND-POLICY-7"


def fill(store: EmbeddedStore, project: str, count: int, config_id: str) -> None:
    rng = random.Random(7)
    for start in range(0, count, 1000):
        obs, updates, scores = [], [], []
        for n in range(start, min(count, start + 1000)):
            tid = f"{n + 1:032x}"
            at = 1_764_000_000_000_000 + n * 1000
            text = f'"Answer {n}: ' + (MARKER if rng.random() < 0.2 else "fine") + ' "'
            obs.append(ObservationRecord(
                project_id=project, id=tid[:16], trace_id=tid, parent_id=None, type="span",
                name="chat", start_us=at, end_us=at + 500, input='"Can I return it?"',
                output=text))  # fmt: skip
            updates.append(TraceUpdate(
                project_id=project, trace_id=tid, is_root=True, name="chat",
                input='"Can I return it?"', output=text))  # fmt: skip
            i = n % len(CATEGORIES)
            scores.append(ScoreRecord(
                project_id=project, id=secrets.token_hex(16), trace_id=tid, observation_id=None,
                session_id=None, name="failure_mode", value=float(i),
                string_value=CATEGORIES[i], data_type="CATEGORICAL", source="ANNOTATION",
                comment=f"note about {CATEGORIES[i]}", author="bench",
                timestamp=datetime(2026, 12, 1), metadata=None, environment=None,
                config_id=config_id))  # fmt: skip
        store.write_batch(obs, updates)
        store.write_scores(scores)


def aligned(
    store: EmbeddedStore, runner: Runner, project: str, spec: dict, found: labels.Labels
) -> float:
    started = time.perf_counter()
    ev = {"id": None, "name": "bench", "version": None, "spec": spec}
    run = alignment.start(store, runner, project, ev, found, alignment.check_body({}))
    runner.run_until_idle()
    took = time.perf_counter() - started
    view = alignment.view(store, project, store.get_alignment(project, run["id"]))
    assert view["status"] == "done" and view["counts"]["pending"] == 0, view["counts"]
    return took


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--labels", type=int, default=20_000)
    args = parser.parse_args()
    print(f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC, {machine()}, load {os.getloadavg()[0]:.2f}")
    from tests.evals.fake_openai import spawn

    with spawn() as base_url, tempfile.TemporaryDirectory() as tmp:
        store = EmbeddedStore(Path(tmp) / "heron.duckdb")
        project = store.create_project("bench")["id"]
        key = server_key(store.path.parent, os.environ)
        categories = ", ".join(f"{{label: {c}, value: {i}}}" for i, c in enumerate(CATEGORIES))
        text = (
            f"score_configs:\n  - {{name: failure_mode, data_type: CATEGORICAL, categories: "
            f"[{categories}]}}\nconnections:\n  - {{name: fake, base_url: '{base_url}', "
            "api_key: sk-bench, model: gpt-4o-mini, max_concurrency: 16}\n"
        )
        changes = document.plan(store, project, document.parse_document(text))
        document.apply(store, project, changes, lambda k: (encrypt(k, key), hint(k)))
        config = document.all_score_configs(store, project)[0]
        fill(store, project, args.labels, config["id"])
        configs = {c["name"]: c for c in document.all_score_configs(store, project)}

        started = time.perf_counter()
        found = labels.resolve(store, project, "failure_mode", CATEGORIES[0], configs=configs)
        made = drafts.draft(store, project, found, "judge", "fake")
        took = time.perf_counter() - started
        print(f"labels read and judge drafted: {args.labels:,} labels in {took * 1000:.0f} ms")

        runner = Runner(store, tasks())
        for task in runner.hosted():
            task.secret = key  # type: ignore[attr-defined]
        runner.run_until_idle()
        code = made["definition"] | {
            "type": "code", "check": "contains", "args": {"any": [MARKER]},
            "variables": {"text": "output"},
        }  # fmt: skip
        for k in ("connection", "prompt", "output"):
            code.pop(k)
        from heron.evals.spec import Problems, check_evaluator

        for kind, definition in (("code", code), ("judge", made["definition"])):
            problems = Problems()
            _, spec = check_evaluator(definition, "$", problems, connections={"fake"},
                                      score_configs=configs)  # fmt: skip
            assert spec is not None, problems
            took = aligned(store, runner, project, spec, found)
            print(f"alignment of a {kind} evaluator: 500 labelled traces in {took:.2f} s = "
                  f"{500 / took:,.0f} traces/s")  # fmt: skip
        runner.stop()
        store.close()
    print(f"load {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
