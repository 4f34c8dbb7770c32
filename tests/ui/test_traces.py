"""The trace pages in a real browser: the filter bar, search, the detail with its chat, and
hostile content that must show as text and never run."""

from __future__ import annotations

from collections.abc import Callable

import httpx
from playwright.sync_api import Dialog, Page, expect

from tests.server.test_web_traces import HOSTILE, hostile_trace
from tests.support.otlp import genai_trace, request, span
from tests.support.server import ADMIN_EMAIL, ADMIN_PASSWORD, HeronProcess

PB = {"Content-Type": "application/x-protobuf"}


def ingest(server: HeronProcess, spans: list) -> None:
    r = httpx.post(
        server.url + "/v1/traces",
        content=request(spans).SerializeToString(),
        headers={**PB, **server.auth},
    )
    assert r.status_code == 200, r.text


def log_in(page: Page, url: str) -> None:
    page.goto(url + "/login")
    page.get_by_label("Email").fill(ADMIN_EMAIL)
    page.get_by_label("Password").fill(ADMIN_PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page).to_have_url(url + "/")


def test_filter_search_and_open_a_trace(
    page: Page, live_server: HeronProcess, snapshot: Callable[[str], None]
) -> None:
    alice_id, alice = genai_trace(user="alice", session="s-alice")
    _, bob = genai_trace(user="bob", session="s-bob", n_children=1)
    asked = next(a for a in bob[0].attributes if a.key == "input.value")
    asked.value.string_value = "where is my parcel?"
    ingest(live_server, [*alice, *bob])
    url = live_server.url
    dialogs: list[str] = []
    page.on("dialog", lambda d: dialogs.append(d.message))

    log_in(page, url)
    page.get_by_role("navigation").get_by_role("link", name="Traces").click()
    rows = page.locator("table.traces tbody tr")
    expect(rows).to_have_count(2)
    snapshot("list")

    page.get_by_label("Field 1").fill("user_id")
    page.get_by_label("Operator 1").select_option("=")
    page.get_by_label("Value 1").fill("alice")
    page.get_by_role("button", name="Apply").click()
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text("alice")
    assert "filter=" in page.url and "user_id" in page.url
    snapshot("filtered")

    page.reload()  # the view is all in the URL
    expect(rows).to_have_count(1)
    page.get_by_role("button", name="Remove filter 1").click()
    page.get_by_label("Search").fill("PARCEL")
    page.get_by_role("button", name="Apply").click()
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text("bob")
    assert "search=PARCEL" in page.url and "filter=" not in page.url
    snapshot("searched")

    page.get_by_label("Search").fill("")
    page.get_by_label("Field 1").fill("nonsense")
    page.get_by_role("button", name="Apply").click()
    expect(page.get_by_role("alert")).to_contain_text("unknown column 'nonsense'")

    page.goto(url + "/traces")
    page.locator(f'a[href^="/traces/{alice_id.hex()}"]').first.click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("support-chat")
    expect(page.locator(".wf-row")).to_have_count(3)
    expect(page.locator(".wf-row").nth(1)).to_have_attribute("data-depth", "1")
    generation = page.locator("details.observation").nth(1)
    expect(generation.locator(".msg.role-user .msg-text").first).to_have_text(
        "How do I reset my password?"
    )
    expect(generation.locator(".msg.role-assistant .msg-text").first).to_have_text(
        "Open settings and click reset."
    )
    page.locator(".wf-row a").nth(2).click()  # the tree links open an observation's details
    expect(page.locator("details.observation").nth(2)).to_have_attribute("open", "")
    snapshot("detail")
    assert dialogs == []


def test_hostile_trace_shows_as_text_and_runs_nothing(
    page: Page, live_server: HeronProcess, snapshot: Callable[[str], None]
) -> None:
    tid, spans = hostile_trace()
    spans.append(span(tid, b"\x01" * 8, "plain-child", parent=spans[0].span_id))
    ingest(live_server, spans)
    dialogs: list[Dialog] = []
    page.on("dialog", lambda d: (dialogs.append(d), d.dismiss()))
    script, img, js = HOSTILE

    log_in(page, live_server.url)
    page.goto(live_server.url + "/traces")
    row = page.locator("table.traces tbody tr").first
    expect(row).to_contain_text(script)
    expect(row).to_contain_text(img)
    expect(row).to_contain_text("&lt;b&gt;")
    snapshot("list")

    row.get_by_role("link", name=script).click()
    expect(page.get_by_role("heading", level=1)).to_contain_text(script)
    expect(page.get_by_text(f"{script} {img} {js} &lt;b&gt;").first).to_be_visible()
    expect(page.locator(".msg.role-assistant .msg-text").first).to_have_text(f"{img} &lt;b&gt;")
    expect(page.locator(".tool-call code").first).to_have_text(js)
    assert page.locator("img").count() == 0
    assert page.locator("main script").count() == 0
    user_link = page.locator(".trace-head a", has_text=js)
    assert user_link.get_attribute("href").startswith("/users/javascript%3A")  # type: ignore[union-attr]
    page.wait_for_timeout(300)  # give an injected handler every chance to fire
    snapshot("detail")
    assert dialogs == []
