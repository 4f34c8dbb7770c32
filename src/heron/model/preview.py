"""The short text lists show for a trace's input: the last user message when the input is a
chat, else the start of the text. Computed when the trace is written, so lists never read
whole inputs."""

from __future__ import annotations

from typing import Any

import orjson

PREVIEW_CHARS = 200


def preview(text: str | None, limit: int = PREVIEW_CHARS) -> str | None:
    if not text:
        return None
    candidate: Any = text
    if text[0] in "[{":
        try:
            candidate = _last_user_text(orjson.loads(text)) or text
        except orjson.JSONDecodeError:
            candidate = text
    flat = " ".join(str(candidate).split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def _last_user_text(value: Any) -> str | None:
    if isinstance(value, dict):
        for key in ("messages", "input", "question", "query", "prompt", "args"):
            if key in value:
                found = _last_user_text(value[key])
                if found:
                    return found
        return None
    if not isinstance(value, list):
        return value if isinstance(value, str) else None
    for item in reversed(value):
        if isinstance(item, dict) and item.get("role") in ("user", "human"):
            return _content_text(item)
    strings = [v for v in value if isinstance(v, str)]
    return strings[-1] if strings else None


def _content_text(message: dict[str, Any]) -> str | None:
    content = message.get("content", message.get("parts"))
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        texts = [
            p.get("content") or p.get("text")
            for p in content
            if isinstance(p, dict) and isinstance(p.get("content") or p.get("text"), str)
        ]
        return " ".join(texts) or None
    return None
