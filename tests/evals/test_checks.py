"""The built-in code evaluators: each check's positive and negative cases, its args refused
with every problem listed, and its behaviour on hostile and arbitrary input."""

from __future__ import annotations

import json
import time
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from heron.errors import BadRequest
from heron.evals import checks
from heron.evals.checks import (
    CHECKS,
    MAX_TEXT_CHARS,
    CheckArgsError,
    CheckResult,
    as_text,
    estimate_tokens,
    result_type,
    run_check,
    validate_args,
    validate_variables,
)

ROOT = Path(__file__).resolve().parents[2]


def run(check: str, args: dict[str, Any] | None = None, **variables: Any) -> CheckResult:
    return run_check(check, validate_args(check, args), variables)


def problems(check: str, args: Any) -> list[tuple[str, str]]:
    with pytest.raises(CheckArgsError) as caught:
        validate_args(check, args)
    assert isinstance(caught.value, BadRequest) and isinstance(caught.value, ValueError)
    return caught.value.problems


# -- contains / not_contains ------------------------------------------------------------------


def test_contains_any_is_case_insensitive_by_default_and_names_the_word() -> None:
    result = run("contains", {"any": ["money back", "refund"]}, text="Your REFUND is on its way")
    assert result == CheckResult(True, "BOOLEAN", 'found "refund"')
    assert not run("contains", {"any": ["refund"], "case_sensitive": True}, text="REFUND").value
    missing = run("contains", {"any": ["refund", "credit"]}, text="We cannot help.")
    assert missing.value is False and missing.comment == 'none of "refund", "credit"'


def test_contains_all_lists_what_is_missing() -> None:
    assert run("contains", {"all": ["refund", "card"]}, text="refund to your card").value
    result = run("contains", {"all": ["refund", "card", "bank"]}, text="a refund")
    assert result.value is False
    assert result.comment == 'missing "card", "bank" (2 of 3)'


def test_whole_word_respects_unicode_letters_digits_and_symbols() -> None:
    args = {"any": ["refund"], "whole_word": True}
    assert run("contains", args, text="a refund, today").value
    assert run("contains", args, text="Refund").value  # at the start, case folded
    assert not run("contains", args, text="it was refunded").value
    assert not run("contains", args, text="prerefund").value
    assert not run("contains", args, text="refund_id").value
    # RE2's \b is ASCII-only; heron's edges are Unicode: "caf" is not a word of "café"
    assert not run("contains", {"any": ["caf"], "whole_word": True}, text="le café").value
    assert run("contains", {"any": ["café"], "whole_word": True}, text="le CAFÉ!").value
    assert not run("contains", {"any": ["naïve"], "whole_word": True}, text="naïvety").value
    # a word ending in a symbol needs no boundary after the symbol
    assert run("contains", {"any": ["C++"], "whole_word": True}, text="I write C++.").value
    assert not run("contains", {"any": ["C++"], "whole_word": True}, text="ObjC++").value
    assert run("contains", {"any": ["refund"]}, text="it was refunded").value  # substring


ALPHABET = "ab AB1_-+.é\u0301ßΣ\u03c3日\n"


def oracle(text: str, word: str, whole_word: bool) -> bool:
    """Plain Python: is ``word`` in ``text`` (already case folded), as a whole word?"""
    start = text.find(word)
    while start >= 0:
        end = start + len(word)
        before, after = text[start - 1 : start], text[end : end + 1]
        if not whole_word or (
            not (before and checks._is_word_char(before) and checks._is_word_char(word[0]))
            and not (after and checks._is_word_char(after) and checks._is_word_char(word[-1]))
        ):
            return True
        start = text.find(word, start + 1)
    return False


@settings(max_examples=300, deadline=None)
@example(text="e\u0301 x", words=["e"], whole_word=True, case_sensitive=True)  # a mark
@example(text="_ab", words=["ab"], whole_word=True, case_sensitive=True)
@example(text="ab+ ", words=["b+"], whole_word=True, case_sensitive=False)
@example(text="ΣΑ", words=["\u03c3\u03b1"], whole_word=True, case_sensitive=False)
@given(
    text=st.text(alphabet=ALPHABET, max_size=30),
    words=st.lists(st.text(alphabet=ALPHABET, min_size=1, max_size=4), min_size=1, max_size=3),
    whole_word=st.booleans(),
    case_sensitive=st.booleans(),
)
def test_contains_agrees_with_plain_python(
    text: str, words: list[str], whole_word: bool, case_sensitive: bool
) -> None:
    args = {"any": words, "whole_word": whole_word, "case_sensitive": case_sensitive}
    result = run("contains", args, text=text)
    hay = text if case_sensitive else text.casefold()
    expected = [oracle(hay, w if case_sensitive else w.casefold(), whole_word) for w in words]
    assert result.value is any(expected)
    every = run("contains", {**args, "any": None, "all": words}, text=text)
    assert every.value is all(expected)


