"""Human names, units and which way is good for dashboard metrics."""

from __future__ import annotations

import pytest

from heron.dashboards.labels import (
    HIGHER,
    LOWER,
    NONE,
    dimension_label,
    metric_label,
    metric_polarity,
    metric_unit,
)


@pytest.mark.parametrize(
    ("metric", "label", "unit", "polarity"),
    [
        ("sum_total_cost", "Total cost", "$", LOWER),
        ("count_count", "Count", "", NONE),
        ("avg_error_rate", "Error rate", "%", LOWER),
        ("p95_latency", "p95 latency", "ms", LOWER),
        ("p50_latency", "Median latency", "ms", LOWER),
        ("p50_time_to_first_token", "Median time to first token", "ms", LOWER),
        ("sum_input_tokens", "Total input tokens", "tokens", NONE),
        ("avg_tokens_per_second", "Average tokens per second", "tokens/s", HIGHER),
        ("sum_observation_count", "Observations", "", NONE),
        ("uniq_user_id", "Distinct users", "", NONE),
        ("histogram_latency", "Distribution of latency", "ms", LOWER),
        ("avg_value", "Average score", "", NONE),
        ("max_some_custom_thing", "Maximum some custom thing", "", NONE),
    ],
)
def test_metric_reads_like_a_person_wrote_it(
    metric: str, label: str, unit: str, polarity: int
) -> None:
    assert metric_label(metric) == label
    assert metric_unit(metric) == unit
    assert metric_polarity(metric) == polarity
    assert "_" not in metric_label(metric)


def test_dimension_labels() -> None:
    assert dimension_label("user_id") == "User"
    assert dimension_label("name") == "Trace name"
    assert dimension_label("model") == "Model"
    assert dimension_label("custom_key") == "custom key"
