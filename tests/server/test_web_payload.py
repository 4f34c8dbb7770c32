"""The payload classifier of the trace page: chat, JSON, JSON in a string, markdown, text."""

from __future__ import annotations

import orjson

from heron.server.web.payload import classify, image_url, long_text, looks_like_markdown


def test_nothing_to_show() -> None:
    assert classify(None) is None and classify("") is None and classify({}) is None


def test_plain_text_keeps_its_line_breaks() -> None:
    view = classify("first line\nsecond line")
    assert view is not None and view["kind"] == "text" and view["text"] == "first line\nsecond line"


def test_json_string_is_parsed_for_display() -> None:
    view = classify('{"session_id": "s-1", "note": "a\\nb"}')
    assert view is not None and view["kind"] == "json" and view["from_string"]
    entries = dict(view["tree"]["entries"])
    assert entries["session_id"] == {"type": "string", "text": "s-1", "count": 0}
    assert entries["note"]["text"] == "a\nb"  # the escaped \n is a real line break now
    assert classify("{not json")["kind"] == "text"  # type: ignore[index]
    # JSON inside a JSON string literal ("{\"session_id\": ...}") is parsed too
    quoted = classify(orjson.dumps(orjson.dumps({"session_id": "s"}).decode()).decode())
    assert quoted is not None and quoted["kind"] == "json" and quoted["from_string"]
    assert classify('"just a quoted sentence"')["kind"] == "text"  # type: ignore[index]


def test_json_is_a_tree_and_too_big_a_value_is_text_only() -> None:
    view = classify({"a": [1, 2, {"b": None}], "c": True})
    assert view is not None and view["kind"] == "json" and not view["from_string"]
    assert view["tree"]["count"] == 2 and dict(view["tree"]["entries"])["a"]["count"] == 3
    assert orjson.loads(view["text"]) == {"a": [1, 2, {"b": None}], "c": True}
    big = classify(list(range(5000)))
    assert big is not None and big["tree"] is None and big["text"].startswith("[")


def test_chat_with_tool_calls_results_and_images() -> None:
    value = [
        {"role": "system", "content": "be brief"},
        {
            "role": "user",
            "content": [
                {"type": "text", "text": "what is this?"},
                {"type": "image_url", "image_url": {"url": "https://example.com/cat.png"}},
                {"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA"}},
                {"type": "image_url", "image_url": {"url": "javascript:alert(1)"}},
            ],
        },
        {
            "role": "assistant",
            "tool_calls": [{"id": "c1", "function": {"name": "f", "arguments": "{}"}}],
        },
        {"role": "tool", "tool_call_id": "c1", "content": "42"},
    ]
    view = classify(orjson.dumps(value).decode())  # as a JSON string, the usual OTel shape
    assert view is not None and view["kind"] == "chat" and view["from_string"]
    user = view["chat"][1]["parts"]
    assert user[1] == {"kind": "image", "url": "https://example.com/cat.png"}
    assert [p["kind"] for p in user[2:]] == ["json", "json"]  # never an <img> for data:/js:
    assert view["chat"][2]["parts"][0]["kind"] == "tool_call"
    assert view["chat"][3]["tool_call_id"] == "c1"


def test_markdown_is_rendered_without_raw_html_or_unsafe_links() -> None:
    text = "# Title\n\n- one\n- two\n\n<script>alert(1)</script> [x](javascript:alert(1))"
    text += " ![i](http://a.b/i.png) ![j](https://a.b/j.png)"
    view = classify(text)
    assert view is not None and view["kind"] == "markdown"
    html = str(view["html"])
    assert "<h1>Title</h1>" in html and "<li>one</li>" in html
    assert "<script>" not in html and "&lt;script&gt;" in html
    assert "javascript:" not in html.replace("[x](javascript:alert(1))", "")
    assert 'src="http://' not in html and 'src="https://a.b/j.png"' in html
    assert 'referrerpolicy="no-referrer"' in html and 'loading="lazy"' in html
    assert not looks_like_markdown("just a sentence, with *one* star")


def test_helpers() -> None:
    assert image_url("https://a.b/c.png") and not image_url("http://a.b/c.png")
    assert not image_url("data:image/png;base64,AA") and not image_url(" javascript:x")
    assert long_text("x" * 601) and long_text("a\n" * 8) and not long_text("short")
