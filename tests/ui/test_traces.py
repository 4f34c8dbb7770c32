"""The trace pages in a real browser: the filter bar, search, the detail with its chat, and
hostile content that must show as text and never run."""

from __future__ import annotations

import re
from collections.abc import Callable

import httpx
from playwright.sync_api import Dialog, Page, expect

from tests.server.test_web_traces import HOSTILE, hostile_trace
from tests.support.otlp import genai_trace, request, span
from tests.support.server import ServerProject

PB = {"Content-Type": "application/x-protobuf"}


def ingest(server: ServerProject, spans: list) -> None:
    r = httpx.post(
        server.url + "/v1/traces",
        content=request(spans).SerializeToString(),
        headers={**PB, **server.auth},
    )
    assert r.status_code == 200, r.text


def log_in(page: Page, project: ServerProject) -> None:
    """Log in through the form as the project's owner: the pages open on the project."""
    log_in_as(page, project.url, project.email, project.password)


def log_in_as(page: Page, url: str, email: str, password: str) -> None:
    page.goto(url + "/login")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Log in").click()
    expect(page).to_have_url(url + "/")


def unfold(page: Page) -> None:
    """Open the list's folded chrome (filters, columns, saved views)."""
    page.locator("details.chrome").first.wait_for()
    page.eval_on_selector_all("details.chrome", "els => els.forEach(e => { e.open = true; })")


def test_filter_search_and_open_a_trace(
    page: Page, live_server: ServerProject, snapshot: Callable[[str], None]
) -> None:
    alice_id, alice = genai_trace(user="alice", session="s-alice")
    _, bob = genai_trace(user="bob", session="s-bob", n_children=1)
    asked = next(a for a in bob[0].attributes if a.key == "input.value")
    asked.value.string_value = "where is my parcel?"
    ingest(live_server, [*alice, *bob])
    url = live_server.url
    dialogs: list[str] = []
    page.on("dialog", lambda d: dialogs.append(d.message))

    log_in(page, live_server)
    page.get_by_role("navigation").get_by_role("link", name="Traces").click()
    rows = page.locator("table.traces tbody tr")
    expect(rows).to_have_count(2)
    snapshot("list")

    page.locator("summary", has_text="Filters").click()
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
    unfold(page)
    page.get_by_role("button", name="Remove filter 1").click()
    page.get_by_label("Search").fill("PARCEL")
    page.get_by_role("button", name="Apply").click()
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text("bob")
    assert "search=PARCEL" in page.url and "filter=" not in page.url
    snapshot("searched")

    page.get_by_label("Search").fill("")
    unfold(page)
    page.get_by_label("Field 1").fill("nonsense")
    page.get_by_role("button", name="Apply").click()
    expect(page.get_by_role("alert")).to_contain_text("unknown column 'nonsense'")

    page.goto(url + "/traces")
    page.locator(f'a[href^="/traces/{alice_id.hex()}"]').first.click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("support-chat")
    expect(page.locator(".wf-row")).to_have_count(4)  # the trace itself, then 3 observations
    expect(page.locator(".wf-row").nth(2)).to_have_attribute("data-depth", "1")
    page.locator(".wf-row a").nth(2).click()  # the tree selects an observation for the panel
    generation = page.locator("#trace-panel")
    expect(generation.locator(".msg.role-user .msg-text").first).to_have_text(
        "How do I reset my password?"
    )
    expect(generation.locator(".msg.role-assistant .msg-text").first).to_have_text(
        "Open settings and click reset."
    )
    snapshot("detail")
    assert dialogs == []


def test_hostile_trace_shows_as_text_and_runs_nothing(
    page: Page, live_server: ServerProject, snapshot: Callable[[str], None]
) -> None:
    tid, spans = hostile_trace()
    spans.append(span(tid, b"\x01" * 8, "plain-child", parent=spans[0].span_id))
    ingest(live_server, spans)
    dialogs: list[Dialog] = []
    page.on("dialog", lambda d: (dialogs.append(d), d.dismiss()))
    script, img, js = HOSTILE

    log_in(page, live_server)
    page.goto(live_server.url + "/traces")
    row = page.locator("table.traces tbody tr").first
    expect(row).to_contain_text(script)
    expect(row).to_contain_text(img)
    expect(row).to_contain_text("&lt;b&gt;")
    snapshot("list")

    row.get_by_role("link", name=script).click()
    expect(page.get_by_role("heading", level=1)).to_contain_text(script)
    expect(page.get_by_text(f"{script} {img} {js} &lt;b&gt;").first).to_be_visible()
    page.locator(".wf-row a", has_text=img).click()  # the hostile generation, in the panel
    expect(page).to_have_url(re.compile(r"observation="))
    expect(page.locator(".msg.role-assistant .msg-text").first).to_have_text(f"{img} &lt;b&gt;")
    expect(page.locator(".tool-call code").first).to_have_text(js)
    assert page.locator("img").count() == 0
    assert page.locator("main script").count() == 0
    user_link = page.locator(".trace-head a", has_text=js)
    assert user_link.get_attribute("href").startswith("/users/javascript%3A")  # type: ignore[union-attr]
    page.wait_for_timeout(300)  # give an injected handler every chance to fire
    snapshot("detail")
    assert dialogs == []


def three_traces(live_server: ServerProject) -> bytes:
    """alice (with a plain, closed-by-default step last), bob and carol; alice's id."""
    alice_id, alice = genai_trace(user="alice", session="s-alice")
    alice.append(
        span(
            alice_id,
            b"\x02" * 8,
            "plain-step",
            parent=alice[0].span_id,
            start_ns=alice[0].start_time_unix_nano + 900_000_000,
            duration_ms=50,
        )
    )
    _, bob = genai_trace(user="bob", session="s-bob", n_children=1)
    _, carol = genai_trace(user="carol", session="s-carol", n_children=1)
    ingest(live_server, [*alice, *bob, *carol])
    return alice_id


