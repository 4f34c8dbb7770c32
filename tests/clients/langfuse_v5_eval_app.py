"""Reading stored observations with the Langfuse SDK v5 (``api.observations.get_many``:
the v2 observations API, cursor pages, field groups, the JSON filter) and evaluating them
with ``run_batched_evaluation``, which writes a score per observation.

Run by tests/clients/test_langfuse_api.py (v5 is the project's own environment) with
LANGFUSE_* pointing at heron; ``argv[1]`` = the trace to read. Prints one JSON line.
"""

from __future__ import annotations

import json
import sys

from langfuse import Evaluation, EvaluatorInputs, Langfuse

trace_id = sys.argv[1]
langfuse = Langfuse(additional_headers={"X-Heron-Consistent": "true"})
ONE_TRACE = json.dumps(
    [{"type": "string", "column": "traceId", "operator": "=", "value": trace_id}]
)
ALL_GROUPS = "core,basic,time,io,metadata,model,usage,prompt,metrics,trace_context"


def mapper(*, item):  # an ObservationV2 -> what the evaluators see
    return EvaluatorInputs(
        input=item.input, output=item.output, expected_output=None, metadata={"name": item.name}
    )


def output_length(*, input, output, expected_output, metadata, **kwargs):
    return Evaluation(name="output_length", value=len(output or ""), comment=metadata["name"])


def main() -> None:
    pages, cursor = [], None
    while True:
        page = langfuse.api.observations.get_many(
            filter=ONE_TRACE, fields=ALL_GROUPS, limit=2, cursor=cursor
        )
        pages.append([(o.id, o.type, o.start_time.isoformat()) for o in page.data])
        cursor = page.meta.cursor
        if cursor is None:
            break
    generation = langfuse.api.observations.get_many(
        trace_id=trace_id, type="GENERATION", fields="core,basic,model,usage,io,trace_context"
    ).data[0]
    core = langfuse.api.observations.get_many(trace_id=trace_id, limit=1).data[0]
    result = langfuse.run_batched_evaluation(
        mapper=mapper, filter=ONE_TRACE, evaluators=[output_length], fetch_batch_size=2
    )
    langfuse.flush()
    print(
        json.dumps(
            {
                "pages": pages,
                "generation": {
                    "model": generation.model,
                    "usage": generation.usage_details,
                    "cost": generation.cost_details,
                    "input": generation.input,
                    "output": generation.output,
                    "tags": generation.tags,
                    "trace_name": generation.trace_name,
                    "user_id": generation.user_id,
                },
                "core_has_name": core.name is not None,
                "fetched": result.total_items_fetched,
                "processed": result.total_items_processed,
                "scores_created": result.total_scores_created,
                "completed": result.completed,
            }
        )
    )


if __name__ == "__main__":
    main()
