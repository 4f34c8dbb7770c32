"""Dashboards in a real browser: Plotly charts drawn from data, a click on a bar opening
the traces behind it, a hostile model name shown as text, and a custom dashboard created,
edited, duplicated and deleted through the pages."""

from __future__ import annotations

from collections.abc import Callable
from urllib.parse import urlencode

import httpx
from playwright.sync_api import Browser, Dialog, Locator, Page, expect

from tests.dashboards.data import HOSTILE_MODEL, WINDOW, scores, workload_request
from tests.support.server import CONSISTENT, ServerProject
from tests.ui.conftest import ARTIFACTS
from tests.ui.test_traces import log_in

RANGE = urlencode({"from": WINDOW["fromTimestamp"], "to": WINDOW["toTimestamp"]})


def seed(server: ServerProject) -> None:
    pb = {"Content-Type": "application/x-protobuf", **server.auth}
    r = httpx.post(server.url + "/v1/traces", content=workload_request(hostile=True), headers=pb)
    assert r.status_code == 200, r.text
    r = httpx.post(server.url + "/api/scores", json=scores(), headers=server.auth)
    assert r.status_code == 202, r.text


def widget(page: Page, widget_id: str) -> Locator:
    return page.locator(f'[data-widget-id="{widget_id}"]')


def test_default_dashboard_draws_and_a_bar_opens_its_traces(
    page: Page, live_server: ServerProject, snapshot: Callable[[str], None]
) -> None:
    seed(live_server)
    dialogs: list[Dialog] = []
    page.on("dialog", lambda d: (dialogs.append(d), d.dismiss()))
    log_in(page, live_server)
    page.get_by_role("navigation").get_by_role("link", name="Dashboards", exact=True).click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("Monitoring")
    page.goto(f"{live_server.url}/dashboard?{RANGE}")
    expect(page.locator("[data-drawn]")).to_have_count(16)  # every widget has data
    expect(widget(page, "traces-total").locator(".number-value")).to_have_text("6")
    expect(widget(page, "errors-total").locator(".number-value")).to_have_text("16.7%")
    expect(widget(page, "traces").locator(".js-plotly-plot")).to_have_count(1)
    # one marker: v4/v2 replacing v3/v1 (the first values are where the data starts)
    expect(widget(page, "traces").locator(".shapelayer path")).to_have_count(1)
    expect(widget(page, "traces").locator(".annotation-text").first).to_have_text(
        "support-system v4, v2"
    )
    expect(widget(page, "cost-per-route").locator(".bars path")).to_have_count(2)
    expect(widget(page, "latency-histogram").locator(".bars path").first).to_be_visible()
    expect(page.get_by_role("link", name="compare before and after").first).to_have_attribute(
        "href", "/compare?at=2026-11-22T10%3A00%3A00.000000Z&days=7"
    )
    snapshot("drawn")

    # the hostile model name is a label, shown as text; nothing runs, nothing is bold
    ticks = widget(page, "cost-per-model").locator(".xtick text")
    expect(ticks).to_have_count(3)
    assert HOSTILE_MODEL in ticks.all_text_contents()
    assert widget(page, "cost-per-model").locator("svg b, svg script").count() == 0
    assert dialogs == []

    # a click on the "search" bar of cost per route opens those traces
    bars = widget(page, "cost-per-route").locator(".bars path")
    bars.nth(1).scroll_into_view_if_needed()
    box = bars.nth(1).bounding_box()
    assert box is not None
    x, y = box["x"] + box["width"] / 2, box["y"] + box["height"] - 2
    page.mouse.move(x, y - 1)
    page.mouse.move(x, y, steps=3)  # Plotly finds the hovered bar on mouse moves
    page.wait_for_timeout(200)
    page.mouse.click(x, y)
    page.wait_for_url("**/traces?**")
    assert "filter=" in page.url and "search" in page.url
    rows = page.locator("table.traces tbody tr")
    expect(rows).to_have_count(2)
    expect(rows.first).to_contain_text("search")
    snapshot("traces")


