"""An app instrumented with the Langfuse Python SDK v2, as its users write it: a trace with a
span, an event, a generation (model, parameters, usage), updates, and scores, all sent through
``/api/public/ingestion``.

Run under ``.venvs/langfuse-v2`` by tests/clients/test_langfuse_api.py with LANGFUSE_*
pointing at heron; ``argv[1]`` makes the names unique. Prints the ids as one JSON line.
"""

from __future__ import annotations

import json
import sys

from langfuse import Langfuse

run = sys.argv[1]
langfuse = Langfuse(release="v2-release")


def main() -> None:
    trace = langfuse.trace(
        name=f"v2-chat-{run}",
        user_id=f"v2-user-{run}",
        session_id=f"v2-session-{run}",
        tags=["v2", "support"],
        input={"question": "How do I reset my router?"},
        metadata={"plan": "pro"},
        version="app-1.2",
    )
    span = trace.span(name="retrieve", input={"query": "reset router"}, metadata={"k": 3})
    span.event(name="cache-miss", input={"key": "router"}, level="WARNING")
    span.end(output={"documents": ["manual.pdf"]})
    generation = span.generation(
        name="answer",
        model="gpt-4o-mini",
        model_parameters={"temperature": 0.2, "max_tokens": 200},
        input=[{"role": "user", "content": "How do I reset my router?"}],
        usage={"input": 120, "output": 45},
    )
    generation.update(metadata={"attempt": 1})
    generation.end(output="Hold the reset button for ten seconds.")
    failed = trace.span(name="lookup-order", level="ERROR", status_message="order service down")
    failed.end()
    trace.update(output={"answer": "Hold the reset button for ten seconds."})
    trace.score(name="helpful", value=1, data_type="BOOLEAN", comment="user said thanks")
    generation.score(name="tone", value="calm", data_type="CATEGORICAL")
    langfuse.score(trace_id=trace.id, name="quality", value=0.8, id=f"v2-quality-{run}")
    alone = langfuse.trace(name=f"v2-empty-{run}", user_id=f"v2-user-{run}")  # no observation
    langfuse.flush()
    print(
        json.dumps(
            {
                "trace_id": trace.id,
                "span_id": span.id,
                "generation_id": generation.id,
                "failed_id": failed.id,
                "empty_trace_id": alone.id,
            }
        )
    )


if __name__ == "__main__":
    main()
