"""The user's message and the assistant's answer of one trace, from the shapes heron stores.

A trace's input is a string, an OpenAI chat (``[{role, content}]``, content as text or parts),
``{"messages": [...]}``, GenAI messages (``{role, parts: [{type, content}]}``, which is also what
OpenInference's flattened ``llm.input_messages`` become at ingest), one message, or a dict with
the text under a usual key (``input``, ``query``, ``question``...). The output likewise, plus
OpenAI's ``choices[0].message``. A project can name the place instead with a path in a small
JSONPath subset: ``$.a.b[0]['c d'][-1]`` (names, quoted names, integer indices; no filters,
wildcards or expressions, nothing evaluated).
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Any

from heron.implicit.model import FeedbackConfigError

_USER_ROLES = ("user", "human")
_ASSISTANT_ROLES = ("assistant", "ai", "model", "bot")
_INPUT_KEYS = ("input", "query", "question", "prompt", "message", "text", "content", "messages")
_OUTPUT_KEYS = (
    "output", "answer", "response", "completion", "result", "text", "content", "message",
    "messages", "choices",
)  # fmt: skip
_MAX_DEPTH = 4
MAX_PATH_CHARS = 300
_PATH_TOKEN = re.compile(
    r"""\.(?P<name>[A-Za-z_][\w-]*)|\[(?P<index>-?\d+)\]|\[(?P<q>['"])(?P<quoted>[^'"\]]*)(?P=q)\]"""
)


def user_message(value: Any, path: str | None = None) -> str | None:
    """The user's message of a trace's input: the string itself, else the last user message."""
    if path is not None:
        return _as_text(follow(value, path), _USER_ROLES)
    return _side_text(value, _USER_ROLES, _INPUT_KEYS, 0)


def answer_text(value: Any, path: str | None = None) -> str | None:
    """The assistant's answer of a trace's output: the string itself, else the last assistant
    message (``choices[0].message`` for an OpenAI response)."""
    if path is not None:
        return _as_text(follow(value, path), _ASSISTANT_ROLES)
    return _side_text(value, _ASSISTANT_ROLES, _OUTPUT_KEYS, 0)


@lru_cache(maxsize=256)
def parse_path(path: str) -> tuple[str | int, ...]:
    """``"$.messages[-1].content"`` -> ``("messages", -1, "content")``; a bad path raises
    :class:`FeedbackConfigError` naming where it stops making sense."""
    if not isinstance(path, str) or not path.startswith("$"):
        raise FeedbackConfigError("a message path starts with '$', e.g. $.messages[-1].content")
    if len(path) > MAX_PATH_CHARS:
        raise FeedbackConfigError(f"a message path has at most {MAX_PATH_CHARS} characters")
    steps: list[str | int] = []
    pos = 1
    while pos < len(path):
        m = _PATH_TOKEN.match(path, pos)
        if m is None:
            raise FeedbackConfigError(
                f"message path {path!r}: cannot read {path[pos : pos + 20]!r} "
                "(supported: .name, ['name'], [index])"
            )
        if m.group("name") is not None:
            steps.append(m.group("name"))
        elif m.group("index") is not None:
            steps.append(int(m.group("index")))
        else:
            steps.append(m.group("quoted"))
        pos = m.end()
    return tuple(steps)


def follow(value: Any, path: str) -> Any:
    """The value at ``path`` inside ``value``, or None when it is not there."""
    for step in parse_path(path):
        if isinstance(step, int):
            if not isinstance(value, list) or not -len(value) <= step < len(value):
                return None
            value = value[step]
        elif isinstance(value, dict):
            value = value.get(step)
        else:
            return None
    return value


def _as_text(value: Any, roles: tuple[str, ...]) -> str | None:
    if isinstance(value, str):
        return value
    if isinstance(value, dict) and "role" not in value:
        return _content_text(value.get("content", value.get("text")))
    return _side_text(value, roles, (), 0)


def _side_text(value: Any, roles: tuple[str, ...], keys: tuple[str, ...], depth: int) -> Any:
    if value is None or depth > _MAX_DEPTH:
        return None
    if isinstance(value, str):
        return value
    if isinstance(value, list):
        if value and all(isinstance(v, dict) and "role" not in v for v in value):
            # GenAI parts or OpenAI choices: [{"message": {...}}] / [{"type": "text", ...}]
            first = value[0]
            if "message" in first:
                return _side_text(first["message"], roles, keys, depth + 1)
            return _content_text(value)
        for message in reversed(value):
            if isinstance(message, dict) and message.get("role") in roles:
                text = message_text(message)
                if text is not None:
                    return text
        return None
    if not isinstance(value, dict):
        return None
    if "role" in value:
        return message_text(value) if value["role"] in roles else None
    for key in keys:
        inner = value.get(key)
        if inner is not None:
            text = _side_text(inner, roles, keys, depth + 1)
            if text is not None:
                return text
    return None


def message_text(message: dict[str, Any]) -> str | None:
    """A chat message's text: its content (or GenAI parts) as text, text parts joined."""
    if "parts" in message:
        return _content_text(message["parts"])
    return _content_text(message.get("content"))


def _content_text(content: Any) -> str | None:
    if isinstance(content, str):
        return content
    if not isinstance(content, list):
        return None
    texts = []
    for part in content:
        if isinstance(part, str):
            texts.append(part)
        elif isinstance(part, dict) and part.get("type", "text") == "text":
            text = part.get("text", part.get("content"))
            if isinstance(text, str):
                texts.append(text)
    return "\n".join(texts) if texts else None
