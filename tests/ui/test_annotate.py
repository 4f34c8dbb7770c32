"""The annotator view in Chromium against a real `heron serve`: a queue annotated by keyboard
only (no clicks once the page is open: values, submit, skip, undo, going back to edit), two
annotators in two browser contexts never holding the same item, and a double-annotated
queue's agreement. One project for the module; each test makes its own queue."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import orjson
import pytest
from playwright.sync_api import Browser, Page, expect

from tests.support.otlp import T0_NS, new_span_id, new_trace_id, request, span
from tests.support.server import CONSISTENT, HeronProcess, ServerProject, admin_token, new_project

ANNOTATOR = "second@heron.test"
PASSWORD = "second annotator password"
VIEW = {"width": 1200, "height": 800}


@dataclass
class Setup:
    server: ServerProject
    configs: dict[str, str]
    traces: list[str]

    def api(self, method: str, path: str, body: Any = None) -> Any:
        r = httpx.request(
            method, self.server.url + path, json=body, headers=self.server.auth, timeout=10
        )
        assert r.status_code < 300, r.text
        return r.json()

    def queue(self, traces: list[str], configs: list[str], per_item: int = 1) -> str:
        body = {
            "name": f"queue {uuid.uuid4().hex[:6]}",
            "scoreConfigIds": [self.configs[c] for c in configs],
            "annotationsPerItem": per_item,
        }
        qid = self.api("POST", "/api/public/annotation-queues", body)["id"]
        for t in traces:
            item = {"objectId": t, "objectType": "TRACE"}
            self.api("POST", f"/api/public/annotation-queues/{qid}/items", item)
        return qid

    def scores(self, trace_id: str) -> dict[str, dict[str, Any]]:
        found = self.api(
            "GET", f"/api/public/v2/scores?traceId={trace_id}&source=ANNOTATION&limit=100"
        )
        return {s["name"]: s for s in found["data"]}


def _send(server: ServerProject, questions: list[str]) -> list[str]:
    spans, ids = [], []
    for i, q in enumerate(questions):
        tid = new_trace_id()
        ids.append(tid.hex())
        messages = orjson.dumps([{"role": "user", "content": q}]).decode()
        answer = orjson.dumps([{"role": "assistant", "content": f"Answer to: {q}"}]).decode()
        spans.append(
            span(tid, new_span_id(), "support-chat", start_ns=T0_NS + i * 1_000_000_000,
                 duration_ms=800, attributes={"input.value": messages, "output.value": answer})
        )  # fmt: skip
    r = httpx.post(
        server.url + "/v1/traces",
        content=request(spans).SerializeToString(),
        headers={**server.auth, "Content-Type": "application/x-protobuf"},
        timeout=10,
    )
    assert r.status_code == 200, r.text
    return ids


@pytest.fixture(scope="module")
def setup(ui_server: HeronProcess) -> Iterator[Setup]:
    server = new_project(ui_server)  # its owner and a second annotator, a member
    r = httpx.post(
        server.url + "/api/admin/users",
        json={"email": ANNOTATOR, "password": PASSWORD, "project": server.name},
        headers={"Authorization": f"Bearer {admin_token(ui_server)}"},
        timeout=30,
    )
    assert r.status_code == 201, r.text
    s = Setup(server, {}, [])
    for name, spec in {
        "correct": {"dataType": "BOOLEAN"},
        "tone": {"dataType": "CATEGORICAL", "categories": [
            {"label": "calm", "value": 0}, {"label": "rude", "value": 1},
            {"label": "vague", "value": 2}]},
        "quality": {"dataType": "NUMERIC", "minValue": 1, "maxValue": 5},
    }.items():  # fmt: skip
        s.configs[name] = s.api("POST", "/api/public/score-configs", {"name": name, **spec})["id"]
    s.traces = _send(server, [f"Question number {i}?" for i in range(12)])
    yield s


def _log_in(page: Page, url: str, email: str, password: str) -> None:
    page.goto(url + "/login")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(password)
    page.get_by_label("Password").press("Enter")
    expect(page).to_have_url(url + "/")


def _shows(page: Page, question: str) -> None:
    expect(page.locator("#ann-object")).to_contain_text(question)


def _progress(page: Page, done: int, total: int) -> None:
    expect(page.locator("#ann-progress")).to_contain_text(f"{done} of {total} done")


def test_annotate_a_queue_by_keyboard_only(page: Page, setup: Setup) -> None:
    traces = setup.traces[:3]
    qid = setup.queue(traces, ["correct", "tone", "quality"])
    url = setup.server.url
    _log_in(page, url, setup.server.email, setup.server.password)
    page.goto(f"{url}/annotation-queues/{qid}/annotate")
    _shows(page, "Question number 0?")
    _progress(page, 0, 3)
    keys = page.keyboard
    # item 1: yes, the 2nd category (rude), quality 4, Enter
    keys.press("y")
    keys.press("2")
    keys.type("4")
    keys.press("Enter")
    _shows(page, "Question number 1?")
    _progress(page, 1, 3)
    # item 2: no, calm, a note (Tab from the quality field), Enter
    keys.press("n")
    keys.press("1")
    keys.press("Tab")
    keys.type("made up a refund policy")
    keys.press("Enter")
    _shows(page, "Question number 2?")
    _progress(page, 2, 3)
    # item 3: skip; nothing else is free
    keys.press("s")
    expect(page.locator("#ann-object")).to_contain_text("No other item is free")
    # undo the last submission: item 2 opens again, empty, its scores gone
    keys.press("u")
    _shows(page, "Question number 1?")
    _progress(page, 1, 3)
    expect(page.locator("#ann-note")).to_have_value("")
    assert setup.scores(traces[1]) == {}
    keys.press("y")
    keys.press("3")
    keys.press("Enter")
    _shows(page, "Question number 2?")  # the skipped item came round again
    # k goes back to the completed item 2, prefilled; change it and save
    keys.press("k")
    _shows(page, "Question number 1?")
    correct = page.locator('.ann-config[data-type="BOOLEAN"]')
    expect(correct.locator('button[data-value="true"]')).to_have_attribute("aria-pressed", "true")
    expect(page.locator('button[data-value="vague"]')).to_have_attribute("aria-pressed", "true")
    keys.press("n")
    keys.press("Enter")
    _shows(page, "Question number 2?")  # saved: on to the next free item
    # ? shows the keys
    keys.press("?")
    expect(page.locator("#ann-help")).to_be_visible()
    keys.press("Escape")
    expect(page.locator("#ann-help")).to_be_hidden()

    first, second = setup.scores(traces[0]), setup.scores(traces[1])
    assert first["correct"]["value"] == 1 and first["tone"]["stringValue"] == "rude"
    assert first["quality"]["value"] == 4
    assert second["correct"]["value"] == 0 and second["tone"]["stringValue"] == "vague"
    assert "quality" not in second
    for s in (*first.values(), *second.values()):
        assert s["queueId"] == qid and s["source"] == "ANNOTATION"
    assert setup.scores(traces[2]) == {}


def test_two_annotators_never_hold_the_same_item(browser: Browser, setup: Setup) -> None:
    traces = setup.traces[3:7]
    qid = setup.queue(traces, ["correct"])
    url = setup.server.url
    owner = (setup.server.email, setup.server.password)
    tabs = []
    contexts = [browser.new_context(viewport=VIEW, extra_http_headers=CONSISTENT) for _ in range(2)]
    try:
        for ctx, (email, password) in zip(contexts, [owner, (ANNOTATOR, PASSWORD)], strict=True):
            tab = ctx.new_page()
            _log_in(tab, url, email, password)
            tab.goto(f"{url}/annotation-queues/{qid}/annotate")
            tabs.append(tab)
        a, b = tabs

        def held(tab: Page) -> str:
            box = tab.locator("#ann-object")
            expect(box).not_to_have_attribute("data-item-id", "")
            return box.get_attribute("data-item-id") or ""

        first_a, first_b = held(a), held(b)
        assert first_a != first_b
        # b opens a's item by its URL: the page says it is taken and shows nothing of it
        b.goto(f"{url}/annotation-queues/{qid}/annotate?item={first_a}")
        expect(b.locator("#ann-object")).to_contain_text("Another annotator has this item open")
        b.keyboard.press("j")  # on to an item of b's own
        now_b = held(b)
        assert now_b != first_a
        shown_a = first_a
        for _ in range(4):  # a annotates every item b does not hold, then has nothing left
            a.keyboard.press("y")
            a.keyboard.press("Enter")
            expect(a.locator("#ann-object")).not_to_have_attribute("data-item-id", shown_a)
            shown_a = a.locator("#ann-object").get_attribute("data-item-id") or ""
            assert shown_a != now_b
            if not shown_a:
                break
        assert shown_a == ""
        expect(a.locator("#ann-object")).to_contain_text("Nothing left")
        _progress(a, 3, 4)
    finally:
        for ctx in contexts:
            ctx.close()


def test_a_double_annotated_queue_shows_agreement(browser: Browser, setup: Setup) -> None:
    traces = setup.traces[7:11]
    qid = setup.queue(traces, ["correct", "tone"], per_item=2)
    url = setup.server.url
    owner = setup.server.email
    marks = {owner: ["y", "y", "n", "n"], ANNOTATOR: ["y", "n", "n", "n"]}
    tone = {owner: ["1", "1", "2", "2"], ANNOTATOR: ["1", "1", "2", "3"]}
    for email, password in ((owner, setup.server.password), (ANNOTATOR, PASSWORD)):
        ctx = browser.new_context(viewport=VIEW, extra_http_headers=CONSISTENT)
        try:
            tab = ctx.new_page()
            _log_in(tab, url, email, password)
            tab.goto(f"{url}/annotation-queues/{qid}/annotate")
            for i in range(4):
                _shows(tab, f"Question number {7 + i}?")
                tab.keyboard.press(marks[email][i])
                tab.keyboard.press(tone[email][i])
                tab.keyboard.press("Enter")
            expect(tab.locator("#ann-object")).to_contain_text("Nothing left")
        finally:
            ctx.close()
    agreement = setup.api("GET", f"/api/annotation-queues/{qid}/agreement")
    by_name = {c["name"]: c for c in agreement["configs"]}
    assert by_name["correct"]["items"] == 4 and by_name["correct"]["percentAgreement"] == 0.75
    assert by_name["tone"]["percentAgreement"] == 0.75
    ctx = browser.new_context(viewport=VIEW, extra_http_headers=CONSISTENT)
    try:
        tab = ctx.new_page()
        _log_in(tab, url, ANNOTATOR, PASSWORD)
        tab.goto(f"{url}/annotation-queues/{qid}/agreement")
        row = tab.locator(f'tr[data-config="{setup.configs["correct"]}"]')
        expect(row.locator("[data-percent]")).to_have_text("75%")
        expect(row.locator("[data-kappa]")).to_have_text(f"{by_name['correct']['kappa']:.2f}")
        tab.goto(f"{url}/annotation-queues/{qid}")  # the queue's own page shows it too
        row = tab.locator(f'tr[data-config="{setup.configs["tone"]}"]')
        expect(row.locator("[data-percent]")).to_have_text("75%")
    finally:
        ctx.close()
