"""Mapping spans of the three conventions (OpenTelemetry GenAI, OpenInference, Langfuse)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from opentelemetry.proto.trace.v1.trace_pb2 import Status

from heron.ingest import usage as usage_mod
from heron.ingest.conventions import (
    TRUNCATION_MARKER,
    TRUNCATION_PREFIX,
    IngestLimits,
    MappedBatch,
    map_request,
)
from heron.ingest.messages import unflatten
from heron.model.records import ObservationRecord, TraceUpdate

from .builders import END_NS, PARENT_ID, SPAN_ID, START_NS, TRACE_ID, request, span, span_id

ERROR = Status.STATUS_CODE_ERROR


def map_one(
    s: Any, resource: dict[str, Any] | None = None, limits: IngestLimits | None = None
) -> tuple[ObservationRecord, TraceUpdate, MappedBatch]:
    batch = map_request(request(s, resource=resource), "proj", limits or IngestLimits())
    assert batch.rejected == 0, batch.errors
    assert len(batch.observations) == 1 and len(batch.traces) == 1
    return batch.observations[0], batch.traces[0], batch


# ---- OpenTelemetry GenAI --------------------------------------------------------------------

GENAI_INPUT = json.dumps(
    [{"role": "user", "parts": [{"type": "text", "content": "Weather in Paris?"}]}]
)
GENAI_OUTPUT = json.dumps(
    [
        {
            "role": "assistant",
            "parts": [{"type": "text", "content": "Rainy, 57°F."}],
            "finish_reason": "stop",
        }
    ]
)


def genai_chat_attrs(**extra: Any) -> dict[str, Any]:
    """What opentelemetry-instrumentation-openai-v2 sends for one chat call (field notes)."""
    attrs = {
        "gen_ai.operation.name": "chat",
        "gen_ai.request.model": "gpt-4o-mini",
        "gen_ai.provider.name": "openai",
        "gen_ai.response.model": "gpt-4o-mini-2024-07-18",
        "gen_ai.response.id": "chatcmpl-123",
        "gen_ai.response.finish_reasons": ["stop"],
        "gen_ai.usage.input_tokens": 14,
        "gen_ai.usage.output_tokens": 9,
        "gen_ai.request.temperature": 0.2,
        "gen_ai.request.max_tokens": 100,
        "gen_ai.request.stop_sequences": ["END"],
        "gen_ai.input.messages": GENAI_INPUT,
        "gen_ai.output.messages": GENAI_OUTPUT,
        "server.address": "api.openai.com",
    }
    attrs.update(extra)
    return attrs


def test_genai_chat_span() -> None:
    obs, tu, _ = map_one(span("chat gpt-4o-mini", attrs=genai_chat_attrs()))
    assert obs.project_id == "proj"
    assert obs.id == SPAN_ID.hex() and obs.trace_id == TRACE_ID.hex()
    assert obs.parent_id == PARENT_ID.hex()
    assert obs.start_us == START_NS // 1000 and obs.end_us == END_NS // 1000
    assert obs.type == "generation"
    assert obs.name == "chat gpt-4o-mini"
    assert obs.model == "gpt-4o-mini-2024-07-18"  # the billed model
    assert obs.metadata["gen_ai.request.model"] == "gpt-4o-mini"
    assert obs.model_parameters == {
        "temperature": 0.2,
        "max_tokens": 100,
        "stop_sequences": ["END"],
    }
    assert obs.usage == {"input": 14, "output": 9, "total": 23}
    assert obs.cost == {} and obs.cost_from_client is False
    assert obs.input == GENAI_INPUT  # JSON text kept as sent
    assert obs.output == GENAI_OUTPUT
    assert obs.level == "DEFAULT" and obs.status_message is None
    meta = obs.metadata
    assert meta["gen_ai.provider.name"] == "openai"
    assert meta["gen_ai.operation.name"] == "chat"
    assert meta["gen_ai.response.finish_reasons"] == ["stop"]
    assert meta["scope"] == {"name": "test.scope", "version": "1.2.3"}
    for consumed in (
        "gen_ai.response.model",
        "gen_ai.usage.input_tokens",
        "gen_ai.request.temperature",
        "gen_ai.input.messages",
    ):
        assert consumed not in meta
    assert tu.is_root is False and tu.name is None and tu.input is None


def test_genai_system_instructions_are_prepended_as_system_message() -> None:
    instr = json.dumps([{"type": "text", "content": "You are terse."}])
    obs, _, _ = map_one(span(attrs=genai_chat_attrs(**{"gen_ai.system_instructions": instr})))
    assert json.loads(obs.input) == [
        {"role": "system", "parts": [{"type": "text", "content": "You are terse."}]},
        {"role": "user", "parts": [{"type": "text", "content": "Weather in Paris?"}]},
    ]
    assert "gen_ai.system_instructions" not in obs.metadata


def test_genai_structured_messages_are_serialised_as_json() -> None:
    structured = [{"role": "user", "parts": [{"type": "text", "content": "hi"}]}]
    obs, _, _ = map_one(span(attrs={"gen_ai.input.messages": structured}))
    assert json.loads(obs.input) == structured


def test_genai_usage_cache_and_reasoning_are_inclusive() -> None:
    attrs = genai_chat_attrs(
        **{
            "gen_ai.usage.input_tokens": 1000,
            "gen_ai.usage.cache_read.input_tokens": 600,
            "gen_ai.usage.cache_creation.input_tokens": 100,
            "gen_ai.usage.output_tokens": 300,
            "gen_ai.usage.reasoning.output_tokens": 200,
            "gen_ai.usage.audio.input_tokens": 5,
        }
    )
    obs, _, _ = map_one(span(attrs=attrs))
    assert obs.usage == {
        "input": 1000,
        "cached_input": 600,
        "cache_write": 100,
        "output": 300,
        "reasoning": 200,
        "input_audio": 5,
        "total": 1300,
    }


def test_genai_additive_input_from_anthropic_style_instrumentation_is_summed() -> None:
    # input_tokens smaller than its cached part: the sender used Anthropic's additive counts
    attrs = {
        "gen_ai.operation.name": "chat",
        "gen_ai.usage.input_tokens": 50,
        "gen_ai.usage.cache_read.input_tokens": 600,
        "gen_ai.usage.output_tokens": 10,
    }
    obs, _, _ = map_one(span(attrs=attrs))
    assert obs.usage == {"input": 650, "cached_input": 600, "output": 10, "total": 660}


def test_genai_older_names_indexed_prompts_and_openllmetry_total() -> None:
    attrs = {
        "gen_ai.system": "openai",
        "gen_ai.request.model": "gpt-4",
        "llm.request.type": "chat",
        "gen_ai.usage.prompt_tokens": 20,
        "gen_ai.usage.completion_tokens": 5,
        "llm.usage.total_tokens": 26,
        "gen_ai.prompt.0.role": "system",
        "gen_ai.prompt.0.content": "Be brief.",
        "gen_ai.prompt.1.role": "user",
        "gen_ai.prompt.1.content": "Hi",
        "gen_ai.completion.0.role": "assistant",
        "gen_ai.completion.0.content": "Hello!",
        "gen_ai.completion.0.finish_reason": "stop",
        "gen_ai.completion.0.tool_calls.0.name": "lookup",
        "gen_ai.prompt.name": "greeting",
    }
    obs, _, _ = map_one(span("openai.chat", attrs=attrs))
    assert obs.type == "generation"  # model + usage
    assert obs.model == "gpt-4"
    assert obs.usage == {"input": 20, "output": 5, "total": 26}
    assert json.loads(obs.input) == [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "Hi"},
    ]
    assert json.loads(obs.output) == [
        {
            "role": "assistant",
            "content": "Hello!",
            "finish_reason": "stop",
            "tool_calls": [{"name": "lookup"}],
        }
    ]
    assert obs.prompt_name == "greeting"
    assert obs.metadata["gen_ai.system"] == "openai"
    assert not any(k.startswith(("gen_ai.prompt.", "gen_ai.completion.")) for k in obs.metadata)


def test_genai_per_message_events() -> None:
    events = [
        ("gen_ai.system.message", {"gen_ai.system": "openai", "content": "Be brief."}),
        ("gen_ai.user.message", {"content": "Hi"}),
        ("gen_ai.choice", {"index": 0, "finish_reason": "stop", "message": {"content": "Yo"}}),
        ("custom.note", {"k": "v"}),
    ]
    obs, _, _ = map_one(span(attrs={"gen_ai.operation.name": "chat"}, events=events))
    assert json.loads(obs.input) == [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "Hi"},
    ]
    assert json.loads(obs.output) == [
        {"index": 0, "finish_reason": "stop", "message": {"content": "Yo"}}
    ]
    # events that are not GenAI content stay in metadata; they never become observations
    assert obs.metadata["events"] == [
        {"name": "custom.note", "time_us": (START_NS + 4) // 1000, "attributes": {"k": "v"}}
    ]


def test_genai_content_prompt_and_completion_events() -> None:
    events = [
        ("gen_ai.content.prompt", {"gen_ai.prompt": '[{"role": "user", "content": "Q"}]'}),
        ("gen_ai.content.completion", {"gen_ai.completion": "A"}),
    ]
    obs, _, _ = map_one(span(attrs={"gen_ai.operation.name": "chat"}, events=events))
    assert obs.input == '[{"role": "user", "content": "Q"}]'
    assert obs.output == "A"
    assert "events" not in obs.metadata


def test_genai_operation_details_event_carries_content() -> None:
    events = [
        (
            "gen_ai.client.inference.operation.details",
            {"gen_ai.input.messages": GENAI_INPUT, "gen_ai.output.messages": GENAI_OUTPUT},
        )
    ]
    obs, _, _ = map_one(span(attrs={"gen_ai.operation.name": "chat"}, events=events))
    assert obs.input == GENAI_INPUT and obs.output == GENAI_OUTPUT


def test_genai_execute_tool_span() -> None:
    attrs = {
        "gen_ai.operation.name": "execute_tool",
        "gen_ai.tool.name": "get_weather",
        "gen_ai.tool.call.id": "call_1",
        "gen_ai.tool.call.arguments": '{"location": "Paris"}',
        "gen_ai.tool.call.result": '{"temp": 14}',
        "gen_ai.conversation.id": "conv-9",
    }
    obs, tu, _ = map_one(span("execute_tool get_weather", attrs=attrs))
    assert obs.type == "tool"
    assert obs.input == '{"location": "Paris"}'
    assert obs.output == '{"temp": 14}'
    assert obs.metadata["gen_ai.tool.name"] == "get_weather"
    assert tu.session_id == "conv-9"


@pytest.mark.parametrize(
    ("attrs", "expected"),
    [
        ({"gen_ai.tool.name": "search"}, "tool"),  # no operation name (e.g. pydantic-ai)
        ({"gen_ai.tool.definitions": "[]"}, "span"),  # tools offered to a model: not a tool
        ({"gen_ai.operation.name": "embeddings"}, "embedding"),
        ({"gen_ai.operation.name": "invoke_agent"}, "agent"),
        ({"gen_ai.operation.name": "create_agent"}, "agent"),
        ({"gen_ai.operation.name": "text_completion"}, "generation"),
        ({"gen_ai.operation.name": "generate_content"}, "generation"),
        ({"gen_ai.operation.name": "completion"}, "generation"),
        ({"gen_ai.operation.name": "retrieval"}, "retriever"),
        ({"gen_ai.request.model": "m", "gen_ai.usage.input_tokens": 3}, "generation"),
        ({"gen_ai.request.model": "m"}, "span"),  # a model alone is not enough
        ({}, "span"),
        # detection order: langfuse > openinference > gen_ai.operation.name > gen_ai.tool.*
        (
            {
                "langfuse.observation.type": "agent",
                "openinference.span.kind": "LLM",
                "gen_ai.operation.name": "chat",
            },
            "agent",
        ),
        ({"openinference.span.kind": "TOOL", "gen_ai.operation.name": "chat"}, "tool"),
        ({"gen_ai.operation.name": "chat", "gen_ai.tool.name": "x"}, "generation"),
        ({"openinference.span.kind": "RERANKER"}, "retriever"),
        ({"openinference.span.kind": "GUARDRAIL"}, "guardrail"),
        ({"openinference.span.kind": "EVALUATOR"}, "evaluator"),
        ({"openinference.span.kind": "UNKNOWN", "gen_ai.operation.name": "chat"}, "generation"),
        ({"langfuse.observation.type": "GENERATION"}, "generation"),
        ({"langfuse.observation.type": "bogus", "openinference.span.kind": "CHAIN"}, "chain"),
    ],
)
def test_type_detection(attrs: dict[str, Any], expected: str) -> None:
    obs, _, _ = map_one(span(attrs=attrs))
    assert obs.type == expected


def test_openinference_span_kind_stays_in_metadata() -> None:
    obs, _, _ = map_one(span(attrs={"openinference.span.kind": "RERANKER"}))
    assert obs.metadata["openinference.span.kind"] == "RERANKER"


# ---- OpenInference ----------------------------------------------------------------------------

OI_REQUEST = json.dumps(
    {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "Hi"}], "temperature": 0}
)
OI_RESPONSE = json.dumps({"id": "chatcmpl-1", "choices": [{"message": {"content": "Hello"}}]})


def openinference_llm_attrs(**extra: Any) -> dict[str, Any]:
    """What openinference-instrumentation-openai sends for a chat call (field notes)."""
    attrs = {
        "openinference.span.kind": "LLM",
        "llm.system": "openai",
        "llm.provider": "openai",
        "llm.model_name": "gpt-4o-mini-2024-07-18",
        "llm.invocation_parameters": '{"model": "gpt-4o-mini", "temperature": 0}',
        "input.value": OI_REQUEST,
        "input.mime_type": "application/json",
        "output.value": OI_RESPONSE,
        "output.mime_type": "application/json",
        "llm.input_messages.0.message.role": "system",
        "llm.input_messages.0.message.content": "Be brief.",
        "llm.input_messages.1.message.role": "user",
        "llm.input_messages.1.message.contents.0.message_content.type": "text",
        "llm.input_messages.1.message.contents.0.message_content.text": "What is this?",
        "llm.input_messages.1.message.contents.1.message_content.type": "image",
        "llm.input_messages.1.message.contents.1.message_content.image.image.url": "https://x/y.png",
        "llm.output_messages.0.message.role": "assistant",
        "llm.output_messages.0.message.content": "",
        "llm.output_messages.0.message.tool_calls.0.tool_call.id": "call_1",
        "llm.output_messages.0.message.tool_calls.0.tool_call.function.name": "lookup",
        "llm.output_messages.0.message.tool_calls.0.tool_call.function.arguments": '{"q": 1}',
        "llm.token_count.prompt": 120,
        "llm.token_count.completion": 30,
        "llm.token_count.total": 150,
        "llm.token_count.prompt_details.cache_read": 100,
        "llm.token_count.prompt_details.cache_write": 10,
        "llm.token_count.completion_details.reasoning": 12,
        "session.id": "sess-1",
        "user.id": "user-1",
        "metadata": '{"experiment": "a/b", "run": 3}',
        "tag.tags": ["prod", "chat"],
    }
    attrs.update(extra)
    return attrs


def test_openinference_llm_span() -> None:
    obs, tu, _ = map_one(span("ChatCompletion", attrs=openinference_llm_attrs()))
    assert obs.type == "generation"
    assert obs.model == "gpt-4o-mini-2024-07-18"
    assert obs.model_parameters == {"model": "gpt-4o-mini", "temperature": 0}
    assert obs.usage == {
        "input": 120,
        "output": 30,
        "total": 150,
        "cached_input": 100,
        "cache_write": 10,
        "reasoning": 12,
    }
    # messages are preferred over input.value / output.value (the raw request/response)
    assert json.loads(obs.input) == [
        {"role": "system", "content": "Be brief."},
        {
            "role": "user",
            "contents": [
                {"type": "text", "text": "What is this?"},
                {"type": "image", "image": {"url": "https://x/y.png"}},
            ],
        },
    ]
    assert json.loads(obs.output) == [
        {
            "role": "assistant",
            "content": "",
            "tool_calls": [
                {"id": "call_1", "function": {"name": "lookup", "arguments": '{"q": 1}'}}
            ],
        }
    ]
    meta = obs.metadata
    assert meta["llm.system"] == "openai" and meta["llm.provider"] == "openai"
    assert meta["experiment"] == "a/b" and meta["run"] == 3  # OpenInference metadata merged
    for consumed in ("input.value", "output.value", "input.mime_type", "metadata", "tag.tags"):
        assert consumed not in meta
    assert not any(k.startswith(("llm.input_messages", "llm.token_count")) for k in meta)
    assert tu.session_id == "sess-1" and tu.user_id == "user-1"
    assert tu.tags == ["prod", "chat"]
    assert tu.metadata == {"experiment": "a/b", "run": 3}


def test_openinference_chain_uses_input_value_as_given() -> None:
    attrs = {
        "openinference.span.kind": "CHAIN",
        "input.value": "plain question",
        "input.mime_type": "text/plain",
        "output.value": '{"answer": 42}',
        "output.mime_type": "application/json",
    }
    obs, _, _ = map_one(span("RunnableSequence", attrs=attrs))
    assert obs.type == "chain"
    assert obs.input == "plain question"
    assert obs.output == '{"answer": 42}'  # JSON text kept as given
    assert obs.usage == {} and obs.model is None


def test_openinference_retriever_documents_become_output() -> None:
    attrs = {
        "openinference.span.kind": "RETRIEVER",
        "input.value": "capital of France",
        "retrieval.documents.0.document.id": "d1",
        "retrieval.documents.0.document.content": "Paris is the capital.",
        "retrieval.documents.0.document.score": 0.91,
        "retrieval.documents.1.document.id": "d2",
        "retrieval.documents.1.document.content": "Lyon is a city.",
        "retrieval.documents.1.document.metadata": '{"source": "wiki"}',
    }
    obs, _, _ = map_one(span("retrieve", attrs=attrs))
    assert obs.type == "retriever"
    assert obs.input == "capital of France"
    assert json.loads(obs.output) == [
        {"id": "d1", "content": "Paris is the capital.", "score": 0.91},
        {"id": "d2", "content": "Lyon is a city.", "metadata": '{"source": "wiki"}'},
    ]


def test_openinference_embedding_texts_become_input_and_vectors_are_dropped() -> None:
    attrs = {
        "openinference.span.kind": "EMBEDDING",
        "embedding.model_name": "text-embedding-3-small",
        "embedding.embeddings.0.embedding.text": "hello",
        "embedding.embeddings.0.embedding.vector": [0.1, 0.2],
        "embedding.embeddings.1.embedding.text": "world",
        "llm.token_count.prompt": 2,
        "llm.token_count.total": 2,
    }
    obs, _, _ = map_one(span("CreateEmbeddings", attrs=attrs))
    assert obs.type == "embedding"
    assert obs.model == "text-embedding-3-small"
    assert json.loads(obs.input) == ["hello", "world"]
    assert obs.usage == {"input": 2, "total": 2}
    assert not any("vector" in k for k in obs.metadata)


def test_openinference_cost_attributes() -> None:
    attrs = openinference_llm_attrs(
        **{
            "llm.cost.prompt": 0.002,
            "llm.cost.completion": 0.001,
            "llm.cost.prompt_details.cache_read": 0.0005,
        }
    )
    obs, _, _ = map_one(span(attrs=attrs))
    assert obs.cost == pytest.approx(
        {"input": 0.002, "output": 0.001, "cached_input": 0.0005, "total": 0.003}
    )
    assert obs.cost_from_client is True


def test_openinference_prompt_template() -> None:
    attrs = {
        "openinference.span.kind": "LLM",
        "llm.prompt_template.template": "Hi {name}",
        "llm.prompt_template.variables": '{"name": "Ada"}',
        "llm.prompt_template.version": "3",
    }
    obs, _, _ = map_one(span(attrs=attrs))
    assert obs.metadata["prompt_template"] == {
        "template": "Hi {name}",
        "variables": '{"name": "Ada"}',
        "version": "3",
    }
    assert obs.prompt_version == 3


# ---- Langfuse ---------------------------------------------------------------------------------


def langfuse_generation_attrs(**extra: Any) -> dict[str, Any]:
    """What the Langfuse Python SDK (v3+/v5) sets on a generation (field notes)."""
    attrs = {
        "langfuse.observation.type": "generation",
        "langfuse.observation.input": '[{"role": "user", "content": "Hi"}]',
        "langfuse.observation.output": '{"role": "assistant", "content": "Hello"}',
        "langfuse.observation.model.name": "claude-sonnet-4",
        "langfuse.observation.model.parameters": '{"max_tokens": 256, "temperature": 0.7}',
        "langfuse.observation.usage_details": json.dumps(
            {
                "input": 100,
                "output": 50,
                "input_cached_tokens": 800,
                "input_cache_creation": 20,
                "output_reasoning_tokens": 30,
            }
        ),
        "langfuse.observation.cost_details": '{"input": 0.001, "output": 0.002}',
        "langfuse.observation.completion_start_time": '"2025-11-24T16:00:00.623456Z"',
        "langfuse.observation.prompt.name": "support-reply",
        "langfuse.observation.prompt.version": 4,
        "langfuse.observation.metadata.customer": "acme",
        "langfuse.observation.metadata.nested": '{"a": 1}',
        "langfuse.observation.metadata.quoted": '"pro"',
        "langfuse.environment": "staging",
        "langfuse.release": "v2.3",
        "langfuse.version": "prompt-v4",
        "user.id": "u-1",
        "session.id": "s-1",
        "langfuse.trace.name": "support",
        "langfuse.trace.tags": ["vip", "support"],
        "langfuse.trace.public": True,
        "langfuse.trace.metadata.region": "eu",
    }
    attrs.update(extra)
    return attrs


def test_langfuse_generation() -> None:
    obs, tu, _ = map_one(span("llm-call", attrs=langfuse_generation_attrs()))
    assert obs.type == "generation"
    assert obs.model == "claude-sonnet-4"
    assert obs.model_parameters == {"max_tokens": 256, "temperature": 0.7}
    assert obs.input == '[{"role": "user", "content": "Hi"}]'
    assert obs.output == '{"role": "assistant", "content": "Hello"}'
    # additive Langfuse counts normalised to inclusive ones
    assert obs.usage == {
        "input": 920,
        "cached_input": 800,
        "cache_write": 20,
        "output": 80,
        "reasoning": 30,
        "total": 1000,
    }
    assert obs.cost == pytest.approx({"input": 0.001, "output": 0.002, "total": 0.003})
    assert obs.cost_from_client is True
    assert obs.completion_start_us == 1_764_000_000_623_456
    assert obs.prompt_name == "support-reply" and obs.prompt_version == 4
    assert obs.metadata["customer"] == "acme"
    assert obs.metadata["nested"] == {"a": 1}  # Langfuse SDKs JSON-encode metadata values
    assert obs.metadata["quoted"] == "pro"
    assert obs.metadata["customer"] == "acme"  # not JSON: kept as text
    assert not any(k.startswith("langfuse.") for k in obs.metadata)
    assert tu.name == "support"  # explicit, although the span is not the root
    assert tu.is_root is False
    assert tu.user_id == "u-1" and tu.session_id == "s-1"
    assert tu.environment == "staging" and tu.release == "v2.3" and tu.version == "prompt-v4"
    assert tu.tags == ["vip", "support"]
    assert tu.public is True
    assert tu.metadata == {"region": "eu"}
    assert tu.input is None and tu.output is None


def test_langfuse_level_and_status_message() -> None:
    attrs = {
        "langfuse.observation.type": "span",
        "langfuse.observation.level": "WARNING",
        "langfuse.observation.status_message": "slow upstream",
    }
    obs, _, _ = map_one(span(attrs=attrs, status=(ERROR, "timeout")))
    assert obs.level == "WARNING"  # explicit level wins over the span status
    assert obs.status_message == "slow upstream"


def test_langfuse_trace_attributes_json_and_app_root() -> None:
    attrs = {
        "langfuse.internal.is_app_root": True,
        "langfuse.trace.input": '{"q": "hello"}',
        "langfuse.trace.metadata": '{"team": "core"}',
        "langfuse.trace.tags": '["a", "b"]',
        "tag.tags": ["b", "c"],
        "langfuse.observation.input": "span input",
        "langfuse.observation.output": "span output",
    }
    obs, tu, _ = map_one(span("handle", attrs=attrs))
    assert obs.input == "span input" and obs.parent_id == PARENT_ID.hex()
    assert tu.is_root is True  # parent set (not exported), but the app's outermost span
    assert tu.name == "handle"
    assert tu.input == '{"q": "hello"}'  # explicit trace input wins
    assert tu.output == "span output"  # root default
    assert tu.metadata == {"team": "core"}
    assert tu.tags == ["a", "b", "c"]


@pytest.mark.parametrize(
    ("details", "expected"),
    [
        (  # OpenAI Chat Completions usage, as the langfuse OpenAI integration sends it
            {
                "prompt_tokens": 1000,
                "completion_tokens": 300,
                "total_tokens": 1300,
                "prompt_tokens_details": {"cached_tokens": 600, "audio_tokens": 0},
                "completion_tokens_details": {"reasoning_tokens": 200},
            },
            {
                "input": 1000,
                "output": 300,
                "total": 1300,
                "cached_input": 600,
                "input_audio": 0,
                "reasoning": 200,
            },
        ),
        (  # OpenAI Responses usage
            {
                "input_tokens": 500,
                "output_tokens": 40,
                "total_tokens": 540,
                "input_tokens_details": {"cached_tokens": 128},
                "output_tokens_details": {"reasoning_tokens": 16},
            },
            {"input": 500, "output": 40, "total": 540, "cached_input": 128, "reasoning": 16},
        ),
        (  # Anthropic raw usage: input_tokens excludes cache reads and writes
            {
                "input_tokens": 7,
                "cache_read_input_tokens": 16399,
                "cache_creation_input_tokens": 2089,
                "output_tokens": 445,
            },
            {
                "input": 18495,
                "cached_input": 16399,
                "cache_write": 2089,
                "output": 445,
                "total": 18940,
            },
        ),
        (  # Langfuse LangChain handler: input_* parts are excluded from input
            {"input": 10, "output": 5, "total": 20, "input_audio": 3, "input_cache_read": 2},
            {"input": 15, "output": 5, "total": 20, "input_audio": 3, "cached_input": 2},
        ),
        ({"input": "12", "output": 3.0}, {"input": 12, "output": 3, "total": 15}),
        ({"output": 4}, {"output": 4, "total": 4}),
    ],
)
def test_langfuse_usage_shapes(details: dict[str, Any], expected: dict[str, int]) -> None:
    assert usage_mod.langfuse_usage(details) == expected
    obs, _, _ = map_one(span(attrs={"langfuse.observation.usage_details": json.dumps(details)}))
    assert obs.usage == expected


def test_explicit_langfuse_usage_wins_and_other_conventions_stay_in_metadata() -> None:
    attrs = {
        "langfuse.observation.usage_details": '{"input": 5, "output": 1}',
        "gen_ai.usage.input_tokens": 999,
    }
    obs, _, _ = map_one(span(attrs=attrs))
    assert obs.usage == {"input": 5, "output": 1, "total": 6}
    assert obs.metadata["gen_ai.usage.input_tokens"] == 999


def test_genai_usage_cost_attribute() -> None:
    obs, _, _ = map_one(span(attrs={"gen_ai.usage.cost": 0.25, "gen_ai.usage.input_tokens": 1}))
    assert obs.cost == {"total": 0.25} and obs.cost_from_client is True


# ---- trace attributes, resource fallback ------------------------------------------------------


def test_root_span_supplies_trace_name_input_and_output() -> None:
    obs, tu, _ = map_one(
        span("agent run", parent=b"", attrs={"input.value": "q", "output.value": "a"})
    )
    assert obs.parent_id is None
    assert tu.is_root is True
    assert (tu.name, tu.input, tu.output) == ("agent run", "q", "a")
    assert tu.project_id == "proj" and tu.trace_id == TRACE_ID.hex()


def test_resource_fallback_for_release_and_environment() -> None:
    resource = {
        "service.name": "api",
        "service.version": "1.4.2",
        "deployment.environment.name": "prod",
        "host.name": "box",
    }
    obs, tu, _ = map_one(span(), resource=resource)
    assert tu.release == "1.4.2" and tu.environment == "prod"
    assert obs.metadata["resource"] == {"service.name": "api", "host.name": "box"}


def test_older_deployment_environment_and_langfuse_resource_attributes() -> None:
    _, tu, _ = map_one(span(), resource={"deployment.environment": "qa"})
    assert tu.environment == "qa"
    resource = {
        "langfuse.release": "r9",
        "service.version": "1.0",
        "langfuse.environment": "preview",
        "deployment.environment.name": "prod",
    }
    obs, tu, _ = map_one(span(), resource=resource)
    assert (tu.release, tu.environment) == ("r9", "preview")
    assert "resource" not in obs.metadata


def test_span_attributes_win_over_resource() -> None:
    attrs = {"langfuse.release": "span-rel", "langfuse.environment": "dev"}
    resource = {"service.version": "1.0", "deployment.environment.name": "prod"}
    _, tu, _ = map_one(span(attrs=attrs), resource=resource)
    assert (tu.release, tu.environment) == ("span-rel", "dev")


def test_tags_as_json_string_and_plain_string() -> None:
    _, tu, _ = map_one(span(attrs={"tag.tags": '["x", "y"]'}))
    assert tu.tags == ["x", "y"]
    _, tu, _ = map_one(span(attrs={"tag.tags": "single"}))
    assert tu.tags == ["single"]


def test_session_precedence() -> None:
    _, tu, _ = map_one(span(attrs={"gen_ai.conversation.id": "conv", "session.id": "sess"}))
    assert tu.session_id == "sess"


# ---- errors ---------------------------------------------------------------------------------


def test_error_status_with_message() -> None:
    obs, _, _ = map_one(span(status=(ERROR, "upstream 500")))
    assert obs.level == "ERROR" and obs.status_message == "upstream 500"


def test_error_status_without_message_uses_first_exception_event() -> None:
    events = [
        (
            "exception",
            {
                "exception.type": "ValueError",
                "exception.message": "boom",
                "exception.stacktrace": "Traceback...",
            },
        ),
        ("exception", {"exception.type": "KeyError", "exception.message": "x"}),
    ]
    obs, _, _ = map_one(span(status=(ERROR, ""), events=events))
    assert obs.level == "ERROR"
    assert obs.status_message == "ValueError: boom"
    assert [e["name"] for e in obs.metadata["events"]] == ["exception", "exception"]
    assert obs.metadata["events"][0]["attributes"]["exception.stacktrace"] == "Traceback..."


def test_exception_event_alone_makes_level_error() -> None:
    obs, _, _ = map_one(span(events=[("exception", {"exception.message": "lost"})]))
    assert obs.level == "ERROR" and obs.status_message == "lost"


def test_ok_span_is_default_level() -> None:
    obs, _, _ = map_one(span(status=(Status.STATUS_CODE_OK, "")))
    assert obs.level == "DEFAULT" and obs.status_message is None


# ---- truncation ---------------------------------------------------------------------------------


def test_input_output_truncated_on_char_boundary_with_marker() -> None:
    big = "é" * 100  # 200 UTF-8 bytes
    attrs = {"input.value": big, "output.value": "ok", "note": "x" * 500}
    limits = IngestLimits(max_io_bytes=51, max_attribute_bytes=51)
    obs, tu, _ = map_one(span(parent=b"", attrs=attrs), limits=limits)
    expected = "é" * 25 + TRUNCATION_MARKER.format(size=200, limit=51)
    assert obs.input == expected
    assert obs.input.endswith("\n…[truncated by heron: 200 bytes, limit 51]")
    assert obs.output == "ok"
    assert tu.input == expected  # the root's trace input is the truncated one
    assert obs.metadata["note"].startswith("x" * 51 + TRUNCATION_PREFIX)  # metadata too


def test_exact_limit_is_not_truncated() -> None:
    obs, _, _ = map_one(span(attrs={"input.value": "a" * 64}), limits=IngestLimits(64))
    assert obs.input == "a" * 64


def test_marker_uses_thousands_separators() -> None:
    obs, _, _ = map_one(
        span(attrs={"output.value": "z" * 3_145_728}), limits=IngestLimits(1_048_576)
    )
    assert obs.output.endswith("\n…[truncated by heron: 3,145,728 bytes, limit 1,048,576]")
    assert len(obs.output.encode()) < 1_048_576 + 100


# ---- rejected and coerced spans --------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"trace_id": b"\x01" * 8}, "trace id must be 16 non-zero bytes, got 8 bytes"),
        ({"trace_id": bytes(16)}, "trace id must be 16 non-zero bytes, got all zero"),
        ({"trace_id": b""}, "trace id must be 16 non-zero bytes, got 0 bytes"),
        ({"span_id": bytes(8)}, "span id must be 8 non-zero bytes, got all zero"),
        ({"span_id": b"\x01" * 16}, "span id must be 8 non-zero bytes, got 16 bytes"),
        ({"start": 0}, "start time missing"),
        ({"start": 5_000_000_000}, "out of range"),  # 1970-01-01T00:00:05
        ({"start": 8_000_000_000 * 10**9}, "out of range"),  # after 2200
    ],
)
def test_rejected_spans_keep_the_rest(kwargs: dict[str, Any], message: str) -> None:
    good = span("good", span_id=span_id(1))
    bad = span("bad", **{"span_id": span_id(2), **kwargs})
    batch = map_request(request(good, bad, good), "p")
    assert batch.rejected == 1
    assert [o.name for o in batch.observations] == ["good", "good"]
    assert len(batch.traces) == 2
    assert len(batch.errors) == 1
    assert "rejected: " in batch.errors[0] and message in batch.errors[0]


def test_end_before_start_or_missing_is_stored_open_and_noted() -> None:
    batch = map_request(
        request(
            span("a", span_id=span_id(1), end=START_NS - 1),
            span("b", span_id=span_id(2), end=0),
        ),
        "p",
    )
    assert batch.rejected == 0
    assert [o.end_us for o in batch.observations] == [None, None]
    assert len(batch.errors) == 2
    assert "end time before start time" in batch.errors[0]
    assert "end time missing" in batch.errors[1]


def test_bad_parent_id_is_treated_as_root_and_noted() -> None:
    obs, tu, batch = map_one(span(parent=b"\x01\x02\x03"))
    assert obs.parent_id is None and tu.is_root is True
    assert "parent span id of 3 bytes ignored" in batch.errors[0]


def test_errors_are_capped() -> None:
    spans = [span(span_id=span_id(i), trace_id=bytes(16)) for i in range(50)]
    batch = map_request(request(*spans), "p")
    assert batch.rejected == 50
    assert len(batch.errors) == 20


def test_wrong_attribute_types_are_coerced_or_kept_in_metadata() -> None:
    attrs = {
        "gen_ai.request.model": "m",
        "gen_ai.usage.input_tokens": "812",  # numeric string: coerced
        "gen_ai.usage.output_tokens": 12.0,  # float: coerced
        "gen_ai.usage.cache_read.input_tokens": "abc",  # not a number: dropped from usage
        "langfuse.observation.prompt.version": "v2",
        "langfuse.observation.usage_details": "not json",
        "langfuse.observation.level": "LOUD",
        "langfuse.observation.completion_start_time": "yesterday",
    }
    obs, _, batch = map_one(span(attrs=attrs))
    assert obs.usage == {"input": 812, "output": 12, "total": 824}
    meta = obs.metadata
    assert meta["gen_ai.usage.cache_read.input_tokens"] == "abc"
    assert meta["langfuse.observation.prompt.version"] == "v2" and obs.prompt_version is None
    assert meta["langfuse.observation.usage_details"] == "not json"
    assert meta["langfuse.observation.level"] == "LOUD" and obs.level == "DEFAULT"
    assert meta["langfuse.observation.completion_start_time"] == "yesterday"
    assert obs.completion_start_us is None
    assert batch.rejected == 0
    assert any("non-numeric usage/cost" in e for e in batch.errors)


def test_model_of_wrong_type_falls_back_to_next_candidate() -> None:
    attrs = {"gen_ai.response.model": ["x"], "gen_ai.request.model": "gpt-4o"}
    obs, _, _ = map_one(span(attrs=attrs))
    assert obs.model == "gpt-4o"
    assert obs.metadata["gen_ai.response.model"] == ["x"]


def test_nul_characters_are_replaced() -> None:
    attrs = {"input.value": "a\x00b", "custom": "c\x00d", "list": ["e\x00"]}
    obs, _, _ = map_one(span(attrs=attrs))
    assert obs.input == "a\ufffdb"
    assert obs.metadata["custom"] == "c\ufffdd"
    assert obs.metadata["list"] == ["e\ufffd"]


def test_bytes_attribute_is_text_with_replacement() -> None:
    obs, _, _ = map_one(span(attrs={"blob": b"ab\xfe"}))
    assert obs.metadata["blob"] == "ab\ufffd"


def test_gen_ai_response_time_to_first_chunk_sets_completion_start() -> None:
    obs, _, _ = map_one(span(attrs={"gen_ai.response.time_to_first_chunk": 0.25}))
    assert obs.completion_start_us == START_NS // 1000 + 250_000


def test_empty_request() -> None:
    batch = map_request(request(), "p")
    assert batch.observations == [] and batch.traces == [] and batch.rejected == 0


def test_openinference_detail_counts_become_input_and_output_parts() -> None:
    attrs = {
        "openinference.span.kind": "LLM",
        "llm.token_count.prompt": 40,
        "llm.token_count.completion": 20,
        "llm.token_count.prompt_details.audio": 4,
        "llm.token_count.completion_details.audio": 2,
        "llm.token_count.prompt_details.image": 7,
    }
    obs, _, _ = map_one(span(attrs=attrs))
    assert obs.usage == {
        "input": 40,
        "output": 20,
        "input_audio": 4,
        "output_audio": 2,
        "input_image": 7,
        "total": 60,
    }


def test_unflatten_orders_by_index_and_handles_nesting() -> None:
    items = [
        ("10.message.role", "user"),
        ("2.message.content", "b"),
        ("2.message.tool_calls.1.tool_call.id", "t2"),
        ("2.message.tool_calls.0.tool_call.id", "t1"),
        ("3", "plain"),
        ("name", "ignored: not indexed"),
    ]
    assert unflatten(items) == [
        {"content": "b", "tool_calls": [{"id": "t1"}, {"id": "t2"}]},
        "plain",
        {"role": "user"},
    ]


def test_out_of_range_counts_are_not_usage() -> None:
    obs, _, _ = map_one(
        span(attrs={"langfuse.observation.usage_details": '{"input": 1e30, "output": 5}'})
    )
    assert obs.usage == {"output": 5, "total": 5}
