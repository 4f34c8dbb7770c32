"""Durations as configuration writes them: ``30s``, ``5m``, ``1h``, ``1d`` (also ``1w``)."""

from __future__ import annotations

import re
from datetime import timedelta

_DURATION = re.compile(r"^\s*(\d{1,7})\s*(s|m|h|d|w)\s*$")
_UNIT_S = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
MAX = timedelta(days=366)


def parse_duration(value: object) -> timedelta:
    """``"5m"`` -> 5 minutes; ValueError naming the accepted form otherwise. Whole seconds,
    more than zero, at most a year."""
    if isinstance(value, bool) or not isinstance(value, str):
        raise ValueError("expected a duration such as 30s, 5m, 1h or 1d")
    m = _DURATION.match(value)
    if m is None:
        raise ValueError(f"{value[:40]!r} is not a duration such as 30s, 5m, 1h or 1d")
    seconds = int(m.group(1)) * _UNIT_S[m.group(2)]
    if seconds <= 0:
        raise ValueError("a duration must be more than zero")
    if seconds > MAX.total_seconds():
        raise ValueError("a duration must be at most 366d")
    return timedelta(seconds=seconds)


def format_duration(value: timedelta) -> str:
    """The shortest exact form: 300 s -> ``"5m"``, 90 s -> ``"90s"``."""
    seconds = int(value.total_seconds())
    for unit in ("w", "d", "h", "m"):
        if seconds % _UNIT_S[unit] == 0 and seconds >= _UNIT_S[unit]:
            return f"{seconds // _UNIT_S[unit]}{unit}"
    return f"{seconds}s"
