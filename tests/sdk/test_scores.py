"""``heron.score`` end to end: sent in the background to ``POST /api/scores``."""

from __future__ import annotations

import heron
from tests.sdk.conftest import read_trace
from tests.support.server import HeronProcess


def test_scores_are_stored_on_the_trace(hr: heron.HeronClient, live_server: HeronProcess) -> None:
    with heron.start_span("answer") as span:
        trace_id, obs_id = span.trace_id, span.id
    ids = [
        heron.score(trace_id=trace_id, name="accuracy", value=0.9, comment="good"),
        heron.score(trace_id=trace_id, observation_id=obs_id, name="helpful", value=True),
        heron.score(trace_id=trace_id, name="tone", value="friendly", metadata={"by": "judge"}),
        heron.score(trace_id=trace_id, name="note", value="long text", data_type="TEXT"),
    ]
    assert all(ids)
    fixed = heron.score(trace_id=trace_id, name="rating", value=2, id="score-fixed-1")
    assert fixed == "score-fixed-1"
    heron.score(trace_id=trace_id, name="rating", value=4, id="score-fixed-1")  # an update
    assert heron.flush(10)
    assert hr.failed_scores == 0

    t = read_trace(live_server, trace_id)
    scores = {s["name"]: s for s in t["scores"]}
    assert set(scores) == {"accuracy", "helpful", "tone", "note", "rating"}
    assert scores["accuracy"]["value"] == 0.9 and scores["accuracy"]["data_type"] == "NUMERIC"
    assert scores["accuracy"]["comment"] == "good" and scores["accuracy"]["source"] == "API"
    assert scores["helpful"]["data_type"] == "BOOLEAN" and scores["helpful"]["value"] == 1
    assert scores["helpful"]["observation_id"] == obs_id
    assert scores["tone"]["data_type"] == "CATEGORICAL"
    assert scores["tone"]["string_value"] == "friendly"
    assert scores["tone"]["metadata"] == {"by": "judge"}
    assert scores["note"]["data_type"] == "TEXT"
    assert scores["rating"]["id"] == "score-fixed-1" and scores["rating"]["value"] == 4


def test_invalid_scores_are_counted_never_raised(hr: heron.HeronClient) -> None:
    assert heron.score(trace_id="a" * 32, name="", value=1) is None
    assert heron.score(trace_id="a" * 32, name="x", value=[1]) is None  # type: ignore[arg-type]
    assert heron.score(trace_id="a" * 32, name="x", value="s", data_type="NUMERIC") is None
    assert heron.score(name="x", value=1) is None  # no trace or session
    assert heron.score(trace_id="a" * 32, name="x", value=float("nan")) is None
    assert hr.failed_scores == 5


def test_scores_refused_by_the_server_are_counted(live_server: HeronProcess) -> None:
    client = heron.init(host=live_server.url, secret_key="sk-wrong", timeout=2)
    assert heron.score(trace_id="b" * 32, name="x", value=1) is not None  # queued
    assert heron.flush(10)
    assert client.failed_scores == 1
