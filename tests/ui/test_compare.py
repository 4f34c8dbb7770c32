"""The comparison page in a real browser: from the nav, fill the form, read the verdicts,
follow a cohort to its traces; a hostile value is shown as text and never runs."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from playwright.sync_api import Dialog, Page, expect

from heron.demo import DemoConfig, send
from tests.support.server import ServerProject
from tests.ui.test_people import log_in

END_US = 1_760_000_000_000_000  # 2025-10-09T08:53:20Z


def test_compare_prompt_versions_then_open_a_cohort(
    page: Page, live_server: ServerProject, snapshot: Callable[[str], None]
) -> None:
    config = DemoConfig(traces=800, days=1, end_us=END_US, export_interval_s=600,
                        batch_spans=4096, delivery_quirks=False)  # fmt: skip
    send(config, live_server.url, live_server.secret_key)
    dialogs: list[Dialog] = []
    page.on("dialog", lambda d: (dialogs.append(d), d.dismiss()))
    log_in(page, live_server)

    page.get_by_role("link", name="Compare").click()
    expect(page.get_by_role("heading", name="Compare")).to_be_visible()
    page.get_by_label("Column").fill("prompt_version")
    page.get_by_label("Baseline").fill("3")
    page.get_by_label("Candidate").fill("4")
    page.get_by_label("View").select_option("observations")  # LLM calls of the prompt
    page.get_by_label("Filter (JSON)").fill(
        '[{"column": "prompt_name", "operator": "=", "value": "support-system"}]'
    )
    page.get_by_role("button", name="Compare").click()

    # the planted effect: the same tokens in less time (800 traces are too few for latency)
    speed = page.locator('tr[data-metric="avg_tokens_per_second"]')
    expect(speed).to_be_visible()
    expect(speed.locator(".verdict")).to_have_text("better")
    expect(speed.locator(".verdict")).to_have_css("color", "rgb(30, 123, 52)")  # --good
    # the count's verdict agrees with its interval: a change when it excludes 0
    count = page.locator('tr[data-metric="count"]')
    low, high = count.get_attribute("data-ci-low"), count.get_attribute("data-ci-high")
    assert low and high
    changed = float(low) > 0 or float(high) < 0
    expect(count.locator(".verdict")).to_have_text(
        re.compile(r"increased|decreased|inconclusive" if changed else "no change")
    )
    assert page.locator("table.compare-table tbody tr").count() == 13  # observations: no scores
    snapshot("table")

    page.get_by_label("View").select_option("traces")
    page.get_by_role("button", name="Compare").click()
    expect(page.locator('tr[data-metric="error_rate"]')).to_be_visible()
    page.get_by_role("link", name="Open these traces").nth(1).click()
    expect(page).to_have_url(re.compile(r"/traces\?.*prompt_version"))
    expect(page.get_by_text("support-chat").first).to_be_visible()

    hostile = "<img src=x onerror=alert(1)>"
    page.goto(live_server.url + "/compare?field=release&candidate=v1.4.0&baseline=" + hostile)
    expect(page.get_by_text(f"release = {hostile}")).to_be_visible()
    assert dialogs == []


def test_before_after_window_never_runs_past_now(page: Page, live_server: ServerProject) -> None:
    log_in(page, live_server)
    now = datetime.now(UTC)
    at = (now - timedelta(days=2)).strftime("%Y-%m-%dT%H:%M:%SZ")
    page.goto(f"{live_server.url}/compare?at={at}&days=7")
    # the placeholder of "At" is relative to now (a day ago), not a fixed date
    placeholder = page.get_by_label("At (ISO 8601)").get_attribute("placeholder") or ""
    assert placeholder.startswith((now - timedelta(days=1)).strftime("%Y-%m-%d")), placeholder
    after = page.locator(".cohort-candidate .cohort-window time")
    before = page.locator(".cohort-baseline .cohort-window time")
    expect(after).to_have_count(2)
    start, end = (_instant(after.nth(i).get_attribute("datetime")) for i in (0, 1))
    assert end <= datetime.now(UTC) and end - start <= timedelta(days=2, seconds=1)
    b_start, b_end = (_instant(before.nth(i).get_attribute("datetime")) for i in (0, 1))
    assert b_end == start and abs((b_end - b_start) - (end - start)) <= timedelta(seconds=1)
    # a moment in the future: a clear message, no window at all
    later = (now + timedelta(days=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    page.goto(f"{live_server.url}/compare?at={later}&days=7")
    expect(page.get_by_role("alert")).to_contain_text("at: must be in the past")


def _instant(text: str | None) -> datetime:
    assert text
    return datetime.fromisoformat(text.replace("Z", "+00:00"))
