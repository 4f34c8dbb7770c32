"""``heron.feedback``: a user's explicit feedback, sent as a score to a live server."""

from __future__ import annotations

import heron
from tests.sdk.conftest import read_trace
from tests.support.server import HeronProcess


def test_feedback_is_stored_as_scores(hr: heron.HeronClient, live_server: HeronProcess) -> None:
    with heron.start_span("answer") as span:
        trace_id, obs_id = span.trace_id, span.id
    thumbs = heron.feedback(trace_id, value=False, comment="wrong refund period")
    rating = heron.feedback(trace_id, value=4, name="user_rating", observation_id=obs_id)
    label = heron.feedback(trace_id, value="too long", name="user_reason", metadata={"ui": "v2"})
    assert thumbs and rating and label
    assert heron.flush(10)
    assert hr.failed_scores == 0

    scores = {s["name"]: s for s in read_trace(live_server, trace_id)["scores"]}
    assert set(scores) == {"user_feedback", "user_rating", "user_reason"}
    fb = scores["user_feedback"]
    assert (fb["id"], fb["data_type"], fb["value"]) == (thumbs, "BOOLEAN", 0.0)
    assert fb["comment"] == "wrong refund period" and fb["source"] == "API"
    assert scores["user_rating"]["data_type"] == "NUMERIC" and scores["user_rating"]["value"] == 4
    assert scores["user_rating"]["observation_id"] == obs_id
    assert scores["user_reason"]["string_value"] == "too long"
    assert scores["user_reason"]["metadata"] == {"ui": "v2"}


def test_invalid_feedback_is_counted_never_raised(hr: heron.HeronClient) -> None:
    assert heron.feedback("a" * 32, value=float("inf")) is None
    assert heron.feedback("a" * 32, value=True, name="") is None
    assert hr.failed_scores == 2
