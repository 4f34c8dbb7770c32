"""Traces for alert tests: one root span each, at given times, erroring or not."""

from __future__ import annotations

import itertools
from collections.abc import Iterable
from datetime import datetime

from heron.model import ObservationRecord, TraceUpdate
from heron.store import Store

_ids = itertools.count(1)


def us(dt: datetime) -> int:
    return int((dt - datetime(1970, 1, 1)).total_seconds() * 1_000_000)


def add_traces(
    store: Store,
    times: Iterable[datetime],
    *,
    project: str = "p1",
    name: str = "chat",
    error: bool = False,
    latency_ms: float | list[float] = 1000.0,
) -> int:
    """One trace per time (a root span of ``latency_ms``, one for all or one per time),
    written in one batch."""
    observations, traces = [], []
    times = list(times)
    latencies = latency_ms if isinstance(latency_ms, list) else [latency_ms] * len(times)
    for at, latency in zip(times, latencies, strict=True):
        n = next(_ids)
        trace_id = f"{n:032x}"
        observations.append(
            ObservationRecord(
                project_id=project,
                id=trace_id[:16],
                trace_id=trace_id,
                parent_id=None,
                type="span",
                name=name,
                start_us=us(at),
                end_us=us(at) + int(latency * 1000),
                level="ERROR" if error else "DEFAULT",
            )
        )
        traces.append(TraceUpdate(project_id=project, trace_id=trace_id, is_root=True, name=name))
    if observations:
        store.write_batch(observations, traces)
    return len(observations)
