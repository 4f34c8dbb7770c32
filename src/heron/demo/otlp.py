"""Encode demo spans as OTLP protobuf, in one of three attribute conventions.

``otel``: OpenTelemetry GenAI semantic conventions (plus the ``langfuse.trace.*`` and
``langfuse.observation.prompt.*`` attributes apps add to link traces and prompts);
``openinference``: OpenInference (Arize Phoenix); ``langfuse``: the Langfuse SDK's own
attributes. Attribute names follow the field notes in shared/reference.
"""

from __future__ import annotations

import zlib
from datetime import UTC, datetime
from typing import Any

import orjson
from opentelemetry.proto.common.v1.common_pb2 import KeyValue
from opentelemetry.proto.resource.v1.resource_pb2 import Resource
from opentelemetry.proto.trace.v1.trace_pb2 import Span, Status

from heron.demo.model import (
    KIND_EMBEDDING,
    KIND_GUARDRAIL,
    KIND_LLM,
    KIND_RETRIEVER,
    KIND_ROOT,
    KIND_SPAN,
    KIND_TOOL,
    DemoSpan,
    DemoTrace,
)

INTERNAL = Span.SpanKind.SPAN_KIND_INTERNAL
SERVER = Span.SpanKind.SPAN_KIND_SERVER
CLIENT = Span.SpanKind.SPAN_KIND_CLIENT
STATUS_ERROR = Status.StatusCode.STATUS_CODE_ERROR
JSON_MIME = "application/json"

_dumps = orjson.dumps


def _json(obj: Any) -> str:
    return _dumps(obj).decode()


def _s(attrs: Any, key: str, value: str) -> None:
    kv = attrs.add()
    kv.key = key
    kv.value.string_value = value


def _i(attrs: Any, key: str, value: int) -> None:
    kv = attrs.add()
    kv.key = key
    kv.value.int_value = value


def _f(attrs: Any, key: str, value: float) -> None:
    kv = attrs.add()
    kv.key = key
    kv.value.double_value = value


def _b(attrs: Any, key: str, value: bool) -> None:
    kv = attrs.add()
    kv.key = key
    kv.value.bool_value = value


def _sa(attrs: Any, key: str, values: tuple[str, ...] | list[str]) -> None:
    kv = attrs.add()
    kv.key = key
    arr = kv.value.array_value.values
    for v in values:
        arr.add().string_value = v


def resource(service: str, environment: str, release: str, convention: str) -> Resource:
    r = Resource()
    a = r.attributes
    _s(a, "service.name", service)
    _s(a, "service.namespace", "acme")
    _s(a, "service.version", release)
    _s(a, "deployment.environment.name", environment)
    _s(a, "telemetry.sdk.name", "opentelemetry")
    _s(a, "telemetry.sdk.language", "python")
    _s(a, "telemetry.sdk.version", "1.38.0")
    pod = zlib.crc32(f"{service}/{environment}/{release}".encode()) % 0xFFFFF
    _s(a, "host.name", f"{service}-{pod:05x}")
    if convention == "openinference":
        _s(a, "openinference.project.name", "acme-support")
    return r


INSTRUMENTATION = {
    "openai": ("opentelemetry.instrumentation.openai_v2", "2.4b0"),
    "vllm": ("opentelemetry.instrumentation.openai_v2", "2.4b0"),
    "anthropic": ("opentelemetry.instrumentation.anthropic", "0.40.0"),
    "gcp.gemini": ("opentelemetry.instrumentation.google_genai", "0.4b0"),
}
APP_SCOPE = {"otel": ("acme.assist", None), "openinference": ("acme.triage", None)}
OI_SCOPE = ("openinference.instrumentation.openai", "0.1.66")
LF_SCOPE = ("langfuse-sdk", "5.0.4")


def scope_for(tr: DemoTrace, sp: DemoSpan) -> tuple[str, str]:
    conv = tr.convention
    if conv == "langfuse":
        return LF_SCOPE
    if sp.kind in (KIND_LLM, KIND_EMBEDDING):
        return INSTRUMENTATION[sp.provider] if conv == "otel" else OI_SCOPE
    return (APP_SCOPE[conv][0], tr.release)


_STACKS: dict[tuple[str, str], str] = {}


