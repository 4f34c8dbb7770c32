"""`opentelemetry-instrumentation-openai-v2` (GenAI conventions, content on span attributes) with
the official openai client against FakeOpenAI, exported over OTLP/HTTP to a real heron process."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import openai
import pytest
from opentelemetry.instrumentation.openai_v2 import OpenAIInstrumentor

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
from tests.support.fake_openai import FakeOpenAI, answer_after_tool, answer_for
from tests.support.server import HeronProcess

QUESTION = "What is the weather in Paris?"
WEATHER_TOOL = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Current weather of a city",
        "parameters": {
            "type": "object",
            "properties": {"city": {"type": "string"}},
            "required": ["city"],
        },
    },
}


@pytest.fixture
def genai(
    live_server: HeronProcess, fake_openai: FakeOpenAI, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Instrumented]:
    monkeypatch.setenv("OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT", "SPAN_ONLY")
    monkeypatch.setenv("OTEL_SEMCONV_STABILITY_OPT_IN", "gen_ai_latest_experimental")
    resource = {"service.name": "weather-bot"}
    with instrumented(OpenAIInstrumentor(), live_server, fake_openai, resource) as inst:
        yield inst


def test_chat_in_parent_span(genai: Instrumented, live_server: HeronProcess) -> None:
    messages = [
        {"role": "system", "content": "You are a weather bot."},
        {"role": "user", "content": QUESTION},
    ]
    with genai.tracer.start_as_current_span("answer-question") as root:
        root.set_attribute("user.id", "user-42")
        root.set_attribute("session.id", "session-7")
        r = genai.client.chat.completions.create(
            model="gpt-4o-mini", messages=messages, temperature=0.2, max_tokens=200
        )
    flush(genai.provider)
    trace_id = hex_trace_id(root)

    t = get_trace(live_server, trace_id, 2)
    assert t["name"] == "answer-question"
    assert (t["user_id"], t["session_id"]) == ("user-42", "session-7")
    assert t["observation_count"] == 2 and t["error_count"] == 0
    assert t["level"] == "DEFAULT"
    assert t["models"] == ["gpt-4o-mini-2024-07-18"]
    assert (t["input_tokens"], t["output_tokens"]) == (
        r.usage.prompt_tokens,
        r.usage.completion_tokens,
    )
    assert t["total_tokens"] == r.usage.total_tokens
    assert t["total_cost"] > 0

    [root_obs] = t["observations"]
    assert root_obs["id"] == hex_span_id(root) and root_obs["parent_id"] is None
    assert root_obs["type"] == "span"
    [gen] = root_obs["children"]
    assert gen["parent_id"] == root_obs["id"]
    assert gen["type"] == "generation"
    assert gen["name"] == "chat gpt-4o-mini"
    assert gen["model"] == "gpt-4o-mini-2024-07-18"
    assert gen["metadata"]["gen_ai.request.model"] == "gpt-4o-mini"
    assert gen["metadata"]["gen_ai.provider.name"] == "openai"
    assert gen["metadata"]["gen_ai.response.id"] == r.id
    assert gen["model_parameters"]["temperature"] == 0.2
    assert gen["model_parameters"]["max_tokens"] == 200
    assert gen["usage"]["input"] == r.usage.prompt_tokens
    assert gen["usage"]["output"] == r.usage.completion_tokens
    assert gen["usage"]["total"] == r.usage.total_tokens
    assert gen["cost_source"] == "computed"
    assert gen["total_cost"] > 0
    assert gen["total_cost"] == pytest.approx(t["total_cost"])
    assert gen["cost"]["input"] > 0 and gen["cost"]["output"] > 0
    assert gen["latency_ms"] is not None and gen["latency_ms"] > 0
    assert root_obs["latency_ms"] >= gen["latency_ms"]
    assert t["latency_ms"] >= gen["latency_ms"]
    assert gen["level"] == "DEFAULT" and gen["status_message"] is None

    inputs = as_json(gen["input"])
    assert [m["role"] for m in inputs] == ["system", "user"]
    assert inputs[1]["parts"] == [{"type": "text", "content": QUESTION}]
    outputs = as_json(gen["output"])
    assert outputs[0]["role"] == "assistant"
    assert outputs[0]["parts"][0]["content"] == answer_for(QUESTION)
    assert outputs[0]["finish_reason"] == "stop"


def test_streaming(genai: Instrumented, live_server: HeronProcess) -> None:
    with genai.tracer.start_as_current_span("stream-answer") as root:
        stream = genai.client.chat.completions.create(
            model="gpt-4o",
            messages=[{"role": "user", "content": QUESTION}],
            stream=True,
            stream_options={"include_usage": True},
        )
        chunks = list(stream)
    flush(genai.provider)
    usage = chunks[-1].usage

    t = get_trace(live_server, hex_trace_id(root), 2)
    gen = only(t, type="generation")
    assert gen["name"] == "chat gpt-4o"
    assert gen["model"] == "gpt-4o-2024-08-06"
    assert (gen["usage"]["input"], gen["usage"]["output"]) == (
        usage.prompt_tokens,
        usage.completion_tokens,
    )
    assert gen["total_cost"] > 0
    assert as_json(gen["output"])[0]["parts"][0]["content"] == answer_for(QUESTION)
    # The fake sends its first chunk after 30 ms: the span covers the whole stream.
    assert gen["latency_ms"] >= 25


def test_tool_calling_round_trip(genai: Instrumented, live_server: HeronProcess) -> None:
    """An agent loop: the model calls a tool, the app runs it in its own span, the model answers."""
    messages: list[dict] = [{"role": "user", "content": QUESTION}]
    with genai.tracer.start_as_current_span("agent") as root:
        first = genai.client.chat.completions.create(
            model="gpt-4o-mini", messages=messages, tools=[WEATHER_TOOL]
        )
        [call] = first.choices[0].message.tool_calls
        with genai.tracer.start_as_current_span("execute_tool get_weather") as tool_span:
            tool_span.set_attribute("gen_ai.operation.name", "execute_tool")
            tool_span.set_attribute("gen_ai.tool.name", call.function.name)
            tool_span.set_attribute("gen_ai.tool.call.id", call.id)
            tool_span.set_attribute("gen_ai.tool.call.arguments", call.function.arguments)
            tool_span.set_attribute("gen_ai.tool.call.result", "18 C, sunny")
        messages += [
            first.choices[0].message.model_dump(exclude_none=True),
            {"role": "tool", "tool_call_id": call.id, "content": "18 C, sunny"},
        ]
        second = genai.client.chat.completions.create(
            model="gpt-4o-mini", messages=messages, tools=[WEATHER_TOOL]
        )
    flush(genai.provider)

    t = get_trace(live_server, hex_trace_id(root), 4)
    [root_obs] = t["observations"]
    kids = root_obs["children"]
    assert [k["type"] for k in kids] == ["generation", "tool", "generation"]
    calling, tool, answering = kids

    out = as_json(calling["output"])
    [part] = out[0]["parts"]
    assert part["type"] == "tool_call" and part["name"] == "get_weather"
    assert part["id"] == call.id and part["arguments"] == {"city": "Paris"}
    assert calling["metadata"]["gen_ai.response.finish_reasons"] == ["tool_calls"]

    assert tool["name"] == "execute_tool get_weather"
    assert as_json(tool["input"]) == {"city": "Paris"}
    assert tool["output"] == "18 C, sunny"
    assert tool["model"] is None and tool["total_cost"] in (None, 0)

    roles = [m["role"] for m in as_json(answering["input"])]
    assert roles == ["user", "assistant", "tool"]
    assert "18 C, sunny" in text_of(answering["input"])
    assert as_json(answering["output"])[0]["parts"][0]["content"] == answer_after_tool(
        "18 C, sunny"
    )
    assert answering["usage"]["total"] == second.usage.total_tokens
    assert t["total_cost"] == pytest.approx(calling["total_cost"] + answering["total_cost"])


def test_rate_limit_error(
    genai: Instrumented, live_server: HeronProcess, fake_openai: FakeOpenAI
) -> None:
    with genai.tracer.start_as_current_span("answer-with-retry") as root:
        root.set_attribute("user.id", "user-9")
        fake_openai.fail_next(429, message="Rate limit reached for gpt-4o-mini")
        with pytest.raises(openai.RateLimitError):
            genai.client.chat.completions.create(
                model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}]
            )
        r = genai.client.chat.completions.create(
            model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}]
        )
    flush(genai.provider)

    t = get_trace(live_server, hex_trace_id(root), 3)
    assert t["error_count"] == 1
    assert t["level"] == "ERROR"
    failed, ok = (
        only(t, type="generation", level="ERROR"),
        only(t, type="generation", level="DEFAULT"),
    )
    assert "429" in failed["status_message"]
    assert "Rate limit reached for gpt-4o-mini" in failed["status_message"]
    assert failed["model"] == "gpt-4o-mini"  # no response: the requested model
    assert failed["output"] is None
    assert not failed["usage"] and not failed["total_cost"]
    assert "error.type" in failed["metadata"]
    assert ok["usage"]["total"] == r.usage.total_tokens
    assert t["total_cost"] == pytest.approx(ok["total_cost"])


def test_embeddings_and_async(genai: Instrumented, live_server: HeronProcess) -> None:
    async def run() -> None:
        await genai.aclient.chat.completions.create(
            model="gpt-4o-mini", messages=[{"role": "user", "content": "async question"}]
        )
        stream = await genai.aclient.chat.completions.create(
            model="gpt-4o-mini",
            messages=[{"role": "user", "content": "async stream"}],
            stream=True,
            stream_options={"include_usage": True},
        )
        async for _ in stream:
            pass

    with genai.tracer.start_as_current_span("rag") as root:
        genai.client.embeddings.create(model="text-embedding-3-small", input="where is Paris?")
        asyncio.run(run())
    flush(genai.provider)

    t = get_trace(live_server, hex_trace_id(root), 4)
    emb = only(t, type="embedding")
    assert emb["name"] == "embeddings text-embedding-3-small"
    assert emb["model"] == "text-embedding-3-small"
    assert emb["usage"]["input"] > 0
    assert emb["total_cost"] > 0  # text-embedding-3-small is priced per input token
    gens = [k for k in t["observations"][0]["children"] if k["type"] == "generation"]
    assert len(gens) == 2
    assert {as_json(g["output"])[0]["parts"][0]["content"] for g in gens} == {
        answer_for("async question"),
        answer_for("async stream"),
    }
    assert all(g["parent_id"] == t["observations"][0]["id"] for g in gens)
