"""``@heron.observe`` end to end: spans sent by the SDK, read back from a real heron server."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

import heron
from tests.sdk.conftest import child_names, read_trace
from tests.support.server import SECRET_KEY, HeronProcess


@heron.observe(as_type="tool")
def lookup(order_id: str, *, verbose: bool = False) -> dict[str, Any]:
    return {"order": order_id, "status": "shipped"}


@heron.observe(as_type="retriever", name="search-docs")
async def search(query: str, k: int = 2) -> list[str]:
    await asyncio.sleep(0)
    return [f"doc-{i}" for i in range(k)]


@heron.observe(as_type="generation")
def stream_words(text: str):  # a generator of str chunks: the output is the joined text
    lookup("A-1")  # a child while the generator runs
    for w in text.split():
        yield w + " "


@heron.observe()
async def numbers(n: int):  # an async generator of non-str items: the output is a list
    for i in range(n):
        await search(f"q{i}", k=1)
        yield {"i": i}


class Agent:
    @heron.observe(as_type="agent")
    async def run(self, question: str) -> str:
        docs = await search(question)
        words = "".join(stream_words("the answer is"))
        items = [x async for x in numbers(2)]
        lookup("A-2", verbose=True)
        return f"{words.strip()} ({len(docs)} docs, {len(items)} items)"


def test_decorator_nests_sync_async_and_generators(hr: heron.HeronClient, live_server) -> None:
    trace_ids: list[str | None] = []

    @heron.observe(name="request")
    def handle(question: str) -> str:
        trace_ids.append(heron.get_current_trace_id())
        return asyncio.run(Agent().run(question))

    assert handle("where is my order?") == "the answer is (2 docs, 2 items)"
    [trace_id] = trace_ids
    assert trace_id is not None and len(trace_id) == 32
    int(trace_id, 16)

    t = read_trace(live_server, trace_id)
    assert t["name"] == "request"
    assert t["input"] == {"question": "where is my order?"}
    assert t["output"] == "the answer is (2 docs, 2 items)"
    # request, Agent.run, search-docs, stream_words > lookup, numbers > 2 x search-docs, lookup
    assert t["observation_count"] == 9
    [root] = t["observations"]
    assert root["name"] == "request" and root["type"] == "span"
    [agent] = root["children"]
    assert agent["name"] == "Agent.run" and agent["type"] == "agent"
    assert agent["input"] == {"question": "where is my order?"}  # self dropped
    assert child_names(agent) == ["lookup", "numbers", "search-docs", "stream_words"]
    obs = {c["name"]: c for c in agent["children"]}
    assert obs["search-docs"]["type"] == "retriever"
    assert obs["search-docs"]["output"] == ["doc-0", "doc-1"]
    gen = obs["stream_words"]
    assert gen["type"] == "generation"
    assert gen["output"] == "the answer is "
    assert child_names(gen) == ["lookup"]  # started inside the generator body
    agen = obs["numbers"]
    assert agen["output"] == [{"i": 0}, {"i": 1}]
    assert child_names(agen) == ["search-docs", "search-docs"]
    assert obs["lookup"]["type"] == "tool"
    assert obs["lookup"]["input"] == {"order_id": "A-2", "verbose": True}
    assert obs["lookup"]["output"] == {"order": "A-2", "status": "shipped"}


def test_exception_is_error_with_message_and_reraised(hr, live_server: HeronProcess) -> None:
    class PaymentDeclined(Exception):
        pass

    seen: list[str | None] = []

    @heron.observe()
    def charge(amount: int) -> None:
        seen.append(heron.get_current_trace_id())
        raise PaymentDeclined(f"card declined for {amount}")

    @heron.observe()
    async def charge_async() -> None:
        seen.append(heron.get_current_trace_id())
        raise ValueError("bad amount")

    @heron.observe()
    def failing_gen():
        seen.append(heron.get_current_trace_id())
        yield 1
        raise RuntimeError("generator broke")

    with pytest.raises(PaymentDeclined) as info:
        charge(12)
    assert str(info.value) == "card declined for 12"
    assert info.traceback[-1].name == "charge"  # re-raised unchanged, traceback intact
    with pytest.raises(ValueError, match="bad amount"):
        asyncio.run(charge_async())
    with pytest.raises(RuntimeError, match="generator broke"):
        list(failing_gen())

    for trace_id, name, message in zip(
        seen,
        ["charge", "charge_async", "failing_gen"],
        ["card declined for 12", "bad amount", "generator broke"],
        strict=True,
    ):
        t = read_trace(live_server, trace_id)
        [o] = t["observations"]
        assert o["name"].endswith(name)
        assert o["level"] == "ERROR" and t["error_count"] == 1
        assert message in o["status_message"]
    t = read_trace(live_server, seen[2])
    assert t["observations"][0]["output"] == [1]  # what was yielded before the failure


def test_ignore_args_capture_flags_and_size_cap(live_server: HeronProcess) -> None:
    heron.init(
        host=live_server.url,
        secret_key=SECRET_KEY,
        max_field_bytes=2_000,
    )
    ids: list[str | None] = []

    @heron.observe(ignore_args=["password"])
    def login(user: str, password: str) -> str:
        ids.append(heron.get_current_trace_id())
        return "ok"

    @heron.observe(capture_input=False, capture_output=False)
    def private(secret: str) -> str:
        ids.append(heron.get_current_trace_id())
        return secret

    @heron.observe()
    def big(text: str) -> str:
        ids.append(heron.get_current_trace_id())
        return text

    login("ada", "hunter2")
    private("s3cret")
    big("é" * 5_000)

    o = read_trace(live_server, ids[0])["observations"][0]
    assert o["input"] == {"user": "ada"}
    assert "hunter2" not in str(o)
    o = read_trace(live_server, ids[1])["observations"][0]
    assert o["input"] is None and o["output"] is None
    o = read_trace(live_server, ids[2])["observations"][0]
    # 5,000 two-byte characters cut at 2,000 bytes (a character boundary), with a marker
    assert o["output"] == "é" * 1_000 + "\n…[truncated by heron SDK: 10,000 bytes, limit 2,000]"
    assert isinstance(o["input"], str)  # the JSON text was cut, so it is text now
    assert o["input"].startswith('{"text":"éé')
    assert o["input"].endswith("[truncated by heron SDK: 10,011 bytes, limit 2,000]")


def test_not_initialised_is_a_no_op_that_never_raises() -> None:
    assert heron.get_client().enabled is False

    @heron.observe()
    def f(x: int) -> int:
        return x + 1

    @heron.observe()
    def g():
        yield from range(3)

    @heron.observe()
    async def h() -> int:
        return 7

    @heron.observe()
    async def ag():
        yield "a"

    async def collect() -> list[str]:
        return [x async for x in ag()]

    assert f(1) == 2 and list(g()) == [0, 1, 2] and asyncio.run(h()) == 7
    assert asyncio.run(collect()) == ["a"]
    with heron.start_span("x", input={"a": 1}) as span:
        span.update(output=1, usage={"input": 1}, level="ERROR", metadata={"k": object()})
        assert span.id is None and not span.is_recording()
    gen = heron.start_generation("g", model="m")
    gen.update(output="o")
    gen.end()
    heron.update_current_trace(user_id="u", tags=["t"], metadata={"a": 1})
    assert heron.get_current_trace_id() is None and heron.get_current_observation_id() is None
    assert heron.score(name="quality", value=1, trace_id="0" * 32) is None
    assert heron.flush() is True
    assert heron.get_client().dropped_spans == 0
    heron.shutdown()
    heron.shutdown()
