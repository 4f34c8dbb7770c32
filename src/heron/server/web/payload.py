"""One renderer for every input, output or metadata shown on a page.

:func:`classify` turns a stored value into a view the ``_payload.html`` macro renders:

- ``chat``: a list of chat messages (roles, text, tool calls, tool results, images by URL);
- ``json``: a tree of objects and arrays (collapsible), plus its pretty text for copying;
- ``markdown``: text that looks like markdown, rendered by markdown-it-py with raw HTML
  disabled and links/images limited to http(s) (hostile content stays inert);
- ``text``: anything else, shown with its line breaks.

A string holding JSON (``"{\\"session_id\\": ...}"``) is parsed and classified as what it
holds (``from_string`` says so).
"""

from __future__ import annotations

import re
from typing import Any

import orjson
from markdown_it import MarkdownIt
from markupsafe import Markup, escape

from heron.server.web.render import environment

# Beyond this many nodes a JSON value is shown as pretty text only (a tree would be slow).
MAX_TREE_NODES = 2000
# A system message longer than this (characters or lines) is folded to a few lines.
FOLD_CHARS = 600
FOLD_LINES = 8

_ROLES = frozenset({"system", "user", "assistant", "tool", "developer", "function", "model"})
_MARKDOWN = re.compile(
    r"(^#{1,6} \S)|(^\s*[-*+] \S.*\n\s*[-*+] \S)|(^```)|(\*\*\S[^*\n]*\*\*)|(\[[^\]\n]+\]\(https?://)"
    r"|(^\s*\d+\. \S.*\n\s*\d+\. \S)|(^> \S)",
    re.MULTILINE,
)


def pretty(value: Any) -> str:
    """Text as it is; anything else as indented JSON (escaped by the template, never raw)."""
    if isinstance(value, str):
        return value
    return orjson.dumps(value, option=orjson.OPT_INDENT_2, default=str).decode()


def safe_url(url: Any) -> str | None:
    """An http(s) URL, else None (no data:, javascript: or relative URLs)."""
    if isinstance(url, str) and re.match(r"https?://[^\s\"'<>]+$", url.strip(), re.IGNORECASE):
        return url.strip()
    return None


def image_url(url: Any) -> str | None:
    """An https URL an ``<img>`` may load (the CSP's img-src allows https: and nothing else
    remote), else None."""
    found = safe_url(url)
    return found if found and found[:8].lower() == "https://" else None


def _markdown_engine() -> MarkdownIt:
    md = MarkdownIt("commonmark", {"html": False, "linkify": False})
    md.validateLink = lambda url: safe_url(url) is not None  # type: ignore[method-assign]
    default_image = md.renderer.rules["image"]

    def image(_self: Any, tokens: Any, idx: int, options: Any, env: Any) -> str:
        token = tokens[idx]
        if image_url(token.attrGet("src")) is None:  # http: images stay their alt text
            return escape(token.content or "image")
        token.attrSet("loading", "lazy")
        token.attrSet("referrerpolicy", "no-referrer")
        return str(default_image(tokens, idx, options, env))

    md.add_render_rule("image", image)
    return md


_md = _markdown_engine()


def render_markdown(text: str) -> Markup:
    """Markdown as HTML: raw HTML is escaped, only http(s) links and images are kept, links
    get ``rel="noopener noreferrer nofollow"``, https images load lazily without a referrer."""
    html = _md.render(text)
    html = html.replace("<a href=", '<a rel="noopener noreferrer nofollow" href=')
    return Markup(html)


def looks_like_markdown(text: str) -> bool:
    return bool(_MARKDOWN.search(text))


def long_text(text: Any) -> bool:
    """Whether a (system prompt) text is folded to a few lines with a "show all" button."""
    return isinstance(text, str) and (len(text) > FOLD_CHARS or text.count("\n") >= FOLD_LINES)


# ---- chat -----------------------------------------------------------------------------


def _text_or_json(value: Any) -> dict[str, Any]:
    return {"kind": "text", "text": value} if isinstance(value, str) else _json_part(value)


def _json_part(value: Any) -> dict[str, Any]:
    return {"kind": "json", "text": pretty(value)}


def _arguments(value: Any) -> str:
    if isinstance(value, str):
        try:
            return pretty(orjson.loads(value)) if value[:1] in "[{" else value
        except orjson.JSONDecodeError:
            return value
    return pretty(value)


def _tool_call(call: dict[str, Any]) -> dict[str, Any]:
    function = call.get("function") if isinstance(call.get("function"), dict) else call
    return {
        "kind": "tool_call",
        "name": str(function.get("name") or "(tool)"),
        "id": str(call.get("id") or ""),
        "text": _arguments(function.get("arguments", function.get("args"))),
    }


