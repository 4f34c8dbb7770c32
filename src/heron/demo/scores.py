"""The demo's explicit feedback, as heron scores: thumbs up/down (``user_feedback``), the
closing survey's stars (``user_rating``, 1-5, sometimes with a comment) and what a feedback
script in the chat page reports when an answer is copied or marked as solving the problem
(``implicit_copy``, ``implicit_accept``: BOOLEAN true, ``metadata.via = "feedback.js"``).

Scores go through ``POST /api/public/scores`` the way an app or SDK reports them, in
batches, a few seconds after the answer, with ids derived from the trace so loading the demo
again replaces them.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from datetime import UTC, datetime
from typing import Any

import httpx

from heron.demo.model import SECOND_US, DemoConfig, DemoTrace
from heron.demo.workload import iter_traces

FEEDBACK_SCORE = "user_feedback"
RATING_SCORE = "user_rating"
COPY_SCORE = "implicit_copy"
ACCEPT_SCORE = "implicit_accept"
SCORE_NAMES = (FEEDBACK_SCORE, RATING_SCORE, COPY_SCORE, ACCEPT_SCORE)
FEEDBACK_DELAY_US = 8 * SECOND_US  # the user reads the answer, then clicks
COPY_DELAY_US = 5 * SECOND_US
ACCEPT_DELAY_US = 20 * SECOND_US
RATING_DELAY_US = 45 * SECOND_US  # the survey shows when the chat is closed
BATCH = 100  # scores per request, as an SDK flushes them
VIA = {"via": "feedback.js"}


def _score(t: DemoTrace, kind: str, name: str, delay_us: int, value: Any, data_type: str):
    at = datetime.fromtimestamp((t.end_us + delay_us) / 1e6, UTC)
    return {
        "id": f"{kind}-{t.trace_id_hex}",
        "traceId": t.trace_id_hex,
        "name": name,
        "value": value,
        "dataType": data_type,
        "source": "API",
        "timestamp": at.isoformat(),
        "environment": t.environment,
    }


def trace_scores(t: DemoTrace) -> Iterator[dict[str, Any]]:
    """The scores the users' clicks on trace ``t`` produce (Langfuse's score shape)."""
    if t.copied:
        s = _score(t, "copy", COPY_SCORE, COPY_DELAY_US, True, "BOOLEAN")
        yield {**s, "metadata": VIA}
    if t.feedback is not None:
        yield _score(t, "feedback", FEEDBACK_SCORE, FEEDBACK_DELAY_US, bool(t.feedback), "BOOLEAN")
    if t.accepted:
        s = _score(t, "accept", ACCEPT_SCORE, ACCEPT_DELAY_US, True, "BOOLEAN")
        yield {**s, "metadata": VIA}
    if t.rating is not None:
        s = _score(t, "rating", RATING_SCORE, RATING_DELAY_US, t.rating, "NUMERIC")
        if t.rating_comment is not None:
            s["comment"] = t.rating_comment
        yield s


def demo_scores(config: DemoConfig) -> Iterator[dict[str, Any]]:
    """Every score of the workload of ``config``, in the order of the traces."""
    for t in iter_traces(config):
        yield from trace_scores(t)


def send_scores(
    scores: Iterable[dict[str, Any]], base_url: str, secret_key: str, client: httpx.Client
) -> int:
    """Posts ``scores`` in batches; returns how many were stored. Raises on a refusal."""
    url = base_url.rstrip("/") + "/api/public/scores"
    headers = {"Authorization": f"Bearer {secret_key}", "User-Agent": "heron-demo"}
    sent = 0
    batch: list[dict[str, Any]] = []
    for score in [*scores, None]:
        if score is not None:
            batch.append(score)
        if batch and (score is None or len(batch) >= BATCH):
            resp = client.post(url, json=batch, headers=headers)
            if resp.status_code != 202:
                raise RuntimeError(f"POST {url} -> {resp.status_code}: {resp.text[:2000]}")
            sent += len(batch)
            batch = []
    return sent
