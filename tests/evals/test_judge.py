"""The LLM judge against a local server speaking the OpenAI protocol: modes and fallbacks,
parsing and validation, retries, timeouts, concurrency, headers, Azure, the pool."""

from __future__ import annotations

import asyncio
import email.utils
import socket
import time
from collections.abc import Awaitable
from typing import Any, TypeVar

import pytest

from heron.evals import judge as J
from heron.evals.judge import (
    Connection,
    FailureTracker,
    Judge,
    JudgeError,
    Judgement,
    JudgePool,
    JudgeRequest,
    OutputSpec,
    json_schema,
)
from tests.evals.fake_openai import FakeProvider, answer, fail, fake_provider, slow

__all__ = ["fake_provider"]

T = TypeVar("T")
NUMERIC = OutputSpec("NUMERIC")
BOOLEAN = OutputSpec("BOOLEAN")
LABELS = OutputSpec("CATEGORICAL", categories=("relevant", "partially_relevant", "irrelevant"))
KEY = "sk-test-0123456789abcdef"


def run(coro: Awaitable[T]) -> T:
    return asyncio.run(coro)  # type: ignore[arg-type]


def conn(fake: FakeProvider, **kw: Any) -> Connection:
    values: dict[str, Any] = {
        "name": "fake",
        "base_url": fake.base_url,
        "api_key": KEY,
        "model": "gpt-4o-mini",
    }
    return Connection(**(values | kw))


def judge_once(
    fake: FakeProvider, output: OutputSpec = NUMERIC, *, model: str | None = None, **kw: Any
) -> Judgement:
    async def go() -> Judgement:
        j = Judge(conn(fake, **kw), base_delay_s=0.01)
        try:
            return await j.judge("Rate this answer.", output, model)
        finally:
            await j.aclose()

    return run(go())


def judge_error(fake: FakeProvider, output: OutputSpec = NUMERIC, **kw: Any) -> JudgeError:
    with pytest.raises(JudgeError) as info:
        judge_once(fake, output, **kw)
    return info.value


# ---------------------------------------------------------------- modes


def test_structured_output_first(fake_provider: FakeProvider) -> None:
    fake_provider.value = 0.8
    got = judge_once(fake_provider)
    assert (got.value, got.mode, got.attempts) == (0.8, "json_schema", 1)
    assert got.reasoning == fake_provider.reasoning
    assert got.model == "gpt-4o-mini-2024-07-18"  # as answered, not as asked
    sent = fake_provider.requests[0].body
    assert sent["messages"] == [{"role": "user", "content": "Rate this answer."}]
    assert sent["response_format"] == {
        "type": "json_schema",
        "json_schema": {"name": "score", "strict": True, "schema": json_schema(NUMERIC)},
    }
    assert got.request == sent
    assert got.raw == '{"reasoning":"' + fake_provider.reasoning + '","value":0.8}'
    assert got.usage["input"] > 0 and got.usage["output"] > 0
    assert got.usage["total"] == got.usage["input"] + got.usage["output"]
    assert got.latency_ms > 0 and got.started_at.tzinfo is not None
    assert fake_provider.requests[0].headers["authorization"] == f"Bearer {KEY}"


def test_schema_puts_reasoning_before_the_value() -> None:
    for spec in (NUMERIC, BOOLEAN, LABELS):
        schema = json_schema(spec)
        assert list(schema["properties"]) == ["reasoning", "value"]
        assert schema["required"] == ["reasoning", "value"]
        assert schema["additionalProperties"] is False
    assert json_schema(LABELS)["properties"]["value"]["enum"] == list(LABELS.categories)
    assert json_schema(BOOLEAN)["properties"]["value"]["type"] == "boolean"
    assert (
        "from 1 to 5"
        in json_schema(OutputSpec("NUMERIC", 1, 5))["properties"]["value"]["description"]
    )