def test_choose_columns_and_save_and_reopen_a_view(
    page: Page, live_server: ServerProject, snapshot: Callable[[str], None]
) -> None:
    three_traces(live_server)
    url = live_server.url
    log_in(page, live_server)
    page.goto(url + "/traces")
    head = page.locator("table.traces thead th")
    expect(head).to_have_count(13)
    unfold(page)
    page.get_by_role("checkbox", name="latency", exact=True).uncheck()
    page.get_by_role("checkbox", name="tags", exact=True).uncheck()
    page.get_by_role("button", name="Apply").click()
    expect(head).to_have_count(11)
    expect(page.locator("table.traces thead")).not_to_contain_text("latency")
    expect(page.locator("th.col-tags")).to_have_count(0)
    assert "cols=" in page.url and "tags" not in page.url
    snapshot("columns")

    unfold(page)
    page.get_by_label("Field 1").fill("user_id")
    page.get_by_label("Value 1").fill("bob")
    page.get_by_role("button", name="Apply").click()
    rows = page.locator("table.traces tbody tr")
    expect(rows).to_have_count(1)
    unfold(page)
    page.get_by_label("View name").fill("bob's traces")
    page.get_by_role("button", name="Save view").click()
    unfold(page)
    expect(page.get_by_role("link", name="bob's traces")).to_be_visible()

    page.get_by_role("link", name="Clear").click()
    expect(rows).to_have_count(3)
    expect(page.locator("th.col-tags")).to_have_count(0)  # Clear keeps the columns
    unfold(page)
    page.get_by_role("link", name="bob's traces").click()
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text("bob")
    expect(page.locator("th.col-tags")).to_have_count(0)
    snapshot("view")

    unfold(page)
    page.get_by_role("button", name="Delete view bob's traces").click()
    unfold(page)
    expect(page.get_by_text("No saved views yet.")).to_be_visible()


def test_keyboard_walks_the_list_and_the_observation_tree(
    page: Page, live_server: ServerProject, snapshot: Callable[[str], None]
) -> None:
    alice_id = three_traces(live_server)
    url = live_server.url
    log_in(page, live_server)
    page.goto(url + "/traces")
    rows = page.locator("table.traces tbody tr")
    expect(rows).to_have_count(3)
    hrefs = [rows.nth(i).get_attribute("data-href") for i in range(3)]
    page.keyboard.press("j")
    page.keyboard.press("j")
    page.keyboard.press("j")
    page.keyboard.press("k")
    expect(rows.nth(1)).to_have_class(re.compile(r"\bis-selected\b"))
    expect(page.locator("tr.is-selected")).to_have_count(1)
    snapshot("selected")

    page.get_by_label("Search").focus()  # typing in a field is never taken for a key
    page.keyboard.press("j")
    expect(page.get_by_label("Search")).to_have_value("j")
    expect(rows.nth(1)).to_have_class(re.compile(r"\bis-selected\b"))
    page.get_by_label("Search").fill("")
    page.locator("h1").click()

    page.keyboard.press("Enter")
    expect(page).to_have_url(url + str(hrefs[1]))
    page.wait_for_load_state()  # the keys are heard once the script has run
    page.keyboard.press("j")
    expect(page).to_have_url(url + str(hrefs[2]))
    page.wait_for_load_state()  # the keys are heard once the script has run
    page.keyboard.press("j")  # the last one: stays
    page.keyboard.press("k")
    expect(page).to_have_url(url + str(hrefs[1]))
    page.wait_for_load_state()  # the keys are heard once the script has run
    page.keyboard.press("k")
    expect(page).to_have_url(url + str(hrefs[0]))
    page.wait_for_load_state()  # the keys are heard once the script has run

    page.goto(url + f"/traces/{alice_id.hex()}")
    tree = page.locator(".wf-row")
    expect(tree).to_have_count(5)  # the trace itself, then its 4 observations
    expect(tree.nth(0)).to_have_class(re.compile(r"\bis-selected\b"))
    ids = [tree.nth(i).get_attribute("data-id") for i in range(5)]
    for _ in range(6):  # past the end stays on the last
        page.keyboard.press("ArrowDown")
    expect(tree.nth(4)).to_have_class(re.compile(r"\bis-selected\b"))
    expect(page).to_have_url(re.compile(f"observation={ids[4]}"))
    expect(page.locator("#trace-panel .panel-title")).to_contain_text("plain-step")
    page.keyboard.press("ArrowUp")
    expect(tree.nth(3)).to_have_class(re.compile(r"\bis-selected\b"))
    expect(page.locator(".wf-row.is-selected")).to_have_count(1)
    expect(page).to_have_url(re.compile(f"observation={ids[3]}"))
    snapshot("tree")


def test_copy_buttons_copy_a_block(page: Page, live_server: ServerProject) -> None:
    alice_id = three_traces(live_server)
    page.context.grant_permissions(["clipboard-read", "clipboard-write"])
    log_in(page, live_server)
    page.goto(live_server.url + f"/traces/{alice_id.hex()}")
    block = page.locator(".payload").first
    block.get_by_role("button", name="Copy").click()
    expect(block.get_by_role("button", name="Copied")).to_be_visible()
    copied = page.evaluate("navigator.clipboard.readText()")
    assert copied == block.locator(".payload-body").inner_text().strip()