def _image(item: dict[str, Any]) -> dict[str, Any] | None:
    src = item.get("image_url", item.get("url", item.get("source")))
    if isinstance(src, dict):
        src = src.get("url")
    url = image_url(src)
    if url is None:
        return None
    return {"kind": "image", "url": url}


def _content_part(item: Any) -> dict[str, Any]:
    """One part of a message: OpenAI/OpenInference ``{type, text}``, GenAI ``{type, content}``."""
    if isinstance(item, str):
        return {"kind": "text", "text": item}
    if not isinstance(item, dict):
        return _json_part(item)
    kind = item.get("type")
    if kind in (None, "text", "input_text", "output_text", "reasoning", "thinking"):
        text = item.get("text", item.get("content"))
        if isinstance(text, str):
            return {
                "kind": "reasoning" if kind in ("reasoning", "thinking") else "text",
                "text": text,
            }
    if kind in ("image_url", "image", "input_image"):
        image = _image(item)
        if image is not None:
            return image
    if kind in ("tool_call", "function_call", "tool_use"):
        return _tool_call({**item, "arguments": item.get("arguments", item.get("input"))})
    if kind in ("tool_call_response", "tool_result", "function_call_output"):
        result = item.get("response", item.get("content", item.get("output")))
        part = _text_or_json(result)
        return {**part, "kind": "tool_result", "id": str(item.get("id") or "")}
    return _json_part(item)


def _message(m: dict[str, Any]) -> dict[str, Any]:
    role = str(m.get("role") or "")
    parts: list[dict[str, Any]] = []
    for key in ("content", "parts", "contents"):
        value = m.get(key)
        if value is None:
            continue
        if isinstance(value, list):
            parts.extend(_content_part(v) for v in value)
        else:
            parts.append(_content_part(value) if isinstance(value, dict) else _text_or_json(value))
    calls = m.get("tool_calls")
    if isinstance(calls, list):
        parts.extend(_tool_call(c) if isinstance(c, dict) else _json_part(c) for c in calls)
    return {
        "role": role,
        "role_class": role.lower() if role.lower() in _ROLES else "other",
        "name": str(m.get("name") or ""),
        "tool_call_id": str(m.get("tool_call_id") or ""),
        "parts": parts,
    }


def chat(value: Any) -> list[dict[str, Any]] | None:
    """Messages of an input or output, or None when it is not a list of chat messages."""
    if isinstance(value, dict):
        if isinstance(value.get("messages"), list):
            value = value["messages"]
        elif isinstance(value.get("role"), str):
            value = [value]
    if not isinstance(value, list) or not value:
        return None
    if not all(isinstance(m, dict) and isinstance(m.get("role"), str) for m in value):
        return None
    return [_message(m) for m in value]


# ---- JSON tree ------------------------------------------------------------------------


def _tree(value: Any, budget: list[int]) -> dict[str, Any]:
    budget[0] -= 1
    if isinstance(value, dict):
        items = [(str(k), _tree(v, budget)) for k, v in value.items()]
        return {"type": "object", "entries": items, "count": len(items)}
    if isinstance(value, list):
        items = [(str(i), _tree(v, budget)) for i, v in enumerate(value)]
        return {"type": "array", "entries": items, "count": len(items)}
    if isinstance(value, str):
        return {"type": "string", "text": value, "count": 0}
    return {"type": "scalar", "text": orjson.dumps(value, default=str).decode(), "count": 0}


def _parsed(text: str) -> Any:
    """The JSON a string holds (object or array, also inside a JSON string literal such as
    ``"{\\"session_id\\": 1}"``), else the string itself."""
    s = text.strip()
    for _ in range(2):
        opens = s[:1]
        if not ((opens in "{[" and s[-1:] in "}]") or (opens == '"' and s[-1:] == '"')) or not s:
            return text
        try:
            value = orjson.loads(s)
        except orjson.JSONDecodeError:
            return text
        if not isinstance(value, str):
            return value
        s = value.strip()
    return text


def classify(value: Any) -> dict[str, Any] | None:
    """The view of one value (see the module docstring); None for nothing to show."""
    if value is None or value == "" or value == {} or value == []:
        return None
    from_string = False
    if isinstance(value, str):
        parsed = _parsed(value)
        if parsed is not value:
            value, from_string = parsed, True
    if isinstance(value, str):
        if looks_like_markdown(value):
            html = render_markdown(value)
            return {"kind": "markdown", "html": html, "text": value, "from_string": False}
        return {"kind": "text", "text": value, "from_string": False}
    messages = chat(value)
    text = pretty(value)
    if messages is not None:
        return {"kind": "chat", "chat": messages, "text": text, "from_string": from_string}
    budget = [MAX_TREE_NODES]
    tree = _tree(value, budget)
    return {
        "kind": "json",
        "tree": tree if budget[0] >= 0 else None,
        "text": text,
        "from_string": from_string,
    }


environment.tests["long_text"] = long_text  # templates: ``part.text is long_text``