def _stack(etype: str, message: str) -> str:
    found = _STACKS.get((etype, message))
    if found is None:
        found = _STACKS[(etype, message)] = (
            "Traceback (most recent call last):\n"
            '  File "/app/acme/assist/handlers.py", line 212, in run_turn\n'
            "    result = await step.run(ctx)\n"
            '  File "/app/acme/assist/clients.py", line 87, in call\n'
            "    return await self._client.request(payload)\n"
            f"{etype}: {message}\n"
        )
    return found


def _common(pb: Span, sp: DemoSpan, tr: DemoTrace, kind: int) -> None:
    pb.trace_id = tr.trace_id
    pb.span_id = sp.span_id
    if sp.parent_id is not None:
        pb.parent_span_id = sp.parent_id
    pb.name = sp.name
    pb.kind = kind
    pb.start_time_unix_nano = sp.start_us * 1000
    pb.end_time_unix_nano = sp.end_us * 1000
    if sp.status_message is not None:
        pb.status.code = STATUS_ERROR
        pb.status.message = sp.status_message
        ev = pb.events.add()
        ev.time_unix_nano = sp.end_us * 1000
        ev.name = "exception"
        a = ev.attributes
        _s(a, "exception.type", sp.error_type or "Exception")
        _s(a, "exception.message", sp.status_message)
        _s(a, "exception.stacktrace", _stack(sp.error_type or "Exception", sp.status_message))
        _s(pb.attributes, "error.type", sp.error_type or "Exception")


# --- OpenTelemetry GenAI ---

_SYSTEM_JSON: dict[str, str] = {}


def _system_json(system: str) -> str:
    found = _SYSTEM_JSON.get(system)
    if found is None:
        found = _SYSTEM_JSON[system] = _json([{"type": "text", "content": system}])
    return found


def _genai_messages(messages: list[tuple[Any, ...]]) -> str:
    out = []
    for m in messages:
        role = m[0]
        if role == "tool_call":
            part = {"type": "tool_call", "id": m[1], "name": m[2], "arguments": m[3]}
            out.append({"role": "assistant", "parts": [part]})
        elif role == "tool":
            part = {"type": "tool_call_response", "id": m[1], "response": m[3]}
            out.append({"role": "tool", "parts": [part]})
        else:
            out.append({"role": role, "parts": [{"type": "text", "content": m[1]}]})
    return _json(out)


def _genai_output(sp: DemoSpan) -> str:
    if sp.output_tool_call is not None:
        cid, name, args = sp.output_tool_call
        part = {"type": "tool_call", "id": cid, "name": name, "arguments": args}
        return _json([{"role": "assistant", "parts": [part], "finish_reason": "tool_call"}])
    part = {"type": "text", "content": sp.output_text}
    return _json([{"role": "assistant", "parts": [part], "finish_reason": "stop"}])


def _trace_attrs_otel(a: Any, tr: DemoTrace) -> None:
    _s(a, "user.id", tr.user_id)
    _s(a, "session.id", tr.session_id)