def test_custom_dashboard_create_edit_duplicate_delete(
    page: Page, live_server: ServerProject, snapshot: Callable[[str], None]
) -> None:
    seed(live_server)
    page.on("dialog", lambda d: d.accept())
    log_in(page, live_server)
    page.get_by_role("navigation").get_by_role("link", name="Dashboards").click()
    page.get_by_role("link", name="All dashboards").click()
    expect(page.get_by_role("link", name="Monitoring")).to_be_visible()
    page.get_by_label("Name").fill("Support quality")
    page.get_by_role("button", name="Create dashboard").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("Edit dashboard")

    page.get_by_role("button", name="Add widget").click()
    page.get_by_label("Widget 1 title").fill("Cost by user")
    page.get_by_label("Widget 1 type").select_option("bar")
    page.get_by_label("Widget 1 measure").fill("total_cost")
    page.get_by_label("Widget 1 aggregation").select_option("sum")
    page.get_by_label("Widget 1 dimension").fill("user_id")
    page.get_by_label("Widget 1 granularity").select_option("")
    page.get_by_role("button", name="Add widget").click()
    page.get_by_label("Widget 2 title").fill("Traces")
    page.get_by_label("Widget 2 type").select_option("number")
    page.get_by_label("Widget 2 granularity").select_option("")
    snapshot("form")
    page.get_by_role("button", name="Save").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("Support quality")

    page.goto(page.url + "&" + RANGE)
    expect(widget(page, "w1").locator(".bars path")).to_have_count(4)  # alice, bob, carol, dave
    expect(widget(page, "w2").locator(".number-value")).to_have_text("6")
    snapshot("view")

    # a bad edit is refused with the reason, and the form keeps what was typed
    page.get_by_role("link", name="Edit").click()
    page.get_by_label("Widget 1 type").select_option("pie")
    page.get_by_label("Widget 1 dimension").fill("")
    page.get_by_role("button", name="Save").click()
    expect(page.get_by_role("alert")).to_contain_text("type 'pie' needs exactly one dimension")
    page.get_by_label("Widget 1 dimension").fill("name")
    page.get_by_label("Remove widget 2").check()
    page.get_by_role("button", name="Save").click()
    page.goto(page.url + "&" + RANGE)
    expect(page.locator("[data-drawn]")).to_have_count(1)
    expect(widget(page, "w1").locator(".slice")).to_have_count(2)  # support-chat, search

    page.get_by_role("button", name="Duplicate").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("Copy of Support quality")
    page.get_by_role("button", name="Delete").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("Dashboards")
    expect(page.get_by_role("link", name="Copy of Support quality")).to_have_count(0)
    expect(page.get_by_role("link", name="Support quality")).to_be_visible()
    snapshot("list")


def test_every_widget_type_draws(
    page: Page, live_server: ServerProject, snapshot: Callable[[str], None]
) -> None:
    seed(live_server)
    count = {"view": "traces", "metrics": [{"measure": "count", "aggregation": "count"}]}
    daily = {**count, "timeDimension": {"granularity": "day"}}
    by = lambda *fields: [{"field": f} for f in fields]  # noqa: E731
    widgets = [
        ("line", {**daily, "dimensions": by("name")}),
        ("area", daily),
        ("bar_time", daily),
        ("bar", {**count, "dimensions": by("user_id")}),
        ("pie", {**count, "dimensions": by("name")}),
        ("number", count),
        ("histogram", {"view": "observations", "config": {"bins": 5},
                       "metrics": [{"measure": "latency", "aggregation": "histogram"}]}),
        ("pivot", {**count, "dimensions": by("name", "user_id")}),
    ]  # fmt: skip
    body = {"name": "All types", "widgets": [
        {"id": kind, "title": kind, "type": kind, "query": query} for kind, query in widgets
    ]}  # fmt: skip
    r = httpx.post(live_server.url + "/api/dashboards", json=body, headers=live_server.auth)
    assert r.status_code == 201, r.text
    log_in(page, live_server)
    page.goto(f"{live_server.url}/dashboards/{r.json()['id']}?{RANGE}")
    expect(page.locator("[data-drawn]")).to_have_count(8)
    expect(widget(page, "line").locator(".scatterlayer .trace")).to_have_count(2)  # 2 names
    expect(widget(page, "pie").locator(".slice")).to_have_count(2)
    expect(widget(page, "bar").locator(".bars path")).to_have_count(4)
    expect(widget(page, "histogram").locator(".bars path")).to_have_count(5)
    pivot = widget(page, "pivot").locator("table.pivot")
    expect(pivot.locator("thead th")).to_have_text(["Trace name", "alice", "bob", "carol", "dave"])
    support = pivot.locator("tbody tr", has_text="support-chat")
    expect(support.locator("td")).to_have_text(["1", "1", "1", "1"])
    snapshot("drawn")
    support.locator("td a").first.click()
    page.wait_for_url("**/traces?**")
    expect(page.locator("table.traces tbody tr")).to_have_count(1)
    snapshot("traces")


