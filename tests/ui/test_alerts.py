"""Alerts in a real browser: from the issues inbox to a new alert, backtested over the last
7 days of planted traces (the chart drawn with its episodes shaded, the episodes listed),
saved, then deleted after a confirm."""

from __future__ import annotations

import time

from playwright.sync_api import Page, expect

from tests.support.otlp import new_span_id, new_trace_id, span
from tests.support.server import ServerProject
from tests.ui.test_traces import ingest, log_in

DEFINITION = """\
name: ui-slow
query:
  view: traces
  metric: {measure: latency, aggregation: p50}
window: 1m
every: 1m
condition: {operator: '>', warning: 2000, alert: 5000}
"""


def test_backtest_draws_the_chart_then_save_and_delete(
    page: Page, live_server: ServerProject
) -> None:
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.on("dialog", lambda d: d.accept())
    now_min = int(time.time() // 60) * 60
    spans = []
    for i in range(60, 0, -1):  # an hour of traces, one a minute; slow 30 to 20 minutes ago
        start = (now_min - i * 60 + 5) * 1_000_000_000
        slow = 20 < i <= 30
        spans.append(span(new_trace_id(), new_span_id(), "chat", start_ns=start,
                          duration_ms=8000 if slow else 500))  # fmt: skip
    ingest(live_server, spans)
    url = live_server.url
    log_in(page, live_server)
    page.goto(f"{url}/issues")
    page.get_by_role("link", name="the alerts page").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("Alerts")
    page.get_by_role("link", name="New alert").click()
    page.get_by_label("Definition").fill(DEFINITION)
    page.get_by_role("button", name="Backtest").click()
    expect(page.locator("#backtest")).to_contain_text("1 firing episode")
    expect(page.locator("#alert-chart.js-plotly-plot")).to_have_count(1)
    expect(page.locator("tr.episode")).to_have_count(1)
    expect(page.locator("#alert-chart .scatterlayer .trace")).not_to_have_count(0)
    expect(page.get_by_label("Definition")).to_have_value(DEFINITION)
    page.get_by_role("button", name="Create alert").click()
    expect(page.get_by_role("status")).to_contain_text("Saved (created)")
    page.get_by_role("button", name="Delete").click()
    expect(page.get_by_role("heading", level=2)).to_contain_text("No alerts")
    assert not errors, errors