def fill_otel(pb: Span, sp: DemoSpan, tr: DemoTrace) -> None:
    a = pb.attributes
    kind = sp.kind
    if kind == KIND_LLM:
        _common(pb, sp, tr, CLIENT)
        _s(a, "gen_ai.operation.name", "chat")
        _s(a, "gen_ai.provider.name", sp.provider)
        _s(a, "gen_ai.request.model", sp.model)
        _f(a, "gen_ai.request.temperature", sp.temperature)
        _i(a, "gen_ai.request.max_tokens", sp.max_tokens)
        _s(a, "server.address", INSTRUMENTATION_SERVER.get(sp.provider, "api.openai.com"))
        _i(a, "server.port", 443)
        _s(a, "gen_ai.conversation.id", tr.session_id)
        _trace_attrs_otel(a, tr)
        _s(a, "gen_ai.system_instructions", _system_json(sp.system))
        _s(a, "gen_ai.input.messages", _genai_messages(sp.messages))
        if sp.prompt_name is not None:
            _s(a, "langfuse.observation.prompt.name", sp.prompt_name)
            _i(a, "langfuse.observation.prompt.version", sp.prompt_version)
        if sp.response_model is not None:
            _s(a, "gen_ai.response.model", sp.response_model)
        if sp.status_message is None:
            if sp.response_id is not None:
                _s(a, "gen_ai.response.id", sp.response_id)
            _sa(a, "gen_ai.response.finish_reasons", (sp.finish_reason,))
            _s(a, "gen_ai.output.messages", _genai_output(sp))
        if sp.input_tokens:
            _i(a, "gen_ai.usage.input_tokens", sp.input_tokens)
            _i(a, "gen_ai.usage.output_tokens", sp.output_tokens)
        if sp.cached_tokens:
            _i(a, "gen_ai.usage.cache_read.input_tokens", sp.cached_tokens)
        if sp.reasoning_tokens:
            _i(a, "gen_ai.usage.reasoning.output_tokens", sp.reasoning_tokens)
        if sp.ttft_us is not None:
            _f(a, "gen_ai.response.time_to_first_chunk", sp.ttft_us / 1e6)
    elif kind == KIND_ROOT:
        _common(pb, sp, tr, SERVER)
        _trace_attrs_otel(a, tr)
        if tr.route == "support-chat":
            _s(a, "gen_ai.operation.name", "invoke_agent")
            _s(a, "gen_ai.agent.name", "acme-assist")
            _s(a, "gen_ai.conversation.id", tr.session_id)
            _s(
                a,
                "gen_ai.input.messages",
                _genai_messages(sp.messages or [("user", sp.input_text)]),
            )
            out = [{"role": "assistant", "parts": [{"type": "text", "content": sp.output_text}]}]
            _s(a, "gen_ai.output.messages", _json(out))
        else:
            _s(a, "langfuse.trace.input", sp.input_text)
            _s(a, "langfuse.trace.output", sp.output_text)
        _sa(a, "langfuse.trace.tags", tr.tags)
        for k, v in tr.metadata.items():
            _s(a, "langfuse.trace.metadata." + k, v)
    elif kind == KIND_TOOL:
        _common(pb, sp, tr, INTERNAL)
        _s(a, "gen_ai.operation.name", "execute_tool")
        _s(a, "gen_ai.tool.name", sp.tool_name)
        _s(a, "gen_ai.tool.type", "function")
        _s(a, "gen_ai.tool.call.id", sp.tool_call_id)
        _s(a, "gen_ai.tool.call.arguments", _json(sp.tool_args))
        _s(a, "gen_ai.tool.call.result", _json(sp.tool_result))
    elif kind == KIND_RETRIEVER:
        _common(pb, sp, tr, CLIENT)
        _s(a, "gen_ai.operation.name", "retrieval")
        _s(a, "gen_ai.data_source.id", "acme-help-center")
        _s(a, "gen_ai.retrieval.query.text", sp.input_text)
        docs = [{"id": d.id, "score": s, "title": d.title} for d, s in sp.documents]
        _s(a, "gen_ai.retrieval.documents", _json(docs))
        _s(a, "db.system.name", "qdrant")
    elif kind == KIND_EMBEDDING:
        _common(pb, sp, tr, CLIENT)
        _s(a, "gen_ai.operation.name", "embeddings")
        _s(a, "gen_ai.provider.name", sp.provider)
        _s(a, "gen_ai.request.model", sp.model)
        _s(a, "gen_ai.response.model", sp.response_model)
        _i(a, "gen_ai.usage.input_tokens", sp.input_tokens)
        _i(a, "gen_ai.embeddings.dimension.count", 1536)
        _s(a, "server.address", "api.openai.com")
    elif kind == KIND_GUARDRAIL:
        _common(pb, sp, tr, INTERNAL)
        _s(a, "langfuse.observation.type", "guardrail")
        _s(a, "langfuse.observation.input", sp.input_text)
        _s(a, "langfuse.observation.output", sp.output_text)
    else:
        _common(pb, sp, tr, INTERNAL)
        _s(a, "db.system.name", "redis")
        _s(a, "db.operation.name", "GET")


INSTRUMENTATION_SERVER = {
    "openai": "api.openai.com",
    "anthropic": "api.anthropic.com",
    "gcp.gemini": "generativelanguage.googleapis.com",
    "vllm": "vllm.internal.acme.cloud",
}


# --- OpenInference ---