def test_tool_call_when_structured_output_is_rejected(fake_provider: FakeProvider) -> None:
    fake_provider.structured = "reject"

    async def go() -> list[Judgement]:
        j = Judge(conn(fake_provider))
        first = await j.judge("Rate this answer.", BOOLEAN)
        assert j.mode_for() == "tool"
        second = await j.judge("Rate that answer.", BOOLEAN)
        await j.aclose()
        return [first, second]

    first, second = run(go())
    assert (first.mode, first.value, second.mode) == ("tool", True, "tool")
    assert fake_provider.modes() == ["json_schema", "tool", "tool"]  # remembered
    assert [r.status for r in fake_provider.requests] == [400, 200, 200]
    body = fake_provider.requests[1].body
    assert body["tool_choice"] == {"type": "function", "function": {"name": "score"}}
    assert body["tools"][0]["function"]["parameters"] == json_schema(BOOLEAN)
    assert first.raw.startswith('{"reasoning"') and first.request == body


def test_plain_text_when_tools_are_rejected_too(fake_provider: FakeProvider) -> None:
    fake_provider.structured = fake_provider.tools = "reject"
    fake_provider.text_style = "fenced"

    async def go() -> list[Judgement]:
        j = Judge(conn(fake_provider))
        out = [await j.judge("Rate this answer.", LABELS) for _ in range(2)]
        other = await j.judge("Rate this answer.", LABELS, model="gpt-4o")
        await j.aclose()
        return [*out, other]

    first, second, other = run(go())
    assert (first.mode, first.value, second.mode) == ("text", "relevant", "text")
    assert fake_provider.modes()[:4] == ["json_schema", "tool", "text", "text"]
    prompt = fake_provider.requests[2].body["messages"][0]["content"]
    assert prompt.startswith("Rate this answer.\n\nAnswer with a JSON object")
    assert '"reasoning"' in prompt and 'one of "relevant", "partially_relevant"' in prompt
    # the mode is remembered per model: another model starts from structured output again
    assert other.mode == "text" and fake_provider.modes()[4:] == ["json_schema", "tool", "text"]


def test_provider_ignoring_response_format_is_parsed_from_text(
    fake_provider: FakeProvider,
) -> None:
    fake_provider.structured = "ignore"
    fake_provider.text_style = "labelled"
    fake_provider.value = 0.25
    got = judge_once(fake_provider)
    assert (got.mode, got.value) == ("json_schema", 0.25)
    assert got.reasoning == fake_provider.reasoning
    assert got.raw.endswith("**Score:** 0.25")


def test_tool_mode_answered_in_text(fake_provider: FakeProvider) -> None:
    fake_provider.structured, fake_provider.tools = "reject", "ignore"
    fake_provider.value = False
    fake_provider.text_style = "labelled"
    got = judge_once(fake_provider, BOOLEAN)
    assert (got.mode, got.value) == ("tool", False)


def test_bad_request_not_about_the_format_is_not_a_fallback(fake_provider: FakeProvider) -> None:
    fake_provider.script(
        fail(
            400,
            message="This model's maximum context length is 128000 tokens. However, your "
            "messages resulted in 130512 tokens. Please reduce the length of the messages.",
        )
    )
    err = judge_error(fake_provider)
    assert (err.kind, err.status, err.retryable, err.attempts) == ("bad_request", 400, False, 1)
    assert "maximum context length" in str(err)
    assert len(fake_provider.requests) == 1


def test_garbage_answer_is_invalid(fake_provider: FakeProvider) -> None:
    fake_provider.content = "I am not able to evaluate this."
    err = judge_error(fake_provider)
    assert (err.kind, err.retryable) == ("invalid", False)
    assert err.raw == "I am not able to evaluate this."
    assert "I am not able" in err.message
    # the call was paid for: enough to record it as a trace with its cost
    assert (err.mode, err.model, err.attempts) == ("json_schema", "gpt-4o-mini-2024-07-18", 1)
    assert err.usage["input"] > 0 and err.usage["output"] > 0
    assert err.request == fake_provider.requests[0].body
    assert err.latency_ms is not None and err.started_at is not None


