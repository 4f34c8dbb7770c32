"""Annotation queues in Chromium: create a queue with the form, fill it from the filtered
traces list (the count shown first, then added), and see its progress."""

from __future__ import annotations

from collections.abc import Callable

import httpx
from playwright.sync_api import Page, expect

from tests.support import otlp
from tests.support.server import ServerProject
from tests.ui.test_look import log_in

PB = {"Content-Type": "application/x-protobuf"}


def test_create_a_queue_and_fill_it_from_the_traces_list(
    page: Page, live_server: ServerProject, snapshot: Callable[[str], None]
) -> None:
    url = live_server.url
    spans = [otlp.span(otlp.new_trace_id(), otlp.new_span_id(), n) for n in
             ("refund-chat", "refund-chat", "refund-chat", "search")]  # fmt: skip
    with httpx.Client(base_url=url, headers=live_server.auth, timeout=30) as http:
        r = http.post("/v1/traces", content=otlp.request(spans).SerializeToString(), headers=PB)
        assert r.status_code == 200, r.text
        r = http.post("/api/public/score-configs", json={"name": "correct", "dataType": "BOOLEAN"})
        assert r.status_code == 200, r.text
    log_in(page, live_server)

    page.goto(url + "/annotation-queues")
    page.get_by_label("Name").fill("refund review")
    page.get_by_label("correct").check()
    page.get_by_role("button", name="Create queue").click()
    expect(page.get_by_role("heading", name="refund review")).to_be_visible()
    expect(page.locator("[data-progress]")).to_have_text("0 of 0 completed")

    page.goto(url + "/traces?name=refund-chat")
    page.get_by_role("link", name="Add these traces to a queue…").click()
    expect(page.locator("[data-fill-count]")).to_contain_text("3 traces match")
    snapshot("counted")
    page.get_by_role("button", name="Add 3 traces to “refund review”").click()
    expect(page.get_by_role("status")).to_have_text("3 items added.")
    expect(page.locator("[data-progress]")).to_have_text("0 of 3 completed")
    expect(page.locator("table.queue-items tbody tr")).to_have_count(3)
