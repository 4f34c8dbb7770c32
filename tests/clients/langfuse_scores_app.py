"""Scores and score configs through the Langfuse SDK, as its users write them.

Run as a separate process by tests/clients/test_langfuse_scores.py with LANGFUSE_* pointing
at heron. Prints what the test needs as one JSON line.
"""

from __future__ import annotations

import json

from langfuse import get_client, propagate_attributes
from langfuse.api import ConfigCategory

langfuse = get_client()


def main() -> None:
    api = langfuse.api
    quality = api.score_configs.create(
        name="quality", data_type="NUMERIC", min_value=0, max_value=5, description="1 to 5"
    )
    tone = api.score_configs.create(
        name="tone",
        data_type="CATEGORICAL",
        categories=[ConfigCategory(label="calm", value=1), ConfigCategory(label="rude", value=0)],
    )
    resolved = api.score_configs.create(name="resolved", data_type="BOOLEAN")
    with (
        langfuse.start_as_current_observation(name="sdk-turn") as root,
        propagate_attributes(user_id="sdk-user", session_id="sdk-session", tags=["sdk"]),
    ):
        with langfuse.start_as_current_observation(name="retrieve") as child:
            observation_id = child.id
            langfuse.score_current_trace(
                name="quality", value=4, config_id=quality.id, comment="inside a span"
            )
        trace_id = root.trace_id
    langfuse.create_score(
        trace_id=trace_id, observation_id=observation_id, name="tone", value="calm",
        data_type="CATEGORICAL", config_id=tone.id, score_id="sdk-observation-score",
    )  # fmt: skip
    langfuse.create_score(
        session_id="sdk-session", name="resolved", value=1, data_type="BOOLEAN",
        config_id=resolved.id, score_id="sdk-session-score", metadata={"by": "sdk"},
    )  # fmt: skip
    langfuse.create_score(
        trace_id=trace_id, name="quality", value=2.5, config_id=quality.id,
        score_id="sdk-trace-score",
    )  # fmt: skip
    langfuse.create_score(  # over the config's maximum: heron refuses it
        trace_id=trace_id, name="quality", value=9, config_id=quality.id, score_id="sdk-refused"
    )
    langfuse.create_score(trace_id=trace_id, name="doomed", value=1, score_id="sdk-deleted")
    langfuse.flush()
    api.scores.delete("sdk-deleted")
    archived = api.score_configs.update(quality.id, is_archived=True)
    listed = api.score_configs.get(page=1, limit=10)
    one = api.score_configs.get_by_id(tone.id)
    typed = api.scores.get_many(trace_id=trace_id, fields="details,subject", limit=100)
    first = api.scores.get_many(limit=2)
    second = api.scores.get_many(limit=2, cursor=first.meta.cursor)
    print(json.dumps({
        "trace_id": trace_id, "observation_id": observation_id,
        "configs": {"quality": quality.id, "tone": tone.id, "resolved": resolved.id},
        "resolved_categories": [c.label for c in resolved.categories or []],
        "archived": archived.is_archived,
        "listed": [c.name for c in listed.data], "total": listed.meta.total_items,
        "tone_categories": [(c.label, c.value) for c in one.categories or []],
        "v3": {s.id: [s.data_type, s.value, s.subject.kind if s.subject else None, s.config_id]
               for s in typed.data},
        "v3_pages": [[s.id for s in first.data], [s.id for s in second.data]],
    }))  # fmt: skip


if __name__ == "__main__":
    main()
