"""The comparison finds the effect the demo workload plants (prompt support-system v3 -> v4:
faster LLM calls, fewer errors, fewer thumbs down) and reports no change where there is none."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from heron.demo import LLM_LATENCY_FACTOR, PROMPT_NAME, PROMPT_NEW_VERSION, PROMPT_OLD_VERSION
from tests.compare.conftest import FEEDBACK, Demo

SUPPORT_CHAT = {"column": "name", "operator": "=", "value": "support-chat"}
RELATIVE_EFFECT = LLM_LATENCY_FACTOR[PROMPT_NEW_VERSION] / LLM_LATENCY_FACTOR[PROMPT_OLD_VERSION]


def compare(demo: Demo, body: dict[str, Any]) -> dict[str, dict[str, Any]]:
    r = demo.client.post("/api/compare", json=body)
    assert r.status_code == 200, r.text
    return {m["metric"]: m for m in r.json()["metrics"]}


def planted(metric: dict[str, Any]) -> float:
    """The difference the demo plants: the baseline value times (factor - 1)."""
    return metric["baseline"] * (RELATIVE_EFFECT - 1.0)


def iso(us: int) -> str:
    return datetime.fromtimestamp(us / 1e6, UTC).isoformat()


def test_prompt_change_lowers_llm_latency_by_the_planted_factor(demo: Demo) -> None:
    found = compare(
        demo,
        {
            "view": "observations",
            "filters": [{"column": "prompt_name", "operator": "=", "value": PROMPT_NAME}],
            "field": "prompt_version",
            "baseline_value": PROMPT_OLD_VERSION,
            "candidate_value": PROMPT_NEW_VERSION,
        },
    )
    for name in ("p50_latency", "p95_latency", "p50_time_to_first_token"):
        m = found[name]
        assert m["verdict"] == "better", m
        assert m["ci_low"] <= planted(m) <= m["ci_high"], m
        assert m["n_baseline"] > 1000 and m["n_candidate"] > 500
        assert m["method"] == "bootstrap" and m["direction"] == "lower"
    mean = found["avg_latency"]
    assert mean["ci_low"] <= planted(mean) <= mean["ci_high"] < 0, mean
    assert found["error_rate"]["verdict"] == "better"
    assert found["avg_tokens_per_second"]["verdict"] == "better"  # same tokens, less time
    # no planted effect on token counts
    assert found["avg_output_tokens"]["verdict"] == "no_change"


def test_prompt_change_raises_the_feedback_score_of_support_chat_traces(demo: Demo) -> None:
    found = compare(
        demo,
        {
            "filters": [SUPPORT_CHAT],
            "field": "prompt_version",  # a trace filter: the trace has an observation with it
            "baseline_value": PROMPT_OLD_VERSION,
            "candidate_value": PROMPT_NEW_VERSION,
        },
    )
    feedback = found[f"scores.{FEEDBACK}"]
    assert feedback["verdict"] == "better", feedback
    assert feedback["direction"] == "higher" and feedback["ci_low"] > 0
    assert feedback["n_baseline"] >= 100 and feedback["n_candidate"] >= 50
    assert found["p50_latency"]["verdict"] == "better"
    assert found["error_rate"]["verdict"] == "better"
    # the two versions and the traces without a prompt (blocked turns) add up to all of them
    no_prompt = {"column": "prompt_version", "operator": "is null"}
    rest = compare(
        demo,
        {
            "baseline": {"filters": [SUPPORT_CHAT, no_prompt]},
            "candidate": {"filters": [SUPPORT_CHAT]},
        },
    )
    v3, v4 = found["count"]["baseline"], found["count"]["candidate"]
    assert v3 + v4 + rest["count"]["baseline"] == rest["count"]["candidate"]
    assert rest["count"]["baseline"] < 0.01 * rest["count"]["candidate"]


def test_no_change_between_two_windows_of_the_same_prompt(demo: Demo) -> None:
    # [0.05, 0.25) vs [0.25, 0.45) of the period: both prompt v3, before the incident
    start, end = demo.config.period()
    at = demo.config.at_fraction(0.25)
    found = compare(
        demo,
        {
            "filters": [
                SUPPORT_CHAT,
                {"column": "prompt_version", "operator": "=", "value": PROMPT_OLD_VERSION},
            ],
            "at": iso(at),
            "days": 0.2 * (end - start) / 86_400e6,
        },
    )
    for name in (
        "avg_latency",
        "p50_latency",
        "p95_latency",
        "p50_time_to_first_token",
        "error_rate",
        f"scores.{FEEDBACK}",
    ):
        m = found[name]
        # no false better/worse; an unadjusted interval excluding 0 that Holm's correction
        # keeps from significance says "inconclusive", never "no_change"
        assert not m["significant"], m
        expected = "no_change" if m["ci_low"] <= 0 <= m["ci_high"] else "inconclusive"
        assert m["verdict"] == expected, (m["n_baseline"], m["n_candidate"], m)
        assert m["n_baseline"] >= 30 and m["n_candidate"] >= 30


def test_tiny_cohorts_are_insufficient_data(demo: Demo) -> None:
    found = compare(
        demo,
        {
            "filters": [SUPPORT_CHAT],
            "at": iso(demo.config.prompt_switch_us()),
            "days": 0.01,  # about 14 minutes each side
        },
    )
    assert 0 < found["count"]["n_baseline"] < 30
    for name in ("avg_latency", "p50_latency", "error_rate", f"scores.{FEEDBACK}"):
        m = found[name]
        assert m["verdict"] == "insufficient_data", m
        assert m["ci_low"] is None and m["p_value"] is None


def test_results_are_reproducible_and_seeded(demo: Demo) -> None:
    body = {"filters": [SUPPORT_CHAT], "field": "prompt_version", "baseline_value": 3,
            "candidate_value": 4}  # fmt: skip
    first, again = compare(demo, body), compare(demo, body)
    assert first == again
    other = compare(demo, {**body, "seed": 1})["p95_latency"]
    assert other["baseline"] == first["p95_latency"]["baseline"]
    assert (other["ci_low"], other["ci_high"]) != (
        first["p95_latency"]["ci_low"],
        first["p95_latency"]["ci_high"],
    )