def test_out_of_spec_answers_are_invalid(fake_provider: FakeProvider) -> None:
    fake_provider.value = 7
    err = judge_error(fake_provider)
    assert err.kind == "invalid" and "outside 0..1" in err.message
    fake_provider.value = "somewhat"
    err = judge_error(fake_provider, LABELS)
    assert err.kind == "invalid" and '"partially_relevant"' in err.message
    fake_provider.value = None
    fake_provider.script(answer(content='{"reasoning": "x", "value": "RELEVANT"}'))
    assert judge_once(fake_provider, LABELS).value == "relevant"  # any case


def test_refusal_is_invalid(fake_provider: FakeProvider) -> None:
    fake_provider.content = None

    async def go() -> JudgeError:
        j = Judge(conn(fake_provider))

        async def post(*args: Any, **kw: Any) -> Any:
            msg = {"role": "assistant", "content": None, "refusal": "I can't help with that."}
            return {"model": "m", "choices": [{"message": msg}]}

        j._client.post = post  # type: ignore[method-assign]
        with pytest.raises(JudgeError) as info:
            await j.judge("x", NUMERIC)
        return info.value

    err = run(go())
    assert err.kind == "invalid" and "refused" in err.message


# ---------------------------------------------------------------- failures and retries


def test_429_waits_for_retry_after(fake_provider: FakeProvider) -> None:
    fake_provider.script(fail(429, retry_after="1"))
    started = time.perf_counter()
    got = judge_once(fake_provider)
    assert time.perf_counter() - started >= 1.0
    assert got.attempts == 2 and [r.status for r in fake_provider.requests] == [429, 200]


def test_retry_after_ms_wins_and_http_dates_are_read(fake_provider: FakeProvider) -> None:
    fake_provider.script(fail(429, retry_after="30", retry_after_ms="300"))
    started = time.perf_counter()
    judge_once(fake_provider)
    assert 0.3 <= time.perf_counter() - started < 5
    fake_provider.script(
        fail(503, retry_after=email.utils.formatdate(time.time() + 2, usegmt=True))
    )
    started = time.perf_counter()
    assert judge_once(fake_provider).attempts == 2
    assert 0.9 <= time.perf_counter() - started < 5


def test_retry_after_is_capped(fake_provider: FakeProvider) -> None:
    fake_provider.script(fail(429, retry_after="3600"))

    async def go() -> Judgement:
        j = Judge(conn(fake_provider), max_retry_after_s=0.2)
        try:
            return await j.judge("x", NUMERIC)
        finally:
            await j.aclose()

    started = time.perf_counter()
    assert run(go()).attempts == 2
    assert time.perf_counter() - started < 2


def test_a_429_holds_back_the_connections_other_calls(fake_provider: FakeProvider) -> None:
    fake_provider.script(fail(429, retry_after="0.6"))

    async def go() -> float:
        j = Judge(conn(fake_provider))
        t0 = time.perf_counter()
        first = asyncio.create_task(j.judge("a", NUMERIC))
        await asyncio.sleep(0.2)  # the 429 is in
        await j.judge("b", NUMERIC)
        elapsed = time.perf_counter() - t0
        await first
        await j.aclose()
        return elapsed

    assert run(go()) >= 0.6


def test_server_errors_are_retried_then_succeed(fake_provider: FakeProvider) -> None:
    fake_provider.script(fail(500), fail(503), fail(502))
    got = judge_once(fake_provider)
    assert got.attempts == 4 and got.value == 1.0
    assert [r.status for r in fake_provider.requests] == [500, 503, 502, 200]


def test_retries_exhausted(fake_provider: FakeProvider) -> None:
    fake_provider.script(*[fail(503)] * 5)
    err = judge_error(fake_provider, max_retries=2)
    assert (err.kind, err.status, err.retryable, err.attempts) == ("server", 503, True, 3)
    assert "after 3 attempts" in err.message and "503" in err.message
    assert len(fake_provider.requests) == 3
    fake_provider.reset()
    fake_provider.script(*[fail(429, retry_after="0")] * 3)
    err = judge_error(fake_provider, max_retries=2)
    assert (err.kind, err.status, err.attempts) == ("rate_limited", 429, 3)


