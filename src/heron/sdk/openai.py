"""OpenAI integration: each ``chat.completions.create``, ``responses.create`` and
``embeddings.create`` call (sync and async, streaming or not) becomes a generation / embedding
observation with OpenTelemetry GenAI attributes.

:func:`instrument` patches the official client's resource classes once. Calls are recorded
when :func:`instrument` was called, or when the client is a :class:`heron.openai.OpenAI` /
``AsyncOpenAI`` (drop-in subclasses). Streams are returned wrapped in a thin proxy that yields
the same chunks and records the observation when the stream is exhausted, closed or fails.
Recording never changes what the user gets, and never raises into the call.
"""

from __future__ import annotations

import logging
from typing import Any

from opentelemetry import context as otel_context

from heron.sdk import attributes as A
from heron.sdk import client as _client_mod
from heron.sdk.spans import Observation, begin

log = logging.getLogger("heron")

__all__ = ["instrument", "uninstrument"]

_patched: dict[tuple[type, str], Any] = {}
_enabled = False  # instrument() called: record every client's calls

# OpenAI request parameter -> GenAI gen_ai.request.<name>
_PARAMS = {
    "temperature": "temperature",
    "top_p": "top_p",
    "max_tokens": "max_tokens",
    "max_completion_tokens": "max_tokens",
    "max_output_tokens": "max_tokens",
    "frequency_penalty": "frequency_penalty",
    "presence_penalty": "presence_penalty",
    "stop": "stop_sequences",
    "seed": "seed",
    "n": "choice.count",
    "stream": "stream",
    "reasoning_effort": "reasoning_effort",
    "tool_choice": "tool_choice",
    "parallel_tool_calls": "parallel_tool_calls",
    "dimensions": "dimensions",
    "encoding_format": "encoding_formats",
    "service_tier": "service_tier",
}


def _get(obj: Any, key: str, default: Any = None) -> Any:
    if isinstance(obj, dict):
        return obj.get(key, default)
    return getattr(obj, key, default)


def _dump(obj: Any) -> Any:
    dump = getattr(obj, "model_dump", None)
    return dump(exclude_none=True) if dump is not None else obj


# ---- messages in the GenAI shape: [{"role", "parts": [{"type", ...}]}] ----------------------


def _text_parts(content: Any) -> list[dict[str, Any]]:
    if content is None:
        return []
    if isinstance(content, str):
        return [{"type": "text", "content": content}]
    parts = []
    for p in content:
        p = _dump(p)
        kind = p.get("type") if isinstance(p, dict) else None
        if kind in ("text", "input_text", "output_text"):
            parts.append({"type": "text", "content": p.get("text", "")})
        elif isinstance(p, dict):
            parts.append(p)
        else:
            parts.append({"type": "text", "content": str(p)})
    return parts


def _tool_call_part(call: Any) -> dict[str, Any]:
    fn = _get(call, "function")
    args = _get(fn, "arguments") if fn is not None else _get(call, "arguments")
    name = _get(fn, "name") if fn is not None else _get(call, "name")
    call_id = _get(call, "call_id") or _get(call, "id")
    return {"type": "tool_call", "id": call_id, "name": name, "arguments": args}


def chat_input_messages(messages: Any) -> list[dict[str, Any]]:
    out = []
    for m in messages or ():
        role = _get(m, "role")
        if role == "tool":
            parts = [
                {
                    "type": "tool_call_response",
                    "id": _get(m, "tool_call_id"),
                    "response": _get(m, "content"),
                }
            ]
        else:
            parts = _text_parts(_get(m, "content"))
            parts += [_tool_call_part(c) for c in _get(m, "tool_calls") or ()]
        out.append({"role": role, "parts": parts})
    return out


def _chat_output(choices: Any) -> list[dict[str, Any]]:
    out = []
    for c in choices or ():
        msg = _get(c, "message")
        parts = _text_parts(_get(msg, "content"))
        parts += [_tool_call_part(t) for t in _get(msg, "tool_calls") or ()]
        out.append(
            {
                "role": _get(msg, "role") or "assistant",
                "parts": parts,
                "finish_reason": _get(c, "finish_reason"),
            }
        )
    return out


