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


@pytest.mark.parametrize(
    ("metric", "label", "unit", "polarity"),
    [
        ("avg_has_score.implicit_retry", "Retry rate", "%", LOWER),
        ("avg_has_score.implicit_abandonment", "Abandonment rate", "%", LOWER),
        ("avg_has_score.implicit_copy", "Copy rate", "%", HIGHER),
        ("avg_has_score.implicit_new_signal", "New signal rate", "%", NONE),
        ("avg_has_score.user_feedback", "Response rate (user_feedback)", "%", NONE),
        ("avg_scores.user_feedback", "Average user_feedback (rated traces)", "", HIGHER),
        ("avg_scores.error_flag", "Average error_flag (rated traces)", "", LOWER),
        ("avg_has_true_score.user_feedback", "Share of traces with user_feedback true", "%",
         HIGHER),
        ("sum_has_score.implicit_retry", "Traces with implicit_retry", "", NONE),
        ("count_scores.user_feedback", "Traces with user_feedback", "", NONE),
    ],
)  # fmt: skip
def test_score_measures_read_as_rates(metric: str, label: str, unit: str, polarity: int) -> None:
    assert metric_label(metric) == label
    assert metric_unit(metric) == unit
    assert metric_polarity(metric) == polarity
