"""What an evaluator's variables read: fields of its target, named the same way everywhere.

A variable maps to one of:

- a field of the target: ``input``, ``output``, ``metadata``, ``metadata.<key>``, ``name``,
  ``user_id``, ``session_id``, ``release``, ``version``, ``environment``, ``tags``, ``level``,
  ``latency_ms``, ``total_cost``, ``total_tokens``, ``start_time``, ``end_time``, ``id``
  (an observation also has ``type``, ``model``, ``status_message``, ``trace_id``);
- ``user_message`` / ``answer``: the user's last message of the input and the assistant's
  answer of the output, read from chat shapes as the implicit-feedback detectors read them;
- ``context``: the outputs of the trace's retriever observations (what a RAG app retrieved);
- ``conversation`` (sessions): the session's turns as ``User: ...`` / ``Assistant: ...`` lines;
- ``expected_output``: a dataset item's expected output (none yet: datasets come later, so
  it reads as missing);
- a JSONPath into the target's record, ``$.output.choices[0].message.content``,
  ``$.metadata['my key']`` (names, quoted names, integer indices; nothing evaluated).

Inputs and outputs are stored as text; JSON text is read as the JSON it holds.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import orjson

from heron.implicit.extract import answer_text, follow, parse_path, user_message
from heron.implicit.model import FeedbackConfigError

COMMON = (
    "id", "name", "input", "output", "metadata", "level", "start_time", "end_time",
    "latency_ms", "total_cost", "total_tokens", "user_message", "answer", "expected_output",
)  # fmt: skip
TRACE_ONLY = ("user_id", "session_id", "release", "version", "environment", "tags", "context")
OBSERVATION_ONLY = ("type", "model", "status_message", "trace_id", "context")
SESSION_ONLY = ("conversation", "user_id", "session_id")
FIELDS: dict[str, tuple[str, ...]] = {
    "traces": COMMON + TRACE_ONLY,
    "observations": COMMON + OBSERVATION_ONLY,
    "sessions": COMMON + SESSION_ONLY,
}
MAX_CONVERSATION_CHARS = 60_000  # the most recent turns are kept when a session is longer


def check_field(field: str, target: str) -> str | None:
    """The problem with ``field`` for a ``target`` kind, or None when it can be read."""
    if not isinstance(field, str) or not field:
        return "expected a field name or a JSONPath such as $.output.answer"
    if field.startswith("$"):
        try:
            parse_path(field)
        except FeedbackConfigError as exc:
            return str(exc).replace("message path", "path")
        return None
    if field.startswith("metadata.") and len(field) > len("metadata."):
        return None
    if field in FIELDS[target]:
        return None
    return f"unknown field {field!r} for {target}; fields: {', '.join(FIELDS[target])}"


def decode(text: Any, depth: int = 0) -> Any:
    """Stored text as the value it holds (JSON text parsed, a JSON string holding JSON too)."""
    if not isinstance(text, str) or not text or text[0] not in '[{"' or depth > 1:
        return text
    try:
        value = orjson.loads(text)
    except orjson.JSONDecodeError:
        return text
    return decode(value, depth + 1) if isinstance(value, str) else value


def record(row: Mapping[str, Any], extra: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """A stored trace or observation row as the record variables read (input, output decoded)."""
    out = dict(row)
    for key in ("input", "output"):
        if key in out:
            out[key] = decode(out[key])
    if isinstance(out.get("metadata"), str):
        out["metadata"] = decode(out["metadata"])
    if extra:
        out.update(extra)
    return out


def resolve(field: str, rec: Mapping[str, Any]) -> Any:
    """The value of ``field`` in a record built by :func:`record` (None when missing)."""
    if field.startswith("$"):
        return follow(dict(rec), field)
    if field == "user_message":
        return user_message(rec.get("input"))
    if field == "answer":
        return answer_text(rec.get("output"))
    if field.startswith("metadata."):
        meta = rec.get("metadata")
        return meta.get(field[len("metadata.") :]) if isinstance(meta, dict) else None
    return rec.get(field)


def resolve_all(variables: Mapping[str, str], rec: Mapping[str, Any]) -> dict[str, Any]:
    return {name: resolve(field, rec) for name, field in variables.items()}


def conversation(traces: Sequence[Mapping[str, Any]]) -> str:
    """A session's turns as text, oldest first, at most :data:`MAX_CONVERSATION_CHARS`
    (the latest turns win)."""
    lines: list[str] = []
    for t in traces:
        question = user_message(decode(t.get("input")))
        answer = answer_text(decode(t.get("output")))
        if question:
            lines.append(f"User: {question.strip()}")
        if answer:
            lines.append(f"Assistant: {answer.strip()}")
    text = "\n".join(lines)
    if len(text) > MAX_CONVERSATION_CHARS:
        text = "[earlier turns left out]\n" + text[-MAX_CONVERSATION_CHARS:]
    return text


def context_text(observations: Sequence[Mapping[str, Any]]) -> str | None:
    """Retriever observations' outputs as numbered documents (None without any)."""
    docs: list[str] = []
    for obs in observations:
        value = decode(obs.get("output"))
        items = value if isinstance(value, list) else [value]
        for item in items:
            if item is None:
                continue
            if isinstance(item, dict):
                text = item.get("page_content") or item.get("content") or item.get("text")
                item = text if isinstance(text, str) else orjson.dumps(item).decode()
            docs.append(str(item))
    if not docs:
        return None
    return "\n\n".join(f"[{i}] {d}" for i, d in enumerate(docs, start=1))
