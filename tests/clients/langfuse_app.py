"""A small app instrumented with the Langfuse SDK, exactly as its users write it.

Run as a separate process by tests/clients/test_langfuse.py with LANGFUSE_* pointing at heron
and OPENAI_BASE_URL at the fake OpenAI server. Prints what the test needs as one JSON line.
"""

from __future__ import annotations

import json

from langfuse import get_client, observe, propagate_attributes
from langfuse.openai import OpenAI

langfuse = get_client()
openai_client = OpenAI(max_retries=0)


@observe(as_type="tool")
def lookup_order(order_id: str) -> dict:
    return {"order": order_id, "status": "shipped"}


@observe()
def answer(question: str) -> str:
    lookup_order("A-17")
    completion = openai_client.chat.completions.create(
        model="gpt-4o-mini",
        messages=[
            {"role": "system", "content": "You are the Acme support assistant."},
            {"role": "user", "content": question},
        ],
        temperature=0.2,
    )
    return completion.choices[0].message.content or ""


@observe(name="support-turn")
def turn(question: str) -> tuple[str, str]:
    with propagate_attributes(
        user_id="lf-user-1",
        session_id="lf-session-1",
        tags=["langfuse", "beta"],
        metadata={"plan": "pro"},
        version="7",
    ):
        out = answer(question)
    return out, langfuse.get_current_trace_id() or ""


@observe(name="broken-turn")
def broken() -> None:
    raise ValueError("the knowledge base is unreachable")


def main() -> None:
    output, trace_id = turn("Where is my order A-17?")
    failed_trace = ""
    try:
        with langfuse.start_as_current_observation(name="wrapper") as span:
            failed_trace = span.trace_id
            broken()
    except ValueError:
        pass
    langfuse.create_score(trace_id=trace_id, name="helpfulness", value=0.9, comment="nice")
    langfuse.create_score(trace_id=trace_id, name="resolved", value=1, data_type="BOOLEAN")
    langfuse.create_score(
        trace_id=trace_id, name="sentiment", value="positive", data_type="CATEGORICAL"
    )
    authorised = langfuse.auth_check()
    langfuse.flush()
    print(json.dumps({"trace_id": trace_id, "failed_trace": failed_trace, "output": output,
                      "auth_check": authorised}))  # fmt: skip


if __name__ == "__main__":
    main()
