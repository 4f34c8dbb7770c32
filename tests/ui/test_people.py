"""Sessions and users in a real browser: from the nav to a session's conversation, then to
its user's page; hostile ids and content are shown as text and never run."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import httpx
from playwright.sync_api import Dialog, Page, expect

from tests.support.otlp import T0_NS, new_span_id, new_trace_id, request, span
from tests.support.server import ServerProject
from tests.ui.test_traces import log_in

HOSTILE_USER = "<img src=x onerror=alert(1)>"
HOSTILE_SESSION = "<script>alert(1)</script>"
HOSTILE_TEXT = "<script>alert(1)</script> <img src=x onerror=alert(1)> javascript:alert(1)"


def send(server: ServerProject, turns: list[dict[str, Any]]) -> None:
    spans = [
        span(
            new_trace_id(),
            new_span_id(),
            "chat",
            start_ns=T0_NS + i * 10_000_000_000,
            duration_ms=900,
            attributes={
                "user.id": t["user"],
                "session.id": t["session"],
                "input.value": t["input"],
                "output.value": t["output"],
            },
            error=t.get("error"),
        )
        for i, t in enumerate(turns)
    ]
    r = httpx.post(
        server.url + "/v1/traces",
        content=request(spans).SerializeToString(),
        headers={**server.auth, "Content-Type": "application/x-protobuf"},
        timeout=10,
    )
    assert r.status_code == 200, r.text


def test_read_a_session_and_open_its_user(
    page: Page, live_server: ServerProject, snapshot: Callable[[str], None]
) -> None:
    genai_out = [{"role": "assistant", "parts": [{"type": "text", "content": "Click Reset."}]}]
    send(
        live_server,
        [
            {"user": "alice", "session": "chat-1", "input": "Where is the reset button?",
             "output": json.dumps(genai_out)},
            {"user": "alice", "session": "chat-1", "input": "It fails with an error.",
             "output": "Sorry, let me check.", "error": "upstream timeout"},
        ],
    )  # fmt: skip
    url = live_server.url
    log_in(page, live_server)

    page.get_by_role("navigation").get_by_role("link", name="Sessions").click()
    expect(page).to_have_url(url + "/sessions")
    expect(page.get_by_role("heading", level=1)).to_have_text("Sessions")
    row = page.get_by_role("row").filter(has_text="chat-1")
    expect(row.get_by_role("cell").nth(3)).to_have_text("2")  # turns
    snapshot("sessions")

    row.get_by_role("link", name="chat-1").click()
    expect(page).to_have_url(url + "/sessions/chat-1")
    turns = page.locator("li.turn")
    expect(turns).to_have_count(2)
    expect(turns.nth(0).locator(".bubble.user")).to_contain_text("Where is the reset button?")
    expect(turns.nth(0).locator(".bubble.assistant")).to_contain_text("Click Reset.")
    expect(turns.nth(1).locator(".bubble.user")).to_contain_text("It fails with an error.")
    expect(turns.nth(1).locator(".badge-error")).to_have_text("1 error")
    expect(turns.nth(1)).to_have_class("turn has-errors")
    href = turns.nth(0).get_by_role("link", name="View trace").get_attribute("href")
    assert href and href.startswith("/traces/")
    snapshot("conversation")

    page.locator(".people-summary").get_by_role("link", name="alice").click()
    expect(page).to_have_url(url + "/users/alice")
    expect(page.get_by_role("heading", level=1)).to_have_text("User alice")
    expect(page.get_by_role("link", name="chat-1")).to_be_visible()
    expect(page.get_by_role("link", name="All traces of this user")).to_have_attribute(
        "href", "/traces?user_id=alice"
    )
    snapshot("user")


def test_hostile_ids_and_content_are_shown_as_text(
    page: Page, live_server: ServerProject, snapshot: Callable[[str], None]
) -> None:
    dialogs: list[str] = []

    def record(dialog: Dialog) -> None:
        dialogs.append(dialog.message)
        dialog.dismiss()

    page.on("dialog", record)
    send(
        live_server,
        [{"user": HOSTILE_USER, "session": HOSTILE_SESSION, "input": HOSTILE_TEXT,
          "output": json.dumps([{"role": "assistant", "content": HOSTILE_TEXT}])}],
    )  # fmt: skip
    url = live_server.url
    log_in(page, live_server)

    page.goto(url + "/sessions")
    page.get_by_role("link", name=HOSTILE_SESSION).click()
    expect(page.get_by_role("heading", level=1)).to_have_text(f"Session {HOSTILE_SESSION}")
    expect(page.locator(".bubble.user .text")).to_have_text(HOSTILE_TEXT)
    expect(page.locator(".bubble.assistant .text")).to_have_text(HOSTILE_TEXT)
    assert page.locator("main img").count() == 0
    snapshot("session")

    page.locator(".people-summary").get_by_role("link", name=HOSTILE_USER).click()
    expect(page.get_by_role("heading", level=1)).to_have_text(f"User {HOSTILE_USER}")
    expect(page.get_by_role("link", name=HOSTILE_SESSION)).to_be_visible()
    page.goto(url + "/users")
    expect(page.get_by_role("link", name=HOSTILE_USER)).to_be_visible()
    snapshot("users")
    assert dialogs == []
