"""Regular expressions written by users: compiled with RE2, matched in linear time.

Every pattern that comes from outside heron (a price's ``match_pattern`` today; filters,
evaluators and rules later) is compiled here and nowhere else. Python's ``re`` backtracks, so
a pattern like ``^(a+)+$`` takes exponential time on ``"aaaa…!"`` and would hold the
interpreter lock of the process matching it; RE2 (``google-re2``) guarantees time linear in the
text and memory bounded by :data:`MAX_MEMORY_BYTES`, and releases the lock while it matches.

The syntax is RE2's, which is Python's minus the features that need backtracking:
lookahead and lookbehind, backreferences, atomic groups, possessive quantifiers and
conditionals are refused with a message naming them. ``\\Z`` is Python's spelling of the end
of the text; RE2 spells it ``\\z``. Flags ``(?i)``, ``(?m)``, ``(?s)`` and ``(?U)`` work.
Patterns are capped at :data:`MAX_PATTERN_CHARS` characters.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from functools import lru_cache
from typing import Any

import re2

from heron.errors import BadRequest

__all__ = [
    "MAX_MEMORY_BYTES",
    "MAX_PATTERN_CHARS",
    "RegexError",
    "RegexSet",
    "UserRegex",
    "compile_regex",
]

MAX_PATTERN_CHARS = 1000
# RE2's budget for one pattern's compiled program and its matching cache; a pattern whose
# program does not fit is refused ("too large"), matching past the cache stays linear.
MAX_MEMORY_BYTES = 1 << 20
_SET_MEMORY_BYTES = 4 << 20  # default for a set of many patterns matched in one pass
_CACHE_SIZE = 256

# (what RE2's error message contains, what it means for someone who writes Python regexes)
_UNSUPPORTED = (
    ("(?=", "lookahead (?=...) is not supported"),
    ("(?!", "negative lookahead (?!...) is not supported"),
    ("(?<=", "lookbehind (?<=...) is not supported"),
    ("(?<!", "negative lookbehind (?<!...) is not supported"),
    ("(?>", "atomic groups (?>...) are not supported"),
    ("(?(", "conditionals (?(...)...) are not supported"),
    ("++", "possessive quantifiers (++, *+, ?+) are not supported"),
    ("*+", "possessive quantifiers (++, *+, ?+) are not supported"),
    ("?+", "possessive quantifiers (++, *+, ?+) are not supported"),
    ("}+", "possessive quantifiers ({n}+) are not supported"),
    ("\\Z", "\\Z is not supported; use \\z (end of text) or $"),
)
_BACKREFERENCE = re.compile(r"escape sequence: \\[1-9]")


class RegexError(BadRequest):
    """A user-supplied pattern that heron will not run: the message names the problem."""


class UserRegex:
    """A compiled user pattern. Matching never backtracks: time is linear in the text."""

    __slots__ = ("_compiled", "pattern")

    def __init__(self, pattern: str, compiled: Any) -> None:
        self.pattern = pattern
        self._compiled = compiled

    def search(self, text: str) -> bool:
        """Whether the pattern matches anywhere in ``text`` (anchor with ``^`` and ``$``)."""
        return self._compiled.search(text) is not None

    def __repr__(self) -> str:
        return f"UserRegex({self.pattern!r})"


def _options() -> re2.Options:
    options = re2.Options()
    options.max_mem = MAX_MEMORY_BYTES
    options.longest_match = False  # leftmost-first, as Python's re
    options.log_errors = False  # errors are raised to the caller, not printed to stderr
    options.never_capture = True  # only "does it match" is asked: no group bookkeeping
    return options


_OPTIONS = _options()


def _explain(pattern: str, message: str) -> str:
    if "(?P" in message and "(?P=" in pattern:
        return "named backreferences (?P=name) are not supported"
    for marker, meaning in _UNSUPPORTED:
        if marker in message:
            return meaning
    if _BACKREFERENCE.search(message):
        return "backreferences (\\1, \\2, ...) are not supported"
    if "invalid perl operator" in message:
        return (
            f"{message} (of the (?...) groups and flags, RE2 knows (?:...), (?P<name>...) "
            "and the flags i, m, s, U)"
        )
    if "repetition size" in message:
        return f"{message} (a count is at most 1000, nested counts multiply)"
    if "too large" in message:
        return f"{message} (it would use more than {MAX_MEMORY_BYTES >> 10} KiB; simplify it)"
    return message


@lru_cache(maxsize=_CACHE_SIZE)
def _compile(pattern: str) -> UserRegex:
    try:
        compiled = re2.compile(pattern, _OPTIONS)
    except re2.error as exc:
        raw = exc.args[0] if exc.args else ""
        message = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else str(raw)
        raise RegexError(
            f"pattern {pattern!r} is not a supported regular expression: "
            f"{_explain(pattern, message)}"
        ) from None
    return UserRegex(pattern, compiled)


def compile_regex(pattern: object) -> UserRegex:
    """Validate and compile a user-supplied pattern (cached); raises :class:`RegexError`."""
    if not isinstance(pattern, str):
        raise RegexError(f"a pattern must be a string, got {type(pattern).__name__}")
    if len(pattern) > MAX_PATTERN_CHARS:
        raise RegexError(
            f"pattern is {len(pattern)} characters long; at most {MAX_PATTERN_CHARS} are allowed"
        )
    return _compile(pattern)


class RegexSet:
    """Which of many compiled patterns match a text, in one linear pass over it (RE2::Set).

    A hundred patterns in one set answer about a hundred times faster than one by one. A set
    that RE2 cannot build or run within its memory falls back to matching one by one, so
    the answer never changes, only its speed.
    """

    __slots__ = ("_regexes", "_set")

    def __init__(self, regexes: Sequence[UserRegex], max_mem: int = _SET_MEMORY_BYTES) -> None:
        self._regexes = tuple(regexes)
        self._set: Any = None
        options = _options()
        options.max_mem = max_mem
        candidate = re2.Set.SearchSet(options)
        try:
            for regex in self._regexes:
                candidate.Add(regex.pattern)
            # matches every text, so an empty answer (None) can only mean RE2 gave up
            candidate.Add("")
            candidate.Compile()
        except re2.error:
            return
        self._set = candidate

    def matching(self, text: str) -> list[int]:
        """Indices (in the order given) of the patterns that match anywhere in ``text``."""
        if self._set is not None:
            found = self._set.Match(text)
            if found is not None:
                last = len(self._regexes)
                return sorted(i for i in found if i != last)
        return [i for i, regex in enumerate(self._regexes) if regex.search(text)]