def test_backoff_grows() -> None:
    j = Judge(Connection("x", "http://127.0.0.1:9/v1", "k", "m"), base_delay_s=1, max_delay_s=5)
    for attempt, ceiling in [(1, 1), (2, 2), (3, 4), (4, 5), (9, 5)]:
        delays = [j._delay(attempt, None) for _ in range(50)]
        assert all(ceiling / 2 <= d <= ceiling for d in delays)
        assert len(set(delays)) > 1  # jitter
    assert j._delay(1, 7.5) == 7.5


def test_timeout(fake_provider: FakeProvider) -> None:
    fake_provider.script(slow(3))
    started = time.perf_counter()
    err = judge_error(fake_provider, timeout_s=0.3, max_retries=0)
    assert time.perf_counter() - started < 2
    assert (err.kind, err.retryable, err.status) == ("timeout", True, None)
    fake_provider.script(slow(3))
    got = judge_once(fake_provider, timeout_s=0.3, max_retries=1)  # the retry answers at once
    assert got.attempts == 2


def test_auth_error_is_not_retried(fake_provider: FakeProvider) -> None:
    fake_provider.api_key = "sk-the-right-one"
    err = judge_error(fake_provider)
    assert (err.kind, err.status, err.retryable, err.attempts) == ("auth", 401, False, 1)
    assert "Incorrect API key" in err.message
    assert len(fake_provider.requests) == 1
    assert err.request == fake_provider.requests[0].body and err.usage == {}


def test_unreachable() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    c = Connection("gone", f"http://127.0.0.1:{port}/v1", KEY, "m", max_retries=1)

    async def go() -> JudgeError:
        j = Judge(c, base_delay_s=0.01)
        with pytest.raises(JudgeError) as info:
            await j.judge("x", NUMERIC)
        await j.aclose()
        return info.value

    err = run(go())
    assert (err.kind, err.retryable, err.attempts) == ("unreachable", True, 2)


def test_concurrency_limit(fake_provider: FakeProvider) -> None:
    fake_provider.latency = 0.05

    async def go() -> list[Judgement]:
        j = Judge(conn(fake_provider, max_concurrency=3))
        out = await asyncio.gather(*[j.judge(f"q{i}", NUMERIC) for i in range(20)])
        await j.aclose()
        return out

    assert len(run(go())) == 20
    assert fake_provider.max_in_flight == 3


def test_extra_headers_are_sent(fake_provider: FakeProvider) -> None:
    judge_once(fake_provider, headers={"X-Org": "acme", "Helicone-Auth": "Bearer hk-1"})
    headers = fake_provider.requests[0].headers
    assert headers["x-org"] == "acme" and headers["helicone-auth"] == "Bearer hk-1"


