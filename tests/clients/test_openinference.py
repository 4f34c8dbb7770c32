"""`openinference-instrumentation-openai` (Arize Phoenix's conventions) with the official openai
client against FakeOpenAI, exported over OTLP/HTTP to a real heron process."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import openai
import pytest
from openinference.instrumentation import using_attributes
from openinference.instrumentation.openai import OpenAIInstrumentor

from tests.clients.heron_api import (
    Instrumented,
    as_json,
    flush,
    get_trace,
    hex_span_id,
    hex_trace_id,
    instrumented,
    only,
    text_of,
)
from tests.support.fake_openai import (
    REASONING_TOKENS,
    FakeOpenAI,
    answer_after_tool,
    answer_for,
)
from tests.support.server import HeronProcess

QUESTION = "What is the weather in Paris?"
WEATHER_TOOL = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "parameters": {
            "type": "object",
            "properties": {"city": {"type": "string"}},
            "required": ["city"],
        },
    },
}
GPT_4O = {"input": 2.5e-06, "cached_input": 1.25e-06, "output": 1e-05}  # USD per token


@pytest.fixture
def oi(live_server: HeronProcess, fake_openai: FakeOpenAI) -> Iterator[Instrumented]:
    resource = {"service.name": "support-bot", "openinference.project.name": "support"}
    with instrumented(OpenAIInstrumentor(), live_server, fake_openai, resource) as inst:
        yield inst


def test_chat_with_using_attributes(oi: Instrumented, live_server: HeronProcess) -> None:
    system = "You are a support bot. " + "Policy text. " * 400  # > 1,024 tokens: cached
    messages = [{"role": "system", "content": system}, {"role": "user", "content": QUESTION}]
    with (
        oi.tracer.start_as_current_span("support-turn") as root,
        using_attributes(
            session_id="session-oi-1",
            user_id="user-oi-1",
            tags=["support", "beta"],
            metadata={"plan": "enterprise", "region": "eu"},
        ),
    ):
        r = oi.client.chat.completions.create(model="gpt-4o", messages=messages, temperature=0.3)
    flush(oi.provider)
    cached = r.usage.prompt_tokens_details.cached_tokens
    assert cached > 0

    t = get_trace(live_server, hex_trace_id(root), 2)
    assert t["name"] == "support-turn"
    assert (t["user_id"], t["session_id"]) == ("user-oi-1", "session-oi-1")
    assert sorted(t["tags"]) == ["beta", "support"]
    assert t["metadata"]["plan"] == "enterprise" and t["metadata"]["region"] == "eu"
    assert t["error_count"] == 0
    assert t["models"] == ["gpt-4o-2024-08-06"]

    [root_obs] = t["observations"]
    assert root_obs["id"] == hex_span_id(root)
    [gen] = root_obs["children"]
    assert gen["parent_id"] == root_obs["id"]
    assert gen["type"] == "generation"
    assert gen["name"] == "ChatCompletion"
    assert gen["model"] == "gpt-4o-2024-08-06"
    assert gen["metadata"]["openinference.span.kind"] == "LLM"
    assert gen["metadata"]["llm.system"] == "openai"
    assert gen["model_parameters"]["temperature"] == 0.3

    inputs = as_json(gen["input"])
    assert [m["role"] for m in inputs] == ["system", "user"]
    assert inputs[0]["content"] == system and inputs[1]["content"] == QUESTION
    outputs = as_json(gen["output"])
    assert outputs == [{"role": "assistant", "content": answer_for(QUESTION)}]

    u = gen["usage"]
    assert (u["input"], u["output"], u["total"]) == (
        r.usage.prompt_tokens,
        r.usage.completion_tokens,
        r.usage.total_tokens,
    )
    assert u["cached_input"] == cached
    assert u.get("reasoning", 0) == 0
    expected = (
        (r.usage.prompt_tokens - cached) * GPT_4O["input"]
        + cached * GPT_4O["cached_input"]
        + r.usage.completion_tokens * GPT_4O["output"]
    )
    assert gen["cost_source"] == "computed"
    assert gen["total_cost"] == pytest.approx(expected)
    assert t["total_cost"] == pytest.approx(expected)
    assert gen["latency_ms"] > 0 and t["latency_ms"] >= gen["latency_ms"]


def test_streaming_time_to_first_token(
    oi: Instrumented, live_server: HeronProcess, fake_openai: FakeOpenAI
) -> None:
    """The instrumentation marks the first streamed chunk with a `First Token Stream Event`
    span event; heron should turn it into the generation's time to first token."""
    with oi.tracer.start_as_current_span("stream-turn") as root:
        stream = oi.client.chat.completions.create(
            model="gpt-4o-mini",
            messages=[{"role": "user", "content": QUESTION}],
            stream=True,
            stream_options={"include_usage": True},
        )
        chunks = list(stream)
    flush(oi.provider)
    usage = chunks[-1].usage

    t = get_trace(live_server, hex_trace_id(root), 2)
    gen = only(t, type="generation")
    assert gen["model"] == "gpt-4o-mini-2024-07-18"
    assert as_json(gen["output"]) == [{"role": "assistant", "content": answer_for(QUESTION)}]
    assert (gen["usage"]["input"], gen["usage"]["output"]) == (
        usage.prompt_tokens,
        usage.completion_tokens,
    )
    assert gen["total_cost"] > 0
    # The fake delays its first chunk by 30 ms.
    assert gen["time_to_first_token_ms"] is not None
    assert 25 <= gen["time_to_first_token_ms"] <= gen["latency_ms"]
    assert gen["completion_start_time"] is not None


