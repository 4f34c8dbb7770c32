"""The annotator view moving to the next item, against a real `heron serve` holding 100,000+
traces (the store `bench/read.py` builds, built on first use): a queue of 500 traces, then

- the JSON round trip: ``POST /annotation-queues/{id}/annotate/submit`` (scores written
  through the score path, the item completed, the next item claimed, rendered and answered)
  timed by the client, one submission after another;
- in Chromium (``/usr/bin/chromium``): from the Enter key to the next item drawn in the page,
  as ``annotate.js`` measures it (``window.heronAnnotateTimings``).

Target: under 150 ms. Usage: python bench/annotate.py [--traces 100000] [--items 500]
[--json 200] [--browser 100] [--think 1.0] [--no-runner]

An annotator reads each item for a while; ``--think`` (1 s by default, not timed) leaves
that pause between submissions, so the background runner's reaction to the last scores
(trace rules follow scores) is not charged to the next step; ``--think 0`` submits back to
back.
"""

from __future__ import annotations

import argparse
import re
import statistics
import time
import uuid

import duckdb
import httpx

from ui import ADMIN_EMAIL, ADMIN_PASSWORD, login

from _common import HeronProcess, machine
from read import RESULTS, populate

CHROMIUM = "/usr/bin/chromium"


def figures(label: str, ms: list[float]) -> None:
    ms = sorted(ms)
    p95 = ms[min(len(ms) - 1, int(len(ms) * 0.95))]
    print(f"{label}: n={len(ms)} median {statistics.median(ms):.1f} ms, p95 {p95:.1f} ms, "
          f"max {ms[-1]:.1f} ms")  # fmt: skip


def make_queue(server: HeronProcess, traces: list[str]) -> tuple[str, str, str]:
    def api(path: str, body: dict) -> dict:
        r = httpx.post(server.url + path, json=body, headers=server.auth, timeout=30)
        r.raise_for_status()
        return r.json()

    tag = uuid.uuid4().hex[:6]
    correct = api("/api/public/score-configs", {"name": f"correct-{tag}", "dataType": "BOOLEAN"})
    quality = api(
        "/api/public/score-configs",
        {"name": f"quality-{tag}", "dataType": "NUMERIC", "minValue": 1, "maxValue": 5},
    )
    queue = api(
        "/api/public/annotation-queues",
        {"name": f"bench {tag}", "scoreConfigIds": [correct["id"], quality["id"]]},
    )
    for t in traces:
        api(
            f"/api/public/annotation-queues/{queue['id']}/items",
            {"objectId": t, "objectType": "TRACE"},
        )
    return queue["id"], correct["id"], quality["id"]


def json_round_trips(
    server: HeronProcess, qid: str, configs: tuple[str, str], n: int, think: float
) -> None:
    with httpx.Client(base_url=server.url, timeout=30, follow_redirects=True) as http:
        login(http)
        page = http.get(f"/annotation-queues/{qid}/annotate")
        page.raise_for_status()
        csrf = re.search(r'name="csrf-token" content="([^"]+)"', page.text)
        assert csrf, "no CSRF token on the page"
        headers = {"X-CSRF-Token": csrf.group(1), "Accept": "application/json"}
        current = http.post(f"/annotation-queues/{qid}/annotate/next", json={}, headers=headers)
        item = current.json()["item"]
        times = []
        for i in range(n):
            body = {"itemId": item["id"], "values": {configs[0]: i % 2 == 0, configs[1]: 1 + i % 5},
                    "note": f"note {i}"}  # fmt: skip
            time.sleep(think)  # reading the item: the runner's work on the last scores ends
            t = time.perf_counter()
            r = http.post(f"/annotation-queues/{qid}/annotate/submit", json=body, headers=headers)
            times.append((time.perf_counter() - t) * 1000)
            r.raise_for_status()
            item = r.json()["item"]
            if item is None:
                break
        figures("submit -> next item, JSON round trip", times)


def browser_steps(server: HeronProcess, qid: str, n: int, think: float) -> None:
    from playwright.sync_api import expect, sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(
            executable_path=CHROMIUM,
            headless=True,
            args=["--headless", "--no-sandbox", "--disable-gpu"],
        )
        tab = browser.new_context(viewport={"width": 1200, "height": 800}).new_page()
        tab.goto(server.url + "/login")
        tab.get_by_label("Email").fill(ADMIN_EMAIL)
        tab.get_by_label("Password").fill(ADMIN_PASSWORD)
        tab.get_by_label("Password").press("Enter")
        tab.wait_for_url(server.url + "/")
        tab.goto(f"{server.url}/annotation-queues/{qid}/annotate")
        box = tab.locator("#ann-object")
        for _ in range(n):
            shown = box.get_attribute("data-item-id")
            if not shown:
                break
            tab.wait_for_timeout(think * 1000)
            tab.keyboard.press("y")
            tab.keyboard.press("Enter")
            expect(box).not_to_have_attribute("data-item-id", shown)
        timings = tab.evaluate("window.heronAnnotateTimings")
        browser.close()
    figures("Enter -> next item drawn, Chromium", timings)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--traces", type=int, default=100_000)
    ap.add_argument("--seed-traces", type=int, default=5_000)
    ap.add_argument("--items", type=int, default=500)
    ap.add_argument("--json", type=int, default=200)
    ap.add_argument("--browser", type=int, default=100)
    ap.add_argument(
        "--think",
        type=float,
        default=1.0,
        help="seconds between submissions (reading the item), not timed",
    )
    ap.add_argument(
        "--no-runner",
        action="store_true",
        help="serve with HERON_RUNNER_TASKS empty (no background tasks)",
    )
    args = ap.parse_args()
    data_dir = RESULTS / "annotate-store"
    data_dir.mkdir(parents=True, exist_ok=True)
    populate(data_dir, args.traces, args.seed_traces)
    con = duckdb.connect(str(data_dir / "heron.duckdb"), read_only=True)
    total = con.execute("SELECT count(*) FROM traces").fetchone()[0]
    traces = [r[0] for r in con.execute(
        "SELECT id FROM traces WHERE input IS NOT NULL ORDER BY hash(id) LIMIT ?", [args.items]
    ).fetchall()]  # fmt: skip
    con.close()
    print(machine())
    print(f"{total:,} traces stored; a queue of {len(traces)} traces")
    env = {"HERON_RUNNER_TASKS": ""} if args.no_runner else {}
    print("runner tasks: " + ("none" if args.no_runner else "the defaults"))
    server = HeronProcess(data_dir, env=env).start(timeout=120)
    try:
        qid, correct, quality = make_queue(server, traces)
        print(f"{args.think:g} s between submissions")
        json_round_trips(server, qid, (correct, quality), args.json, args.think)
        browser_steps(server, qid, args.browser, args.think)
    finally:
        server.stop()


if __name__ == "__main__":
    main()
