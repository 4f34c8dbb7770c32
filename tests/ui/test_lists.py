"""The list pages at 1400x900 in a real browser: no horizontal overflow, the first rows above
the fold, the total count, sorting and time ranges of sessions and users, the observations
page's filters, saved views and columns."""

from __future__ import annotations

import re
from collections.abc import Callable

from playwright.sync_api import Page, expect

from tests.support.otlp import genai_trace
from tests.support.server import ServerProject
from tests.ui.test_traces import ingest, log_in, unfold

WIDE = {"width": 1400, "height": 900}
LONG = "x" * 300  # one unbroken word: the hardest case for a table's width


def _no_overflow(page: Page) -> None:
    width, client = page.evaluate(
        "[document.scrollingElement.scrollWidth, document.scrollingElement.clientWidth]"
    )
    assert width <= client, f"horizontal overflow: {width} > {client}"


def _long_traces(server: ServerProject, n: int = 12) -> None:
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
    page: Page, live_server: ServerProject, snapshot: Callable[[str], None]
) -> None:
    _long_traces(live_server)
    page.set_viewport_size(WIDE)
    log_in(page, live_server)
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


def test_observations_page_filters_saves_a_view_and_picks_columns(
    page: Page, live_server: ServerProject, snapshot: Callable[[str], None]
) -> None:
    _, a = genai_trace(user="ann", model="gpt-4o-mini", n_children=2)
    _, b = genai_trace(user="ben", model="claude-3-haiku", n_children=1)
    ingest(live_server, [*a, *b])
    page.set_viewport_size(WIDE)
    log_in(page, live_server)
    page.get_by_role("navigation").get_by_role("link", name="Observations").click()
    rows = page.locator("table.observations tbody tr")
    expect(rows.first).to_be_visible()
    _no_overflow(page)

    page.locator("summary", has_text="Filters").click()
    page.get_by_label("Field 1").fill("model")
    page.get_by_label("Operator 1").select_option("=")
    page.get_by_label("Value 1").fill("claude-3-haiku")
    page.locator("summary", has_text="Columns").click()
    page.get_by_role("checkbox", name="trace", exact=True).uncheck()
    page.get_by_role("button", name="Apply").click()
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text("claude-3-haiku")
    expect(page.locator("th.col-trace")).to_have_count(0)
    assert "/observations?" in page.url and "cols=" in page.url
    snapshot("filtered")

    page.locator("summary", has_text="Saved views").click()
    page.get_by_label("View name").fill("haiku calls")
    page.get_by_role("button", name="Save view").click()
    page.get_by_role("link", name="Clear").click()
    expect(rows.first).to_be_visible()
    assert rows.count() > 1
    unfold(page)
    page.get_by_role("link", name="haiku calls").click()
    expect(rows).to_have_count(1)
    expect(page.locator("th.col-trace")).to_have_count(0)
    page.goto(live_server.url + "/traces")
    unfold(page)
    expect(page.get_by_role("link", name="haiku calls")).to_have_count(0)  # not a trace view


def test_sessions_and_users_sort_by_header_and_narrow_by_time(
    page: Page, live_server: ServerProject, snapshot: Callable[[str], None]
) -> None:
    spans = []
    for user, n in (("few-calls", 1), ("many-calls", 3)):
        for _ in range(n):
            spans += genai_trace(user=user, session=f"s-{user}", n_children=1)[1]
    ingest(live_server, spans)
    page.set_viewport_size(WIDE)
    log_in(page, live_server)
    page.goto(live_server.url + "/users")
    body = page.locator("table.people-table tbody tr")
    expect(body.first).to_be_visible()
    _no_overflow(page)
    page.get_by_role("link", name="traces", exact=True).click()
    expect(page).to_have_url(re.compile(r"sort=traces\.desc"))
    expect(body.first).to_contain_text("many-calls")
    page.get_by_role("link", name=re.compile(r"^traces ")).click()  # again: ascending
    expect(page).to_have_url(re.compile(r"sort=traces\.asc"))
    first_user = body.first.inner_text()
    assert "many-calls" not in first_user
    snapshot("users-sorted")

    # the traces are from 2025: none that recent
    page.get_by_label("Time", exact=True).select_option("1h")
    page.get_by_role("button", name="Search").click()
    expect(page).to_have_url(re.compile(r"range=1h"))
    expect(page).to_have_url(re.compile(r"sort=traces\.asc"))  # the sort is kept
    expect(body).to_have_count(0)

    page.goto(live_server.url + "/sessions?sort=cost.desc")
    expect(page.locator("th[aria-sort=descending]")).to_contain_text("cost")
    _no_overflow(page)
