"""A Langfuse SDK v5 experiment against heron, for tests/server/test_cluster_langfuse.py.

``python cluster_experiment_v5.py DATASET RUN OFFSET [create]``: with ``create``, makes the
dataset and three items (``a + b``); runs ``dataset.run_experiment`` whose task answers
``a + b + OFFSET``, an item evaluator (``exact_match``) and a run evaluator (``accuracy``).
Prints one JSON object on its last line.
"""

from __future__ import annotations

import json
import sys

from langfuse import Evaluation, Langfuse


def main(dataset_name: str, run_name: str, offset: int, create: bool) -> dict:
    langfuse = Langfuse()
    if create:
        langfuse.create_dataset(name=dataset_name, description="sums")
        for a, b in ((1, 2), (3, 4), (5, 6)):
            langfuse.create_dataset_item(
                dataset_name=dataset_name,
                input={"a": a, "b": b},
                expected_output={"answer": str(a + b)},
            )
    dataset = langfuse.get_dataset(dataset_name)

    def task(*, item, **kwargs):
        return {"answer": str(item.input["a"] + item.input["b"] + offset)}

    def exact_match(*, output, expected_output=None, **kwargs):
        return Evaluation(name="exact_match", value=1.0 if output == expected_output else 0.0)

    def accuracy(*, item_results, **kwargs):
        values = [e.value for r in item_results for e in r.evaluations]
        return Evaluation(name="accuracy", value=sum(values) / len(values))

    result = dataset.run_experiment(
        name="sums", run_name=run_name, task=task, evaluators=[exact_match],
        run_evaluators=[accuracy],
    )  # fmt: skip
    langfuse.flush()
    langfuse.shutdown()
    return {
        "experiment_id": result.experiment_id,
        "traces": {r.item.id: r.trace_id for r in result.item_results},
    }


if __name__ == "__main__":
    name, run, offset = sys.argv[1], sys.argv[2], int(sys.argv[3])
    print(json.dumps(main(name, run, offset, "create" in sys.argv[4:])))
