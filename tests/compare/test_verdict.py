"""Verdicts agree with their intervals: a difference whose 95% interval excludes 0 is never
"no change", whatever the metric's direction; compare windows never run past now."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from heron.compare import parse_compare_query
from heron.compare.engine import HIGHER, LOWER, NONE, verdict_of
from heron.compare.stats import compare_counts
from heron.query.filters import FilterError


def test_a_count_difference_whose_interval_excludes_zero_is_a_change() -> None:
    e = compare_counts(1000, 1400)
    assert e.ci_low is not None and e.ci_low > 0
    verdict, significant = verdict_of(e.enough, e.difference, e.ci_low, e.ci_high, 1e-6, NONE)
    assert (verdict, significant) == ("increased", True)
    e = compare_counts(1400, 1000)
    assert verdict_of(e.enough, e.difference, e.ci_low, e.ci_high, 1e-6, NONE)[0] == "decreased"


@pytest.mark.parametrize(
    ("low", "high", "p_adj", "direction", "expected"),
    [
        (-1.0, 1.0, 0.5, NONE, "no_change"),
        (-1.0, 1.0, 0.5, LOWER, "no_change"),
        (0.5, 2.0, 0.001, LOWER, "worse"),
        (0.5, 2.0, 0.001, HIGHER, "better"),
        (-2.0, -0.5, 0.001, LOWER, "better"),
        # the interval excludes 0 but Holm's correction keeps it from being significant
        (0.5, 2.0, 0.2, HIGHER, "inconclusive"),
        (0.5, 2.0, 0.2, NONE, "inconclusive"),
    ],
)
def test_verdict_follows_interval_and_adjusted_p(
    low: float, high: float, p_adj: float, direction: int, expected: str
) -> None:
    verdict, significant = verdict_of(True, (low + high) / 2, low, high, p_adj, direction)
    assert verdict == expected
    assert significant == (expected in ("better", "worse", "increased", "decreased"))


def test_insufficient_data_wins() -> None:
    assert verdict_of(False, 1.0, None, None, None, HIGHER) == ("insufficient_data", False)


NOW = datetime(2026, 3, 10, 12, 0, 0)


def test_window_after_at_never_runs_past_now() -> None:
    q = parse_compare_query({"at": "2026-03-08T12:00:00Z", "days": 7}, now=NOW)
    assert q.candidate.to_time == NOW
    assert q.candidate.from_time == datetime(2026, 3, 8, 12)
    # both windows keep the same length
    assert q.baseline.from_time == datetime(2026, 3, 6, 12)
    assert q.baseline.to_time == datetime(2026, 3, 8, 12)


def test_window_well_in_the_past_is_untouched() -> None:
    q = parse_compare_query({"at": "2026-02-01T00:00:00Z", "days": 7}, now=NOW)
    assert q.candidate.to_time - q.candidate.from_time == timedelta(days=7)
    assert q.baseline.to_time - q.baseline.from_time == timedelta(days=7)


def test_a_moment_in_the_future_is_a_clear_error() -> None:
    with pytest.raises(FilterError, match="at: must be in the past"):
        parse_compare_query({"at": "2026-03-11T00:00:00Z"}, now=NOW)
