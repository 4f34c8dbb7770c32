"""Per-project LLM and score series for ``GET /metrics``, with bounded label values.

The totals come from the store (:mod:`heron.store.llmstats`, :mod:`heron.store.scorestats`).
Each project may show at most ``max_values`` distinct models, as many distinct trace names
and as many distinct score names; further values are summed into ``other``. A value, once
shown, keeps its own series for the life of the process, so a counter never moves between
``other`` and its own label (which Prometheus would read as a reset); new values are
admitted by count, most frequent first, while there is room.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Generic, TypeVar

from prometheus_client.core import (
    CounterMetricFamily,
    HistogramMetricFamily,
    Metric,
    SummaryMetricFamily,
)

from heron.store.llmstats import LATENCY_BUCKETS, SeriesTotals
from heron.store.scorestats import ScoreTotals

Totals = tuple[list[SeriesTotals], list[SeriesTotals]]  # model calls, traces
T = TypeVar("T")

OTHER = "other"
UNKNOWN = "unknown"  # a model call without a model name, a trace without a name
MAX_LABEL_CHARS = 128


class LabelCap:
    """Which label values each project may show (sticky; thread-safe)."""

    def __init__(self, max_values: int) -> None:
        self.max_values = max_values
        self._admitted: dict[tuple[str, str], set[str]] = {}
        self._lock = threading.Lock()

    def mapping(self, project_id: str, label: str, counts: dict[str, int]) -> dict[str, str]:
        """Map each value of ``label`` to itself when admitted, else to ``other``."""
        with self._lock:
            admitted = self._admitted.setdefault((project_id, label), set())
            room = self.max_values - len(admitted)
            if room > 0:
                fresh = [v for v in counts if v not in admitted]
                fresh.sort(key=lambda v: (-counts[v], v))
                admitted.update(fresh[:room])
            return {v: v if v in admitted else OTHER for v in counts}

    def admitted(self, project_id: str, label: str) -> list[str]:
        """The values of ``label`` admitted so far for the project."""
        with self._lock:
            return sorted(self._admitted.get((project_id, label), ()))


class TotalsCache(Generic[T]):
    """Reuses a project's totals for ``reuse`` times as long as computing them took, when
    that took more than ``min_s``: however often Prometheus scrapes a large store, the
    queries take at most about 1/``reuse`` of one core; small stores are always fresh."""

    def __init__(self, reuse: float = 10.0, min_s: float = 0.05) -> None:
        self.reuse = reuse
        self.min_s = min_s
        self._entries: dict[str, tuple[float, float, T]] = {}
        self._lock = threading.Lock()

    def get(self, project_id: str, compute: Callable[[], T]) -> T:
        now = time.monotonic()
        with self._lock:
            entry = self._entries.get(project_id)
        if entry is not None:
            at, took, totals = entry
            if took > self.min_s and now - at < took * self.reuse:
                return totals
        totals = compute()
        took = time.monotonic() - now
        with self._lock:
            self._entries[project_id] = (now, took, totals)
        return totals


def label_value(value: str | None) -> str:
    if not value:
        return UNKNOWN
    return value if len(value) <= MAX_LABEL_CHARS else value[: MAX_LABEL_CHARS - 1] + "…"


@dataclass(slots=True)
class _Sum:
    count: int = 0
    errors: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    cost_usd: float = 0.0
    timed: int = 0
    latency_sum_s: float = 0.0
    buckets: list[int] = field(default_factory=lambda: [0] * len(LATENCY_BUCKETS))

    def add(self, t: SeriesTotals) -> None:
        self.count += t.count
        self.errors += t.errors
        self.input_tokens += t.input_tokens
        self.output_tokens += t.output_tokens
        self.cost_usd += t.cost_usd
        self.timed += t.timed
        self.latency_sum_s += t.latency_sum_s
        for i, n in enumerate(t.buckets):
            self.buckets[i] += n


def _fold(
    totals: Iterable[SeriesTotals], relabel: Iterable[dict[str, str]]
) -> dict[tuple[str, ...], _Sum]:
    maps = list(relabel)
    out: dict[tuple[str, ...], _Sum] = {}
    for t in totals:
        key = tuple(m[label_value(v)] for m, v in zip(maps, t.labels, strict=True))
        out.setdefault(key, _Sum()).add(t)
    return out


def _buckets(s: _Sum) -> list[tuple[str, float]]:
    pairs: list[tuple[str, float]] = [
        (repr(b), n) for b, n in zip(LATENCY_BUCKETS, s.buckets, strict=True)
    ]
    pairs.append(("+Inf", s.timed))
    return pairs


def _families(
    names: tuple[str, str, str],
    what: str,
    label_names: list[str],
    rows: dict[tuple[str, ...], _Sum],
    with_usage: bool,
) -> Iterator[Metric]:
    """Count, errors, (tokens, cost,) latency; ``names`` = (count, errors, prefix)."""
    count_name, errors_name, prefix = names
    count = CounterMetricFamily(count_name, f"{what} stored", labels=label_names)
    errors = CounterMetricFamily(errors_name, f"{what} at level ERROR", labels=label_names)
    tokens_in = CounterMetricFamily(
        f"{prefix}_input_tokens", f"Input tokens of {what.lower()}", labels=label_names
    )
    tokens_out = CounterMetricFamily(
        f"{prefix}_output_tokens", f"Output tokens of {what.lower()}", labels=label_names
    )
    cost = CounterMetricFamily(
        f"{prefix}_cost_usd", f"Cost of {what.lower()} in US dollars", labels=label_names
    )
    latency = HistogramMetricFamily(
        f"{prefix}_latency_seconds", f"Latency of {what.lower()}", labels=label_names
    )
    for labels, s in sorted(rows.items()):
        values = list(labels)
        count.add_metric(values, s.count)
        errors.add_metric(values, s.errors)
        tokens_in.add_metric(values, s.input_tokens)
        tokens_out.add_metric(values, s.output_tokens)
        cost.add_metric(values, s.cost_usd)
        latency.add_metric(values, _buckets(s), s.latency_sum_s)
    yield from (count, errors)
    if with_usage:
        yield from (tokens_in, tokens_out, cost)
    yield latency


def llm_families(
    project: str,
    project_id: str,
    calls: list[SeriesTotals],
    traces: list[SeriesTotals],
    cap: LabelCap,
) -> Iterator[Metric]:
    """The project's series: model calls by model and trace name, traces by trace name."""
    model_counts: dict[str, int] = {}
    for t in calls:
        key = label_value(t.labels[0])
        model_counts[key] = model_counts.get(key, 0) + t.count
    name_counts: dict[str, int] = {}
    for t in traces:
        key = label_value(t.labels[0])
        name_counts[key] = name_counts.get(key, 0) + t.count
    for t in calls:  # normally among the traces' names already (both count settled traces)
        name_counts.setdefault(label_value(t.labels[1]), 0)
    models = cap.mapping(project_id, "model", model_counts)
    names = cap.mapping(project_id, "trace_name", name_counts)
    call_rows = _fold(calls, [models, names])
    trace_rows = _fold(traces, [names])
    yield from _families(
        ("heron_llm_requests", "heron_llm_errors", "heron_llm"),
        "Model calls",
        ["project", "model", "trace_name"],
        {(project, *k): v for k, v in call_rows.items()},
        with_usage=True,
    )
    yield from _families(
        ("heron_traces", "heron_trace_errors", "heron_trace"),
        "Traces",
        ["project", "trace_name"],
        {(project, *k): v for k, v in trace_rows.items()},
        with_usage=False,
    )


