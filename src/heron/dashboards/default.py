"""The built-in monitoring dashboard, in the same widget format as custom ones.

Widgets whose queries differ only in their metrics are answered by one query
(:func:`heron.dashboards.run.run_dashboard` merges them), so the KPI numbers share one query
(two with the previous period), the charts over time another, and so on. Volumes and tokens
over time come from the trace rows (their observation count and token sums, by the trace's
start), one row per trace instead of one per observation; only time to first token reads
observations, and only those with a first token. The user-feedback section adds three
queries (implicit rates by model, by release and by prompt version); its numbers and charts
over time join the queries above.
"""

from __future__ import annotations

from typing import Any

from heron.dashboards.spec import Dashboard, Widget

DEFAULT_ID = "default"
AUTO = {"granularity": "auto"}


def _m(measure: str, aggregation: str) -> dict[str, str]:
    return {"measure": measure, "aggregation": aggregation}


def _q(view: str, *metrics: dict[str, str], **rest: Any) -> dict[str, Any]:
    return {"view": view, "metrics": list(metrics), **rest}


def _traces_over_time(*metrics: dict[str, str]) -> dict[str, Any]:
    return _q("traces", *metrics, timeDimension=AUTO)


def _widgets() -> list[Widget]:
    by = lambda field: [{"field": field}]  # noqa: E731
    return [
        Widget("traces-total", "Traces", "number", _q("traces", _m("count", "count"))),
        Widget("cost-total", "Cost", "number", _q("traces", _m("total_cost", "sum"))),
        Widget("errors-total", "Error rate", "number", _q("traces", _m("error_rate", "avg"))),
        Widget("latency-total", "Latency p95 (ms)", "number", _q("traces", _m("latency", "p95"))),
        Widget("traces", "Traces", "bar_time", _traces_over_time(_m("count", "count"))),
        Widget(
            "observations",
            "Observations",
            "bar_time",
            _traces_over_time(_m("observation_count", "sum")),
        ),
        Widget("error-rate", "Error rate", "line", _traces_over_time(_m("error_rate", "avg"))),
        Widget(
            "latency",
            "Trace latency (ms)",
            "line",
            _traces_over_time(_m("latency", "p50"), _m("latency", "p95"), _m("latency", "p99")),
        ),
        Widget(
            "ttft",
            "Time to first token (ms)",
            "line",
            _q(
                "observations",
                _m("time_to_first_token", "p50"),
                _m("time_to_first_token", "p95"),
                timeDimension=AUTO,
                filters=[{"column": "time_to_first_token_ms", "operator": "is not null"}],
            ),
        ),
        Widget(
            "tokens",
            "Tokens",
            "area",
            _traces_over_time(_m("input_tokens", "sum"), _m("output_tokens", "sum")),
        ),
        Widget(
            "latency-histogram",
            "Trace latency distribution (ms)",
            "histogram",
            _q("traces", _m("latency", "histogram"), config={"bins": 20}),
        ),
        Widget(
            "cost-per-day",
            "Cost per day (USD)",
            "bar_time",
            _q("traces", _m("total_cost", "sum"), timeDimension={"granularity": "day"}),
        ),
        Widget(
            "cost-per-model",
            "Cost per model (USD)",
            "bar",
            _q(
                "observations",
                _m("total_cost", "sum"),
                dimensions=by("model"),
                filters=[{"column": "model", "operator": "is not null"}],
                orderBy=[{"field": "sum_total_cost", "direction": "desc"}],
            ),
        ),
        Widget(
            "cost-per-route",
            "Cost per route (trace name, USD)",
            "bar",
            _q(
                "traces",
                _m("total_cost", "sum"),
                dimensions=by("name"),
                orderBy=[{"field": "sum_total_cost", "direction": "desc"}],
            ),
        ),
        Widget(
            "top-users",
            "Most expensive users",
            "pivot",
            _q(
                "traces",
                _m("total_cost", "sum"),
                _m("count", "count"),
                dimensions=by("user_id"),
                filters=[{"column": "user_id", "operator": "is not null"}],
                orderBy=[{"field": "sum_total_cost", "direction": "desc"}],
                config={"row_limit": 10},
            ),
        ),
        Widget(
            "scores",
            "Scores (average, numeric and boolean)",
            "line",
            _q("scores-numeric", _m("value", "avg"), dimensions=by("name"), timeDimension=AUTO),
        ),
        *_feedback_widgets(),
    ]


# User feedback: explicit thumbs (heron.feedback, the browser widget) and the implicit signals
# the detectors write (heron.implicit). Implicit scores are only ever true, so their rate is
# the share of traces that have them (has_score); the thumbs-up share is among the rated
# traces (scores.<name>, a per-trace mean), shown beside the share of traces rated at all,
# since who answers is skewed.
FEEDBACK = "user_feedback"
IMPLICIT_RATES = (
    "implicit_retry",
    "implicit_rephrase",
    "implicit_disagreement",
    "implicit_abandonment",
)


def _implicit(**rest: Any) -> dict[str, Any]:
    return _q("traces", *(_m(f"has_score.{n}", "avg") for n in IMPLICIT_RATES), **rest)


def _feedback_widgets() -> list[Widget]:
    """The "User feedback" section. Its numbers share the KPI numbers' query, its charts over
    time the other trace charts' query; by model, release and prompt are one query each."""
    by = lambda *fields: [{"field": f} for f in fields]  # noqa: E731
    positive, responded = _m(f"scores.{FEEDBACK}", "avg"), _m(f"has_score.{FEEDBACK}", "avg")
    return [
        Widget(
            "feedback-positive",
            "User feedback: thumbs up (share of rated traces)",
            "number",
            _q("traces", positive),
        ),
        Widget(
            "feedback-response",
            "User feedback: response rate (share of traces rated)",
            "number",
            _q("traces", responded),
        ),
        Widget(
            "feedback-explicit",
            "User feedback: thumbs up and response rate",
            "line",
            _traces_over_time(positive, responded),
        ),
        Widget(
            "feedback-implicit",
            "User feedback: implicit signals (share of traces)",
            "line",
            _implicit(timeDimension=AUTO),
        ),
        Widget(
            "feedback-by-model",
            "User feedback: implicit signals by model",
            "bar",
            _implicit(dimensions=by("model")),
        ),
        Widget(
            "feedback-by-release",
            "User feedback: implicit signals by release",
            "bar",
            _implicit(dimensions=by("release")),
        ),
        Widget(
            "feedback-by-prompt",
            "User feedback: implicit signals by prompt version",
            "bar",
            _implicit(
                dimensions=by("prompt_name", "prompt_version"),
                filters=[{"column": "prompt_name", "operator": "is not null"}],
            ),
        ),
    ]


def default_dashboard() -> Dashboard:
    """A fresh copy of the default monitoring dashboard (callers may change it)."""
    return Dashboard(
        "Monitoring",
        "Volume, errors, latency, cost, tokens, users, scores and user feedback of the project.",
        [],
        "7d",
        _widgets(),
    )
