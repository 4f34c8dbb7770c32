"""An experiment with the Langfuse SDK v4 against heron, as a user writes it; run by
tests/clients/test_langfuse_experiments.py in ``.venvs/langfuse-v4``.

``python langfuse_experiment_v4.py DATASET RUN``: creates the dataset and three items, reads
it back, runs ``dataset.run_experiment`` with an item-level and a run-level evaluator (v4
posts a dataset run item per item, then sends the spans), then ``langfuse.run_experiment`` on
local data, and reads the run back through the SDK's dataset run and experiments APIs.
Prints one JSON object on its last line.
"""

from __future__ import annotations

import json
import sys
from datetime import UTC, datetime, timedelta

from langfuse import Evaluation, Langfuse

CONSISTENT = {"additional_headers": {"X-Heron-Consistent": "true"}}  # read our own writes


def task(*, item, **kwargs):
    question = item["input"] if isinstance(item, dict) else item.input
    return {"answer": str(question["a"] + question["b"])}


def exact_match(*, input, output, expected_output=None, **kwargs):
    return Evaluation(name="exact_match", value=1.0 if output == expected_output else 0.0)


def accuracy(*, item_results, **kwargs):
    values = [e.value for r in item_results for e in r.evaluations if e.name == "exact_match"]
    return Evaluation(name="accuracy", value=sum(values) / len(values), comment="share exact")


def main(dataset_name: str, run_name: str) -> dict:
    started = datetime.now(UTC) - timedelta(minutes=1)
    langfuse = Langfuse()
    created = langfuse.create_dataset(name=dataset_name, description="sums")
    items = []
    for a, b, wrong in ((1, 2, False), (3, 4, False), (5, 6, True)):
        item = langfuse.create_dataset_item(
            dataset_name=dataset_name,
            input={"a": a, "b": b},
            expected_output={"answer": str(a + b + (1 if wrong else 0))},
            metadata={"pair": [a, b]},
        )
        items.append(item.id)
    dataset = langfuse.get_dataset(dataset_name)
    result = dataset.run_experiment(
        name="sums",
        run_name=run_name,
        description="adds two numbers",
        task=task,
        evaluators=[exact_match],
        run_evaluators=[accuracy],
        metadata={"model": "adder-1"},
    )
    local = langfuse.run_experiment(
        name="local sums",
        run_name=run_name + " (local)",
        data=[{"input": {"a": 7, "b": 8}, "expected_output": {"answer": "15"}}],
        task=task,
        evaluators=[exact_match],
    )
    langfuse.flush()
    run = langfuse.api.datasets.get_run(
        dataset_name=dataset_name, run_name=run_name, request_options=CONSISTENT
    )
    experiments = langfuse.api.experiments.list(
        from_start_time=started,
        id=f"{result.experiment_id},{local.experiment_id}",
        fields="core,metadata,scores",
        request_options=CONSISTENT,
    )
    langfuse.shutdown()
    return {
        "dataset_id": created.id,
        "items": items,
        "fetched": [i.id for i in dataset.items],
        "experiment_id": result.experiment_id,
        "dataset_run_id": result.dataset_run_id,
        "traces": {r.item.id: r.trace_id for r in result.item_results},
        "run_scores": [(e.name, e.value) for e in result.run_evaluations],
        "local_id": local.experiment_id,
        "local_traces": [r.trace_id for r in local.item_results],
        "sdk_run": {
            "id": run.id,
            "name": run.name,
            "items": {x.dataset_item_id: x.trace_id for x in run.dataset_run_items},
        },
        "sdk_experiments": [e.dict(by_alias=True) for e in experiments.data],
    }


if __name__ == "__main__":
    print(json.dumps(main(*sys.argv[1:3]), default=str))
