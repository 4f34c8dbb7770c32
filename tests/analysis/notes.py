"""Test data for error analysis: traces with reviewers' notes, written straight to a store.

Comments go in with SQL through the store's write cursor (the comments API is built
beside this work); TEXT scores through the one score path, ``store.write_scores``.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

from heron.model import ObservationRecord, TraceUpdate
from heron.scores import ScoreRecord
from heron.store import EmbeddedStore

DATA = Path(__file__).parent / "data"
START = datetime(2026, 11, 2, 9, 0)


def labelled(name: str = "notes.jsonl") -> list[dict[str, str]]:
    """The shipped labelled notes: ``[{category, note}]``."""
    return [json.loads(line) for line in (DATA / name).read_text().splitlines() if line]


def us(at: datetime) -> int:
    return int((at - datetime(1970, 1, 1)).total_seconds() * 1_000_000)


def add_traces(
    store: EmbeddedStore,
    project_id: str,
    trace_ids: Sequence[str],
    *,
    start: datetime = START,
    name: str = "chat",
    environment: str = "production",
) -> None:
    """One root span per trace, a minute apart from ``start``."""
    observations, traces = [], []
    for i, trace_id in enumerate(trace_ids):
        at = start + timedelta(minutes=i)
        observations.append(
            ObservationRecord(
                project_id=project_id,
                id=trace_id[:16],
                trace_id=trace_id,
                parent_id=None,
                type="span",
                name=name,
                start_us=us(at),
                end_us=us(at) + 1000,
            )
        )
        traces.append(
            TraceUpdate(
                project_id=project_id,
                trace_id=trace_id,
                is_root=True,
                name=name,
                environment=environment,
            )
        )
    store.write_batch(observations, traces)


def add_comments(store: EmbeddedStore, project_id: str, notes: Sequence[tuple[str, str]]) -> None:
    """Comments ``(trace id, content)`` on traces, in order of creation."""
    now = datetime.now(UTC).replace(tzinfo=None)
    with store._admin() as cur:
        cur.executemany(
            "INSERT INTO comments VALUES (?, ?, 'TRACE', ?, ?, ?, 'reviewer', ?, ?)",
            [
                [
                    project_id,
                    uuid.uuid4().hex,
                    trace_id,
                    trace_id,
                    content,
                    now + timedelta(microseconds=i),
                    now + timedelta(microseconds=i),
                ]
                for i, (trace_id, content) in enumerate(notes)
            ],
        )


def add_text_scores(
    store: EmbeddedStore, project_id: str, name: str, notes: Sequence[tuple[str, str]]
) -> None:
    """TEXT scores ``(trace id, text)`` named ``name``."""
    store.write_scores(
        [
            ScoreRecord(
                project_id=project_id,
                id=uuid.uuid4().hex,
                trace_id=trace_id,
                observation_id=None,
                session_id=None,
                name=name,
                value=None,
                string_value=text,
                data_type="TEXT",
                source="ANNOTATION",
                comment=None,
                author=None,
                timestamp=START + timedelta(seconds=i),
                metadata=None,
                environment="production",
            )
            for i, (trace_id, text) in enumerate(notes)
        ]
    )


def seed_labelled(
    store: EmbeddedStore, project_id: str, name: str = "notes.jsonl"
) -> dict[str, str]:
    """A trace per labelled note, the note as a comment; trace id -> true category."""
    rows = labelled(name)
    ids = [f"{project_id[:8]}{i:024x}" for i in range(len(rows))]
    add_traces(store, project_id, ids)
    add_comments(store, project_id, [(t, r["note"]) for t, r in zip(ids, rows, strict=True)])
    return {t: r["category"] for t, r in zip(ids, rows, strict=True)}
