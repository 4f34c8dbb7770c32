"""Reading judges' answers (validation, tolerant parsing) and rendering prompts."""

from __future__ import annotations

import math
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from heron.evals.judge import (
    JudgeError,
    OutputSpec,
    TemplateError,
    parse_answer,
    placeholders,
    render,
    validate,
)

NUMERIC = OutputSpec("NUMERIC")
FIVE = OutputSpec("NUMERIC", 1, 5)
BOOLEAN = OutputSpec("BOOLEAN")
LABELS = OutputSpec("CATEGORICAL", categories=("relevant", "partially_relevant", "irrelevant"))
TOXIC = OutputSpec("CATEGORICAL", categories=("toxic", "non-toxic"))

PARSED: list[tuple[OutputSpec, str, Any, str]] = [
    (NUMERIC, '{"reasoning": "Clear and right.", "value": 0.8}', 0.8, "Clear and right."),
    (NUMERIC, '```json\n{"reasoning": "Fine.", "score": 0.6}\n```', 0.6, "Fine."),
    (
        NUMERIC,
        'Sure! Here is my evaluation:\n\n{"explanation": "Mostly right.", "Score": "0.9"}\n'
        "Let me know if you need more.",
        0.9,
        "Mostly right.",
    ),
    (NUMERIC, "Reasoning: The answer is correct.\nScore: 0.75", 0.75, "The answer is correct."),
    (
        NUMERIC,
        "The reply covers both parts.\n\n**Score:** 8/10",
        0.8,
        "The reply covers both parts.",
    ),
    (FIVE, "Good answer overall.\nFinal score = 4/5", 4.0, "Good answer overall."),
    (FIVE, "Good answer overall.\nRating: 7/10", 1 + 0.7 * 4, "Good answer overall."),
    (NUMERIC, "Polite but vague.\nRating: 40%", 0.4, "Polite but vague."),
    (
        NUMERIC,
        "The response is polite and complete.\n\n0.9",
        0.9,
        "The response is polite and complete.",
    ),
    (NUMERIC, "Score: 0.2 for style.\nBut the facts hold.\nFinal score: 0.7", 0.7, None),
    (NUMERIC, "Score: 0.8 (good, minor gaps)", 0.8, ""),
    (NUMERIC, "0.5", 0.5, ""),
    (BOOLEAN, "The text is harsh.\n### Verdict: Yes", True, "The text is harsh."),
    (BOOLEAN, "Answer: No, it is not toxic.", False, ""),
    (BOOLEAN, "It does what was asked.\n\nPASS", True, "It does what was asked."),
    (BOOLEAN, '{"reasoning": "Declined.", "verdict": "fail"}', False, "Declined."),
    (BOOLEAN, '{"value": 1}', True, ""),
    (BOOLEAN, '{"reasoning": "ok", "value": "True"}', True, "ok"),
    (BOOLEAN, "Result: **false**", False, ""),
    (LABELS, "It drifts into pricing.\nLabel: Partially relevant", "partially_relevant", None),
    (LABELS, "Category: IRRELEVANT.", "irrelevant", ""),
    (LABELS, '{"label": "relevant", "rationale": "On point."}', "relevant", "On point."),
    (LABELS, "On point.\n\nrelevant", "relevant", "On point."),
    (
        LABELS,
        "Classification: partially-relevant - half of it is about billing",
        "partially_relevant",
        "",
    ),
    (TOXIC, "Label: non toxic", "non-toxic", ""),
    (TOXIC, "Verdict: Toxic", "toxic", ""),
]


@pytest.mark.parametrize(("spec", "text", "value", "reasoning"), PARSED)
def test_tolerant_parsing(spec: OutputSpec, text: str, value: Any, reasoning: str | None) -> None:
    got, why = parse_answer(text, spec)
    if isinstance(value, float):
        assert isinstance(got, float) and math.isclose(got, value)
    else:
        assert got == value and type(got) is type(value)
    if reasoning is not None:
        assert why == reasoning


