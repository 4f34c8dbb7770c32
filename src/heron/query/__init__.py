"""heron's query language: filters (shared by search, metrics, rules and evaluators)."""

from heron.query.filters import (
    OPERATORS,
    Column,
    Filter,
    FilterError,
    compile_filters,
    parse_filters,
)
from heron.query.views import OBSERVATIONS, SCORES, TRACES, View

__all__ = [
    "OBSERVATIONS",
    "OPERATORS",
    "SCORES",
    "TRACES",
    "Column",
    "Filter",
    "FilterError",
    "View",
    "compile_filters",
    "parse_filters",
]
