"""User-supplied regular expressions: RE2 syntax, linear-time matching, clear refusals."""

from __future__ import annotations

import time

import pytest

from heron.cost import load_builtin_prices
from heron.errors import BadRequest
from heron.userregex import MAX_PATTERN_CHARS, RegexError, RegexSet, compile_regex


def test_catastrophic_pattern_matches_in_milliseconds() -> None:
    # Python's re needs ~2**5000 steps for this; RE2 is linear in the text.
    regex = compile_regex("^(a+)+$")
    started = time.perf_counter()
    assert not regex.search("a" * 5000 + "!")
    assert regex.search("a" * 5000)
    assert time.perf_counter() - started < 0.05


def test_python_flags_and_search_semantics() -> None:
    regex = compile_regex(r"(?i)^(openai/)?gpt-4o(-\d{4}-\d{2}-\d{2})?$")
    assert regex.search("OpenAI/GPT-4o-2024-08-06")
    assert not regex.search("gpt-4o-mini")
    assert compile_regex("mini").search("gpt-4o-mini")  # a search, not a full match
    assert compile_regex(r"(?P<family>claude)-\w+").search("claude-opus")
    assert compile_regex(r"end\z").search("the end")


@pytest.mark.parametrize(
    ("pattern", "named"),
    [
        ("gpt(?=-4)", "lookahead"),
        ("gpt-(?!mini)", "negative lookahead"),
        ("(?<=openai/)gpt", "lookbehind"),
        ("(?<!x)gpt", "negative lookbehind"),
        (r"(a)\1", "backreferences"),
        ("(?P<x>a)(?P=x)", "named backreferences"),
        ("(?>a+)", "atomic groups"),
        ("a++", "possessive"),
        ("(?(1)a|b)", "conditionals"),
        (r"gpt\Z", r"use \z"),
        ("(?x) g p t", "flags i, m, s, U"),
        ("a{1001}", "at most 1000"),
        (r"[\p{L}\p{N}]{1000}", "KiB"),
        ("gpt-(4o", "missing )"),
    ],
)
def test_unsupported_syntax_is_refused_naming_the_problem(pattern: str, named: str) -> None:
    with pytest.raises(RegexError) as caught:
        compile_regex(pattern)
    assert named in caught.value.message
    assert repr(pattern) in caught.value.message
    assert isinstance(caught.value, BadRequest)  # a 400 wherever it reaches the API


def test_length_cap_and_type() -> None:
    compile_regex("a" * MAX_PATTERN_CHARS)
    with pytest.raises(RegexError, match=f"at most {MAX_PATTERN_CHARS}"):
        compile_regex("a" * (MAX_PATTERN_CHARS + 1))
    with pytest.raises(RegexError, match="must be a string"):
        compile_regex(["^a$"])


def test_compiled_patterns_are_cached() -> None:
    assert compile_regex("^cached-model$") is compile_regex("^cached-model$")


SET_PATTERNS = [r"(?i)^gpt-4o$", r"^gpt", "mini", r"^(a+)+$", r"(?i)CLAUDE", r"\d{4}-\d{2}$", "^$"]
TEXTS = ["gpt-4o", "GPT-4O", "gpt-4o-mini", "claude-3", "a" * 3000 + "!", "aaaa", "x-2024-05", ""]


@pytest.mark.parametrize("max_mem", [4 << 20, 4 << 10])  # one pass; too small: one by one
def test_regex_set_answers_as_the_patterns_one_by_one(max_mem: int) -> None:
    regexes = [compile_regex(p) for p in SET_PATTERNS]
    patterns = RegexSet(regexes, max_mem=max_mem)
    assert (patterns._set is None) == (max_mem < 1 << 20)  # both ways really taken
    for text in TEXTS:
        expected = [i for i, r in enumerate(regexes) if r.search(text)]
        assert patterns.matching(text) == expected, text
    assert RegexSet([]).matching("anything") == []


def test_regex_set_is_fast_on_the_builtin_price_table() -> None:
    patterns = RegexSet([compile_regex(e.match_pattern) for e in load_builtin_prices()])
    started = time.perf_counter()
    for i in range(2000):
        patterns.matching(f"never-seen-model-{i}")
    assert time.perf_counter() - started < 0.5  # one by one in RE2: ~1 s; in one pass: ~15 ms
