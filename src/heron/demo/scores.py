"""The demo's explicit feedback: each thumbs up/down a user gave, as heron scores.

Scores go through ``POST /api/scores`` the way an app reports them, a few seconds after the
answer, with ids derived from the trace so loading the demo again replaces them.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from datetime import UTC, datetime
from typing import Any

import httpx

from heron.demo.model import SECOND_US, DemoConfig
from heron.demo.workload import iter_traces

FEEDBACK_SCORE = "user-feedback"
FEEDBACK_DELAY_US = 8 * SECOND_US  # the user reads the answer, then clicks
BATCH = 1000


def feedback_scores(config: DemoConfig) -> Iterator[dict[str, Any]]:
    """One boolean ``user-feedback`` score per turn the user rated (true = thumbs up)."""
    for t in iter_traces(config):
        if t.feedback is None:
            continue
        at = datetime.fromtimestamp((t.end_us + FEEDBACK_DELAY_US) / 1e6, UTC)
        yield {
            "id": f"feedback-{t.trace_id_hex}",
            "traceId": t.trace_id_hex,
            "name": FEEDBACK_SCORE,
            "value": bool(t.feedback),
            "dataType": "BOOLEAN",
            "source": "API",
            "timestamp": at.isoformat(),
            "environment": t.environment,
        }


def send_scores(
    scores: Iterable[dict[str, Any]], base_url: str, secret_key: str, client: httpx.Client
) -> int:
    """Posts ``scores`` in batches; returns how many were stored. Raises on a refusal."""
    url = base_url.rstrip("/") + "/api/scores"
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