# In one go in the page (the charts refit once after drawing, replacing their ticks): per
# time chart, the x tick labels that meet its legend.
_OVERLAPS = """async (ids) => {
  await new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(r)));
  const meet = (a, b) => !(a.right <= b.left || b.right <= a.left ||
                           a.bottom <= b.top || b.bottom <= a.top);
  const out = {};
  for (const id of ids) {
    const box = document.querySelector(`[data-widget-id="${id}"]`);
    const legend = box.querySelector(".legend").getBoundingClientRect();
    const ticks = [...box.querySelectorAll(".xtick text")];
    out[id] = [ticks.length, ticks.filter((t) => meet(legend, t.getBoundingClientRect()))
      .map((t) => t.textContent)];
  }
  return out;
}"""


# A CSS token as the browser resolves it for `color` ("rgb(30, 123, 52)").
_TOKEN_COLOUR = """(name) => {
  const p = document.createElement("p");
  p.style.color = `var(${name})`;
  document.body.append(p);
  const colour = getComputedStyle(p).color;
  p.remove();
  return colour;
}"""


def test_charts_name_axes_units_legends_and_the_viewer_zone(
    browser: Browser, live_server: ServerProject
) -> None:
    seed(live_server)
    viewport = {"width": 1200, "height": 800}
    context = browser.new_context(
        viewport=viewport, extra_http_headers=CONSISTENT, timezone_id="Asia/Tokyo"
    )
    page = context.new_page()
    log_in(page, live_server)
    page.goto(f"{live_server.url}/dashboard?{RANGE}")
    expect(page.locator("[data-drawn]")).to_have_count(16)

    latency = widget(page, "latency")
    # human legend names, an axis title with the unit, the time axis names the viewer's zone
    expect(latency.locator(".legendtext")).to_have_text(
        ["Median latency", "p95 latency", "p99 latency"]
    )
    expect(latency.locator(".g-ytitle")).to_have_text("Latency (ms)")
    expect(latency.locator(".g-xtitle")).to_have_text("Time (Asia/Tokyo)")
    expect(latency.locator(".ytick text").last).to_contain_text(" ms")
    expect(widget(page, "tokens").locator(".legendtext")).to_have_text(
        ["Total input tokens", "Total output tokens"]
    )
    expect(widget(page, "tokens").locator(".g-ytitle")).to_have_text("Tokens")
    route = widget(page, "cost-per-route")
    expect(route.locator(".g-ytitle")).to_have_text("Total cost ($)")
    expect(route.locator(".g-xtitle")).to_have_text("Trace name")
    expect(route.locator(".ytick text").last).to_contain_text("$")
    expect(widget(page, "error-rate").locator(".ytick text").last).to_contain_text("%")
    expect(widget(page, "cost-total").locator(".number-value")).to_contain_text("$")

    # time labels never meet the legend, in any time chart
    found = page.evaluate(_OVERLAPS, ["latency", "tokens", "ttft"])
    for wid, (ticks, meeting) in found.items():
        assert ticks > 0 and meeting == [], (wid, meeting)

    # colours come from the CSS tokens: the chart's surface is --surface
    surface = page.evaluate(
        "getComputedStyle(document.documentElement).getPropertyValue('--surface').trim()"
    )
    fill = latency.locator(".main-svg rect.bg").first.get_attribute("style") or ""
    assert surface in ("#fff", "#ffffff") and "255, 255, 255" in fill

    # a number's change is coloured by what it means for that metric
    page.goto(f"{live_server.url}/dashboard?from=2026-11-21T00:00:00Z&to=2026-11-23T00:00:00Z")
    good, bad = page.evaluate(_TOKEN_COLOUR, "--good"), page.evaluate(_TOKEN_COLOUR, "--bad")
    assert good != bad
    cost = widget(page, "cost-total").locator(".number-change")
    expect(cost).to_contain_text("vs previous period")
    up = "\u25b2" in cost.inner_text()
    expect(cost).to_have_attribute(
        "data-polarity", "bad" if up else "good"
    )  # cost: lower is better
    expect(cost).to_have_css("color", bad if up else good)
    count = widget(page, "traces-total").locator(".number-change")
    expect(count).to_have_attribute("data-polarity", "neutral")  # a volume: neither
    latency = widget(page, "latency")

    # switching the zone redraws the charts in it
    page.get_by_label("Time zone").select_option("UTC")
    expect(latency.locator(".g-xtitle")).to_have_text("Time (UTC)")
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "dashboard-units.png"), full_page=True)
    context.close()
