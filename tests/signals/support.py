"""Building traces, observations and scores for the signal tests (real store writes)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from heron.model import ObservationRecord, TraceUpdate
from heron.runner import Runner
from heron.scores import ScoreRecord
from heron.signals.task import RulesTask
from heron.store import EmbeddedStore

NOW = datetime(2026, 12, 1, 12, 0, 0)


def us(dt: datetime) -> int:
    return int((dt - datetime(1970, 1, 1)).total_seconds() * 1_000_000)


def tid(n: int) -> str:
    return f"{n:032x}"


def obs(
    trace_id: str,
    n: int,
    *,
    project: str = "p1",
    type: str = "span",
    name: str = "step",
    at: datetime = NOW,
    ms: float = 1000.0,
    level: str = "DEFAULT",
    status: str | None = None,
    model: str | None = None,
    metadata: dict[str, Any] | None = None,
    cost: float | None = None,
    parent: bool = True,
) -> ObservationRecord:
    """An observation of ``trace_id`` (the n-th; ``parent=False``: the root)."""
    return ObservationRecord(
        project_id=project,
        id=f"{trace_id[-12:]}{n:04x}",
        trace_id=trace_id,
        parent_id=f"{trace_id[-12:]}{0:04x}" if parent else None,
        type=type,
        name=name,
        start_us=us(at) + n,
        end_us=us(at) + n + int(ms * 1000),
        level=level,
        status_message=status,
        model=model,
        metadata=metadata or {},
        cost={"total": cost} if cost is not None else {},
        cost_from_client=cost is not None,
    )


def trace(
    store: EmbeddedStore,
    trace_id: str,
    *children: ObservationRecord,
    project: str = "p1",
    name: str = "chat",
    at: datetime = NOW,
    ms: float = 1000.0,
    user: str | None = None,
    session: str | None = None,
    cost: float | None = None,
    metadata: dict[str, Any] | None = None,
) -> None:
    """One trace: a root span (``ms`` long) and ``children``, in one batch."""
    root = obs(trace_id, 0, project=project, name=name, at=at, ms=ms, cost=cost, parent=False)
    store.write_batch(
        [root, *children],
        [
            TraceUpdate(
                project_id=project,
                trace_id=trace_id,
                is_root=True,
                name=name,
                user_id=user,
                session_id=session,
                metadata=metadata,
            )
        ],
    )


def score(
    store: EmbeddedStore,
    trace_id: str,
    name: str,
    value: float,
    *,
    data_type: str = "NUMERIC",
    source: str = "API",
    project: str = "p1",
    sid: str | None = None,
) -> None:
    store.write_scores(
        [
            ScoreRecord(
                project_id=project,
                id=sid or f"s-{trace_id[-8:]}-{name}",
                trace_id=trace_id,
                observation_id=None,
                session_id=None,
                name=name,
                value=value,
                string_value=None,
                data_type=data_type,
                source=source,
                comment=None,
                author=None,
                timestamp=NOW + timedelta(minutes=1),
                metadata=None,
                environment=None,
            )
        ]
    )


def rules_runner(store: EmbeddedStore, *extra: Any) -> Runner:
    """A runner with the rules task (and ``extra`` tasks) that has seen the store's head."""
    runner = Runner(store, [RulesTask(), *extra], clock=lambda: NOW, min_pass_s=0.0)
    runner.run_until_idle()
    return runner


def signals(store: EmbeddedStore, project: str = "p1") -> list[dict[str, Any]]:
    rows, _ = store.list_signals(project, limit=1000)
    return rows