# -- scores -----------------------------------------------------------------------------------

SCORE_NAME = "score_name"  # the LabelCap key of score names
VALUED_TYPES = ("NUMERIC", "BOOLEAN")


@dataclass(slots=True)
class _ScoreSum:
    count: int = 0
    valued: int = 0
    value_sum: float = 0.0
    true: int = 0


def score_families(
    project: str, project_id: str, totals: list[ScoreTotals], cap: LabelCap
) -> Iterator[Metric]:
    """The project's scores by name, source and data type: how many; how many BOOLEAN ones
    are true; the count and sum of NUMERIC and BOOLEAN values (a summary without quantiles,
    so ``_sum / _count`` is the mean). Names share the project's cap on label values; the
    rows of names the store summed together (``name`` None) are ``other``."""
    counts: dict[str, int] = {}
    for t in totals:
        if t.name is not None:
            key = label_value(t.name)
            counts[key] = counts.get(key, 0) + t.count
    names = cap.mapping(project_id, SCORE_NAME, counts)
    rows: dict[tuple[str, str, str], _ScoreSum] = {}
    for t in totals:
        name = OTHER if t.name is None else names[label_value(t.name)]
        s = rows.setdefault((name, t.source, t.data_type), _ScoreSum())
        s.count += t.count
        s.valued += t.valued
        s.value_sum += t.value_sum
        s.true += t.true
    labels = ["project", "name", "source", "data_type"]
    scores = CounterMetricFamily("heron_scores", "Scores stored", labels=labels)
    true = CounterMetricFamily(
        "heron_scores_true", "BOOLEAN scores stored with the value true (1)", labels=labels
    )
    values = SummaryMetricFamily(
        "heron_score_value",
        "Values of NUMERIC and BOOLEAN scores (true is 1): _sum / _count is the mean",
        labels=labels,
    )
    for (name, source, data_type), s in sorted(rows.items()):
        key = [project, name, source, data_type]
        scores.add_metric(key, s.count)
        if data_type == "BOOLEAN":
            true.add_metric(key, s.true)
        if data_type in VALUED_TYPES:
            values.add_metric(key, count_value=s.valued, sum_value=s.value_sum)
    yield from (scores, true, values)