def test_case_folding_is_unicode() -> None:
    assert run("contains", {"any": ["straße"]}, text="STRASSE").value
    assert run("contains", {"any": ["ΣΟΦΊΑ"]}, text="σοφία").value
    assert not run("contains", {"any": ["straße"], "case_sensitive": True}, text="STRASSE").value


def test_not_contains_is_the_negation_of_contains() -> None:
    texts = ["sorry, unfortunately", "sorry", "all good", "", None]
    for words in ({"any": ["sorry", "unfortunately"]}, {"all": ["sorry", "unfortunately"]}):
        for text in texts:
            yes = run("contains", words, text=text)
            no = run("not_contains", words, text=text)
            assert no.value is (not yes.value) and no.comment == yes.comment
    assert run("not_contains", {"any": ["sorry"]}, text="all good").value
    assert not run("not_contains", {"any": ["sorry"]}, text="so sorry").value
    assert run("not_contains", {"all": ["a", "b"]}, text="only a").value


def test_missing_text_is_an_empty_text_with_a_comment() -> None:
    assert run("contains", {"any": ["x"]}) == CheckResult(False, "BOOLEAN", "no text")
    assert run("not_contains", {"any": ["x"]}, text=None).value is True
    assert run("regex", {"pattern": "^$"}, text=None) == CheckResult(True, "BOOLEAN", "no text")
    assert run("pii", text=None) == CheckResult(False, "BOOLEAN", "no text")
    assert run("json_valid", text=None) == CheckResult(False, "BOOLEAN", "no text")
    assert run("max_length", {"limit": 0}, text=None).value is True
    assert run("min_length", {"limit": 1}, text=None).value is False


def test_contains_reads_the_last_message_of_a_chat() -> None:
    chat = [
        {"role": "user", "content": "I want a refund"},
        {"role": "assistant", "content": [{"type": "text", "text": "Sure, here you go."}]},
    ]
    assert not run("contains", {"any": ["refund"]}, text=chat).value
    assert run("contains", {"any": ["here you go"]}, text=chat).value


def test_contains_args_are_checked() -> None:
    found = problems(
        "contains", {"any": [], "all": ["ok", 3, ""], "case": True, "whole_word": "yes"}
    )
    assert found == [
        ("args.case", "unknown argument of contains (its args: all, any, case_sensitive, "
         "whole_word)"),
        ("args.any", "must be a non-empty list, e.g. [refund, money back]; got an empty list"),
        ("args.all[1]", "must be a non-empty string, got int"),
        ("args.all[2]", "must be a non-empty string, got str"),
        ("args.whole_word", "must be true or false, got str"),
        ("args", "give exactly one of 'any' and 'all' (a list of words)"),
    ]  # fmt: skip
    assert problems("contains", {}) == [
        ("args", "give exactly one of 'any' and 'all' (a list of words)")
    ]
    assert problems("contains", {"any": "refund"})[0][0] == "args.any"
    assert problems("contains", {"any": ["x"] * 201})[0] == (
        "args.any",
        "has 201 items; at most 200",
    )
    assert problems("contains", {"any": ["x" * 201]})[0][0] == "args.any[0]"


# -- regex ----------------------------------------------------------------------------------


def test_regex_matches_with_re2_and_can_be_negated() -> None:
    assert run("regex", {"pattern": r"case \d{4}-[A-Z]\b"}, text="see case 7731-B") == (
        CheckResult(True, "BOOLEAN", "matches")
    )
    assert run("regex", {"pattern": r"^\d+$"}, text="12a").comment == "no match"
    assert not run("regex", {"pattern": "refund"}, text="REFUND").value
    assert run("regex", {"pattern": "refund", "case_sensitive": False}, text="REFUND").value
    assert run("regex", {"pattern": "sorry", "must_match": False}, text="all good").value
    assert not run("regex", {"pattern": "sorry", "must_match": False}, text="so sorry").value
    assert run("regex", {"pattern": "(?i)é"}, text="É").value


