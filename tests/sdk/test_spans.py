"""Context managers, generations, trace attributes and the mask hook, end to end."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

import heron
from tests.sdk.conftest import observations, read_trace
from tests.support.server import SECRET_KEY, HeronProcess


def test_context_managers_with_update(hr: heron.HeronClient, live_server: HeronProcess) -> None:
    t0 = datetime.now(UTC)
    with heron.start_span("pipeline", input={"q": "hi"}, metadata={"step": 1}) as span:
        assert heron.get_current_observation_id() == span.id
        trace_id = heron.get_current_trace_id()
        assert trace_id == span.trace_id and re.fullmatch("[0-9a-f]{32}", trace_id)
        with heron.start_generation(
            "llm",
            model="gpt-4o-mini",
            input=[{"role": "user", "content": "hi"}],
            model_parameters={"temperature": 0.2, "max_tokens": 50},
        ) as gen:
            gen.update(
                output={"role": "assistant", "content": "hello"},
                usage={"input": 1200, "output": 30, "cached_input": 200},
                model="gpt-4o-mini-2024-07-18",
                metadata={"attempt": 2, "tags": ["a", "b"]},
                completion_start_time=t0 + timedelta(milliseconds=150),
                level="WARNING",
                status_message="slow answer",
            )
        priced = heron.start_generation("priced", model="my-local-model")
        priced.update(usage={"prompt_tokens": 10, "completion_tokens": 5}, cost=0.25)
        priced.end()
        span.update(output="done", metadata={"step": 2})

    t = read_trace(live_server, trace_id)
    obs = observations(t)
    root = obs["pipeline"]
    assert root["type"] == "span" and root["input"] == {"q": "hi"} and root["output"] == "done"
    assert root["metadata"]["step"] == 2
    assert sorted(c["name"] for c in root["children"]) == ["llm", "priced"]
    g = obs["llm"]
    assert g["type"] == "generation"
    assert g["model"] == "gpt-4o-mini-2024-07-18"  # the response model wins
    assert g["model_parameters"] == {"temperature": 0.2, "max_tokens": 50}
    assert g["input"] == [{"role": "user", "content": "hi"}]
    assert g["output"] == {"role": "assistant", "content": "hello"}
    assert g["usage"]["input"] == 1200 and g["usage"]["output"] == 30
    assert g["usage"]["cached_input"] == 200 and g["usage"]["total"] == 1230
    assert g["cost_source"] == "computed" and g["total_cost"] > 0
    assert g["level"] == "WARNING" and g["status_message"] == "slow answer"
    assert g["metadata"]["attempt"] == 2
    assert g["completion_start_time"] is not None
    assert 0 < g["time_to_first_token_ms"] < 10_000
    p = obs["priced"]
    assert p["cost_source"] == "client" and p["total_cost"] == 0.25


def test_manual_end_error_level_and_exceptions_in_with(hr, live_server: HeronProcess) -> None:
    span = heron.start_span("manual")
    trace_id = span.trace_id
    child = span.start_observation("child", as_type="tool", input="x")
    child.end(output="y")
    span.update(level="ERROR", status_message="upstream failed")
    span.end()
    span.end()  # idempotent
    try:
        with heron.start_span("outer"), heron.start_observation("guard", as_type="guardrail"):
            raise PermissionError("blocked by policy")
    except PermissionError:
        pass
    else:
        raise AssertionError("the exception must propagate")

    obs = observations(read_trace(live_server, trace_id))
    assert obs["manual"]["level"] == "ERROR"
    assert obs["manual"]["status_message"] == "upstream failed"
    assert obs["child"]["type"] == "tool" and obs["child"]["output"] == "y"
    r = httpx.get(
        f"{live_server.url}/api/traces", params={"name": "outer"}, headers=live_server.auth
    )
    [outer] = [x for x in r.json()["data"] if x["name"] == "outer"]
    obs = observations(read_trace(live_server, outer["id"]))
    assert obs["guard"]["type"] == "guardrail" and obs["guard"]["level"] == "ERROR"
    assert "blocked by policy" in obs["guard"]["status_message"]
    assert obs["outer"]["level"] == "ERROR"


@heron.observe()
def retrieve(q: str) -> list[str]:
    return ["doc"]


@heron.observe()
def answer(q: str) -> str:
    retrieve(q)  # before the trace attributes are set
    heron.update_current_trace(
        user_id="user-7",
        session_id="sess-7",
        tags=["beta", "support"],
        release="2.4.1",
        version="v9",
        environment="staging",
        metadata={"tenant": "acme"},
        name="support-answer",
        public=True,
    )
    heron.update_current_trace(tags=["vip"], metadata={"plan": "pro"})  # accumulate / merge
    with heron.start_generation("llm", model="gpt-4o-mini"):
        pass
    retrieve(q)
    return "answer"


def test_update_current_trace_reaches_children_and_trace(hr, live_server: HeronProcess) -> None:
    with heron.start_span("request") as root:
        trace_id = root.trace_id
        answer("q")
        retrieve("after")  # a sibling of answer, started later in the same trace

    t = read_trace(live_server, trace_id)
    assert t["name"] == "support-answer"
    assert (t["user_id"], t["session_id"]) == ("user-7", "sess-7")
    assert sorted(t["tags"]) == ["beta", "support", "vip"]
    assert (t["release"], t["version"], t["environment"]) == ("2.4.1", "v9", "staging")
    assert t["metadata"] == {"tenant": "acme", "plan": "pro"}
    assert t["public"] is True
    r = httpx.get(
        f"{live_server.url}/api/traces", params={"user_id": "user-7"}, headers=live_server.auth
    )
    assert [x["id"] for x in r.json()["data"]] == [trace_id]

    # every span started after the call carries the attributes (the processor copies them)
    spans = _export_in_memory(lambda: (answer("q"), retrieve("later")))
    by_name: dict[str, list[dict[str, Any]]] = {}
    for s in spans:
        by_name.setdefault(s.name, []).append(dict(s.attributes))
    first, second = by_name["retrieve"][:2]
    assert "user.id" not in first  # started before the call
    assert second["user.id"] == "user-7" and second["session.id"] == "sess-7"
    assert list(second["langfuse.trace.tags"]) == ["beta", "support", "vip"]
    assert second["langfuse.trace.metadata.plan"] == "pro"
    assert by_name["llm"][0]["langfuse.environment"] == "staging"
    assert by_name["answer"][0]["user.id"] == "user-7"  # the span current at the call
    assert "user.id" not in by_name["retrieve"][2]  # a new trace: not inherited


def _export_in_memory(fn: Any) -> list[Any]:
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    exporter = InMemorySpanExporter()
    heron.init(secret_key=SECRET_KEY, span_exporter=exporter)
    fn()
    heron.flush()
    return list(exporter.get_finished_spans())


def test_mask_hook_applies_to_input_output_and_metadata(live_server: HeronProcess) -> None:
    calls: list[Any] = []

    def mask(value: Any) -> Any:
        calls.append(value)
        text = heron_json(value)
        return re.sub(r"\b\d{4}-\d{4}-\d{4}-\d{4}\b", "[card]", text)

    heron.init(host=live_server.url, secret_key=SECRET_KEY, mask=mask)

    @heron.observe(name="pay")
    def pay(card: str) -> str:
        heron.update_current_trace(metadata={"card": "4111-1111-1111-1111"})
        return "charged 4111-1111-1111-1111"

    with heron.start_span("checkout", metadata={"note": "card 4111-1111-1111-1111"}) as s:
        trace_id = s.trace_id
        pay("4111-1111-1111-1111")

    t = read_trace(live_server, trace_id)
    # the card, not "4111" alone: a random id or a timing may hold those digits
    assert "4111-1111" not in str(t)
    obs = observations(t)
    assert obs["pay"]["input"] == {"card": "[card]"}
    assert obs["pay"]["output"] == "charged [card]"
    assert calls  # the hook saw the raw values


def heron_json(value: Any) -> str:
    import json

    return value if isinstance(value, str) else json.dumps(value)