INVALID: list[tuple[OutputSpec, str, str]] = [
    (NUMERIC, "", "empty"),
    (NUMERIC, "   \n ", "empty"),
    (NUMERIC, "I cannot decide on this one.", "no value (a number from 0 to 1) found"),
    (NUMERIC, "Score: high", "no value (a number"),
    (NUMERIC, "Score: 7", "outside 0..1"),
    (NUMERIC, '{"reasoning": "x", "value": 1.5}', "outside 0..1"),
    (NUMERIC, '{"reasoning": "x", "value": true}', "not a number"),
    (NUMERIC, '{"reasoning": "x", "value": "NaN"}', "not a number"),
    (BOOLEAN, "The answer is not toxic at all.", "no value (true or false) found"),
    (BOOLEAN, "Verdict: maybe", "no value (true or false)"),
    (BOOLEAN, '{"value": 2}', "not true or false"),
    (LABELS, "This is somewhat relevant to the question.", "no value (one of"),
    (LABELS, '{"reasoning": "x", "value": "maybe"}', "not one of"),
    (TOXIC, "The reply is not toxic.", "no value (one of"),
    (NUMERIC, '{"reasoning": "x", "val": 0.5', "no value (a number"),
]


@pytest.mark.parametrize(("spec", "text", "message"), INVALID)
def test_unreadable_answers_are_invalid(spec: OutputSpec, text: str, message: str) -> None:
    with pytest.raises(JudgeError) as info:
        parse_answer(text, spec)
    assert info.value.kind == "invalid" and not info.value.retryable
    assert message in info.value.message
    assert info.value.raw == text


@given(st.text(max_size=300))
def test_parsing_never_crashes(text: str) -> None:
    for spec in (NUMERIC, BOOLEAN, LABELS):
        try:
            value, reasoning = parse_answer(text, spec)
        except JudgeError as e:
            assert e.kind == "invalid"
        else:
            validate(value, spec)
            assert isinstance(reasoning, str)


def test_validate() -> None:
    assert validate(1, NUMERIC) == 1.0 and isinstance(validate(1, NUMERIC), float)
    assert validate(" 0.25 ", NUMERIC) == 0.25
    assert validate(5, FIVE) == 5.0
    for bad in (True, None, "x", float("nan"), float("inf"), 1.0001, -0.1, [0.5]):
        with pytest.raises(JudgeError):
            validate(bad, NUMERIC)
    assert [validate(v, BOOLEAN) for v in (True, 0, 1.0, "yes", "FAIL", "Passed", "0")] == [
        True,
        False,
        True,
        True,
        False,
        True,
        False,
    ]
    assert validate("Partially Relevant", LABELS) == "partially_relevant"
    assert validate('"irrelevant".', LABELS) == "irrelevant"
    with pytest.raises(JudgeError, match="not one of"):
        validate("unrelated", LABELS)


def test_output_spec_checks_itself() -> None:
    with pytest.raises(ValueError):
        OutputSpec("TEXT")  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        OutputSpec("NUMERIC", 1, 1)
    with pytest.raises(ValueError):
        OutputSpec("CATEGORICAL")
    with pytest.raises(ValueError):
        OutputSpec("CATEGORICAL", categories=("non-toxic", "Non toxic"))
    assert OutputSpec("CATEGORICAL", categories=["a", "b"]).categories == ("a", "b")  # type: ignore[arg-type]
    assert hash(LABELS) == hash(OutputSpec("CATEGORICAL", categories=LABELS.categories))


# ---------------------------------------------------------------- prompts


def test_render() -> None:
    prompt = "Q: {{input}}\nA: {{ output }}\nAgain: {{  input}}"
    assert render(prompt, {"input": "hi", "output": "hello", "unused": 1}) == (
        "Q: hi\nA: hello\nAgain: hi"
    )
    assert placeholders(prompt) == ["input", "output"]


def test_render_pretty_prints_what_is_not_a_string() -> None:
    messages = [{"role": "user", "content": "Grüße"}]
    assert render("{{m}}", {"m": messages}) == (
        '[\n  {\n    "role": "user",\n    "content": "Grüße"\n  }\n]'
    )
    assert render("{{n}} {{b}} {{x}}", {"n": 3, "b": True, "x": None}) == "3 true null"


def test_render_names_every_missing_placeholder() -> None:
    with pytest.raises(TemplateError) as info:
        render("{{input}} {{ context }} {{output}} {{context}}", {"input": "x"})
    assert info.value.missing == ["context", "output"]
    assert str(info.value) == "no value for {{context}}, {{output}}"


def test_render_leaves_other_braces_and_never_expands_values() -> None:
    prompt = 'JSON like {"a": {"b": 1}}, {single}, {{ not a name }}, {{}} and {{x}}'
    assert render(prompt, {"x": "{{x}} {{y}} {% evil %}"}) == (
        'JSON like {"a": {"b": 1}}, {single}, {{ not a name }}, {{}} and {{x}} {{y}} {% evil %}'
    )
    assert placeholders("{{a.b}} {{1x}} {{ _ok }}") == ["_ok"]
