"""The demo's explicit feedback reaches heron through its public score API and reads back
on the traces it rates (in-process app with a real store and pipeline)."""

from __future__ import annotations

from collections import Counter

import httpx
from fastapi.testclient import TestClient

from heron.demo import (
    ACCEPT_SCORE,
    COPY_SCORE,
    FEEDBACK_SCORE,
    RATING_SCORE,
    SCORE_NAMES,
    DemoConfig,
    demo_scores,
    iter_traces,
    send,
)
from tests.support.server import SECRET_KEY

END_US = 1_760_000_000_000_000


def test_scores_arrive_through_the_public_score_api(client: TestClient) -> None:
    config = DemoConfig(
        traces=500, days=1, seed=4, end_us=END_US, export_interval_s=600, batch_spans=4096
    )
    paths: Counter[str] = Counter()

    def record(request: httpx.Request) -> None:
        paths[request.url.path] += 1

    client.event_hooks["request"].append(record)
    stats = send(config, "http://testserver", SECRET_KEY, client=client, concurrency=1)
    planned = list(demo_scores(config))
    assert stats.rejected_spans == 0
    assert stats.scores == len(planned)
    assert set(paths) == {"/v1/traces", "/api/public/scores"}
    assert paths["/api/public/scores"] == -(-len(planned) // 100)  # batches of 100
    assert {s["name"] for s in planned} == set(SCORE_NAMES)

    facts = {t.trace_id_hex: t for t in iter_traces(config)}
    by_trace: dict[str, list[dict]] = {}
    for s in planned:
        by_trace.setdefault(s["traceId"], []).append(s)
    for trace_id, scores in by_trace.items():
        r = client.get(f"/api/traces/{trace_id}")
        assert r.status_code == 200, r.text
        stored = {s["name"]: s for s in r.json()["scores"] if s["source"] == "API"}
        assert set(stored) == {s["name"] for s in scores}
        t = facts[trace_id]
        for name, s in stored.items():
            assert s["source"] == "API" and s["environment"] == t.environment
            if name == FEEDBACK_SCORE:
                assert s["data_type"] == "BOOLEAN" and s["value"] == t.feedback
            elif name == RATING_SCORE:
                assert s["data_type"] == "NUMERIC" and s["value"] == t.rating
                assert s["comment"] == t.rating_comment
            else:
                assert name in (COPY_SCORE, ACCEPT_SCORE)
                assert s["data_type"] == "BOOLEAN" and s["value"] == 1
                assert s["metadata"] == {"via": "feedback.js"}
    assert sum(t.feedback is not None for t in facts.values()) == sum(
        s["name"] == FEEDBACK_SCORE for s in planned
    )

    # loading again replaces the scores (ids derived from the traces), nothing doubles
    again = send(config, "http://testserver", SECRET_KEY, client=client, concurrency=1)
    assert again.scores == len(planned)
    some = next(iter(by_trace))
    stored = client.get(f"/api/traces/{some}").json()["scores"]
    assert sum(s["source"] == "API" for s in stored) == len(by_trace[some])