_OI_KIND = {
    KIND_ROOT: "CHAIN",
    KIND_LLM: "LLM",
    KIND_RETRIEVER: "RETRIEVER",
    KIND_TOOL: "TOOL",
    KIND_EMBEDDING: "EMBEDDING",
    KIND_GUARDRAIL: "GUARDRAIL",
    KIND_SPAN: "CHAIN",
}


def _chat_messages(sp: DemoSpan) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = [{"role": "system", "content": sp.system}]
    for m in sp.messages:
        role = m[0]
        if role == "tool_call":
            fn = {"name": m[2], "arguments": _json(m[3])}
            out.append({"role": "assistant", "tool_calls": [{"id": m[1], "function": fn}]})
        elif role == "tool":
            out.append({"role": "tool", "tool_call_id": m[1], "content": _json(m[3])})
        else:
            out.append({"role": role, "content": m[1]})
    return out


def fill_openinference(pb: Span, sp: DemoSpan, tr: DemoTrace) -> None:
    a = pb.attributes
    kind = sp.kind
    _common(pb, sp, tr, CLIENT if kind in (KIND_LLM, KIND_RETRIEVER) else INTERNAL)
    _s(a, "openinference.span.kind", _OI_KIND[kind])
    _s(a, "session.id", tr.session_id)
    _s(a, "user.id", tr.user_id)
    _s(a, "metadata", _json(tr.metadata))
    _sa(a, "tag.tags", tr.tags)
    if kind == KIND_LLM:
        params: dict[str, Any] = {
            "model": sp.model,
            "temperature": sp.temperature,
            "max_tokens": sp.max_tokens,
        }
        if sp.model.startswith("o4"):
            params["reasoning_effort"] = "medium"
        _s(a, "llm.system", "openai")
        _s(a, "llm.provider", "openai" if sp.provider == "openai" else sp.provider)
        _s(a, "llm.model_name", sp.response_model or sp.model)
        _s(a, "llm.invocation_parameters", _json(params))
        msgs = _chat_messages(sp)
        _s(a, "input.value", _json({"messages": msgs, **params}))
        _s(a, "input.mime_type", JSON_MIME)
        for i, m in enumerate(msgs):
            p = f"llm.input_messages.{i}.message."
            _s(a, p + "role", m["role"])
            if "content" in m:
                _s(a, p + "content", m["content"])
            else:
                fn = m["tool_calls"][0]["function"]
                _s(a, p + "tool_calls.0.tool_call.function.name", fn["name"])
                _s(a, p + "tool_calls.0.tool_call.function.arguments", fn["arguments"])
        if sp.status_message is None:
            out_msg = {"role": "assistant", "content": sp.output_text}
            usage = {
                "prompt_tokens": sp.input_tokens,
                "completion_tokens": sp.output_tokens,
                "total_tokens": sp.input_tokens + sp.output_tokens,
            }
            resp = {
                "id": sp.response_id,
                "object": "chat.completion",
                "model": sp.response_model,
                "choices": [{"index": 0, "message": out_msg, "finish_reason": "stop"}],
                "usage": usage,
            }
            _s(a, "output.value", _json(resp))
            _s(a, "output.mime_type", JSON_MIME)
            _s(a, "llm.output_messages.0.message.role", "assistant")
            _s(a, "llm.output_messages.0.message.content", sp.output_text)
        if sp.input_tokens:
            _i(a, "llm.token_count.prompt", sp.input_tokens)
            _i(a, "llm.token_count.completion", sp.output_tokens)
            _i(a, "llm.token_count.total", sp.input_tokens + sp.output_tokens)
        if sp.cached_tokens:
            _i(a, "llm.token_count.prompt_details.cache_read", sp.cached_tokens)
        if sp.reasoning_tokens:
            _i(a, "llm.token_count.completion_details.reasoning", sp.reasoning_tokens)
    elif kind == KIND_RETRIEVER:
        _s(a, "input.value", sp.input_text)
        for i, (d, score) in enumerate(sp.documents):
            p = f"retrieval.documents.{i}.document."
            _s(a, p + "id", d.id)
            _s(a, p + "content", d.content)
            _f(a, p + "score", score)
    elif kind == KIND_TOOL:
        _s(a, "tool.name", sp.tool_name)
        _s(a, "input.value", _json(sp.tool_args))
        _s(a, "input.mime_type", JSON_MIME)
        _s(a, "output.value", _json(sp.tool_result))
        _s(a, "output.mime_type", JSON_MIME)
    else:
        if sp.input_text is not None:
            _s(a, "input.value", sp.input_text)
            _s(a, "input.mime_type", JSON_MIME if sp.input_text[:1] == "{" else "text/plain")
        if sp.output_text is not None:
            _s(a, "output.value", sp.output_text)
            _s(a, "output.mime_type", JSON_MIME if sp.output_text[:1] == "{" else "text/plain")


