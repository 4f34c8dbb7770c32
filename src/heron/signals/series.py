"""Evaluation times: multiples of an alert's ``every`` since the Unix epoch, so the live
evaluation and a backtest compute the same number for the same time. The metric at those
times is the store's ``alert_series`` (:mod:`heron.store.alert_series`)."""

from __future__ import annotations

from datetime import datetime, timedelta

from heron.store.alert_series import EPOCH, Point, kind_of

__all__ = ["EPOCH", "Point", "aligned", "evaluation_times", "kind_of"]


def aligned(t: datetime, every: timedelta, up: bool = False) -> datetime:
    """The evaluation time at or before ``t`` (``up``: at or after)."""
    step = int(every.total_seconds())
    s = (t - EPOCH) // timedelta(seconds=1)
    k = s // step if not up else -(-s // step)
    return EPOCH + timedelta(seconds=k * step)


def evaluation_times(start: datetime, end: datetime, every: timedelta) -> list[datetime]:
    """The evaluation times in ``[start, end]``."""
    t = aligned(start, every, up=True)
    out = []
    while t <= end:
        out.append(t)
        t += every
    return out