def test_client_ignores_the_environment(
    fake_provider: FakeProvider, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-from-env")
    monkeypatch.setenv("OPENAI_BASE_URL", "http://127.0.0.1:9/v1")
    judge_once(fake_provider, api_key="")
    assert fake_provider.requests[0].headers["authorization"] == "Bearer none"


def test_azure(fake_provider: FakeProvider) -> None:
    fake_provider.api_key = KEY
    got = judge_once(
        fake_provider,
        provider="azure",
        base_url=fake_provider.azure_endpoint,
        model="judge-4o",
        api_version="2024-10-21",
    )
    assert got.value == 1.0 and got.model == "judge-4o"
    req = fake_provider.requests[0]
    assert req.path == "/openai/deployments/judge-4o/chat/completions"
    assert req.query == {"api-version": "2024-10-21"}
    assert req.headers["api-key"] == KEY and "authorization" not in req.headers
    judge_once(fake_provider, provider="azure", base_url=fake_provider.azure_endpoint, model="d2")
    assert fake_provider.requests[1].query == {"api-version": J.AZURE_API_VERSION}


def test_connection_repr_hides_the_key() -> None:
    assert KEY not in repr(Connection("x", "http://h/v1", KEY, "m"))
    with pytest.raises(ValueError):
        Connection("x", "http://h/v1", KEY, "m", provider="bedrock")  # type: ignore[arg-type]


# ---------------------------------------------------------------- test connection


def test_test_connection(fake_provider: FakeProvider) -> None:
    ok, message = run(J.test_connection(conn(fake_provider)))
    assert ok and message.startswith("gpt-4o-mini-2024-07-18 answered in ")
    fake_provider.api_key = "sk-other"
    ok, message = run(J.test_connection(conn(fake_provider)))
    assert not ok and message.startswith("authentication failed") and "401" in message
    fake_provider.api_key = None
    fake_provider.script(fail(404, message="The model `gpt-9` does not exist"))
    ok, message = run(J.test_connection(conn(fake_provider, model="gpt-9")))
    assert not ok and message.startswith("not found") and "gpt-9" in message
    ok, message = run(J.test_connection(conn(fake_provider, base_url="http://127.0.0.1:9/v1")))
    assert not ok and message.startswith("unreachable: nothing answers at http://127.0.0.1:9")
    fake_provider.script(slow(2))
    ok, message = run(J.test_connection(conn(fake_provider, timeout_s=0.2)))
    assert not ok and message.startswith("timed out")
    assert run(J.test_connection(conn(fake_provider, model=""))) == (
        False,
        "no model: set the connection's default model (Azure: the deployment)",
    )


# ---------------------------------------------------------------- pool and pausing


def test_pool_judges_many_concurrently(fake_provider: FakeProvider) -> None:
    fake_provider.api_key = KEY
    fake_provider.latency = 0.02
    good = conn(fake_provider, max_concurrency=4)
    bad = conn(fake_provider, name="bad", api_key="sk-wrong", max_concurrency=1)
    requests = [JudgeRequest(bad if i % 10 == 3 else good, f"q{i}", NUMERIC) for i in range(40)]
    with JudgePool() as pool:
        assert pool.judge_for(good) is pool.judge_for(conn(fake_provider, max_concurrency=4))
        assert pool.judge_for(good) is not pool.judge_for(conn(fake_provider, max_concurrency=5))
        results = pool.judge_many(requests)
        future = pool.submit(good, "one more", BOOLEAN)
        assert future.result(10).value is True
    assert len(results) == 40
    for i, result in enumerate(results):
        if i % 10 == 3:
            assert isinstance(result, JudgeError) and result.kind == "auth"
        else:
            assert isinstance(result, Judgement) and result.value == 1.0
    assert fake_provider.max_in_flight == 4 + 1  # each connection's limit holds
    with pytest.raises(RuntimeError):
        pool.submit(good, "closed", NUMERIC)


def test_failure_tracker_pauses_after_consecutive_failures() -> None:
    tracker = FailureTracker(threshold=3)
    ok = Judgement(1.0, "r", "json_schema", "m", {}, 1.0, "", {}, None)  # type: ignore[arg-type]
    err = JudgeError("server", "503: down", True, 503)
    assert tracker.record("ev", err) is None
    assert tracker.record("ev", err) is None
    assert tracker.record("ev", ok) is None  # a success resets
    assert [tracker.record("ev", err) for _ in range(3)] == [None, None, err]
    assert tracker.failures("ev") == 3 and tracker.failures("other") == 0
    tracker.reset("ev")
    assert tracker.failures("ev") == 0
    internal = tracker_error(FailureTracker(threshold=1))
    assert internal.kind == "internal" and "boom" in internal.message


def tracker_error(tracker: FailureTracker) -> JudgeError:
    result = tracker.record("ev", RuntimeError("boom"))
    assert result is not None
    return result


def test_pool_deadline(fake_provider: FakeProvider) -> None:
    fake_provider.latency = 1.0
    c = conn(fake_provider)
    with JudgePool() as pool:
        started = time.perf_counter()
        results = pool.judge_many([JudgeRequest(c, f"q{i}", NUMERIC) for i in range(3)], 0.2)
        assert time.perf_counter() - started < 0.8
    assert [r.kind for r in results] == ["timeout"] * 3  # type: ignore[union-attr]
