"""Error analysis in a real browser against a real ``heron serve``: TEXT scores sent through
the public scores API are grouped from the page, a category renamed, two merged, and the
categories accepted into the ``failure_mode`` score config."""

from __future__ import annotations

from collections.abc import Callable

import httpx
from playwright.sync_api import Page, expect

from tests.analysis.notes import labelled
from tests.support.otlp import new_span_id, new_trace_id, request, span
from tests.support.server import ServerProject
from tests.ui.test_people import log_in


def send_notes(server: ServerProject) -> int:
    rows = labelled("heldout.jsonl")
    ids = [new_trace_id() for _ in rows]
    spans = [span(t, new_span_id(), "chat") for t in ids]
    r = httpx.post(
        server.url + "/v1/traces",
        content=request(spans).SerializeToString(),
        headers={**server.auth, "Content-Type": "application/x-protobuf"},
        timeout=30,
    )
    assert r.status_code == 200, r.text
    for t, row in zip(ids, rows, strict=True):
        body = {"traceId": t.hex(), "name": "review", "value": row["note"], "dataType": "TEXT"}
        r = httpx.post(server.url + "/api/public/scores", json=body, headers=server.auth)
        assert r.status_code in (200, 201), r.text
    return len(rows)


def test_group_rename_merge_and_accept(
    page: Page, live_server: ServerProject, snapshot: Callable[[str], None]
) -> None:
    count = send_notes(live_server)
    url = live_server.url
    log_in(page, live_server)
    page.goto(f"{url}/error-analysis")
    page.get_by_label("notes from").select_option("scores")
    page.get_by_label("score name (TEXT scores only, empty: any)").fill("review")
    page.get_by_role("button", name="Run").click()
    expect(page.locator("h1")).to_contain_text(f"{count} notes")
    snapshot("proposed")
    first = page.locator("section.category").first
    first.get_by_label("label").fill("Renamed in the browser")
    first.get_by_role("button", name="Rename").click()
    expect(page.locator("section.category h2").first).to_contain_text("Renamed in the browser")
    before = page.locator("section.category").count()
    ticks = page.get_by_label("tick for merge")
    ticks.nth(1).check()
    ticks.nth(2).check()
    page.get_by_role("button", name="Merge the ticked categories").click()
    expect(page.locator("section.category")).to_have_count(before - 1)
    page.get_by_role("button", name="Accept categories").click()
    expect(page.get_by_role("button", name="Accept again")).to_be_visible()
    snapshot("accepted")
    configs = httpx.get(url + "/api/public/score-configs", headers=live_server.auth).json()
    fm = next(c for c in configs["data"] if c["name"] == "failure_mode")
    assert "Renamed in the browser" in [c["label"] for c in fm["categories"]]
