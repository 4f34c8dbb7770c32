"""The arguments of the built-in checks: declared once per check, validated in one pass.

Every problem is collected with its path (``args.any[0]``) and raised together in one
:class:`CheckArgsError`, so a definition is fixed in one round.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from heron.errors import BadRequest

__all__ = [
    "MAX_WORDS",
    "MAX_WORD_CHARS",
    "REQUIRED",
    "Arg",
    "CheckArgsError",
    "check_fields",
    "type_name",
]

MAX_WORDS = 200  # items of a list argument
MAX_WORD_CHARS = 200
REQUIRED: Any = object()


@dataclass(frozen=True, slots=True)
class Arg:
    """One argument of a check. ``kind`` is bool, int, number, str, words, choice, choices or
    schema; ``default`` is :data:`REQUIRED` for a required argument."""

    name: str
    kind: str
    default: Any = None
    choices: tuple[str, ...] = ()
    maximum: float | None = None


class CheckArgsError(BadRequest, ValueError):
    """A definition heron will not run; ``problems`` lists every ``(path, message)``."""

    def __init__(self, problems: list[tuple[str, str]]) -> None:
        super().__init__("; ".join(f"{path}: {message}" for path, message in problems))
        self.problems = problems


def check_fields(
    check: str, spec: tuple[Arg, ...], args: dict[str, Any], problems: list[tuple[str, str]]
) -> dict[str, Any]:
    """``args`` checked against ``spec``: every problem appended to ``problems``; defaults
    filled in, and an optional argument left out (or None) is None."""
    known = {a.name for a in spec}
    for name in args:
        if name not in known:
            names = ", ".join(sorted(known)) or "none"
            problems.append((f"args.{name}", f"unknown argument of {check} (its args: {names})"))
    out: dict[str, Any] = {}
    for arg in spec:
        value = args.get(arg.name)
        if value is None:
            if arg.default is REQUIRED:
                problems.append((f"args.{arg.name}", "is required"))
            out[arg.name] = None if arg.default is REQUIRED else _copy(arg.default)
        else:
            out[arg.name] = _validate(arg, value, f"args.{arg.name}", problems)
    return out


def _copy(default: Any) -> Any:
    return list(default) if isinstance(default, tuple) else default


def _validate(arg: Arg, value: Any, path: str, problems: list[tuple[str, str]]) -> Any:
    kind = arg.kind
    if kind == "bool":
        if not isinstance(value, bool):
            problems.append((path, f"must be true or false, got {type_name(value)}"))
    elif kind in ("int", "number"):
        types = int if kind == "int" else int | float
        if isinstance(value, bool) or not isinstance(value, types):
            expected = "an integer" if kind == "int" else "a number"
            problems.append((path, f"must be {expected}, got {type_name(value)}"))
        elif not math.isfinite(value) or value < 0:
            problems.append((path, "must be a finite number ≥ 0"))
        elif arg.maximum is not None and value > arg.maximum:
            problems.append((path, f"must be at most {arg.maximum:g}"))
    elif kind == "str":
        if not isinstance(value, str) or not value:
            problems.append((path, f"must be a non-empty string, got {type_name(value)}"))
    elif kind == "choice":
        if value not in arg.choices:
            problems.append((path, f"must be one of {', '.join(arg.choices)}, got {value!r}"))
    elif kind in ("words", "choices"):
        return _validate_list(arg, value, path, problems)
    elif kind == "schema" and not isinstance(value, dict):
        problems.append((path, f"must be a JSON Schema object, got {type_name(value)}"))
    return value


def _validate_list(arg: Arg, value: Any, path: str, problems: list[tuple[str, str]]) -> Any:
    if not isinstance(value, list) or not value:
        example = "[refund, money back]" if arg.kind == "words" else f"[{', '.join(arg.choices)}]"
        got = "an empty list" if value == [] else type_name(value)
        problems.append((path, f"must be a non-empty list, e.g. {example}; got {got}"))
        return value
    if len(value) > MAX_WORDS:
        problems.append((path, f"has {len(value)} items; at most {MAX_WORDS}"))
    for i, item in enumerate(value[:MAX_WORDS]):
        if arg.kind == "choices":
            if item not in arg.choices:
                problems.append(
                    (f"{path}[{i}]", f"must be one of {', '.join(arg.choices)}, got {item!r}")
                )
        elif not isinstance(item, str) or not item:
            problems.append((f"{path}[{i}]", f"must be a non-empty string, got {type_name(item)}"))
        elif len(item) > MAX_WORD_CHARS:
            problems.append(
                (f"{path}[{i}]", f"has {len(item)} characters; at most {MAX_WORD_CHARS}")
            )
    return list(dict.fromkeys(value)) if arg.kind == "choices" else list(value)


def type_name(value: Any) -> str:
    return "null" if value is None else type(value).__name__
