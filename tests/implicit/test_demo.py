"""The demo's planted behaviour, found by the detectors on a real ``heron serve``: the demo
workload is loaded over OTLP, the runner's ``implicit`` task judges it with the defaults, and
every detector's scores are compared with :func:`heron.demo.planted_labels` (precision and
recall per detector, printed, and held to the targets of docs/feedback.md)."""

from __future__ import annotations

import time
from collections import defaultdict
from datetime import UTC, datetime

import httpx
import pytest

from heron.demo import SIGNALS, DemoConfig, iter_traces, planted_labels, send
from tests.support.server import SECRET_KEY, HeronProcess

# The floors each detector keeps on the demo's conversations (its phrases, in
# heron.demo.phrases, were written apart from the detectors and their labelled sets), a few
# points under the figures measured on 2026-12-05 (docs/feedback.md, "On the demo's
# conversations"). Rephrase and disagreement are below the 0.85 precision target there, for
# the reasons written in that section; a change that loses more fails here.
FLOOR = {  # detector: (precision, recall)
    "retry": (0.95, 0.95),
    "rephrase": (0.42, 0.70),
    "disagreement": (0.42, 0.85),
    "frustration": (0.85, 0.90),
    "abandonment": (0.95, 0.75),
}
END_US = int(datetime(2026, 11, 30, 12, tzinfo=UTC).timestamp() * 1_000_000)


def all_eval_scores(server: HeronProcess) -> list[dict]:
    """Every EVAL score of the project, through the public v2 list (pages of 100)."""
    out: list[dict] = []
    page = 1
    while True:
        r = httpx.get(
            server.url + "/api/public/v2/scores",
            params={"source": "EVAL", "page": page, "limit": 100},
            headers=server.auth,
            timeout=30,
        )
        assert r.status_code == 200, r.text
        body = r.json()
        out += body["data"]
        if page >= body["meta"]["totalPages"]:
            return out
        page += 1


def test_every_detector_finds_what_the_demo_planted(live_server: HeronProcess) -> None:
    config = DemoConfig(traces=1500, days=1, seed=7, end_us=END_US)
    stats = send(config, live_server.url, SECRET_KEY, concurrency=2)
    assert stats.rejected_spans == 0
    # the runner judged the sessions as they arrived; a backfill over everything makes the
    # end state independent of how the batches interleaved with the runner's passes
    r = httpx.post(
        live_server.url + "/api/runner/jobs", json={"tasks": ["implicit"]}, headers=live_server.auth
    )
    assert r.status_code == 202, r.text
    job_url = f"{live_server.url}/api/runner/jobs/{r.json()['id']}"
    deadline = time.monotonic() + 120
    while (job := httpx.get(job_url, headers=live_server.auth).json())["status"] not in (
        "done",
        "failed",
    ):
        assert time.monotonic() < deadline, job
        time.sleep(0.2)
    assert job["status"] == "done", job

    found: dict[str, set[str]] = defaultdict(set)
    for s in all_eval_scores(live_server):
        assert s["name"].startswith("implicit_") and s["value"] == 1
        found[s["name"].removeprefix("implicit_")].add(s["traceId"])
    truth: dict[str, set[str]] = defaultdict(set)
    unlabelled: set[str] = set()  # answers a calm "can I talk to a human?" reacted to
    labelled = {label.trace_id for label in planted_labels(config)}
    for trace in iter_traces(config):
        if trace.behaviour == "escalate" and trace.reacts_to:
            unlabelled.add(trace.reacts_to)
    for label in planted_labels(config):
        if label.positive:
            assert label.reacted_to is not None
            truth[label.kind].add(label.reacted_to)
    assert labelled and truth
    # the demo labels a calm request for a human neither way; the detector counts "talk to a
    # human" as frustration (as docs/feedback.md says): such answers are left out of both sides
    found["frustration"] -= unlabelled - truth["frustration"]

    report = []
    for kind in SIGNALS:
        hit = len(found[kind] & truth[kind])
        precision = hit / len(found[kind]) if found[kind] else 0.0
        recall = hit / len(truth[kind]) if truth[kind] else 0.0
        report.append((kind, len(truth[kind]), len(found[kind]), precision, recall))
    print("\ndetector      planted  found  precision  recall")
    for kind, n_truth, n_found, p, rc in report:
        print(f"{kind:<13} {n_truth:>7} {n_found:>6} {p:>10.3f} {rc:>7.3f}")
    for kind, n_truth, _, p, rc in report:
        assert n_truth >= 5, f"the demo planted only {n_truth} {kind}"
        assert p >= FLOOR[kind][0], (kind, p, report)
        assert rc >= FLOOR[kind][1], (kind, rc, report)


@pytest.fixture(scope="module")
def live_server(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    server = HeronProcess(tmp_path_factory.mktemp("demo-detect")).start()
    try:
        yield server
    finally:
        server.stop()
