"""Times in the viewer's time zone: the browser's zone by default (emulated with Playwright's
``timezone_id``), switchable in the header and remembered, always named on the page; lists
say "3 min ago" with the absolute time on hover. URLs stay UTC."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest
from playwright.sync_api import Browser, Page, expect

from tests.support.otlp import new_span_id, new_trace_id, span
from tests.support.server import CONSISTENT, ServerProject
from tests.ui.test_traces import ingest, log_in

ZONE = "Asia/Tokyo"  # UTC+9 all year: the expected text does not depend on the date


@pytest.fixture
def tokyo_page(browser: Browser) -> Iterator[Page]:
    context = browser.new_context(
        viewport={"width": 1200, "height": 800}, extra_http_headers=CONSISTENT, timezone_id=ZONE
    )
    context.set_default_timeout(10_000)
    yield context.new_page()
    context.close()


def _recent_trace(server: ServerProject, minutes_ago: float) -> datetime:
    start_ns = time.time_ns() - int(minutes_ago * 60e9)
    ingest(server, [span(new_trace_id(), new_span_id(), "tz-check", start_ns=start_ns)])
    return datetime.fromtimestamp(start_ns / 1e9, UTC)


def test_times_follow_the_browser_zone_and_the_switch(
    tokyo_page: Page, live_server: ServerProject
) -> None:
    page = tokyo_page
    started = _recent_trace(live_server, 3)
    log_in(page, live_server)
    page.goto(live_server.url + "/traces")

    # the list: relative time, absolute time in the browser's zone on hover, zone named
    cell = page.locator("table.traces tbody tr").first.locator("time")
    expect(cell).to_have_text("3 min ago")
    local = started.astimezone(ZoneInfo(ZONE)).strftime("%Y-%m-%d %H:%M:%S")
    title = cell.get_attribute("title") or ""
    assert local in title and ZONE in title, title
    select = page.get_by_label("Time zone")
    expect(select.locator("option:checked")).to_have_text(f"Browser ({ZONE})")

    # the trace page: the absolute time in Tokyo, then in UTC after the switch
    page.locator("table.traces tbody tr").first.locator("a").first.click()
    stamp = page.locator("dd time").first
    expect(stamp).to_contain_text(local)
    expect(stamp).to_contain_text("GMT+9")
    page.get_by_label("Time zone").select_option("UTC")
    utc = started.strftime("%Y-%m-%d %H:%M:%S")
    expect(stamp).to_contain_text(utc)
    expect(stamp).to_contain_text("UTC")
    assert "tz" not in page.url  # the choice lives in the browser, URLs stay UTC

    # remembered on the next page
    page.goto(live_server.url + "/traces")
    expect(page.get_by_label("Time zone")).to_have_value("UTC")
    hover = page.locator("table.traces tbody tr").first.locator("time").get_attribute("title")
    assert hover and utc in hover and "UTC" in hover


def test_without_script_times_are_utc_and_named(
    browser: Browser, live_server: ServerProject
) -> None:
    context = browser.new_context(java_script_enabled=False, timezone_id=ZONE,
                                  extra_http_headers=CONSISTENT)  # fmt: skip
    page = context.new_page()
    started = _recent_trace(live_server, 10)
    log_in(page, live_server)
    page.goto(live_server.url + "/traces")
    cell = page.locator("table.traces tbody tr").first.locator("time")
    expect(cell).to_have_text(started.strftime("%Y-%m-%d %H:%M:%S") + " UTC")
    expect(page.get_by_label("Time zone")).to_have_value("UTC")
    context.close()
