"""The trace page in a real browser: the tree beside the selected observation's panel,
selection in the URL (clicks, arrow keys, reload, back), and every kind of payload the one
renderer shows: chat (tool call, tool result, image), collapsible JSON, JSON held in a
string, sanitised markdown, plain text, a folded system prompt, exception events."""

from __future__ import annotations

import re
from collections.abc import Callable

import orjson
from playwright.sync_api import Dialog, Page, expect

from tests.support.otlp import T0_NS, attrs, new_span_id, new_trace_id, span
from tests.support.server import ServerProject
from tests.ui.test_traces import ingest, log_in

SYSTEM = "\n".join(f"Rule {i}: answer politely and briefly." for i in range(1, 31))
IMAGE = "https://127.0.0.1:9/cat.png"  # never answers; only the <img> attributes matter
MARKDOWN = (
    "# Summary\n\n- **bold** point\n- second point\n\n"
    "<script>alert(1)</script> <img src=x onerror=alert(1)> [click](javascript:alert(1))"
)


def rich_trace() -> tuple[bytes, dict[str, str], list]:
    tid = new_trace_id()
    root, gen, md, err = (new_span_id() for _ in range(4))
    messages = [
        {"role": "system", "content": SYSTEM},
        {
            "role": "user",
            "content": [
                {"type": "text", "text": "What is on this picture?"},
                {"type": "image_url", "image_url": {"url": IMAGE}},
            ],
        },
        {
            "role": "assistant",
            "tool_calls": [
                {"id": "call-1", "function": {"name": "describe", "arguments": '{"q": 1}'}}
            ],
        },
        {"role": "tool", "tool_call_id": "call-1", "content": "a cat"},
    ]
    spans = [
        span(
            tid,
            root,
            "rich",
            duration_ms=400,
            attributes={
                "input.value": "line one\nline two",
                # JSON held in a JSON string, as some SDKs send it: shown parsed
                "output.value": orjson.dumps(
                    orjson.dumps({"session_id": "s-1", "nested": {"k": [1, 2]}}).decode()
                ).decode(),
            },
        ),
        span(
            tid,
            gen,
            "vision",
            parent=root,
            start_ns=T0_NS + 10_000_000,
            attributes={
                "openinference.span.kind": "LLM",
                "llm.model_name": "gpt-4o",
                "input.value": orjson.dumps({"messages": messages}).decode(),
                "input.mime_type": "application/json",
            },
        ),
        span(
            tid,
            md,
            "write-up",
            parent=root,
            start_ns=T0_NS + 120_000_000,
            attributes={"output.value": MARKDOWN},
        ),
        span(tid, err, "flaky-tool", parent=root, start_ns=T0_NS + 200_000_000),
    ]
    event = spans[3].events.add()
    event.name = "exception"
    event.time_unix_nano = T0_NS + 250_000_000
    event.attributes.extend(
        attrs(
            {
                "exception.type": "ValueError",
                "exception.message": "bad <b>input</b>",
                "exception.stacktrace": 'Traceback (most recent call last):\n  File "x.py"',
            }
        )
    )
    ids = {"root": root.hex(), "gen": gen.hex(), "md": md.hex(), "err": err.hex()}
    return tid, ids, spans


