"""The list pages at 1400x900 in a real browser: no horizontal overflow, the first rows above
the fold, the total count, sorting and time ranges of sessions and users, the observations
page's filters, saved views and columns."""

from __future__ import annotations

from collections.abc import Callable

from playwright.sync_api import Page, expect

from tests.support.otlp import genai_trace
from tests.support.server import HeronProcess
from tests.ui.test_traces import ingest, log_in, unfold

WIDE = {"width": 1400, "height": 900}
LONG = "x" * 300  # one unbroken word: the hardest case for a table's width


def _no_overflow(page: Page) -> None:
    width, client = page.evaluate(
        "[document.scrollingElement.scrollWidth, document.scrollingElement.clientWidth]"
    )
    assert width <= client, f"horizontal overflow: {width} > {client}"


def _long_traces(server: HeronProcess, n: int = 12) -> None:
    spans = []
    for i in range(n):
        _, trace = genai_trace(user=f"user-{i % 3}-{LONG[:60]}", session=f"s-{i}-{LONG[:80]}")
        for a in trace[0].attributes:
            if a.key == "input.value":
                a.value.string_value = f"question {i} " + LONG
        trace[0].name = "agent-" + LONG[:120]
        spans += trace
    ingest(server, spans)


def test_trace_list_fits_1400_and_shows_rows_above_the_fold(
    page: Page, live_server: HeronProcess, snapshot: Callable[[str], None]
) -> None:
    _long_traces(live_server)
    page.set_viewport_size(WIDE)
    log_in(page, live_server.url)
    page.goto(live_server.url + "/traces")
    rows = page.locator("table.traces tbody tr")
    expect(rows.first).to_be_visible()
    _no_overflow(page)
    first = rows.first.bounding_box()
    assert first is not None and first["y"] + first["height"] <= WIDE["height"], first
    third = rows.nth(2).bounding_box()
    assert third is not None and third["y"] + third["height"] <= WIDE["height"], third
    expect(page.locator("[data-count]")).to_contain_text(" of ")
    expect(page.locator("th.col-model")).to_be_visible()
    expect(page.locator("th.col-output")).to_be_visible()
    snapshot("traces-1400")
    unfold(page)  # unfolded, the chrome still fits the width
    _no_overflow(page)
