"""How a dashboard metric reads: a human name ("Total cost"), its unit ($, ms, %, tokens) and
which way is good (a cost going down is good, a count has no good direction).

A metric key is ``<aggregation>_<measure>`` as the metrics query names its columns, e.g.
``sum_total_cost``, ``p95_latency``, ``count_count``, ``uniq_user_id``."""

from __future__ import annotations

from typing import Any

from heron.compare.engine import IMPLICIT_PREFIX, implicit_direction, score_direction
from heron.query.metrics import SCORE_MEASURES

LOWER, NONE, HIGHER = -1, 0, 1

_AGGREGATION = {
    "sum": "Total",
    "avg": "Average",
    "min": "Minimum",
    "max": "Maximum",
    "p50": "Median",
    "p75": "p75",
    "p90": "p90",
    "p95": "p95",
    "p99": "p99",
    "uniq": "Distinct",
    "count": "Count of",
    "histogram": "Distribution of",
}
_MEASURE = {
    "latency": "latency",
    "time_to_first_token": "time to first token",
    "streaming_latency": "streaming latency",
    "tokens_per_second": "tokens per second",
    "input_tokens": "input tokens",
    "output_tokens": "output tokens",
    "total_tokens": "tokens",
    "input_cost": "input cost",
    "output_cost": "output cost",
    "total_cost": "cost",
    "observation_count": "observations",
    "error_count": "errors",
    "error_rate": "error rate",
    "user_id": "users",
    "session_id": "sessions",
    "id": "IDs",
    "trace_id": "traces",
    "value": "score",
}
_UNIT = {
    "latency": "ms",
    "time_to_first_token": "ms",
    "streaming_latency": "ms",
    "tokens_per_second": "tokens/s",
    "input_tokens": "tokens",
    "output_tokens": "tokens",
    "total_tokens": "tokens",
    "input_cost": "$",
    "output_cost": "$",
    "total_cost": "$",
    "error_rate": "%",
}
# Lower is better for these measures; higher for these; the rest (volumes) have no direction.
_LOWER = frozenset(
    {"latency", "time_to_first_token", "streaming_latency", "input_cost", "output_cost",
     "total_cost", "error_count", "error_rate"}
)  # fmt: skip
_HIGHER = frozenset({"tokens_per_second"})
_DIMENSION = {
    "name": "Trace name",
    "trace_name": "Trace name",
    "user_id": "User",
    "session_id": "Session",
    "release": "Release",
    "version": "Version",
    "environment": "Environment",
    "level": "Level",
    "tags": "Tag",
    "model": "Model",
    "id": "ID",
    "trace_id": "Trace",
    "prompt_name": "Prompt",
    "prompt_version": "Prompt version",
    "type": "Type",
    "data_type": "Score type",
    "source": "Source",
}


def split(metric: str) -> tuple[str, str]:
    """``("sum", "total_cost")`` from ``sum_total_cost``."""
    aggregation, _, measure = metric.partition("_")
    return aggregation, measure


def _score(measure: str) -> tuple[str, str] | None:
    """``("has_score", "implicit_retry")`` for a per-trace score measure, else None."""
    family, dot, name = measure.partition(".")
    return (family, name) if dot and family in SCORE_MEASURES else None


def _score_label(aggregation: str, family: str, name: str) -> str:
    signal = name.removeprefix(IMPLICIT_PREFIX)
    implicit = signal != name
    if aggregation == "avg" and family == "has_score":
        return (
            f"{signal.replace('_', ' ').capitalize()} rate"
            if implicit
            else f"Response rate ({name})"
        )
    if aggregation == "avg" and family == "has_true_score":
        return f"Share of traces with {name} true"
    if aggregation == "avg" and family == "scores":
        return f"Average {name} (rated traces)"
    if aggregation in ("sum", "count") and family != "has_true_score":
        return f"Traces with {name}"
    word = _AGGREGATION.get(aggregation, aggregation)
    return f"{word} {family.replace('_', ' ')} {name}"


def metric_label(metric: str) -> str:
    """Human name: ``sum_total_cost`` → "Total cost", ``count_count`` → "Count",
    ``p95_latency`` → "p95 latency", ``uniq_user_id`` → "Distinct users",
    ``avg_has_score.implicit_retry`` → "Retry rate"."""
    aggregation, measure = split(metric)
    score = _score(measure)
    if score is not None:
        return _score_label(aggregation, *score)
    if measure == "count":
        return "Count"
    noun = _MEASURE.get(measure, measure.replace("_", " "))
    if aggregation == "count":
        return f"Number of {noun}" if measure != "id" else "Count"
    if aggregation == "avg" and measure == "error_rate":
        return "Error rate"
    if aggregation == "sum" and measure in ("error_count", "observation_count"):
        return noun.capitalize()
    word = _AGGREGATION.get(aggregation, aggregation)
    text = f"{word} {noun}"
    return text if word.startswith("p") and word[1:].isdigit() else text[0].upper() + text[1:]


def metric_unit(metric: str) -> str:
    """``$``, ``ms``, ``%``, ``tokens``, ``tokens/s`` or "" (a plain number)."""
    aggregation, measure = split(metric)
    if aggregation in ("count", "uniq"):
        return ""
    score = _score(measure)
    if score is not None:  # a share of traces (a score's own scale is not known here)
        return "%" if aggregation == "avg" and score[0] != "scores" else ""
    return _UNIT.get(measure, "")


def metric_polarity(metric: str) -> int:
    """-1 when a lower value is better (cost, latency, errors), 1 when higher is better,
    0 when neither (counts, tokens)."""
    aggregation, measure = split(metric)
    if aggregation in ("count", "uniq"):
        return NONE
    score = _score(measure)
    if score is not None:
        family, name = score
        if aggregation != "avg":
            return NONE  # sums and percentiles of flags: volumes
        if name.startswith(IMPLICIT_PREFIX):
            return implicit_direction(name)
        # a response rate has no good direction (who answers is skewed)
        return NONE if family == "has_score" else score_direction(name)
    if measure in _LOWER:
        return LOWER
    return HIGHER if measure in _HIGHER else NONE


def dimension_label(name: str) -> str:
    """Human name of a dimension: ``user_id`` → "User"; metadata keys stay as typed."""
    return _DIMENSION.get(name, name.replace("_", " "))


def describe_metric(metric: str) -> dict[str, Any]:
    """What the page's script needs for one metric: key, label, unit, polarity."""
    return {
        "key": metric,
        "label": metric_label(metric),
        "unit": metric_unit(metric),
        "polarity": metric_polarity(metric),
    }