def test_selection_lives_in_the_url_and_moves_with_clicks_and_keys(
    page: Page, live_server: ServerProject, snapshot: Callable[[str], None]
) -> None:
    tid, ids, spans = rich_trace()
    ingest(live_server, spans)
    dialogs: list[Dialog] = []
    page.on("dialog", lambda d: (dialogs.append(d), d.dismiss()))
    log_in(page, live_server)
    base = live_server.url + f"/traces/{tid.hex()}"
    page.goto(base)
    rows = page.locator(".wf-row")
    expect(rows).to_have_count(5)
    panel = page.locator("#trace-panel")

    # the trace itself: its input (plain text, line breaks kept) and output (JSON string parsed)
    expect(panel.locator(".panel-title")).to_contain_text("Trace rich")
    text = panel.locator(".payload-text .plain-text")
    expect(text).to_have_text("line one\nline two")
    json_view = panel.locator(".payload-json").nth(0)
    expect(json_view).to_contain_text("parsed from a JSON string")
    expect(json_view.locator(".jv-key", has_text="session_id")).to_be_visible()
    assert '\\"session_id\\"' not in panel.inner_text()
    nested = json_view.locator("details.jv").nth(1)  # "nested": { ... } collapses
    expect(nested).to_have_attribute("open", "")
    nested.locator("> summary").click()
    expect(nested).not_to_have_attribute("open", "")

    # a click selects without reloading: the URL says which
    page.evaluate("window.__same_document = true")
    rows.nth(2).locator("a").click()  # the trace, its root span, then "vision"
    expect(page).to_have_url(re.compile(f"observation={ids['gen']}"))
    expect(panel.locator(".panel-title")).to_contain_text("vision")
    assert page.evaluate("window.__same_document") is True
    expect(rows.nth(2)).to_have_class(re.compile(r"\bis-selected\b"))
    snapshot("chat")

    # chat: system prompt folded with "show all", image by URL, tool call and result
    system = panel.locator(".msg.role-system .msg-text")
    folded = system.bounding_box()
    assert folded is not None and folded["height"] < 120
    panel.get_by_role("button", name="show all").click()
    unfolded = system.bounding_box()
    assert unfolded is not None and unfolded["height"] > 3 * folded["height"]
    image = panel.locator(".msg.role-user img")
    expect(image).to_have_attribute("src", IMAGE)
    expect(image).to_have_attribute("referrerpolicy", "no-referrer")
    expect(image).to_have_attribute("loading", "lazy")
    expect(panel.locator(".tool-call code")).to_have_text("describe")
    expect(panel.locator(".msg.role-tool")).to_contain_text("a cat")
    expect(panel.locator(".msg.role-tool")).to_contain_text("call-1")

    # the Copy button sits beside the heading, never over the payload's text
    for i in range(panel.locator(".payload").count()):
        box = panel.locator(".payload").nth(i)
        button = box.locator("[data-copy]").bounding_box()
        body = box.locator(".payload-body").bounding_box()
        assert button is not None and body is not None
        assert button["y"] + button["height"] <= body["y"] + 0.5

    # arrow keys move the selection; reload keeps it; back goes to the previous one
    page.keyboard.press("ArrowDown")
    expect(page).to_have_url(re.compile(f"observation={ids['md']}"))
    markdown = panel.locator(".markdown")
    expect(markdown.locator("h1")).to_have_text("Summary")
    expect(markdown.locator("strong")).to_have_text("bold")
    expect(markdown).to_contain_text("<script>alert(1)</script>")
    assert markdown.locator("script, img, a[href^='javascript']").count() == 0
    page.keyboard.press("ArrowDown")
    expect(page).to_have_url(re.compile(f"observation={ids['err']}"))
    page.reload()
    expect(page.locator(".wf-row.is-selected")).to_have_attribute("data-id", ids["err"])
    expect(panel.locator(".panel-title")).to_contain_text("flaky-tool")

    # the exception event: type, message, stack trace, and the status message it set
    event = panel.locator(".exception-event")
    expect(event.locator(".exception-type")).to_have_text("ValueError")
    expect(event.locator(".exception-message")).to_have_text("bad <b>input</b>")
    expect(event.locator(".stacktrace pre")).to_contain_text("Traceback (most recent call last)")
    expect(panel.locator(".status-message")).to_contain_text("ValueError: bad <b>input</b>")
    snapshot("exception")

    page.keyboard.press("ArrowUp")
    expect(page).to_have_url(re.compile(f"observation={ids['md']}"))
    page.go_back()
    expect(page).to_have_url(re.compile(f"observation={ids['err']}"))
    expect(panel.locator(".panel-title")).to_contain_text("flaky-tool")
    page.wait_for_timeout(200)
    assert dialogs == []