def test_tool_calls(oi: Instrumented, live_server: HeronProcess) -> None:
    messages: list[dict] = [{"role": "user", "content": QUESTION}]
    with oi.tracer.start_as_current_span("agent") as root:
        first = oi.client.chat.completions.create(
            model="gpt-4o-mini", messages=messages, tools=[WEATHER_TOOL]
        )
        [call] = first.choices[0].message.tool_calls
        messages += [
            first.choices[0].message.model_dump(exclude_none=True),
            {"role": "tool", "tool_call_id": call.id, "content": "18 C, sunny"},
        ]
        oi.client.chat.completions.create(
            model="gpt-4o-mini", messages=messages, tools=[WEATHER_TOOL]
        )
    flush(oi.provider)

    t = get_trace(live_server, hex_trace_id(root), 3)
    calling, answering = t["observations"][0]["children"]
    [out] = as_json(calling["output"])
    assert out["role"] == "assistant"
    assert out["tool_calls"] == [
        {"id": call.id, "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'}}
    ]
    assert calling["metadata"].get("llm.finish_reason") == "tool_calls"
    assert "get_weather" in calling["metadata"]["llm.tools.0.tool.json_schema"]

    roles = [m["role"] for m in as_json(answering["input"])]
    assert roles == ["user", "assistant", "tool"]
    assert "18 C, sunny" in text_of(answering["input"])
    assert as_json(answering["output"])[0]["content"] == answer_after_tool("18 C, sunny")


def test_rate_limit_error(
    oi: Instrumented, live_server: HeronProcess, fake_openai: FakeOpenAI
) -> None:
    with oi.tracer.start_as_current_span("turn") as root:
        fake_openai.fail_next(429, message="Rate limit reached for gpt-4o-mini")
        with pytest.raises(openai.RateLimitError):
            oi.client.chat.completions.create(
                model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}]
            )
    flush(oi.provider)

    t = get_trace(live_server, hex_trace_id(root), 2)
    assert t["error_count"] == 1 and t["level"] == "ERROR"
    gen = only(t, type="generation")
    assert gen["level"] == "ERROR"
    assert "RateLimitError" in gen["status_message"]
    assert "Rate limit reached for gpt-4o-mini" in gen["status_message"]
    assert as_json(gen["input"]) == [{"role": "user", "content": "hi"}]
    assert gen["output"] is None
    [event] = [e for e in gen["metadata"]["events"] if e["name"] == "exception"]
    assert event["attributes"]["exception.type"] == "openai.RateLimitError"
    assert "Traceback" in event["attributes"]["exception.stacktrace"]


def test_responses_api(oi: Instrumented, live_server: HeronProcess) -> None:
    with oi.tracer.start_as_current_span("responses-turn") as root:
        r = oi.client.responses.create(
            model="o4-mini", input=QUESTION, instructions="Answer in one line."
        )
        with oi.client.responses.stream(model="gpt-4o-mini", input="and tomorrow?") as s:
            for _ in s:
                pass
            streamed = s.get_final_response()
    flush(oi.provider)

    t = get_trace(live_server, hex_trace_id(root), 3)
    first, second = t["observations"][0]["children"]
    assert first["type"] == second["type"] == "generation"
    assert first["name"] == "Response"
    assert first["model"] == "o4-mini-2025-04-16"
    inputs = as_json(first["input"])
    assert [m["role"] for m in inputs] == ["system", "user"]
    assert inputs[0]["content"] == "Answer in one line."
    assert answer_for(QUESTION) in text_of(first["output"])
    u = first["usage"]
    assert (u["input"], u["output"], u["total"]) == (
        r.usage.input_tokens,
        r.usage.output_tokens,
        r.usage.total_tokens,
    )
    assert u["reasoning"] == REASONING_TOKENS
    assert first["total_cost"] > 0

    assert second["model"] == "gpt-4o-mini-2024-07-18"
    assert "and tomorrow?" in text_of(second["input"])
    assert answer_for("and tomorrow?") in text_of(second["output"])
    assert second["usage"]["total"] == streamed.usage.total_tokens


def test_embeddings_async(oi: Instrumented, live_server: HeronProcess) -> None:
    async def run() -> None:
        await oi.aclient.embeddings.create(
            model="text-embedding-3-small", input=["first passage", "second passage"]
        )

    with oi.tracer.start_as_current_span("index") as root:
        asyncio.run(run())
    flush(oi.provider)

    t = get_trace(live_server, hex_trace_id(root), 2)
    emb = only(t, type="embedding")
    assert emb["name"] == "CreateEmbeddings"
    assert emb["model"] == "text-embedding-3-small"
    # input.value (the whole request) wins over embedding.embeddings.N.embedding.text.
    assert "first passage" in text_of(emb["input"]) and "second passage" in text_of(emb["input"])
    assert "embedding.embeddings.0.embedding.vector" not in emb["metadata"]
    assert emb["usage"]["input"] > 0
    assert emb["total_cost"] > 0
