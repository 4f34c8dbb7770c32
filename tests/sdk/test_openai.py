"""The OpenAI integration against FakeOpenAI (a real local HTTP server) and a live heron."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import openai
import pytest

import heron
from heron.openai import AsyncOpenAI, OpenAI
from tests.sdk.conftest import observations, read_trace
from tests.support.fake_openai import API_KEY, FakeOpenAI, answer_for
from tests.support.fake_openai import fake_openai as fake_openai  # the fixture
from tests.support.server import HeronProcess

WEATHER_TOOL = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Weather of a city",
        "parameters": {
            "type": "object",
            "properties": {"city": {"type": "string"}},
            "required": ["city"],
        },
    },
}
RESPONSES_TOOL = {"type": "function", "name": "get_weather", **WEATHER_TOOL["function"]}
LONG_PROMPT = "Tell me about herons. " * 300  # over 1,024 tokens: the fake reports cached ones


def _client(fake: FakeOpenAI, cls: Any = openai.OpenAI) -> Any:
    return cls(api_key=API_KEY, base_url=fake.base_url, max_retries=0)


def _only_generation(t: dict[str, Any]) -> dict[str, Any]:
    [gen] = [o for o in observations(t).values() if o["type"] in ("generation", "embedding")]
    return gen


def _text(messages: list[dict[str, Any]]) -> str:
    return "".join(p.get("content") or "" for m in messages for p in m["parts"])


def test_chat_non_streaming_with_tool_calls(hr, live_server: HeronProcess, fake_openai) -> None:
    assert heron.instrument_openai() is True
    assert heron.instrument_openai() is True  # idempotent
    client = _client(fake_openai)

    @heron.observe(as_type="agent")
    def agent(question: str) -> str:
        first = client.chat.completions.create(
            model="gpt-4o-mini",
            messages=[{"role": "user", "content": question}],
            tools=[WEATHER_TOOL],
            temperature=0.1,
            max_tokens=100,
        )
        call = first.choices[0].message.tool_calls[0]
        second = client.chat.completions.create(
            model="gpt-4o-mini",
            messages=[
                {"role": "system", "content": "Be brief."},
                {"role": "user", "content": question},
                first.choices[0].message,
                {"role": "tool", "tool_call_id": call.id, "content": "sunny, 21C"},
            ],
        )
        return second.choices[0].message.content

    with heron.start_span("request") as root:
        trace_id = root.trace_id
        text = agent("What is the weather in Paris?")
    t = read_trace(live_server, trace_id)
    agent_obs = next(o for n, o in observations(t).items() if n.endswith("agent"))
    first, second = sorted(agent_obs["children"], key=lambda o: o["start_time"])
    assert first["name"] == "chat gpt-4o-mini" and first["type"] == "generation"
    assert first["model"] == "gpt-4o-mini-2024-07-18"
    assert first["metadata"]["gen_ai.request.model"] == "gpt-4o-mini"
    assert first["model_parameters"]["temperature"] == 0.1
    assert first["model_parameters"]["max_tokens"] == 100
    assert first["input"] == [
        {"role": "user", "parts": [{"type": "text", "content": "What is the weather in Paris?"}]}
    ]
    [out] = first["output"]
    [part] = out["parts"]
    assert part["type"] == "tool_call" and part["name"] == "get_weather"
    assert json.loads(part["arguments"]) == {"city": "Paris"}
    assert out["finish_reason"] == "tool_calls"
    assert first["usage"]["input"] > 0 and first["usage"]["output"] > 0
    assert first["total_cost"] > 0 and first["cost_source"] == "computed"
    roles = [m["role"] for m in second["input"]]
    assert roles == ["system", "user", "assistant", "tool"]
    assert second["input"][3]["parts"][0]["type"] == "tool_call_response"
    assert _text(second["output"]) == text


def test_chat_streaming_ttft_usage_and_cached_tokens(hr, live_server, fake_openai) -> None:
    heron.instrument_openai()
    client = _client(fake_openai)
    with heron.start_span("request") as root:
        trace_id = root.trace_id
        stream = client.chat.completions.create(
            model="gpt-4o-mini",
            messages=[{"role": "user", "content": LONG_PROMPT}],
            stream=True,
            stream_options={"include_usage": True},
        )
        assert isinstance(stream, openai.Stream) is False  # a proxy, yielding the same chunks
        chunks = list(stream)
    assert all(type(c).__name__ == "ChatCompletionChunk" for c in chunks)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == answer_for(LONG_PROMPT)
    expected = FakeOpenAI.chat_usage(fake_openai.last_request["body"])

    gen = _only_generation(read_trace(live_server, trace_id))
    assert _text(gen["output"]) == text
    assert gen["model_parameters"]["stream"] is True
    assert gen["usage"]["input"] == expected["prompt_tokens"]
    assert gen["usage"]["cached_input"] == expected["prompt_tokens_details"]["cached_tokens"] > 0
    assert gen["completion_start_time"] is not None
    assert gen["time_to_first_token_ms"] > 0
    assert gen["total_cost"] > 0


def test_streamed_tool_calls_and_early_close(hr, live_server, fake_openai) -> None:
    heron.instrument_openai()
    client = _client(fake_openai)
    with heron.start_span("request") as root:
        trace_id = root.trace_id
        with client.chat.completions.create(
            model="gpt-4o-mini",
            messages=[{"role": "user", "content": "Weather in Oslo?"}],
            tools=[WEATHER_TOOL],
            stream=True,
        ) as stream:
            for _ in stream:
                pass
        with client.chat.completions.create(
            model="gpt-4o-mini", messages=[{"role": "user", "content": "hello"}], stream=True
        ) as stream:
            next(iter(stream))  # stop after the first chunk: closed by `with`
    obs = observations(read_trace(live_server, trace_id))["request"]["children"]
    full, partial = sorted(obs, key=lambda o: o["start_time"])
    [part] = full["output"][0]["parts"]
    assert part["type"] == "tool_call" and json.loads(part["arguments"]) == {"city": "Oslo"}
    assert partial["end_time"] is not None and partial["completion_start_time"] is not None


def test_responses_api_sync_and_streaming_with_reasoning(hr, live_server, fake_openai) -> None:
    heron.instrument_openai()
    client = _client(fake_openai)
    with heron.start_span("request") as root:
        trace_id = root.trace_id
        r = client.responses.create(
            model="o4-mini", input="Why is the sky blue?", instructions="Answer shortly."
        )
        events = list(
            client.responses.create(
                model="gpt-4o-mini", input="Weather in Rome?", tools=[RESPONSES_TOOL], stream=True
            )
        )
    assert events[-1].type == "response.completed"
    first, second = sorted(
        observations(read_trace(live_server, trace_id))["request"]["children"],
        key=lambda o: o["start_time"],
    )
    assert first["name"] == "responses o4-mini" and first["model"] == "o4-mini-2025-04-16"
    assert first["input"][0]["role"] == "system"  # instructions first, then the input
    assert _text(first["output"]) == r.output_text
    assert first["usage"]["reasoning"] == 64 and first["usage"]["output"] >= 64
    assert first["total_cost"] > 0
    [part] = second["output"][0]["parts"]
    assert part["type"] == "tool_call" and part["name"] == "get_weather"
    assert second["completion_start_time"] is not None and second["usage"]["input"] > 0


def test_embeddings_and_async_clients(hr, live_server, fake_openai) -> None:
    client = _client(fake_openai, AsyncOpenAI)  # heron.openai drop-in: no instrument_openai()

    async def run() -> str | None:
        with heron.start_span("request") as root:
            await client.embeddings.create(model="text-embedding-3-small", input=["a", "b"])
            await client.chat.completions.create(
                model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}]
            )
            stream = await client.chat.completions.create(
                model="gpt-4o-mini",
                messages=[{"role": "user", "content": "hi again"}],
                stream=True,
                stream_options={"include_usage": True},
            )
            async with stream:
                pieces = [c async for c in stream]
            assert pieces
            return root.trace_id

    trace_id = asyncio.run(run())
    kids = sorted(
        observations(read_trace(live_server, trace_id))["request"]["children"],
        key=lambda o: o["start_time"],
    )
    emb, chat, streamed = kids
    assert emb["type"] == "embedding" and emb["name"] == "embeddings text-embedding-3-small"
    assert emb["input"] == ["a", "b"]
    assert emb["output"] == {"embeddings": 2, "dimensions": 8}
    assert emb["usage"]["input"] == 2
    assert chat["type"] == "generation" and chat["usage"]["output"] > 0
    assert streamed["completion_start_time"] is not None and streamed["usage"]["input"] > 0

    plain = openai.OpenAI(api_key=API_KEY, base_url=fake_openai.base_url)  # not recorded
    with heron.start_span("plain") as root:
        plain.chat.completions.create(
            model="gpt-4o-mini", messages=[{"role": "user", "content": "x"}]
        )
    assert read_trace(live_server, root.trace_id)["observation_count"] == 1


def test_errors_are_error_level_with_status_and_reraised(hr, live_server, fake_openai) -> None:
    heron.instrument_openai()
    client = _client(fake_openai)
    fake_openai.fail_next(429)
    with heron.start_span("request") as root:
        with pytest.raises(openai.RateLimitError):
            client.chat.completions.create(
                model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}]
            )
        fake_openai.fail_next(503, message="overloaded")
        with pytest.raises(openai.APIStatusError):
            client.responses.create(model="gpt-4o-mini", input="hi", stream=True)
    slow = OpenAI(api_key=API_KEY, base_url=fake_openai.base_url, max_retries=0, timeout=0.2)
    fake_openai.delay(1.0)
    with heron.start_span("timeout") as troot, pytest.raises(openai.APITimeoutError):
        slow.embeddings.create(model="text-embedding-3-small", input="x")
    fake_openai.delay(0)

    rate, unavailable = sorted(
        observations(read_trace(live_server, root.trace_id))["request"]["children"],
        key=lambda o: o["start_time"],
    )
    assert rate["level"] == "ERROR" and rate["status_message"].startswith("RateLimitError: 429")
    assert rate["metadata"]["http.response.status_code"] == 429
    assert unavailable["level"] == "ERROR" and "503" in unavailable["status_message"]
    [timed_out] = observations(read_trace(live_server, troot.trace_id))["timeout"]["children"]
    assert timed_out["level"] == "ERROR" and "APITimeoutError" in timed_out["status_message"]


def test_uninstrument_restores_the_client(hr, fake_openai) -> None:
    from openai.resources.chat.completions import Completions

    original = Completions.create
    heron.instrument_openai()
    assert Completions.create is not original
    heron.uninstrument_openai()
    assert Completions.create is original
