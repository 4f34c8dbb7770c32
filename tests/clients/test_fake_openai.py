"""The official `openai` client against `FakeOpenAI`, so that we know the double is faithful."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from typing import Any

import httpx
import openai
import pytest
from openai.types import CreateEmbeddingResponse
from openai.types.chat import ChatCompletion, ChatCompletionChunk
from openai.types.responses import Response, ResponseStreamEvent
from pydantic import TypeAdapter

from tests.support.fake_openai import (
    REASONING_TOKENS,
    FakeOpenAI,
    answer_after_tool,
    answer_for,
    embedding_for,
)

WEATHER_TOOL = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Current weather of a city",
        "parameters": {
            "type": "object",
            "properties": {"city": {"type": "string"}, "unit": {"enum": ["celsius", "kelvin"]}},
            "required": ["city"],
        },
    },
}
RESPONSES_TOOL = {"type": "function", "strict": False, **WEATHER_TOOL["function"]}
QUESTION = "What is the weather in Paris?"


def client(fake: FakeOpenAI, **kwargs: Any) -> openai.OpenAI:
    kwargs.setdefault("max_retries", 0)
    return openai.OpenAI(base_url=fake.base_url, api_key=fake.api_key, **kwargs)


def aclient(fake: FakeOpenAI) -> openai.AsyncOpenAI:
    return openai.AsyncOpenAI(base_url=fake.base_url, api_key=fake.api_key, max_retries=0)


def sse_events(fake: FakeOpenAI, path: str, body: dict[str, Any]) -> list[tuple[str | None, str]]:
    """Raw (event, data) pairs of a streamed answer, read with plain httpx."""
    events: list[tuple[str | None, str]] = []
    with httpx.stream("POST", fake.base_url + path, json=body) as r:
        assert r.status_code == 200
        assert r.headers["content-type"].startswith("text/event-stream")
        event = None
        for line in r.iter_lines():
            if line.startswith("event: "):
                event = line[7:]
            elif line.startswith("data: "):
                events.append((event, line[6:]))
                event = None
    return events


# ---------------------------------------------------------------- chat completions


def test_chat_completion(fake_openai: FakeOpenAI) -> None:
    body = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": QUESTION}]}
    c = client(fake_openai)
    r = c.chat.completions.create(**body)
    assert r.choices[0].message.content == answer_for(QUESTION)
    assert r.choices[0].finish_reason == "stop"
    assert r.model == "gpt-4o-mini-2024-07-18"
    assert r.usage is not None
    assert r.usage.model_dump(exclude_none=True) == FakeOpenAI.chat_usage(body)
    assert r.usage.total_tokens == r.usage.prompt_tokens + r.usage.completion_tokens
    assert r.usage.prompt_tokens_details.cached_tokens == 0

    req = fake_openai.last_request
    assert req["path"] == "/v1/chat/completions" and req["body"] == body
    assert req["authorization"] == f"Bearer {fake_openai.api_key}"

    raw = c.chat.completions.with_raw_response.create(**body)
    ChatCompletion.model_validate(json.loads(raw.http_response.text), strict=False)
    assert (
        c.chat.completions.create(**body).choices[0].message.content == r.choices[0].message.content
    )
    assert {
        m: c.chat.completions.create(**{**body, "model": m}).model for m in ("gpt-4o", "my-model")
    } == {"gpt-4o": "gpt-4o-2024-08-06", "my-model": "my-model"}


def test_cached_and_reasoning_tokens(fake_openai: FakeOpenAI) -> None:
    c = client(fake_openai)
    long_prompt = "word " * 1000  # 5,000 characters: 1,250 tokens
    messages = [{"role": "system", "content": long_prompt}, {"role": "user", "content": "hi"}]
    r = c.chat.completions.create(model="gpt-4o", messages=messages)
    assert r.usage.prompt_tokens >= 1250
    assert r.usage.prompt_tokens_details.cached_tokens == r.usage.prompt_tokens // 128 * 128
    assert r.usage.completion_tokens_details.reasoning_tokens == 0

    r = c.chat.completions.create(model="o3-mini", messages=[{"role": "user", "content": "hi"}])
    assert r.model == "o3-mini-2025-01-31"
    assert r.usage.completion_tokens_details.reasoning_tokens == REASONING_TOKENS
    assert r.usage.completion_tokens > REASONING_TOKENS
    assert r.usage.prompt_tokens_details.cached_tokens == 0


def test_chat_stream_with_usage(fake_openai: FakeOpenAI) -> None:
    body = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": QUESTION}]}
    start = time.monotonic()
    stream = client(fake_openai).chat.completions.create(
        **body, stream=True, stream_options={"include_usage": True}
    )
    chunks, first_at = [], None
    for chunk in stream:
        if first_at is None:
            first_at = time.monotonic() - start
        chunks.append(chunk)
    total = time.monotonic() - start
    assert first_at is not None and first_at >= 0.025
    assert total - first_at < 0.5

    content = [
        c.choices[0].delta.content for c in chunks if c.choices and c.choices[0].delta.content
    ]
    assert len(content) >= 3
    assert "".join(content) == answer_for(QUESTION)
    assert chunks[0].choices[0].delta.role == "assistant"
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == "stop"
    assert chunks[-1].choices == []
    assert chunks[-1].usage.model_dump(exclude_none=True) == FakeOpenAI.chat_usage(body)
    assert all(c.usage is None for c in chunks[:-1])
    assert {c.model for c in chunks} == {"gpt-4o-mini-2024-07-18"}
    assert len({c.id for c in chunks}) == 1

    # Without include_usage: no usage chunk. Every event is a valid chunk; the stream ends [DONE].
    events = sse_events(fake_openai, "/chat/completions", {**body, "stream": True})
    assert events[-1] == (None, "[DONE]")
    parsed = [ChatCompletionChunk.model_validate(json.loads(d)) for _, d in events[:-1]]
    assert all(p.choices and p.usage is None for p in parsed)


def test_chat_tool_calls(fake_openai: FakeOpenAI) -> None:
    c = client(fake_openai)
    messages: list[dict[str, Any]] = [{"role": "user", "content": QUESTION}]
    r = c.chat.completions.create(model="gpt-4o", messages=messages, tools=[WEATHER_TOOL])
    assert r.choices[0].finish_reason == "tool_calls"
    [call] = r.choices[0].message.tool_calls
    assert call.function.name == "get_weather" and call.id.startswith("call_")
    assert json.loads(call.function.arguments) == {"city": "Paris", "unit": "celsius"}

    messages += [
        r.choices[0].message.model_dump(exclude_none=True),
        {"role": "tool", "tool_call_id": call.id, "content": "18 C, sunny"},
    ]
    r = c.chat.completions.create(model="gpt-4o", messages=messages, tools=[WEATHER_TOOL])
    assert r.choices[0].finish_reason == "stop"
    assert r.choices[0].message.content == answer_after_tool("18 C, sunny")
    assert not r.choices[0].message.tool_calls


def test_chat_tool_calls_streamed(fake_openai: FakeOpenAI) -> None:
    c = client(fake_openai)
    messages = [{"role": "user", "content": QUESTION}]
    with c.chat.completions.stream(model="gpt-4o", messages=messages, tools=[WEATHER_TOOL]) as s:
        kinds = [event.type for event in s]
        final = s.get_final_completion()
    assert kinds.count("tool_calls.function.arguments.delta") >= 2
    assert final.choices[0].finish_reason == "tool_calls"
    [call] = final.choices[0].message.tool_calls
    assert call.function.name == "get_weather"
    assert json.loads(call.function.arguments) == {"city": "Paris", "unit": "celsius"}


async def _async_chat(fake: FakeOpenAI) -> tuple[str, str]:
    async with aclient(fake) as c:
        messages = [{"role": "user", "content": QUESTION}]
        r = await c.chat.completions.create(model="gpt-4o-mini", messages=messages)
        stream = await c.chat.completions.create(
            model="gpt-4o-mini",
            messages=messages,
            stream=True,
            stream_options={"include_usage": True},
        )
        text = "".join([ch.choices[0].delta.content or "" async for ch in stream if ch.choices])
        return r.choices[0].message.content, text


def test_async_chat(fake_openai: FakeOpenAI) -> None:
    assert asyncio.run(_async_chat(fake_openai)) == (answer_for(QUESTION), answer_for(QUESTION))


# ---------------------------------------------------------------- responses


def test_responses(fake_openai: FakeOpenAI) -> None:
    c = client(fake_openai)
    body = {"model": "gpt-4o-mini", "input": QUESTION, "instructions": "Be brief."}
    r = c.responses.create(**body)
    assert r.object == "response" and r.status == "completed"
    assert r.model == "gpt-4o-mini-2024-07-18"
    assert r.output_text == answer_for(QUESTION)
    assert r.output[0].type == "message" and r.output[0].role == "assistant"
    assert r.usage.model_dump(exclude_none=True) == FakeOpenAI.responses_usage(body)
    assert r.usage.total_tokens == r.usage.input_tokens + r.usage.output_tokens
    raw = c.responses.with_raw_response.create(**body)
    Response.model_validate(json.loads(raw.http_response.text))

    # Message lists with content parts; a reasoning model.
    r = c.responses.create(
        model="o4-mini",
        input=[{"role": "user", "content": [{"type": "input_text", "text": "Hello there"}]}],
    )
    assert r.output_text == answer_for("Hello there")
    assert r.usage.output_tokens_details.reasoning_tokens == REASONING_TOKENS


def test_responses_function_call(fake_openai: FakeOpenAI) -> None:
    c = client(fake_openai)
    r = c.responses.create(model="gpt-4o", input=QUESTION, tools=[RESPONSES_TOOL])
    [call] = r.output
    assert call.type == "function_call" and call.name == "get_weather"
    assert json.loads(call.arguments) == {"city": "Paris", "unit": "celsius"}
    follow_up = [
        {"role": "user", "content": QUESTION},
        call.model_dump(exclude_none=True),
        {"type": "function_call_output", "call_id": call.call_id, "output": "18 C"},
    ]
    r = c.responses.create(model="gpt-4o", input=follow_up, tools=[RESPONSES_TOOL])
    assert r.output_text == answer_after_tool("18 C")


def test_responses_stream(fake_openai: FakeOpenAI) -> None:
    c = client(fake_openai)
    with c.responses.stream(model="gpt-4o-mini", input=QUESTION) as s:
        kinds = [event.type for event in s]
        final = s.get_final_response()
    assert kinds[:4] == [
        "response.created",
        "response.in_progress",
        "response.output_item.added",
        "response.content_part.added",
    ]
    assert kinds.count("response.output_text.delta") >= 3
    assert kinds[-4:] == [
        "response.output_text.done",
        "response.content_part.done",
        "response.output_item.done",
        "response.completed",
    ]
    assert final.output_text == answer_for(QUESTION)
    assert final.usage.total_tokens > 0

    events = c.responses.create(model="gpt-4o", input=QUESTION, tools=[RESPONSES_TOOL], stream=True)
    kinds = [e.type for e in events]
    assert "response.function_call_arguments.delta" in kinds
    assert kinds[-1] == "response.completed"

    # Every event validates strictly against the client's own union of event types.
    adapter = TypeAdapter(ResponseStreamEvent)
    for body in ({"input": QUESTION}, {"input": QUESTION, "tools": [RESPONSES_TOOL]}):
        raw = sse_events(fake_openai, "/responses", {"model": "gpt-4o", "stream": True, **body})
        numbers = []
        for event, data in raw:
            parsed = adapter.validate_python(json.loads(data))
            assert parsed.type == event
            numbers.append(parsed.sequence_number)
        assert numbers == list(range(len(raw)))


async def _async_responses(fake: FakeOpenAI) -> tuple[str, str]:
    async with aclient(fake) as c:
        r = await c.responses.create(model="gpt-4o-mini", input="async hello")
        async with c.responses.stream(model="gpt-4o-mini", input="async hello") as s:
            async for _ in s:
                pass
            final = await s.get_final_response()
        return r.output_text, final.output_text


def test_async_responses(fake_openai: FakeOpenAI) -> None:
    expected = answer_for("async hello")
    assert asyncio.run(_async_responses(fake_openai)) == (expected, expected)


# ---------------------------------------------------------------- embeddings


def test_embeddings(fake_openai: FakeOpenAI) -> None:
    c = client(fake_openai)
    r = c.embeddings.create(model="text-embedding-3-small", input=["alpha", "beta gamma"])
    assert fake_openai.last_request["body"]["encoding_format"] == "base64"  # the client's default
    assert [d.index for d in r.data] == [0, 1]
    for d, text in zip(r.data, ["alpha", "beta gamma"], strict=True):
        assert d.embedding == pytest.approx(embedding_for(text), abs=1e-6)
    assert r.usage.prompt_tokens == r.usage.total_tokens > 0
    assert r.model == "text-embedding-3-small"

    r = c.embeddings.create(
        model="text-embedding-3-small", input="alpha", encoding_format="float", dimensions=16
    )
    assert r.data[0].embedding == embedding_for("alpha", 16)
    raw = c.embeddings.with_raw_response.create(
        model="text-embedding-3-small", input="alpha", encoding_format="float"
    )
    CreateEmbeddingResponse.model_validate(json.loads(raw.http_response.text))

    async def run() -> list[float]:
        async with aclient(fake_openai) as ac:
            r = await ac.embeddings.create(model="text-embedding-3-small", input="alpha")
            return r.data[0].embedding

    assert asyncio.run(run()) == pytest.approx(embedding_for("alpha"), abs=1e-6)


# ---------------------------------------------------------------- errors, delays, concurrency


def test_fail_next(fake_openai: FakeOpenAI) -> None:
    c = client(fake_openai)
    messages = [{"role": "user", "content": "hi"}]
    fake_openai.fail_next(429, message="Rate limit reached for gpt-4o-mini")
    with pytest.raises(openai.RateLimitError) as info:
        c.chat.completions.create(model="gpt-4o-mini", messages=messages)
    err = info.value
    assert err.status_code == 429
    assert err.body["message"] == "Rate limit reached for gpt-4o-mini"
    assert err.body["type"] == "requests" and err.body["code"] == "rate_limit_exceeded"
    assert err.response.headers["retry-after"] and err.response.headers["retry-after-ms"]
    assert err.response.headers["x-ratelimit-remaining-requests"] == "0"
    assert fake_openai.last_request["status"] == 429
    # The next request succeeds again.
    assert c.chat.completions.create(model="gpt-4o-mini", messages=messages).choices

    fake_openai.fail_next(500, times=2, message="boom")
    with pytest.raises(openai.InternalServerError):
        c.responses.create(model="gpt-4o-mini", input="x")
    with pytest.raises(openai.InternalServerError):
        c.embeddings.create(model="text-embedding-3-small", input="x")
    assert c.embeddings.create(model="text-embedding-3-small", input="x").data

    # With its own retries on, the client honours retry-after-ms and succeeds.
    fake_openai.reset()
    fake_openai.fail_next(429, times=2)
    retrying = client(fake_openai, max_retries=2)
    assert retrying.chat.completions.create(model="gpt-4o-mini", messages=messages).choices
    assert [r["status"] for r in fake_openai.requests] == [429, 429, None]


def test_unknown_path_and_bad_request(fake_openai: FakeOpenAI) -> None:
    r = httpx.post(fake_openai.base_url + "/nope", json={})
    assert r.status_code == 404
    assert set(r.json()["error"]) >= {"message", "type", "code"}
    with pytest.raises(openai.NotFoundError):
        client(fake_openai).models.retrieve("gpt-4o")
    r = httpx.post(fake_openai.base_url + "/chat/completions", content=b"{not json")
    assert r.status_code == 400 and "error" in r.json()


def test_delay(fake_openai: FakeOpenAI) -> None:
    fake_openai.delay(0.2)
    start = time.monotonic()
    client(fake_openai).embeddings.create(model="text-embedding-3-small", input="x")
    assert time.monotonic() - start >= 0.2
    with pytest.raises(openai.APITimeoutError):
        client(fake_openai, timeout=0.05).embeddings.create(
            model="text-embedding-3-small", input="x"
        )
    fake_openai.delay(0)


def test_concurrent_keep_alive(fake_openai: FakeOpenAI) -> None:
    c = client(fake_openai)
    errors: list[BaseException] = []
    answers: dict[int, str] = {}

    def work(i: int) -> None:
        try:
            for j in range(5):
                text = f"question {i} {j}"
                messages = [{"role": "user", "content": text}]
                if j % 2:
                    stream = c.chat.completions.create(
                        model="gpt-4o-mini", messages=messages, stream=True
                    )
                    got = "".join(ch.choices[0].delta.content or "" for ch in stream)
                else:
                    r = c.chat.completions.create(model="gpt-4o-mini", messages=messages)
                    got = r.choices[0].message.content
                assert got == answer_for(text)
            answers[i] = "ok"
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(12)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert not errors and len(answers) == 12
    assert len(fake_openai.requests) == 60
    c.close()