def responses_input_messages(value: Any) -> list[dict[str, Any]]:
    if isinstance(value, str):
        return [{"role": "user", "parts": _text_parts(value)}]
    out = []
    for item in value or ():
        kind = _get(item, "type") or "message"
        if kind == "message":
            out.append({"role": _get(item, "role"), "parts": _text_parts(_get(item, "content"))})
        elif kind == "function_call":
            out.append({"role": "assistant", "parts": [_tool_call_part(item)]})
        elif kind == "function_call_output":
            part = {
                "type": "tool_call_response",
                "id": _get(item, "call_id"),
                "response": _get(item, "output"),
            }
            out.append({"role": "tool", "parts": [part]})
        else:
            out.append({"role": "user", "parts": [_dump(item)]})
    return out


def _responses_output(response: Any) -> list[dict[str, Any]]:
    parts: list[dict[str, Any]] = []
    for item in _get(response, "output") or ():
        kind = _get(item, "type")
        if kind == "message":
            parts += _text_parts(_get(item, "content"))
        elif kind == "function_call":
            parts.append(_tool_call_part(item))
        elif kind == "reasoning":
            continue
        else:
            parts.append(_dump(item))
    return [{"role": "assistant", "parts": parts, "finish_reason": _get(response, "status")}]


# ---- recording ---------------------------------------------------------------------------


def _start(client: Any, operation: str, kwargs: dict[str, Any]) -> Observation:
    model = kwargs.get("model")
    cfg = client.config
    cap, mask = cfg.max_field_bytes, cfg.mask
    obs_type = "embedding" if operation == "embeddings" else "generation"
    attrs: dict[str, Any] = {
        A.OBS_TYPE: obs_type,
        A.OPERATION: operation,
        A.PROVIDER: "openai",
    }
    if model is not None:
        attrs[A.REQUEST_MODEL] = str(model)
    params = {_PARAMS[k]: v for k, v in kwargs.items() if k in _PARAMS and v is not None}
    if "stop_sequences" in params and isinstance(params["stop_sequences"], str):
        params["stop_sequences"] = [params["stop_sequences"]]
    attrs.update(A.params_attributes(params))
    if operation == "chat":
        msgs = chat_input_messages(kwargs.get("messages"))
        attrs[A.INPUT_MESSAGES] = A.io_value(msgs, cap, mask)
    elif operation == "responses":
        attrs[A.INPUT_MESSAGES] = A.io_value(
            responses_input_messages(kwargs.get("input")), cap, mask
        )
        if kwargs.get("instructions"):
            attrs[A.SYSTEM_INSTRUCTIONS] = A.io_value(
                _text_parts(kwargs["instructions"]), cap, mask
            )
    else:
        attrs[A.OBS_INPUT] = A.io_value(kwargs.get("input"), cap, mask)
    if kwargs.get("tools"):
        attrs[A.TOOL_DEFINITIONS] = A.io_value(kwargs["tools"], cap, None)
    name = "responses" if operation == "responses" else operation
    span, ctx = begin(client, f"{name} {model}" if model else name, attrs)
    return Observation(client, span, ctx, obs_type)


def _record_result(obs: Observation, operation: str, result: Any) -> None:
    span = obs.span
    if not span.is_recording():
        return
    attrs: dict[str, Any] = {}
    model = _get(result, "model")
    if model:
        attrs[A.RESPONSE_MODEL] = str(model)
    rid = _get(result, "id")
    if rid and operation != "embeddings":
        attrs[A.RESPONSE_ID] = str(rid)
    attrs.update(A.usage_attributes(_get(result, "usage")))
    mask = obs._mask
    if operation == "chat":
        out = _chat_output(_get(result, "choices"))
        attrs[A.OUTPUT_MESSAGES] = A.io_value(out, obs._cap, mask)
        reasons = [m["finish_reason"] for m in out if m.get("finish_reason")]
        if reasons:
            attrs[A.FINISH_REASONS] = reasons
    elif operation == "responses":
        out = _responses_output(result)
        attrs[A.OUTPUT_MESSAGES] = A.io_value(out, obs._cap, mask)
        if _get(result, "status"):
            attrs[A.FINISH_REASONS] = [str(_get(result, "status"))]
    else:
        data = _get(result, "data") or []
        first = _get(data[0], "embedding") if data else None
        summary = {"embeddings": len(data)}
        if isinstance(first, list):
            summary["dimensions"] = len(first)
        attrs[A.OBS_OUTPUT] = A.to_json(summary)
    span.set_attributes(attrs)


