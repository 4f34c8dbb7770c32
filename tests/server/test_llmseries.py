"""The scrape-time cache of LLM totals: slow queries are reused for a while, quick ones never."""

from __future__ import annotations

import time
from collections.abc import Callable

from heron.server.llmseries import Totals, TotalsCache


def counting(delay_s: float) -> tuple[list[int], Callable[[], Totals]]:
    calls: list[int] = []

    def compute() -> Totals:
        calls.append(1)
        time.sleep(delay_s)
        return [], []

    return calls, compute


def test_a_slow_computation_is_reused_for_ten_times_its_duration() -> None:
    cache = TotalsCache(reuse=10, min_s=0.05)
    calls, compute = counting(0.06)
    first = cache.get("p", compute)
    assert cache.get("p", compute) is first
    assert len(calls) == 1
    other_calls, other = counting(0.06)
    cache.get("q", other)
    assert len(other_calls) == 1  # per project
    time.sleep(0.7)  # past 10 x 0.06 s
    cache.get("p", compute)
    assert len(calls) == 2


def test_a_quick_computation_is_never_reused() -> None:
    cache = TotalsCache(reuse=10, min_s=0.05)
    calls, compute = counting(0)
    for _ in range(3):
        cache.get("p", compute)
    assert len(calls) == 3
