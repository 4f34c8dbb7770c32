"""Rule definitions: checked whole, every problem named with its path; exports apply back
unchanged; built-ins are overridden under their names."""

from __future__ import annotations

from typing import Any

import pytest

from heron.evals.spec import Problems
from heron.signals.rules import BUILTINS, builtin_spec, check_rule, export_rule

CHANNELS = {"oncall", "team-chat"}
RULE = {
    "name": "very-slow-chat",
    "target": "traces",
    "filter": [
        {"column": "name", "operator": "=", "value": "support-chat"},
        {"column": "latency_ms", "operator": ">", "value": 20000},
    ],
    "severity": "warning",
    "notify": ["team-chat"],
}


def check(raw: Any) -> tuple[Any, Any, list[tuple[str, str]]]:
    problems = Problems()
    name, spec = check_rule(raw, "$.rules[0]", problems, channels=CHANNELS)
    return name, spec, problems.items


def test_the_issue_example_is_a_rule_and_its_export_applies_unchanged() -> None:
    name, spec, problems = check(RULE)
    assert problems == [] and name == "very-slow-chat"
    assert spec["enabled"] is True and spec["notify"] == ["team-chat"]
    exported = export_rule(name, spec)
    assert check(exported)[1] == spec
    assert check(exported)[1] == check(export_rule(name, check(exported)[1]))[1]


@pytest.mark.parametrize("name", sorted(BUILTINS))
def test_builtin_defaults_round_trip(name: str) -> None:
    spec = builtin_spec(name)
    assert check(export_rule(name, spec))[1] == spec
    assert check({"name": name})[1] == spec  # naming a built-in alone keeps its defaults


def test_a_builtin_override_changes_only_what_it_names() -> None:
    _, spec, problems = check(
        {"name": "slow", "severity": "critical", "args": {"min_traces": 20, "window": "3d"},
         "filter": [{"column": "environment", "operator": "=", "value": "production"}]}
    )  # fmt: skip
    assert problems == []
    assert spec["severity"] == "critical" and spec["args"]["percentile"] == 99.0
    assert spec["args"]["min_traces"] == 20 and spec["args"]["window"] == "3d"


@pytest.mark.parametrize(
    ("raw", "path", "words"),
    [
        ("nope", "$.rules[0]", "expected an object"),
        ({**RULE, "name": "bad name!"}, "$.rules[0].name", "a name of"),
        ({**RULE, "target": "sessions"}, "$.rules[0].target", "traces, observations"),
        ({**RULE, "severity": "fatal"}, "$.rules[0].severity", "info, warning"),
        ({**RULE, "notify": ["pager"]}, "$.rules[0].notify[0]", "'pager'"),
        ({**RULE, "notify": "oncall"}, "$.rules[0].notify", "list"),
        ({**RULE, "enabled": "yes"}, "$.rules[0].enabled", "true or false"),
        ({**RULE, "colour": 1}, "$.rules[0].colour", "unknown field"),
        ({**RULE, "filter": [{"column": "nope", "operator": "=", "value": 1}]},
         "$.rules[0].filter", "nope"),
        ({**RULE, "filter": None}, "$.rules[0].filter", "required"),
        ({**RULE, "message": "x" * 501}, "$.rules[0].message", "longer than"),
        ({**RULE, "args": {}}, "$.rules[0].args", "only a built-in"),
        ({"name": "error", "message": "x"}, "$.rules[0].message", "its own message"),
        ({"name": "error", "target": "traces"}, "$.rules[0].target", "on observations"),
        ({"name": "slow", "args": {"percentile": 101}}, "$.rules[0].args.percentile", "50"),
        ({"name": "slow", "args": {"window": "soon"}}, "$.rules[0].args.window", "duration"),
        ({"name": "retry_cluster", "args": {"min_calls": 2.5}},
         "$.rules[0].args.min_calls", "whole number"),
        ({"name": "implicit", "args": {"names": "implicit_x"}}, "$.rules[0].args.names", "list"),
        ({"name": "implicit", "args": {"other": 1}}, "$.rules[0].args.other", "unknown"),
    ],
)  # fmt: skip
def test_problems_name_their_path(raw: Any, path: str, words: str) -> None:
    _, spec, problems = check(raw)
    assert spec is None
    assert any(p == path and words in m for p, m in problems), problems


def test_a_scores_filter_is_accepted() -> None:
    raw = {**RULE, "filter": [{"column": "scores.user_rating", "operator": "<=", "value": 2}]}
    assert check(raw)[2] == []