def _record_error(obs: Observation, exc: BaseException) -> None:
    status = getattr(exc, "status_code", None)
    message = getattr(exc, "message", None) or str(exc)
    text = f"{type(exc).__name__}: {status} {message}" if status else f"{type(exc).__name__}: "
    if not status:
        text += message
    obs.record_error(exc)
    obs.update(level="ERROR", status_message=text)
    attrs: dict[str, Any] = {"error.type": type(exc).__name__}
    if status:
        attrs["http.response.status_code"] = int(status)
    if obs.span.is_recording():
        obs.span.set_attributes(attrs)


def _should_record(resource: Any) -> Any:
    """The heron client when this call should be recorded, else ``None``."""
    c = _client_mod.active_client()
    if c is None:
        return None
    if _enabled or getattr(getattr(resource, "_client", None), "_heron_traced", False):
        return c
    return None


def _wrap_sync(original: Any, operation: str) -> Any:
    def create(self: Any, *args: Any, **kwargs: Any) -> Any:
        client = _should_record(self)
        if client is None:
            return original(self, *args, **kwargs)
        try:
            obs = _start(client, operation, kwargs)
        except Exception:
            log.debug("heron: openai instrumentation failed", exc_info=True)
            return original(self, *args, **kwargs)
        token = otel_context.attach(obs._ctx)
        try:
            result = original(self, *args, **kwargs)
        except BaseException as exc:
            otel_context.detach(token)
            _record_error(obs, exc)
            obs.end()
            raise
        otel_context.detach(token)
        if kwargs.get("stream"):
            from heron.sdk.openai_streams import TracedStream

            return TracedStream(result, obs, operation)
        _finish(obs, operation, result)
        return result

    create.__wrapped__ = original  # type: ignore[attr-defined]
    create.__doc__ = original.__doc__
    return create


def _wrap_async(original: Any, operation: str) -> Any:
    async def create(self: Any, *args: Any, **kwargs: Any) -> Any:
        client = _should_record(self)
        if client is None:
            return await original(self, *args, **kwargs)
        try:
            obs = _start(client, operation, kwargs)
        except Exception:
            log.debug("heron: openai instrumentation failed", exc_info=True)
            return await original(self, *args, **kwargs)
        token = otel_context.attach(obs._ctx)
        try:
            result = await original(self, *args, **kwargs)
        except BaseException as exc:
            otel_context.detach(token)
            _record_error(obs, exc)
            obs.end()
            raise
        otel_context.detach(token)
        if kwargs.get("stream"):
            from heron.sdk.openai_streams import AsyncTracedStream

            return AsyncTracedStream(result, obs, operation)
        _finish(obs, operation, result)
        return result

    create.__wrapped__ = original  # type: ignore[attr-defined]
    create.__doc__ = original.__doc__
    return create


def _finish(obs: Observation, operation: str, result: Any) -> None:
    try:
        _record_result(obs, operation, result)
    except Exception:
        log.debug("heron: recording an openai result failed", exc_info=True)
    obs.end()


def _targets() -> list[tuple[type, str, bool]]:
    from openai.resources.chat.completions import AsyncCompletions, Completions
    from openai.resources.embeddings import AsyncEmbeddings, Embeddings
    from openai.resources.responses import AsyncResponses, Responses

    return [
        (Completions, "chat", False),
        (AsyncCompletions, "chat", True),
        (Responses, "responses", False),
        (AsyncResponses, "responses", True),
        (Embeddings, "embeddings", False),
        (AsyncEmbeddings, "embeddings", True),
    ]


def patch() -> bool:
    """Patch the client classes (idempotent). ``False`` if openai is not installed."""
    try:
        targets = _targets()
    except ImportError:
        return False
    for cls, operation, is_async in targets:
        if (cls, "create") in _patched:
            continue
        original = cls.create
        _patched[(cls, "create")] = original
        wrap = _wrap_async if is_async else _wrap_sync
        cls.create = wrap(original, operation)  # type: ignore[method-assign]
    return True


def instrument() -> bool:
    """Record the calls of every OpenAI client. ``False`` if openai is not installed."""
    global _enabled
    if not patch():
        log.warning("heron: instrument_openai(): the openai package is not installed")
        return False
    _enabled = True
    return True


def uninstrument() -> None:
    """Restore the original methods."""
    global _enabled
    _enabled = False
    for (cls, attr), original in list(_patched.items()):
        setattr(cls, attr, original)
    _patched.clear()
