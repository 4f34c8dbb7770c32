"""Model prices in a real browser: from an unpriced generation's "add a price" link to the
prices page, save a price, watch the re-pricing reach its end, see the cost on the trace."""

from __future__ import annotations

from collections.abc import Callable

import httpx
from playwright.sync_api import Page, expect

from tests.support.otlp import new_span_id, new_trace_id, request, span
from tests.support.server import ServerProject
from tests.ui.test_people import log_in

MODEL = "acme-<b>private</b>-7b"  # markup in a model name is shown as text
TRACES = 150


def send_unpriced(server: ServerProject) -> list[str]:
    ids, spans = [], []
    for i in range(TRACES):
        tid = new_trace_id()
        ids.append(tid.hex())
        for g in range(2):
            spans.append(span(tid, new_span_id(), f"llm-{g}", attributes={
                "gen_ai.operation.name": "chat", "gen_ai.request.model": MODEL,
                "gen_ai.usage.input_tokens": 1000 + i, "gen_ai.usage.output_tokens": 500,
            }))  # fmt: skip
    r = httpx.post(
        server.url + "/v1/traces",
        content=request(spans).SerializeToString(),
        headers={**server.auth, "Content-Type": "application/x-protobuf"},
        timeout=30,
    )
    assert r.status_code == 200, r.text
    return ids


def test_add_a_price_for_an_unpriced_model(
    page: Page, live_server: ServerProject, snapshot: Callable[[str], None]
) -> None:
    ids = send_unpriced(live_server)
    url = live_server.url
    log_in(page, live_server)
    page.goto(f"{url}/traces/{ids[0]}")
    page.locator(".waterfall .wf-name", has_text="llm-0").click()
    reason = page.locator(".trace-panel .cost-missing").first
    expect(reason).to_contain_text(f"no price for model {MODEL}")
    snapshot("unpriced-trace")
    reason.get_by_role("link", name="add a price").click()

    expect(page).to_have_url(f"{url}/settings/prices?project=" + page.url.split("project=")[1])
    expect(page.locator("#unpriced")).to_contain_text(MODEL)
    expect(page.locator("#unpriced")).to_contain_text(f"{2 * TRACES}")
    form = page.locator("form.price-form")
    expect(form.get_by_label("Model name")).to_have_value(MODEL)
    form.get_by_label("Input, USD per 1M tokens", exact=True).fill("2")
    form.get_by_label("Output, USD per 1M tokens").fill("ten")
    form.get_by_role("button", name="Save price").click()
    expect(page.get_by_role("alert")).to_contain_text("output price: 'ten' is not a number")
    page.locator("form.price-form").get_by_label("Output, USD per 1M tokens").fill("10")
    page.locator("form.price-form").get_by_role("button", name="Save price").click()

    status = page.locator(".reprice-job .reprice-status").first
    expect(status).to_have_text(f"done, {2 * TRACES} observations re-priced", timeout=30_000)
    expect(page.locator("#unpriced")).to_contain_text(  # the page reloads itself after the job
        "Every model seen with token usage has a price.", timeout=15_000
    )
    snapshot("repriced")
    expect(page.locator(".prices").first).to_contain_text(MODEL)

    page.goto(f"{url}/traces/{ids[3]}")
    page.locator(".waterfall .wf-name", has_text="llm-0").click()
    expect(page.locator(".trace-panel .panel-title")).to_contain_text("llm-0")
    expect(page.locator(".cost-missing")).to_have_count(0)
    cost = (1003 * 2 + 500 * 10) / 1e6  # each of the trace's two generations
    expect(page.locator("dl.facts").first).to_contain_text(f"${2 * cost:.6f}".rstrip("0"))
    expect(page.locator(".trace-panel dl.facts").first).to_contain_text(
        f"${cost:.6f}".rstrip("0") + " (computed)"
    )
    snapshot("priced-trace")
