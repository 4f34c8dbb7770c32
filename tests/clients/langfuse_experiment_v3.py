"""Experiments with the Langfuse SDK v3 against heron, as a user writes them; run by
tests/clients/test_langfuse_experiments.py in ``.venvs/langfuse-v3``.

``python langfuse_experiment_v3.py DATASET RUN``: creates the dataset and three items, reads
it back, runs each item in ``with item.run(run_name=RUN) as span:`` (a trace, and a dataset
run item posted to ``/api/public/dataset-run-items``), scores each trace, reads the run back
through the SDK's dataset run API and scores the run; then ``dataset.run_experiment`` (v3.15
has it too) as ``RUN (runner)``. Prints one JSON object on its last line.
"""

from __future__ import annotations

import json
import sys

from langfuse import Evaluation, Langfuse

CONSISTENT = {"additional_headers": {"X-Heron-Consistent": "true"}}  # read our own writes


def answer(question: dict) -> dict:
    return {"answer": str(question["a"] + question["b"])}


def exact_match(*, input, output, expected_output=None, **kwargs):
    return Evaluation(name="exact_match", value=1.0 if output == expected_output else 0.0)


def accuracy(*, item_results, **kwargs):
    values = [e.value for r in item_results for e in r.evaluations if e.name == "exact_match"]
    return Evaluation(name="accuracy", value=sum(values) / len(values))


def main(dataset_name: str, run_name: str) -> dict:
    langfuse = Langfuse()
    created = langfuse.create_dataset(name=dataset_name, description="sums")
    items = []
    for a, b, wrong in ((1, 2, False), (3, 4, False), (5, 6, True)):
        item = langfuse.create_dataset_item(
            dataset_name=dataset_name,
            input={"a": a, "b": b},
            expected_output={"answer": str(a + b + (1 if wrong else 0))},
        )
        items.append(item.id)
    dataset = langfuse.get_dataset(dataset_name)
    traces, correct = {}, []
    for item in dataset.items:
        with item.run(
            run_name=run_name, run_description="adds two numbers", run_metadata={"model": "a-1"}
        ) as span:
            output = answer(item.input)
            span.update(output=output)
            correct.append(1.0 if output == item.expected_output else 0.0)
            span.score_trace(name="exact_match", value=correct[-1])
            traces[item.id] = span.trace_id
    langfuse.flush()
    run = langfuse.api.datasets.get_run(
        dataset_name=dataset_name, run_name=run_name, request_options=CONSISTENT
    )
    langfuse.create_score(dataset_run_id=run.id, name="accuracy", value=sum(correct) / len(correct))
    runner = dataset.run_experiment(
        name="sums",
        run_name=run_name + " (runner)",
        task=lambda *, item, **kwargs: answer(item.input),
        evaluators=[exact_match],
        run_evaluators=[accuracy],
    )
    langfuse.flush()
    langfuse.shutdown()
    return {
        "dataset_id": created.id,
        "items": items,
        "fetched": [i.id for i in dataset.items],
        "traces": traces,
        "run_id": run.id,
        "sdk_run_items": {x.dataset_item_id: x.trace_id for x in run.dataset_run_items},
        "runner_id": runner.dataset_run_id,
        "runner_traces": {r.item.id: r.trace_id for r in runner.item_results},
    }


if __name__ == "__main__":
    print(json.dumps(main(*sys.argv[1:3]), default=str))
