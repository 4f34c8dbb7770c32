"""Input, output, tags and span events of the convention mapping.

Input and output are chosen by precedence (see ``docs/conventions.md``): every candidate is
consumed and only the winner is kept, so large payloads are never stored twice.
"""

from __future__ import annotations

from typing import Any

from heron.ingest import messages as msgs
from heron.ingest.otlp import any_value_to_python
from heron.ingest.values import INVALID, as_str, parse_json, to_text, truncate

MAX_EVENTS_IN_METADATA = 50


def clip(v: Any, cap: int) -> Any:
    """Truncate a string value that may exceed ``cap`` UTF-8 bytes; other values unchanged."""
    if v.__class__ is str and len(v) * 4 > cap:
        return truncate(v, cap)
    return v


def has_genai_tool(meta: dict[str, Any]) -> bool:
    return any(k.startswith("gen_ai.tool.") and k != "gen_ai.tool.definitions" for k in meta)


def tags(v: Any, existing: list[str] | None) -> list[str]:
    """Tags from a list, a JSON array string or a single string, appended to ``existing``
    without duplicates."""
    if v.__class__ is str:
        parsed = parse_json(v) if v[:1] == "[" else INVALID
        items = parsed if parsed.__class__ is list else [v]
    elif v.__class__ is list:
        items = v
    else:
        items = [v]
    out = existing if existing is not None else []
    for item in items:
        s = item if item.__class__ is str else to_text(item)
        if s and s not in out:
            out.append(s)
    return out


def _take_indexed(groups: dict[str, list[tuple[str, Any]]], key: str) -> Any:
    """Messages from OpenLLMetry-style ``key.N.role``/``key.N.content`` attributes, taken out
    of ``groups`` (other attributes under ``key`` stay); None when there are none."""
    g = groups.get(key)
    if not g:
        return None
    indexed, other = msgs.split_indexed(g)
    if not indexed:
        return None
    if other:
        groups[key] = list(other.items())
    else:
        del groups[key]
    return msgs.unflatten(indexed)


def input_text(
    known: dict[str, Any],
    groups: dict[str, list[tuple[str, Any]]],
    ev_input: Any,
) -> tuple[str | None, str | None]:
    """Input by precedence -> (serialised input, problem to note or None). Every candidate is
    consumed from ``known`` / ``groups``; the losers are dropped."""
    problem = None
    chosen: Any = None
    v = known.pop("langfuse.observation.input", None)
    if v is not None:
        chosen = v
    messages = known.pop("gen_ai.input.messages", None)
    system = known.pop("gen_ai.system_instructions", None)
    if chosen is None and (messages is not None or system is not None):
        if system is None:
            chosen = messages
        else:
            combined = msgs.with_system_instructions(messages, system)
            if combined is INVALID:
                chosen = messages
                known["gen_ai.system_instructions"] = system  # keep it (in metadata)
                problem = "gen_ai.input.messages is not valid JSON; kept as text"
            else:
                chosen = combined
    g = groups.pop("llm.input_messages", None)
    if chosen is None and g:
        chosen = msgs.unflatten(g)
    indexed = _take_indexed(groups, "gen_ai.prompt")
    if chosen is None and indexed is not None:
        chosen = indexed
    # embedded texts read better than the raw request OpenInference puts in input.value
    g = groups.pop("embedding.embeddings", None)
    if chosen is None and g:
        texts = [e.get("text") for e in msgs.unflatten(g) if e.__class__ is dict]
        texts = [t for t in texts if t is not None]
        if texts:
            chosen = texts
    v = known.pop("input.value", None)
    known.pop("input.mime_type", None)
    if chosen is None and v is not None:
        chosen = v
    v = known.pop("gen_ai.tool.call.arguments", None)
    if chosen is None and v is not None:
        chosen = v
    v = known.pop("gen_ai.prompt", None)
    if chosen is None and v is not None:
        chosen = v
    if chosen is None and ev_input is not None:
        chosen = ev_input
    v = known.pop("gen_ai.retrieval.query.text", None)
    if chosen is None and v is not None:
        chosen = v
    return to_text(chosen), problem