def test_regex_is_linear_on_a_catastrophic_pattern() -> None:
    started = time.perf_counter()
    assert not run("regex", {"pattern": "^(a+)+$"}, text="a" * 100_000 + "!").value
    assert time.perf_counter() - started < 0.5


def test_regex_refused_when_invalid_or_unsupported() -> None:
    (path, message), *_ = problems("regex", {"pattern": "(a)\\1"})
    assert path == "args.pattern" and "backreferences" in message
    assert "lookahead" in problems("regex", {"pattern": "a(?=b)"})[0][1]
    assert "missing )" in problems("regex", {"pattern": "(a"})[0][1]
    assert problems("regex", {}) == [("args.pattern", "is required")]
    assert problems("regex", {"pattern": "", "must_match": 1}) == [
        ("args.pattern", "must be a non-empty string, got str"),
        ("args.must_match", "must be true or false, got int"),
    ]


# -- lengths ---------------------------------------------------------------------------------


def test_max_and_min_length_in_chars_words_and_tokens() -> None:
    text = "one two three four"
    assert run("max_length", {"limit": 18}, text=text) == CheckResult(
        True, "BOOLEAN", "18 chars (max 18)"
    )
    assert not run("max_length", {"limit": 17}, text=text).value
    assert run("min_length", {"limit": 18}, text=text).value
    assert not run("min_length", {"limit": 19}, text=text).value
    assert run("max_length", {"limit": 4, "unit": "words"}, text=text).value
    assert run("max_length", {"limit": 3, "unit": "words"}, text=text) == CheckResult(
        False, "BOOLEAN", "4 words (max 3)"
    )
    assert run("min_length", {"limit": 1, "unit": "words"}, text="one").comment == (
        "1 word (min 1)"
    )
    tokens = run("max_length", {"limit": 100, "unit": "tokens"}, text=text)
    assert tokens.value and tokens.comment.startswith("≈")
    assert len("naïve café") == 10
    assert run("max_length", {"limit": 10}, text="naïve café").value  # code points, not bytes


