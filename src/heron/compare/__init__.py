"""Change comparison: did that change help? Two cohorts compared on every metric and score.

``parse_compare_query`` validates a request, ``run_compare`` answers it (see
docs/compare.md for the statistics and the verdict rules).
"""

from heron.compare.engine import run_compare
from heron.compare.query import Cohort, CompareQuery, parse_compare_query

__all__ = ["Cohort", "CompareQuery", "parse_compare_query", "run_compare"]
