"""Scores sent with a ``queueId``: annotations made in a queue. Such a score names one of
the project's queues and one of that queue's score configs, and its source is ANNOTATION
(the default when a score with a ``queueId`` leaves the source out)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from heron.scores import ScoreError, ScoreRecord


def queue_ids(body: Any) -> list[str]:
    """The queue ids a score body (an object or a list of them) names."""
    items = body if isinstance(body, list) else [body]
    out = []
    for item in items:
        if isinstance(item, dict):
            value = item.get("queueId", item.get("queue_id"))
            if isinstance(value, str) and value and value not in out:
                out.append(value)
    return out


def with_annotation_source(body: Any) -> Any:
    """A score body with a queue and no source gets source ANNOTATION."""
    if (
        isinstance(body, dict)
        and body.get("queueId", body.get("queue_id")) is not None
        and "source" not in body
    ):
        return {**body, "source": "ANNOTATION"}
    return body


def check_queue_score(
    record: ScoreRecord, queues: Mapping[str, dict[str, Any]], where: str = ""
) -> None:
    """A score with a queue: the queue is the project's (``queues`` by id), the score's
    config is one of the queue's, and its source is ANNOTATION (ScoreError naming the rule)."""
    if record.queue_id is None:
        return
    queue = queues.get(record.queue_id)
    if queue is None:
        raise ScoreError(f"{where}queueId: no annotation queue {record.queue_id!r} in this project")
    if record.source != "ANNOTATION":
        raise ScoreError(
            f"{where}source: a score made in an annotation queue has source ANNOTATION, "
            f"not {record.source}"
        )
    if record.config_id not in queue["score_config_ids"]:
        raise ScoreError(
            f"{where}configId: a score in the queue {queue['name']!r} must use one of its "
            f"score configs ({len(queue['score_config_ids'])} configured), not "
            f"{record.config_id!r}"
        )