def test_length_of_a_text_over_the_scan_cap_is_exact_in_chars_and_estimated_in_words() -> None:
    text = "word " * (MAX_TEXT_CHARS // 5 * 2)  # two caps' worth
    assert run("min_length", {"limit": len(text)}, text=text).value
    words = run("min_length", {"limit": 400_000, "unit": "words"}, text=text)
    assert words.value and words.comment == "≈400,000 words (min 400,000)"


def test_length_args_are_checked() -> None:
    assert problems("max_length", {"limit": -1, "unit": "lines"}) == [
        ("args.limit", "must be a finite number ≥ 0"),
        ("args.unit", "must be one of chars, words, tokens, got 'lines'"),
    ]
    assert problems("min_length", {"limit": True})[0] == (
        "args.limit",
        "must be an integer, got bool",
    )
    assert problems("max_length", {"limit": 2.5})[0][0] == "args.limit"
    assert problems("max_length", None) == [("args.limit", "is required")]


def tokenizer_counts(texts: list[str]) -> list[int]:
    import tokenizers
    import wordllama

    path = Path(wordllama.__file__).parent / "tokenizers" / "l2_supercat_tokenizer_config.json"
    tokenizer = tokenizers.Tokenizer.from_file(str(path))
    return [len(tokenizer.encode(t, add_special_tokens=False).ids) for t in texts]


def corpus() -> dict[str, list[str]]:
    prose = []
    for line in (ROOT / "tests/implicit/data/labelled.jsonl").read_text().splitlines():
        for turn in json.loads(line)["turns"]:
            prose += [turn[k] for k in ("user", "answer") if turn.get(k)]
    code = [p.read_text()[:2000] for p in sorted((ROOT / "src/heron").rglob("*.py"))[:80]]
    docs = [
        p.read_text()[i : i + 2000]
        for p in sorted((ROOT / "docs").glob("*.md"))
        for i in range(0, 6000, 2000)
    ]
    data = (ROOT / "tests/implicit/data/holdout.jsonl").read_text().splitlines()[:80]
    return {"prose": prose, "code": code, "markdown": docs, "json": [d[:2000] for d in data]}


def test_token_estimate_is_close_to_a_real_tokenizer() -> None:
    for kind, texts in corpus().items():
        pairs = [(t, n) for t, n in zip(texts, tokenizer_counts(texts), strict=True) if n >= 20]
        errors = sorted(estimate_tokens(t) / n - 1 for t, n in pairs)
        assert len(errors) >= 20, kind
        median = errors[len(errors) // 2]
        within = sum(abs(e) <= 0.3 for e in errors) / len(errors)
        assert abs(median) <= 0.10, (kind, median)
        assert within >= 0.8, (kind, within)


# -- JSON -------------------------------------------------------------------------------------


def test_json_valid() -> None:
    assert run("json_valid", text='{"a": [1, 2]}') == CheckResult(
        True, "BOOLEAN", "valid JSON object"
    )
    assert run("json_valid", text=" [1] ").comment == "valid JSON array"
    assert run("json_valid", text="3").value and run("json_valid", text='"x"').value
    assert run("json_valid", text={"already": "parsed"}).value
    assert run("json_valid", text=[1, 2]).value
    bad = run("json_valid", text="{'a': 1}")
    assert bad.value is False and bad.comment.startswith("not JSON: ")
    assert not run("json_valid", text='{"a": 1} trailing').value
    assert not run("json_valid", text="").value
    assert not run("json_valid", text="NaN").value


def test_json_in_a_message_or_a_fence() -> None:
    message = {"role": "assistant", "content": '{"ok": true}'}
    assert run("json_valid", text=message).value
    assert not run("json_valid", text={"role": "assistant", "content": "Sure!"}).value
    fenced = '```json\n{"ok": true}\n```\n'
    assert not run("json_valid", text=fenced).value
    assert run("json_valid", {"allow_fences": True}, text=fenced).value
    assert run("json_valid", {"allow_fences": True}, text="```\n[1]\n```").value
    assert run("json_valid", {"allow_fences": True}, text="[1]").value


SCHEMA = {
    "type": "object",
    "required": ["intent", "order_id"],
    "properties": {
        "intent": {"enum": ["refund", "other"]},
        "order_id": {"type": "string", "pattern": "^[0-9]+$"},
        "items": {"type": "array", "items": {"type": "integer"}},
    },
}


def test_json_schema_names_the_first_error_and_its_place() -> None:
    args = {"schema": SCHEMA}
    assert run("json_schema", args, text='{"intent": "refund", "order_id": "42"}') == (
        CheckResult(True, "BOOLEAN", "valid")
    )
    assert run("json_schema", args, text={"intent": "refund", "order_id": "42"}).value
    wrong = run(
        "json_schema", args, text='{"intent": "refund", "order_id": "42", "items": [1, "x"]}'
    )
    assert wrong == CheckResult(False, "BOOLEAN", 'at /items/1: "x" is not of type "integer"')
    missing = run("json_schema", args, text='{"intent": "refund"}')
    assert missing.comment == 'at the root: "order_id" is a required property'
    pattern = run("json_schema", args, text='{"intent": "refund", "order_id": "4a"}')
    assert pattern.value is False and pattern.comment.startswith("at /order_id: ")
    assert run("json_schema", args, text="not json").comment.startswith("not JSON")


def test_json_schema_draft_07_and_linear_patterns() -> None:
    schema = {
        "$schema": "http://json-schema.org/draft-07/schema#",
        "type": "object",
        "properties": {"a": {"type": "string", "pattern": "^(a+)+$"}},
    }
    args = validate_args("json_schema", {"schema": schema})
    started = time.perf_counter()
    result = run_check("json_schema", args, {"text": {"a": "a" * 50_000 + "!"}})
    assert result.value is False and time.perf_counter() - started < 0.5


def test_invalid_schemas_are_refused_with_every_path() -> None:
    found = problems(
        "json_schema",
        {"schema": {"type": "nope", "minLength": -1, "properties": {"a": {"type": 5}}}},
    )
    types = "not a JSON type (array, boolean, integer, null, number, object, string)"
    assert found == [
        ("args.schema.minLength", "-1 is less than the minimum of 0"),
        ("args.schema.properties.a.type", f"5 is {types}"),
        ("args.schema.type", f'"nope" is {types}'),
    ]
    assert problems("json_schema", {"schema": [1]}) == [
        ("args.schema", "must be a JSON Schema object, got list")
    ]
    ((path, message),) = problems("json_schema", {"schema": {"$ref": "https://example.com/s.json"}})
    assert path == "args.schema" and "Retrieval is disabled" in message
    ((path, message),) = problems("json_schema", {"schema": {"$ref": "#/$defs/missing"}})
    assert "does not exist" in message
    ((path, message),) = problems("json_schema", {"schema": {"pattern": "(?=a)"}})
    assert "regex" in message
    ((path, message),) = problems("json_schema", {"schema": {"$schema": "my-draft"}})
    assert path == "args.schema.$schema"
    big = {"enum": ["x" * 1000] * 70}
    ((path, message),) = problems("json_schema", {"schema": big})
    assert path == "args.schema" and "at most 65,536" in message


# -- equals and similarity --------------------------------------------------------------------


def test_equals_text_options() -> None:
    assert run("equals", text=" Paris\n", expected="Paris") == CheckResult(True, "BOOLEAN", "equal")
    assert not run("equals", {"strip": False}, text=" Paris\n", expected="Paris").value
    assert not run("equals", text="paris", expected="Paris").value
    assert run("equals", {"case_sensitive": False}, text="PARIS", expected="paris").value
    assert run("equals", {"case_sensitive": False}, text="STRASSE", expected="straße").value
    spaced = {"normalize_whitespace": True}
    assert run(
        "equals", spaced, text="the  capital\n is Paris ", expected="the capital is Paris"
    ).value
    assert not run("equals", text="the  capital", expected="the capital").value
    differs = run("equals", text="the capital is Paris", expected="the capital is Rome")
    assert differs == CheckResult(False, "BOOLEAN", "differs at character 15 (lengths 20 and 19)")
    assert run("equals", text=42, expected="42").value
    assert run("equals", text=None, expected="").value


def test_equals_compares_structured_values_as_json() -> None:
    assert run("equals", text='{"b": 2, "a": [1, 2]}', expected={"a": [1, 2], "b": 2}) == (
        CheckResult(True, "BOOLEAN", "equal JSON")
    )
    assert not run("equals", text={"a": [2, 1]}, expected={"a": [1, 2]}).value
    assert run("equals", text={"a": 1}, expected='{"a": 1.0}').value  # Python's equality
    not_json = run("equals", text="Sure: {a: 1}", expected={"a": 1})
    assert not_json.value is False and not_json.comment.startswith("text is not JSON")
    deep: Any = []
    for _ in range(100_000):
        deep = [deep]
    assert run("equals", text=deep, expected=[[1]]).value is False


def test_comparisons_without_an_expected_value_raise() -> None:
    with pytest.raises(ValueError, match="'expected' is missing"):
        run("equals", text="x")
    with pytest.raises(ValueError, match="'expected' is missing"):
        run("similarity", text="x", expected=None)


def test_similarity_fuzzy_and_embedding() -> None:
    same = run("similarity", text="Paris", expected="Paris")
    assert same == CheckResult(1.0, "NUMERIC", "similarity 1.000 (fuzzy)")
    close = run("similarity", text="The capital is Paris.", expected="The capital is Paris")
    far = run("similarity", text="The capital is Paris.", expected="Bananas are yellow")
    assert 0.9 < close.value < 1.0 and far.value < 0.5
    assert run("similarity", {"case_sensitive": False}, text="PARIS", expected="paris").value == 1.0
    embedding = {"method": "embedding"}
    paraphrase = run("similarity", embedding, text="The refund was sent to your card.",
                     expected="We returned the money to your credit card.")  # fmt: skip
    unrelated = run("similarity", embedding, text="The refund was sent to your card.",
                    expected="Volcanoes erupt when magma rises.")  # fmt: skip
    assert 0.0 <= unrelated.value < paraphrase.value <= 1.0
    assert paraphrase.data_type == "NUMERIC" and paraphrase.comment.endswith("(embedding)")


def test_similarity_threshold_makes_a_boolean() -> None:
    args = validate_args("similarity", {"threshold": 0.8})
    assert result_type("similarity", args) == "BOOLEAN"
    assert result_type("similarity", validate_args("similarity", {})) == "NUMERIC"
    assert result_type("contains", {"any": ["x"]}) == "BOOLEAN"
    yes = run_check("similarity", args, {"text": "Paris!", "expected": "Paris"})
    assert yes.value is True and yes.data_type == "BOOLEAN"
    assert yes.comment == "similarity 0.909 (fuzzy), threshold 0.8"
    assert run_check("similarity", args, {"text": "Rome", "expected": "Paris"}).value is False
    assert problems("similarity", {"threshold": 1.5, "method": "cosine"}) == [
        ("args.method", "must be one of fuzzy, embedding, got 'cosine'"),
        ("args.threshold", "must be at most 1"),
    ]


# -- latency and cost --------------------------------------------------------------------------


def test_latency_and_cost_above() -> None:
    assert run("latency_above", {"ms": 5000}, latency_ms=5320) == CheckResult(
        True, "BOOLEAN", "5,320 ms (limit 5,000 ms)"
    )
    assert not run("latency_above", {"ms": 5000}, latency_ms=5000).value  # above, not equal
    assert not run("latency_above", {"ms": 5000.5}, latency_ms=12.25).value
    assert run("cost_above", {"usd": 0.01}, cost=Decimal("0.0123")) == CheckResult(
        True, "BOOLEAN", "$0.0123 (limit $0.01)"
    )
    assert not run("cost_above", {"usd": 0.01}, cost="0.002").value
    assert not run("cost_above", {"usd": 0}, cost=0).value
    with pytest.raises(ValueError, match="'cost'; it is missing"):
        run("cost_above", {"usd": 1})
    with pytest.raises(ValueError, match="needs a number for 'latency_ms', got bool"):
        run("latency_above", {"ms": 1}, latency_ms=True)
    with pytest.raises(ValueError, match="got str"):
        run("latency_above", {"ms": 1}, latency_ms="slow")
    assert problems("latency_above", {"ms": float("inf")}) == [
        ("args.ms", "must be a finite number ≥ 0")
    ]
    assert problems("cost_above", {"usd": "0.1"}) == [("args.usd", "must be a number, got str")]


# -- PII ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "found"),
    [
        ("write to jane.doe+tag@example.co.uk", {"email": 1}),
        ("a@b.io and c_d@mail.example.org", {"email": 2}),
        ("card 4111 1111 1111 1111", {"card": 1}),
        ("card 4111-1111-1111-1111.", {"card": 1}),
        ("amex 378282246310005, visa 4012888888881881", {"card": 2}),
        ("IBAN DE89 3704 0044 0532 0130 00", {"iban": 1}),
        ("GB82WEST12345698765432 and FR1420041010050500013M02606", {"iban": 2}),
        ("NO9386011117947", {"iban": 1}),
        ("call +44 20 7946 0958", {"phone": 1}),
        ("+14155552671", {"phone": 1}),
        ("+1 (415) 555-2671", {"phone": 1}),
        ("(415) 555-2671 or 415-555-2671 or 415.555.2671", {"phone": 3}),
        ("1-800-555-0199", {"phone": 1}),
        ("020 7946 0958, (020) 7946 0958", {"phone": 2}),
        ("01 23 45 67 89 or 0171 1234567 or 06-12345678", {"phone": 3}),
        ("0044 20 7946 0958", {"phone": 1}),
        ("日本 +44 20 7946 0958 — jane@example.com", {"email": 1, "phone": 1}),
    ],
)
def test_pii_found(text: str, found: dict[str, int]) -> None:
    result = run("pii", text=text)
    assert result.value is True, text
    assert checks.pii.find_pii(text) == found


@pytest.mark.parametrize(
    "text",
    [
        "user@localhost, @mentions, a@b",  # no dotted domain
        "card 4111 1111 1111 1112",  # Luhn fails
        "4111 1111-1111 1111",  # mixed separators
        "pi = 3.1415926535897932, ts 1700000000000",  # a fraction, a timestamp (starts with 1)
        "IBAN DE89 3704 0044 0532 0130 01",  # wrong checksum (and its digits are no card)
        "DE89 3704 0044 0532 0130",  # too short for Germany
        "XX89 3704 0044 0532 0130 00",  # no such country
        "order 4155552671, id 48213-55, tracking 9400111899223",  # digit runs without +
        "on 2024-03-01, 01.02.2024, 12/25/2024 at 10:30:15",  # dates and times
        "2024-03-01T10:30:00+01:00 and 01.02.2024 10:30",
        "v1.2.3, 192.168.100.1, $1,234.56, 10.000.000",  # versions, IPs, prices
        "555-0199 and 123-456-7890 and 415-055-2671",  # local, invalid area or exchange
        "0 1 2 3 4 5 6 7 8 9",  # a list of digits
        "é+44 20 7946 0958",  # glued to a word
    ],
)
def test_pii_not_found(text: str) -> None:
    assert run("pii", text=text) == CheckResult(False, "BOOLEAN", "none found"), text


def test_pii_comment_counts_kinds_and_never_quotes_them() -> None:
    text = "jane@example.com, +44 20 7946 0958, 4111 1111 1111 1111, DE89370400440532013000"
    result = run("pii", text=text)
    assert result.comment == "found 1 email, 1 phone number, 1 card number, 1 IBAN"
    for secret in ("jane", "7946", "4111", "DE89", "1111"):
        assert secret not in result.comment
    only = run("pii", {"kinds": ["email", "email"]}, text=text)
    assert only.comment == "found 1 email"
    assert validate_args("pii", {"kinds": ["email", "email"]})["kinds"] == ["email"]
    assert not run("pii", {"kinds": ["iban"]}, text="jane@example.com").value
    assert problems("pii", {"kinds": ["ssn", "email"]}) == [
        ("args.kinds[0]", "must be one of email, phone, card, iban, got 'ssn'")
    ]


def test_pii_luhn_and_iban_checksums() -> None:
    from heron.evals.pii import iban_valid, luhn_valid

    assert luhn_valid("79927398713") and not luhn_valid("79927398710")
    assert iban_valid("DE89370400440532013000") and not iban_valid("DE88370400440532013000")
    assert not iban_valid("DE8937040044053201300")  # one short


# -- hostile input -----------------------------------------------------------------------------


HOSTILE = [
    "1 " * (MAX_TEXT_CHARS // 2),
    "1-" * (MAX_TEXT_CHARS // 2),
    "+1 " * (MAX_TEXT_CHARS // 3),
    "0 00 " * (MAX_TEXT_CHARS // 5),
    "a" * MAX_TEXT_CHARS,
    "a@" * (MAX_TEXT_CHARS // 2),
    ("x" * 64 + "@") * (MAX_TEXT_CHARS // 65),
    "DE89 " * (MAX_TEXT_CHARS // 5),
    "4111 1111 1111 1111 " * (MAX_TEXT_CHARS // 20),
]


@pytest.mark.parametrize("index", range(len(HOSTILE)))
def test_hostile_texts_at_the_scan_cap_take_under_two_seconds(index: int) -> None:
    text = HOSTILE[index] + "tail " * 1000  # over the cap: the tail is never scanned
    for check, args in [
        ("pii", {}),
        ("contains", {"any": ["a a", "1 1", "refund"], "whole_word": True}),
        ("regex", {"pattern": r"(\d+\s?)+$"}),
        ("max_length", {"limit": 10, "unit": "tokens"}),
        ("json_valid", {}),
    ]:
        started = time.perf_counter()
        run(check, args, text=text)
        assert time.perf_counter() - started < 2.0, (check, index)


# -- every check on arbitrary values -----------------------------------------------------------

TYPICAL: dict[str, dict[str, Any]] = {
    "contains": {"any": ["refund", "é"], "whole_word": True},
    "not_contains": {"all": ["sorry", "x y"]},
    "regex": {"pattern": r"\d{3}", "case_sensitive": False},
    "max_length": {"limit": 20, "unit": "tokens"},
    "min_length": {"limit": 3, "unit": "words"},
    "json_valid": {"allow_fences": True},
    "json_schema": {"schema": SCHEMA, "allow_fences": True},
    "equals": {"normalize_whitespace": True, "case_sensitive": False},
    "similarity": {"threshold": 0.5},
    "latency_above": {"ms": 100},
    "cost_above": {"usd": 0.5},
    "pii": {},
}
JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=12,
)
TEXTS = st.text() | st.text(alphabet="0123456789 +-().@ABDEGRaé\n", max_size=60)


def test_typical_args_cover_every_check() -> None:
    assert set(TYPICAL) == set(CHECKS)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(text=TEXTS | JSON_VALUES, expected=TEXTS | JSON_VALUES, number=st.floats(0, 1e6))
def test_checks_never_raise_on_arbitrary_values(text: Any, expected: Any, number: float) -> None:
    for check, args in TYPICAL.items():
        valid = validate_args(check, args)
        variables = {"text": text, "expected": expected or "x", "latency_ms": number,
                     "cost": number}  # fmt: skip
        result = run_check(check, valid, variables)
        assert result.data_type == result_type(check, valid)
        kind = {"BOOLEAN": bool, "NUMERIC": float, "CATEGORICAL": str}[result.data_type]
        assert type(result.value) is kind, (check, result)
        assert result.comment is None or len(result.comment) <= 300


# -- values, validation, docs ------------------------------------------------------------------


def test_as_text() -> None:
    assert as_text(None) is None
    assert as_text("x") == "x"
    assert as_text(3) == "3" and as_text(2.5) == "2.5" and as_text(True) == "true"
    assert as_text(Decimal("0.10")) == "0.10"
    assert as_text({"role": "assistant", "content": "hi"}) == "hi"
    assert as_text({"role": "model", "parts": [{"type": "text", "content": "a"}, "b"]}) == "a\nb"
    chat = [{"role": "user", "content": "q"}, {"role": "assistant", "content": "a"}]
    assert as_text(chat) == "a"
    assert as_text({"answer": "a", "n": [1, 2]}) == '{"answer":"a","n":[1,2]}'
    assert as_text([1, {"a": None}]) == '[1,{"a":null}]'
    tool_call = {"role": "assistant", "content": None, "tool_calls": [{"id": "1"}]}
    assert as_text(tool_call) == '{"role":"assistant","content":null,"tool_calls":[{"id":"1"}]}'
    deep: Any = []
    for _ in range(1000):
        deep = [deep]
    assert as_text(deep) is None  # deeper than orjson writes


def test_validate_args_fills_defaults_and_is_idempotent() -> None:
    for check, args in TYPICAL.items():
        once = validate_args(check, args)
        assert validate_args(check, once) == once
        assert set(once) == {a.name for a in CHECKS[check].args}
    assert validate_args("contains", {"any": ["x"]}) == {
        "any": ["x"], "all": None, "case_sensitive": False, "whole_word": False,
    }  # fmt: skip
    assert validate_args("pii", None) == {"kinds": ["email", "phone", "card", "iban"]}


def test_unknown_check_and_args_that_are_not_a_mapping() -> None:
    ((path, message),) = problems("contain", {})
    assert path == "check" and "unknown check 'contain'" in message and "not_contains" in message
    assert problems("regex", ["pattern"]) == [("args", "must be a mapping, got list")]
    assert problems("json_valid", {"strict": True}) == [
        ("args.strict", "unknown argument of json_valid (its args: allow_fences)")
    ]


def test_validate_variables() -> None:
    assert validate_variables("equals", None) == {"text": "output", "expected": "expected_output"}
    assert validate_variables("equals", {"expected": "metadata.answer"}) == {
        "text": "output",
        "expected": "metadata.answer",
    }
    with pytest.raises(CheckArgsError) as caught:
        validate_variables("contains", {"txt": "output", "text": 3})
    assert caught.value.problems == [
        ("variables.txt", "contains has no such variable (it reads text)"),
        ("variables.text", "must name a field, got int"),
    ]


def test_every_check_is_described_in_the_module_docstring_table() -> None:
    doc = checks.__doc__ or ""
    lines = doc[doc.index("check           reads") :].splitlines()
    rows: dict[str, str] = {}
    name = ""
    for line in lines[2:]:
        if line.startswith("="):
            break
        if line[:1].strip():
            name = line.split()[0]
            rows[name] = ""
        rows[name] += " " + line
    assert list(rows) == list(CHECKS)
    for check in CHECKS.values():
        row = rows[check.name]
        assert check.data_type in row, check.name
        for variable, field in check.variables.items():
            assert variable in row and field in row, (check.name, variable)
        for arg in check.args:
            assert f"``{arg.name}``" in row or "as " in row, (check.name, arg.name)
        assert check.run.__doc__, check.name
        for arg in check.args:
            assert (
                f"``{arg.name}``" in (check.run.__doc__ or "")
                or "args as" in (check.run.__doc__ or "")
                or "same args" in (check.run.__doc__ or "")
            ), (check.name, arg.name)
        assert len(check.description) <= 80 and "\n" not in check.description
