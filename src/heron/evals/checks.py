"""Code evaluators: built-in checks of a trace's fields, pure functions without a store.

An evaluator definition names a check, its ``args`` and its ``variables`` (which field of the
target each of the check's variables reads)::

    - name: mentions-refund          # also the score name
      type: code
      check: contains
      args: {any: [refund], case_sensitive: false}
      variables: {text: output}

:func:`validate_args` checks a definition's args once (every problem listed, with its path,
in one :class:`CheckArgsError`) and fills the defaults; :func:`run_check` then runs the check
on the variables' values and returns a :class:`CheckResult`: the value, its data type and a
short comment with the evidence.

==============  =====================  =========  ===============================================
check           reads (default field)  result     args (default)
==============  =====================  =========  ===============================================
contains        text (output)          BOOLEAN    ``any`` or ``all`` (exactly one): a list of
                                                  words; ``case_sensitive`` (false);
                                                  ``whole_word`` (false)
not_contains    text (output)          BOOLEAN    as contains; the negation of contains
regex           text (output)          BOOLEAN    ``pattern`` (RE2); ``case_sensitive`` (true);
                                                  ``must_match`` (true)
max_length      text (output)          BOOLEAN    ``limit`` (an integer >= 0); ``unit``:
                                                  ``chars`` (default), ``words``, ``tokens``
min_length      text (output)          BOOLEAN    as max_length
json_valid      text (output)          BOOLEAN    ``allow_fences`` (false)
json_schema     text (output)          BOOLEAN    ``schema`` (a JSON Schema); ``allow_fences``
                                                  (false)
equals          text (output),         BOOLEAN    ``case_sensitive`` (true); ``strip`` (true);
                expected                          ``normalize_whitespace`` (false)
                (expected_output)
similarity      text (output),         NUMERIC,   ``method``: ``fuzzy`` (default) or
                expected               BOOLEAN    ``embedding``; ``case_sensitive`` (true);
                (expected_output)      with       ``threshold`` (none; 0 to 1)
                                       threshold
latency_above   latency_ms             BOOLEAN    ``ms`` (a number >= 0)
                (latency_ms)
cost_above      cost (total_cost)      BOOLEAN    ``usd`` (a number >= 0)
pii             text (output)          BOOLEAN    ``kinds``: some of ``email``, ``phone``,
                                                  ``card``, ``iban`` (default all)
==============  =====================  =========  ===============================================

Each check's docstring says what it returns and what its args mean.

Values: a text variable may hold a string, a number, a chat message (``{"role", "content"}``,
content as text or parts), a list of messages, or other JSON; :func:`as_text` turns it into
the text the check reads. A missing or None text is read as the empty string, with the
comment "no text"; a missing expected value, latency or cost raises ValueError, since there
is nothing to compare with.

Safety: every pattern runs on RE2 (time linear in the text); text checks read at most the
first :data:`MAX_TEXT_CHARS` characters (lengths in characters are always exact; lengths in
words or tokens of a longer text are extrapolated from that prefix); the JSON checks parse
at most :data:`MAX_JSON_CHARS` characters; a schema is at most :data:`MAX_SCHEMA_BYTES` as
JSON, may not fetch remote ``$ref`` documents, and its ``pattern`` keywords run on Rust's
linear-time ``regex`` crate.
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from functools import lru_cache
from typing import Any

import orjson

from heron.evals import pii
from heron.evals.args import REQUIRED, Arg, CheckArgsError, check_fields, type_name
from heron.evals.schema import MAX_SCHEMA_BYTES, first_error, schema_problems
from heron.implicit.extract import message_text
from heron.userregex import RegexError, RegexSet, compile_regex

__all__ = [
    "CHECKS",
    "MAX_JSON_CHARS",
    "MAX_SCHEMA_BYTES",
    "MAX_TEXT_CHARS",
    "Check",
    "CheckArgsError",
    "CheckResult",
    "as_text",
    "estimate_tokens",
    "result_type",
    "run_check",
    "validate_args",
    "validate_variables",
]

MAX_TEXT_CHARS = 1_000_000
MAX_JSON_CHARS = 10_000_000
MAX_FUZZY_CHARS = 5_000  # fuzzy similarity costs the product of the lengths / 64
BOOLEAN, NUMERIC, CATEGORICAL = "BOOLEAN", "NUMERIC", "CATEGORICAL"
NO_TEXT = "no text"


@dataclass(frozen=True, slots=True)
class CheckResult:
    """A check's outcome: ``value`` is a bool for BOOLEAN, a float for NUMERIC and a str for
    CATEGORICAL; ``comment`` is short evidence for a human (never personal data in full)."""

    value: float | bool | str
    data_type: str
    comment: str | None


@dataclass(frozen=True, slots=True)
class Check:
    """A built-in check: its ``variables`` map each variable name to the field it reads by
    default (``{"text": "output"}``)."""

    name: str
    data_type: str
    variables: dict[str, str]
    description: str
    args: tuple[Arg, ...]
    run: Callable[[dict[str, Any], dict[str, Any]], CheckResult]
    refine: Callable[[dict[str, Any], list[tuple[str, str]]], None] | None = None


# -- values --------------------------------------------------------------------------------


def as_text(value: Any) -> str | None:
    """The text a check reads in a value: a string as is; a chat message's content (text, or
    its text parts joined by newlines); the last message of a list of messages; a number or
    bool as JSON writes it; other dicts and lists as compact JSON; None stays None."""
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float | Decimal):
        return str(value)
    text = _message_text(value)
    if text is not None:
        return text
    try:
        return orjson.dumps(value, default=str, option=orjson.OPT_NON_STR_KEYS).decode()
    except (TypeError, orjson.JSONEncodeError):  # nested deeper than orjson writes
        return None


def _message_text(value: Any) -> str | None:
    """The content of a chat message, or of the last message of a list of them; None for
    anything else (a tool call without text included)."""
    if (
        isinstance(value, list)
        and value
        and all(isinstance(m, dict) and "role" in m for m in value)
    ):
        value = value[-1]
    if not isinstance(value, dict) or "role" not in value:
        return None
    return message_text(value)


def _text(variables: Mapping[str, Any], name: str = "text") -> str | None:
    return as_text(variables.get(name))


def _number(check: str, variables: Mapping[str, Any], name: str) -> float:
    value = variables.get(name)
    if value is None:
        raise ValueError(f"{check} needs a value for {name!r}; it is missing")
    if not isinstance(value, bool):
        try:
            number = float(value)
        except (TypeError, ValueError):
            pass
        else:
            if not math.isnan(number):
                return number
    raise ValueError(f"{check} needs a number for {name!r}, got {type(value).__name__}")


def _quoted(words: list[str], most: int = 3) -> str:
    shown = ", ".join(f'"{w[:40]}"' for w in words[:most])
    return shown + (f" and {len(words) - most} more" if len(words) > most else "")


# -- contains ------------------------------------------------------------------------------

_WORD_EDGE = r"[^\p{L}\p{M}\p{N}_]"


def _is_word_char(ch: str) -> bool:
    """A letter, mark, number or ``_``: what :data:`_WORD_EDGE` is not."""
    return ch == "_" or unicodedata.category(ch)[0] in "LMN"


@lru_cache(maxsize=256)
def _whole_words(words: tuple[str, ...]) -> RegexSet:
    patterns = []
    for word in words:
        left = f"(?:^|{_WORD_EDGE})" if _is_word_char(word[0]) else ""
        right = f"(?:{_WORD_EDGE}|$)" if _is_word_char(word[-1]) else ""
        patterns.append(compile_regex(left + re.escape(word) + right))
    return RegexSet(patterns)


def _found_words(args: dict[str, Any], text: str) -> tuple[list[str], list[str]]:
    """(words found, words missing) of ``any`` or ``all`` in ``text``."""
    words: list[str] = args["any"] if args["any"] is not None else args["all"]
    if not args["case_sensitive"]:
        text = text.casefold()
    needles = words if args["case_sensitive"] else [w.casefold() for w in words]
    if args["whole_word"]:
        hits = set(_whole_words(tuple(needles)).matching(text[:MAX_TEXT_CHARS]))
    else:
        text = text[:MAX_TEXT_CHARS]
        hits = {i for i, needle in enumerate(needles) if needle in text}
    found = [w for i, w in enumerate(words) if i in hits]
    return found, [w for i, w in enumerate(words) if i not in hits]


def _contains(args: dict[str, Any], variables: dict[str, Any]) -> CheckResult:
    """True when the text holds any (``any``) or every (``all``) one of the words.

    Args: ``any`` or ``all`` (exactly one): a list of 1 to 200 words or phrases of at most
    200 characters; ``case_sensitive`` (false: Unicode case folding, so ``STRASSE`` holds
    ``straße``); ``whole_word`` (false; true: a word's edges that are letters, marks, digits
    or ``_`` must not touch another of those, so ``refund`` is not in ``refunded`` nor
    ``caf`` in ``café``; an edge that is a symbol needs nothing, so ``C++`` is in
    ``I write C++.``)."""
    text = _text(variables)
    found, missing = _found_words(args, text or "")
    if args["any"] is not None:
        value = bool(found)
        comment = f"found {_quoted(found, 1)}" if found else f"none of {_quoted(missing)}"
    else:
        value = not missing
        comment = (
            f"all {len(found)} found"
            if value
            else f"missing {_quoted(missing)} ({len(missing)} of {len(args['all'])})"
        )
    return CheckResult(value, BOOLEAN, NO_TEXT if text is None else comment)


def _not_contains(args: dict[str, Any], variables: dict[str, Any]) -> CheckResult:
    """The negation of ``contains`` with the same args: with ``any``, true when none of the
    words is in the text; with ``all``, true when at least one of them is missing."""
    result = _contains(args, variables)
    return CheckResult(not result.value, BOOLEAN, result.comment)


def _refine_words(args: dict[str, Any], problems: list[tuple[str, str]]) -> None:
    if (args["any"] is None) == (args["all"] is None):
        problems.append(("args", "give exactly one of 'any' and 'all' (a list of words)"))
        return
    words = args["any"] if args["any"] is not None else args["all"]
    if args["whole_word"] is True and all(isinstance(w, str) and w for w in words):
        needles = words if args["case_sensitive"] is not False else [w.casefold() for w in words]
        try:
            _whole_words(tuple(needles))
        except RegexError as exc:
            problems.append(("args", exc.message))


# -- regex ---------------------------------------------------------------------------------


def _regex_of(args: dict[str, Any]) -> Any:
    prefix = "" if args["case_sensitive"] else "(?i)"
    return compile_regex(prefix + args["pattern"])


def _regex(args: dict[str, Any], variables: dict[str, Any]) -> CheckResult:
    """True when ``pattern`` matches anywhere in the text (anchor with ``^`` and ``$``), or,
    with ``must_match: false``, when it does not.

    Args: ``pattern``: RE2 syntax (Python's without lookaround and backreferences; flags
    ``(?i)``, ``(?m)``, ``(?s)``; see :mod:`heron.userregex`), at most 1,000 characters;
    ``case_sensitive`` (true); ``must_match`` (true)."""
    text = _text(variables)
    matched = _regex_of(args).search((text or "")[:MAX_TEXT_CHARS])
    comment = NO_TEXT if text is None else ("matches" if matched else "no match")
    return CheckResult(matched == args["must_match"], BOOLEAN, comment)


def _refine_regex(args: dict[str, Any], problems: list[tuple[str, str]]) -> None:
    if isinstance(args.get("pattern"), str):
        try:
            _regex_of(args)
        except RegexError as exc:
            problems.append(("args.pattern", exc.message))


# -- lengths -------------------------------------------------------------------------------

_NOT_PUNCTUATION = bytes(range(48, 58)) + bytes(range(65, 91)) + bytes(range(97, 123)) + b" \t\n\r"


def estimate_tokens(text: str) -> int:
    """An estimate of a text's tokens, from counts that cost a few microseconds: about
    0.3 per whitespace-separated word, 0.8 per ASCII punctuation mark, 0.18 per ASCII
    character and 0.6 per other character.

    Fitted on the Llama-2 tokenizer shipped with wordllama: on English prose, Python,
    Markdown and JSON of 20 tokens or more its median error is within 10%, and eight texts
    in ten are within 30% (tests/evals/test_checks.py measures it). It is not the tokenizer
    of the model that wrote the text: other tokenizers count differently, and scripts
    written without spaces (Chinese, Japanese) vary most; use ``chars`` for an exact limit.
    The Llama-2 tokenizer itself costs about 450 µs per 2 KB of text; this, about 10."""
    ascii_part = text.encode("ascii", "ignore")
    other = len(text) - len(ascii_part)
    punctuation = len(ascii_part.translate(None, _NOT_PUNCTUATION))
    words = len(text.split())
    return round(0.3 * words + 0.8 * punctuation + 0.18 * len(ascii_part) + 0.6 * other)


def _length(text: str, unit: str) -> tuple[int, bool]:
    """(length in ``unit``, whether it is extrapolated from the first MAX_TEXT_CHARS)."""
    if unit == "chars":
        return len(text), False
    head = text[:MAX_TEXT_CHARS]
    count = len(head.split()) if unit == "words" else estimate_tokens(head)
    if len(text) > MAX_TEXT_CHARS:
        return round(count * len(text) / MAX_TEXT_CHARS), True
    return count, False


def _length_check(args: dict[str, Any], variables: dict[str, Any], at_most: bool) -> CheckResult:
    text = _text(variables)
    length, estimated = _length(text or "", args["unit"])
    limit = args["limit"]
    value = length <= limit if at_most else length >= limit
    approx = "≈" if estimated or args["unit"] == "tokens" else ""
    unit = args["unit"] if length != 1 else args["unit"][:-1]
    comment = f"{approx}{length:,} {unit} ({'max' if at_most else 'min'} {limit:,})"
    return CheckResult(value, BOOLEAN, f"{NO_TEXT}, {comment}" if text is None else comment)


def _max_length(args: dict[str, Any], variables: dict[str, Any]) -> CheckResult:
    """True when the text is at most ``limit`` long.

    Args: ``limit`` (an integer ≥ 0); ``unit``: ``chars`` (Unicode code points, default),
    ``words`` (whitespace-separated) or ``tokens`` (an estimate, see
    :func:`estimate_tokens`)."""
    return _length_check(args, variables, at_most=True)


def _min_length(args: dict[str, Any], variables: dict[str, Any]) -> CheckResult:
    """True when the text is at least ``limit`` long; args as ``max_length``."""
    return _length_check(args, variables, at_most=False)


# -- JSON ----------------------------------------------------------------------------------


def _unfence(text: str) -> str:
    stripped = text.strip()
    if stripped.startswith("```") and stripped.endswith("```") and len(stripped) >= 6:
        newline = stripped.find("\n")
        if 0 < newline < len(stripped) - 3:
            return stripped[newline + 1 : -3]
    return text


_NOT_PARSED = object()


def _json_value(args: dict[str, Any], value: Any) -> tuple[Any, str | None]:
    """(the JSON value, None) or (_NOT_PARSED, why). Dicts and lists are JSON already,
    except chat messages, whose text content is parsed."""
    if isinstance(value, dict | list):
        text = _message_text(value)
        if text is None:
            return value, None
    else:
        text = as_text(value)
    if text is None:
        return _NOT_PARSED, NO_TEXT
    if args["allow_fences"]:
        text = _unfence(text)
    if len(text) > MAX_JSON_CHARS:
        return _NOT_PARSED, f"{len(text):,} characters, over the {MAX_JSON_CHARS:,} parsed"
    try:
        return orjson.loads(text), None
    except orjson.JSONDecodeError as exc:
        return _NOT_PARSED, f"not JSON: {str(exc)[:120]}"


def _json_kind(value: Any) -> str:
    kinds = {dict: "object", list: "array", str: "string", bool: "boolean"}
    return kinds.get(type(value), "null" if value is None else "number")


def _json_valid(args: dict[str, Any], variables: dict[str, Any]) -> CheckResult:
    """True when the text parses as JSON (a dict or list value counts as valid; a chat
    message's content is parsed).

    Args: ``allow_fences`` (false; true: a text wrapped in a Markdown code fence, as
    ```` ```json ... ``` ````, is unwrapped before parsing)."""
    parsed, why = _json_value(args, variables.get("text"))
    if parsed is _NOT_PARSED:
        return CheckResult(False, BOOLEAN, why)
    return CheckResult(True, BOOLEAN, f"valid JSON {_json_kind(parsed)}")


def _json_schema(args: dict[str, Any], variables: dict[str, Any]) -> CheckResult:
    """True when the text parses as JSON (as ``json_valid``) and the value is valid under
    ``schema``; the comment names the first error and where it is (a JSON pointer).

    Args: ``schema``: a JSON Schema object (draft 4 to 2020-12, from ``$schema``; 2020-12 by
    default), at most 64 KiB as JSON, checked against its meta-schema when defined; ``$ref``
    may point inside the schema but not to other documents; ``allow_fences`` (false)."""
    parsed, why = _json_value(args, variables.get("text"))
    if parsed is _NOT_PARSED:
        return CheckResult(False, BOOLEAN, why)
    error = first_error(args["schema"], parsed)
    return CheckResult(error is None, BOOLEAN, error or "valid")


def _refine_schema(args: dict[str, Any], problems: list[tuple[str, str]]) -> None:
    if isinstance(args.get("schema"), dict):
        problems += [(f"args.{path}", message) for path, message in schema_problems(args["schema"])]


# -- comparisons with the expected output -----------------------------------------------------


def _expected(check: str, variables: Mapping[str, Any]) -> Any:
    expected = variables.get("expected")
    if expected is None:
        raise ValueError(f"{check} compares with an expected value, and 'expected' is missing")
    return expected


def _structured(value: Any) -> bool:
    return isinstance(value, dict | list) and _message_text(value) is None


def _equals(args: dict[str, Any], variables: dict[str, Any]) -> CheckResult:
    """True when the text equals the expected value.

    Two texts are compared after ``strip`` (true: leading and trailing whitespace removed),
    ``normalize_whitespace`` (false; true: every run of whitespace is one space, and the
    ends are stripped) and ``case_sensitive`` (true; false: Unicode case folding). When
    either value is a dict or list (not a chat message), the other is parsed as JSON if it
    is text and the two are compared as JSON values (key order ignored; Python's equality,
    so 1 equals 1.0)."""
    expected = _expected("equals", variables)
    actual = variables.get("text")
    if _structured(actual) or _structured(expected):
        left, why = _json_value({"allow_fences": False}, actual)
        right, why_right = _json_value({"allow_fences": False}, expected)
        if left is _NOT_PARSED or right is _NOT_PARSED:
            side = "text" if left is _NOT_PARSED else "expected"
            return CheckResult(False, BOOLEAN, f"{side} is {why or why_right}")
        try:
            same = left == right
        except RecursionError:
            return CheckResult(False, BOOLEAN, "JSON nested too deeply to compare")
        return CheckResult(same, BOOLEAN, "equal JSON" if same else "different JSON")
    a, b = _normalized(args, as_text(actual) or ""), _normalized(args, as_text(expected) or "")
    if a == b:
        return CheckResult(True, BOOLEAN, "equal" if actual is not None else f"{NO_TEXT}, equal")
    comment = f"differs at character {_common_prefix(a, b):,} (lengths {len(a):,} and {len(b):,})"
    return CheckResult(False, BOOLEAN, f"{NO_TEXT}, {comment}" if actual is None else comment)


def _common_prefix(a: str, b: str) -> int:
    """The length of the longest common prefix, by bisection: about 11 slice comparisons
    (in C) for 2 KB rather than a Python loop over every character."""
    low, high = 0, min(len(a), len(b))
    while low < high:
        mid = (low + high + 1) // 2
        if a[low:mid] == b[low:mid]:
            low = mid
        else:
            high = mid - 1
    return low


def _normalized(args: dict[str, Any], text: str) -> str:
    if args["normalize_whitespace"]:
        text = " ".join(text.split())
    elif args["strip"]:
        text = text.strip()
    return text if args["case_sensitive"] else text.casefold()


def _similarity(args: dict[str, Any], variables: dict[str, Any]) -> CheckResult:
    """How similar the text is to the expected text, from 0 to 1 (NUMERIC); with
    ``threshold``, whether it is at least that similar (BOOLEAN).

    Args: ``method``: ``fuzzy`` (default: rapidfuzz's normalized Indel similarity of the
    two texts' characters, their first 5,000 each; the cost grows with the product of the
    lengths, about 80 µs for two texts of 2,000 characters and 0.5 ms at the cap) or
    ``embedding`` (the cosine of wordllama sentence embeddings, clipped at 0, of each text's
    first 1,000 characters and 128 tokens: the gist, not the details; see
    :mod:`heron.implicit.similarity`); ``case_sensitive`` (true); ``threshold`` (none; a
    number from 0 to 1)."""
    expected = as_text(_expected("similarity", variables)) or ""
    text = as_text(variables.get("text")) or ""
    if not args["case_sensitive"]:
        text, expected = text.casefold(), expected.casefold()
    if text == expected:
        score = 1.0
    elif args["method"] == "fuzzy":
        from rapidfuzz.fuzz import ratio

        score = ratio(text[:MAX_FUZZY_CHARS], expected[:MAX_FUZZY_CHARS]) / 100.0
    else:
        from heron.implicit.similarity import cosine, embed

        score = max(0.0, min(1.0, cosine(embed([text, expected]), 0, 1)))
    comment = f"similarity {score:.3f} ({args['method']})"
    if variables.get("text") is None:
        comment = f"{NO_TEXT}, {comment}"
    if args["threshold"] is None:
        return CheckResult(score, NUMERIC, comment)
    return CheckResult(
        score >= args["threshold"], BOOLEAN, f"{comment}, threshold {args['threshold']:g}"
    )


# -- latency, cost, PII ------------------------------------------------------------------------


def _latency_above(args: dict[str, Any], variables: dict[str, Any]) -> CheckResult:
    """True when the latency in milliseconds is above ``ms`` (a number ≥ 0)."""
    latency = _number("latency_above", variables, "latency_ms")
    return CheckResult(
        latency > args["ms"], BOOLEAN, f"{latency:,.0f} ms (limit {args['ms']:,g} ms)"
    )


def _cost_above(args: dict[str, Any], variables: dict[str, Any]) -> CheckResult:
    """True when the cost in US dollars is above ``usd`` (a number ≥ 0)."""
    cost = _number("cost_above", variables, "cost")
    return CheckResult(cost > args["usd"], BOOLEAN, f"${cost:.4g} (limit ${args['usd']:g})")


def _pii(args: dict[str, Any], variables: dict[str, Any]) -> CheckResult:
    """True when the text holds personal data of one of ``kinds`` (a list of ``email``,
    ``phone``, ``card``, ``iban``; default all); the comment counts them per kind, never
    quoting them. What each kind matches, and what it avoids: :mod:`heron.evals.pii`."""
    text = _text(variables)
    if not text:
        return CheckResult(False, BOOLEAN, NO_TEXT if text is None else "none found")
    found = pii.find_pii(text[:MAX_TEXT_CHARS], args["kinds"])
    return CheckResult(
        bool(found), BOOLEAN, f"found {pii.describe(found)}" if found else "none found"
    )


# -- the table ---------------------------------------------------------------------------------

_TEXT = {"text": "output"}
_PAIR = {"text": "output", "expected": "expected_output"}
_WORD_ARGS = (
    Arg("any", "words"), Arg("all", "words"),
    Arg("case_sensitive", "bool", False), Arg("whole_word", "bool", False),
)  # fmt: skip
_LENGTH_ARGS = (
    Arg("limit", "int", REQUIRED),
    Arg("unit", "choice", "chars", ("chars", "words", "tokens")),
)
_FENCES = Arg("allow_fences", "bool", False)

CHECKS: dict[str, Check] = {
    c.name: c
    for c in (
        Check("contains", BOOLEAN, _TEXT, "The text holds any or all of some words.",
              _WORD_ARGS, _contains, _refine_words),
        Check("not_contains", BOOLEAN, _TEXT, "The text does not hold the words (any or all).",
              _WORD_ARGS, _not_contains, _refine_words),
        Check("regex", BOOLEAN, _TEXT, "A regular expression (RE2) matches the text, or not.",
              (Arg("pattern", "str", REQUIRED), Arg("case_sensitive", "bool", True),
               Arg("must_match", "bool", True)), _regex, _refine_regex),
        Check("max_length", BOOLEAN, _TEXT, "The text is at most a length (chars, words, tokens).",
              _LENGTH_ARGS, _max_length),
        Check("min_length", BOOLEAN, _TEXT, "The text is at least a length (chars, words, tokens).",
              _LENGTH_ARGS, _min_length),
        Check("json_valid", BOOLEAN, _TEXT, "The text is valid JSON.", (_FENCES,), _json_valid),
        Check("json_schema", BOOLEAN, _TEXT, "The text is JSON valid under a JSON Schema.",
              (Arg("schema", "schema", REQUIRED), _FENCES), _json_schema, _refine_schema),
        Check("equals", BOOLEAN, _PAIR, "The text equals the expected output.",
              (Arg("case_sensitive", "bool", True), Arg("strip", "bool", True),
               Arg("normalize_whitespace", "bool", False)), _equals),
        Check("similarity", NUMERIC, _PAIR, "How similar the text is to the expected output (0-1).",
              (Arg("method", "choice", "fuzzy", ("fuzzy", "embedding")),
               Arg("case_sensitive", "bool", True), Arg("threshold", "number", maximum=1.0)),
              _similarity),
        Check("latency_above", BOOLEAN, {"latency_ms": "latency_ms"},
              "The latency is above a number of milliseconds.",
              (Arg("ms", "number", REQUIRED),), _latency_above),
        Check("cost_above", BOOLEAN, {"cost": "total_cost"}, "The cost is above an amount in USD.",
              (Arg("usd", "number", REQUIRED),), _cost_above),
        Check("pii", BOOLEAN, _TEXT, "The text holds emails, phone, card or IBAN numbers.",
              (Arg("kinds", "choices", pii.KINDS, pii.KINDS),), _pii),
    )
}  # fmt: skip


# -- validation and running ----------------------------------------------------------------


def _check(name: str) -> Check:
    check = CHECKS.get(name) if isinstance(name, str) else None
    if check is None:
        known = ", ".join(CHECKS)
        raise CheckArgsError([("check", f"unknown check {name!r}; the checks are {known}")])
    return check


def validate_args(check: str, args: dict[str, Any] | None) -> dict[str, Any]:
    """The check's args with defaults filled in (an optional arg left out is None); raises
    :class:`CheckArgsError` listing every problem, each with its path (``args.any[0]``)."""
    spec = _check(check)
    if args is None:
        args = {}
    if not isinstance(args, dict):
        raise CheckArgsError([("args", f"must be a mapping, got {type(args).__name__}")])
    problems: list[tuple[str, str]] = []
    out = check_fields(check, spec.args, args, problems)
    if spec.refine is not None:
        spec.refine(out, problems)
    if problems:
        raise CheckArgsError(problems)
    return out


def validate_variables(check: str, variables: dict[str, str] | None) -> dict[str, str]:
    """Which field each of the check's variables reads: its defaults overridden by
    ``variables``; raises :class:`CheckArgsError` for unknown names and non-string fields."""
    spec = _check(check)
    if variables is None:
        return dict(spec.variables)
    if not isinstance(variables, dict):
        raise CheckArgsError([("variables", f"must be a mapping, got {type_name(variables)}")])
    problems = []
    for name, field in variables.items():
        if name not in spec.variables:
            names = ", ".join(spec.variables)
            problems.append(
                (f"variables.{name}", f"{check} has no such variable (it reads {names})")
            )
        elif not isinstance(field, str) or not field:
            problems.append((f"variables.{name}", f"must name a field, got {type_name(field)}"))
    if problems:
        raise CheckArgsError(problems)
    return spec.variables | variables


def result_type(check: str, args: dict[str, Any]) -> str:
    """The data type of the check's results with these args (``similarity`` with a
    ``threshold`` is BOOLEAN; every other check has one type, ``CHECKS[check].data_type``)."""
    spec = _check(check)
    if check == "similarity" and args.get("threshold") is not None:
        return BOOLEAN
    return spec.data_type


def run_check(check: str, args: dict[str, Any], variables: dict[str, Any]) -> CheckResult:
    """Run a check with args from :func:`validate_args` on the variables' values (a missing
    variable is None). Raises ValueError only when there is nothing to judge: a missing
    expected value, latency or cost."""
    return _check(check).run(args, variables)