# --- Langfuse SDK ---

_LF_TYPE = {
    KIND_ROOT: "span",
    KIND_LLM: "generation",
    KIND_RETRIEVER: "retriever",
    KIND_TOOL: "tool",
    KIND_EMBEDDING: "embedding",
    KIND_GUARDRAIL: "guardrail",
    KIND_SPAN: "span",
}


def _iso(us: int) -> str:
    return datetime.fromtimestamp(us / 1e6, UTC).isoformat(timespec="microseconds")


def fill_langfuse(pb: Span, sp: DemoSpan, tr: DemoTrace) -> None:
    a = pb.attributes
    kind = sp.kind
    _common(pb, sp, tr, INTERNAL)
    _s(a, "langfuse.observation.type", _LF_TYPE[kind])
    _s(a, "user.id", tr.user_id)
    _s(a, "session.id", tr.session_id)
    _sa(a, "langfuse.trace.tags", tr.tags)
    for k, v in tr.metadata.items():
        _s(a, "langfuse.trace.metadata." + k, v)
    _s(a, "langfuse.release", tr.release)
    _s(a, "langfuse.environment", tr.environment)
    if sp.status_message is not None:
        _s(a, "langfuse.observation.level", "ERROR")
        _s(a, "langfuse.observation.status_message", sp.status_message)
    if kind == KIND_LLM:
        _s(a, "langfuse.observation.model.name", sp.model)
        params = {"temperature": sp.temperature, "max_tokens": sp.max_tokens}
        _s(a, "langfuse.observation.model.parameters", _json(params))
        _s(a, "langfuse.observation.input", _json(_chat_messages(sp)))
        if sp.prompt_name is not None:
            _s(a, "langfuse.observation.prompt.name", sp.prompt_name)
            _i(a, "langfuse.observation.prompt.version", sp.prompt_version)
        if sp.status_message is None:
            _s(
                a,
                "langfuse.observation.output",
                _json({"role": "assistant", "content": sp.output_text}),
            )
        if sp.input_tokens:
            # Anthropic reports cache reads apart from (not included in) input tokens.
            usage = {"input": sp.input_tokens - sp.cached_tokens, "output": sp.output_tokens}
            if sp.cached_tokens:
                usage["cache_read_input_tokens"] = sp.cached_tokens
            _s(a, "langfuse.observation.usage_details", _json(usage))
        if sp.ttft_us is not None:
            _s(
                a,
                "langfuse.observation.completion_start_time",
                _json(_iso(sp.start_us + sp.ttft_us)),
            )
    elif kind == KIND_TOOL:
        _s(a, "langfuse.observation.input", _json(sp.tool_args))
        _s(a, "langfuse.observation.output", _json(sp.tool_result))
    else:
        if kind == KIND_ROOT:
            _s(a, "langfuse.trace.name", tr.route)
            _b(a, "langfuse.internal.is_app_root", True)
        if sp.input_text is not None:
            _s(a, "langfuse.observation.input", _json(sp.input_text))
        if sp.output_text is not None:
            _s(a, "langfuse.observation.output", _json(sp.output_text))


FILLERS = {"otel": fill_otel, "openinference": fill_openinference, "langfuse": fill_langfuse}


def attributes_dict(kvs: Any) -> dict[str, Any]:
    """Plain dict of protobuf KeyValues (for tests and debugging)."""
    out: dict[str, Any] = {}
    for kv in kvs:
        out[kv.key] = any_value(kv.value)
    return out


def any_value(v: Any) -> Any:
    which = v.WhichOneof("value")
    if which == "array_value":
        return [any_value(x) for x in v.array_value.values]
    if which == "kvlist_value":
        return attributes_dict(v.kvlist_value.values)
    return getattr(v, which) if which else None


__all__ = ["FILLERS", "KeyValue", "attributes_dict", "resource", "scope_for"]
