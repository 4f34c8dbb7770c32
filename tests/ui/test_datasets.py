"""Datasets in a real browser: a trace added to a new dataset from the trace page, its
expected output corrected on the way, then the dataset opened and the item seen."""

from __future__ import annotations

from playwright.sync_api import Page, expect

from tests.support.otlp import new_span_id, new_trace_id, span
from tests.support.server import ServerProject
from tests.ui.test_traces import ingest, log_in


def test_add_a_trace_to_a_dataset_then_see_the_item(page: Page, live_server: ServerProject) -> None:
    tid = new_trace_id()
    ingest(live_server, [span(tid, new_span_id(), "support-chat",
                              attributes={"input.value": "How do I get a refund?",
                                          "output.value": "You cannot."})])  # fmt: skip
    url = live_server.url
    log_in(page, live_server)
    page.goto(f"{url}/traces/{tid.hex()}")
    page.get_by_role("link", name="Add to a dataset").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Add to a dataset")
    expect(page.get_by_label("Input")).to_have_value("How do I get a refund?")
    expect(page.get_by_label("Expected output")).to_have_value("You cannot.")
    page.get_by_label("or a new dataset named").fill("ui-golden")
    page.get_by_label("Expected output").fill("Open Settings, then Refunds.")
    page.get_by_role("button", name="Add item").click()
    expect(page.get_by_role("status")).to_have_text("Added an item.")
    expect(page.get_by_role("heading", level=1)).to_contain_text("ui-golden")
    items = page.locator("table.dataset-items")
    expect(items).to_contain_text("How do I get a refund?")
    expect(items).to_contain_text("Open Settings, then Refunds.")
    page.get_by_role("link", name="Datasets").first.click()
    expect(page.locator("table.datasets")).to_contain_text("ui-golden")