def output_text(
    known: dict[str, Any],
    groups: dict[str, list[tuple[str, Any]]],
    ev_output: Any,
) -> str | None:
    """Output by precedence (see :func:`input_text`)."""
    chosen: Any = None
    v = known.pop("langfuse.observation.output", None)
    if v is not None:
        chosen = v
    v = known.pop("gen_ai.output.messages", None)
    if chosen is None and v is not None:
        chosen = v
    g = groups.pop("llm.output_messages", None)
    if chosen is None and g:
        chosen = msgs.unflatten(g)
    indexed = _take_indexed(groups, "gen_ai.completion")
    if chosen is None and indexed is not None:
        chosen = indexed
    v = known.pop("output.value", None)
    known.pop("output.mime_type", None)
    if chosen is None and v is not None:
        chosen = v
    v = known.pop("gen_ai.tool.call.result", None)
    if chosen is None and v is not None:
        chosen = v
    v = known.pop("gen_ai.completion", None)
    if chosen is None and v is not None:
        chosen = v
    if chosen is None and ev_output is not None:
        chosen = ev_output
    g = groups.pop("retrieval.documents", None)
    if chosen is None and g:
        chosen = msgs.unflatten(g)
    v = known.pop("gen_ai.retrieval.documents", None)
    if chosen is None and v is not None:
        chosen = v
    return to_text(chosen)


FIRST_TOKEN_EVENT = "First Token Stream Event"  # OpenInference, on streamed LLM calls


def events(
    span: Any, meta: dict[str, Any], known: dict[str, Any], cap: int, max_attributes: int
) -> tuple[str | None, bool, Any, Any, int | None]:
    """Span events: exceptions (level/status), GenAI content events (input/output),
    OpenInference's first-token event (time to first token); all other events, exceptions
    included, are kept in ``metadata["events"]``. String values are clipped at ``cap`` bytes,
    attributes after the first ``max_attributes`` of an event are dropped."""
    first_exception = None
    has_exception = False
    in_msgs: list[Any] = []
    out_msgs: list[Any] = []
    prompt = None
    completion = None
    kept: list[dict[str, Any]] = []
    first_token_us = None
    for ev in span.events:
        name = ev.name
        if name == FIRST_TOKEN_EVENT:
            if first_token_us is None and ev.time_unix_nano:
                first_token_us = ev.time_unix_nano // 1000
            continue
        ev_attrs = ev.attributes
        if len(ev_attrs) > max_attributes:
            ev_attrs = ev_attrs[:max_attributes]
        attrs = {kv.key: clip(any_value_to_python(kv.value), cap) for kv in ev_attrs}
        if name == "exception":
            if not has_exception:
                has_exception = True
                etype = as_str(attrs.get("exception.type")) or ""
                emsg = as_str(attrs.get("exception.message")) or ""
                first_exception = (
                    f"{etype}: {emsg}" if etype and emsg else (etype or emsg or "exception")
                )
        elif msgs.is_role_event(name):
            m = msgs.message_from_event(name, attrs)
            if m is not None:
                in_msgs.append(m)
            continue
        elif name == "gen_ai.choice":
            out_msgs.append(msgs.choice_from_event(attrs))
            continue
        elif name == "gen_ai.content.prompt":
            prompt = attrs.get("gen_ai.prompt", attrs or None)
            continue
        elif name == "gen_ai.content.completion":
            completion = attrs.get("gen_ai.completion", attrs or None)
            continue
        elif name == "gen_ai.client.inference.operation.details":
            # the same content attributes as on the span (used only when the span lacks them)
            for key in ("gen_ai.input.messages", "gen_ai.output.messages"):
                if key in attrs and key not in known:
                    known[key] = attrs.pop(key)
            if "gen_ai.system_instructions" in attrs and "gen_ai.input.messages" in known:
                known.setdefault(
                    "gen_ai.system_instructions", attrs.pop("gen_ai.system_instructions")
                )
            if not attrs:
                continue
        if len(kept) < MAX_EVENTS_IN_METADATA:
            kept.append({"name": name, "time_us": ev.time_unix_nano // 1000, "attributes": attrs})
    if kept:
        meta["events"] = kept
    ev_input = in_msgs or prompt
    ev_output = out_msgs or completion
    return first_exception, has_exception, ev_input, ev_output, first_token_us
