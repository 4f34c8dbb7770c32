"""Rebuilding chat messages from flattened attributes and span events.

* OpenInference flattens lists of objects into indexed keys:
  ``llm.input_messages.0.message.role``, ``...0.message.contents.1.message_content.text``,
  ``...0.message.tool_calls.0.tool_call.function.name``. :func:`unflatten` turns the suffixes
  after the prefix back into a list, dropping the per-item wrapper names (``message``,
  ``tool_call``, ``message_content``, ``document``, ``embedding``).
* OpenLLMetry (older GenAI instrumentations) uses ``gen_ai.prompt.0.role`` /
  ``gen_ai.prompt.0.content`` and ``gen_ai.completion.0.*``: the same function applies.
* GenAI span events: ``gen_ai.{system,user,assistant,tool}.message`` and ``gen_ai.choice``
  (one event per message) or ``gen_ai.content.prompt`` / ``gen_ai.content.completion``.
"""

from __future__ import annotations

from typing import Any

from heron.ingest.limits import MAX_VALUE_DEPTH
from heron.ingest.values import INVALID, parse_json

_WRAPPERS = frozenset({"message", "tool_call", "message_content", "document", "embedding"})


def unflatten(items: list[tuple[str, Any]]) -> list[Any]:
    """``[("0.message.role", "user"), ("0.message.content", "hi")]`` -> ``[{"role": "user",
    "content": "hi"}]``. Keys that do not start with an index are ignored."""
    by_index: dict[int, Any] = {}
    nested: set[int] | None = None
    for path, value in items:
        parts = path.split(".", MAX_VALUE_DEPTH)  # deeper paths: the rest is one key
        first = parts[0]
        if not _is_index(first):
            continue
        idx = int(first)
        n = len(parts)
        if n == 1:  # "0" -> the item itself
            by_index[idx] = value
            continue
        node = by_index.get(idx)
        if node.__class__ is not dict:
            node = by_index[idx] = {}
        if n == 3 and parts[1] in _WRAPPERS:  # fast path: "0.message.role"
            node[parts[2]] = value
            continue
        if n == 2:  # "0.role"
            node[parts[1]] = value
            continue
        if nested is None:
            nested = set()
        nested.add(idx)
        prev = first
        last = n - 1
        for i in range(1, n):
            seg = parts[i]
            # "0.message.role": drop the wrapper after an index; "image.image.url": drop repeat
            if i < last and ((prev.isdigit() and seg in _WRAPPERS) or seg == prev):
                prev = seg
                continue
            prev = seg
            if i == last:
                node[seg] = value
                break
            nxt = node.get(seg)
            if nxt.__class__ is not dict:
                nxt = {}
                node[seg] = nxt
            node = nxt
    if nested is None:
        return [by_index[i] for i in sorted(by_index)]
    return [_listify(by_index[i]) if i in nested else by_index[i] for i in sorted(by_index)]


def _listify(node: Any) -> Any:
    if node.__class__ is not dict:
        return node
    if node and all(_is_index(k) for k in node):
        return [_listify(node[k]) for k in sorted(node, key=int)]
    return {k: _listify(v) for k, v in node.items()}


def _is_index(s: str) -> bool:
    """ASCII digits that int() reads (not "²", not thousands of digits)."""
    return s.isdigit() and s.isascii() and len(s) <= 18


def split_indexed(items: list[tuple[str, Any]]) -> tuple[list[tuple[str, Any]], dict[str, Any]]:
    """Split ``(suffix, value)`` pairs into indexed ones (``"0.role"``) and the rest."""
    indexed = []
    other: dict[str, Any] = {}
    for suffix, value in items:
        if suffix[:1].isdigit():
            indexed.append((suffix, value))
        else:
            other[suffix] = value
    return indexed, other


def with_system_instructions(messages: Any, instructions: Any) -> Any:
    """Prepend GenAI ``gen_ai.system_instructions`` (a list of parts, or plain text) to the
    ``gen_ai.input.messages`` list as a ``system`` message. Returns INVALID when either value
    is a string that is not valid JSON (the caller keeps the raw values)."""
    msgs = parse_json(messages) if messages is not None else []
    instr = instructions
    if instr.__class__ is str:
        parsed = parse_json(instr)
        instr = parsed if parsed is not INVALID else [{"type": "text", "content": instr}]
    if msgs is INVALID:
        return INVALID
    if instr.__class__ is dict:
        instr = [instr]
    elif instr.__class__ is not list:
        instr = [{"type": "text", "content": str(instr)}]
    system = {"role": "system", "parts": instr}
    if msgs.__class__ is list:
        return [system, *msgs]
    return [system, msgs]


_ROLE_EVENTS = {
    "gen_ai.system.message": "system",
    "gen_ai.user.message": "user",
    "gen_ai.assistant.message": "assistant",
    "gen_ai.tool.message": "tool",
}
_EVENT_NOISE = ("gen_ai.system", "gen_ai.provider.name", "event.name")


def message_from_event(name: str, attrs: dict[str, Any]) -> dict[str, Any] | None:
    """A per-message GenAI event -> message dict (``role`` from the event name unless given)."""
    role = _ROLE_EVENTS.get(name)
    if role is None:
        return None
    msg: dict[str, Any] = {"role": role}
    for k, v in attrs.items():
        if k not in _EVENT_NOISE:
            msg[k] = v
    return msg


def choice_from_event(attrs: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in attrs.items() if k not in _EVENT_NOISE}


def is_role_event(name: str) -> bool:
    return name in _ROLE_EVENTS
