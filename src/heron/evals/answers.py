"""What a judge is asked for and how its answer is read: output specs, the JSON schema, prompt
rendering, and the validation and tolerant parsing of answers.

Everything here is pure; :mod:`heron.evals.judge` re-exports the public names.

Parsing order for an answer that is not already a JSON object with a ``value``:

1. a JSON object anywhere in the text (```` ```json ```` fences first), whose ``value`` (or
   ``score``, ``verdict``, ``label``, ...) is read and ``reasoning`` (or ``explanation``, ...)
   kept;
2. else the last labelled line, ``Score: 0.8``, ``**Verdict:** PASS``, ``Category: relevant``;
3. else a last line that is nothing but a value (``0.7``, ``No``, ``relevant``).

Numbers may be written ``8/10`` (read on the spec's scale) or ``80%`` (for a 0..1 spec).
Booleans read yes/no, true/false, pass/fail (and passed/failed). Categories match case and
separator insensitively (``Non toxic`` is ``non-toxic``). Anything else is an ``invalid``
:class:`JudgeError`: no guessing from words in the middle of the reasoning, where "not toxic"
contains "toxic".
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

__all__ = [
    "DataType",
    "JudgeError",
    "OutputSpec",
    "TemplateError",
    "json_schema",
    "parse_answer",
    "placeholders",
    "render",
    "validate",
]

DataType = Literal["NUMERIC", "BOOLEAN", "CATEGORICAL"]
DATA_TYPES = ("NUMERIC", "BOOLEAN", "CATEGORICAL")


class JudgeError(Exception):
    """A judgement that failed. ``kind`` is one of:

    ``rate_limited`` (429), ``timeout``, ``unreachable`` (no connection), ``server`` (5xx,
    408, 409), ``auth`` (401, 403), ``not_found`` (404: base URL, model or deployment),
    ``bad_request`` (another 4xx), ``invalid`` (an answer that does not parse or is out of
    spec), ``internal`` (a bug in heron, reported rather than raised by the pool).

    ``retryable`` says whether the same call may succeed later; the judge has already retried
    those up to the connection's ``max_retries`` (``attempts`` counts the HTTP calls made).
    ``retry_after`` is the provider's wait in seconds, when it gave one.

    Raised by a judge, it also tells what the call was, so a caller can record it as a trace
    (an ``invalid`` answer was paid for): ``request`` (the body sent), ``mode``, and for an
    answer that came back ``model``, ``usage``, ``raw``, ``started_at`` and ``latency_ms``.
    """

    def __init__(
        self,
        kind: str,
        message: str,
        retryable: bool = False,
        status: int | None = None,
        *,
        retry_after: float | None = None,
        raw: str | None = None,
    ) -> None:
        super().__init__(message)
        self.kind = kind
        self.message = message
        self.retryable = retryable
        self.status = status
        self.retry_after = retry_after
        self.raw = raw
        self.attempts = 0
        self.request: dict[str, Any] | None = None
        self.mode: str | None = None
        self.model: str | None = None
        self.usage: dict[str, int] = {}
        self.started_at: datetime | None = None
        self.latency_ms: float | None = None

    def __repr__(self) -> str:
        return f"JudgeError({self.kind!r}, {self.message!r}, status={self.status})"


def invalid(message: str, raw: str | None = None) -> JudgeError:
    return JudgeError("invalid", message, retryable=False, raw=raw)


def _num(x: float) -> str:
    return f"{x:g}"


@dataclass(frozen=True)
class OutputSpec:
    """The value a judge must give: ``NUMERIC`` in ``[min, max]``, ``BOOLEAN``, or one of
    ``categories``. ``description`` says what the value means (it goes into the schema)."""

    data_type: DataType
    min: float = 0.0
    max: float = 1.0
    categories: tuple[str, ...] = ()
    description: str = ""

    def __post_init__(self) -> None:
        if self.data_type not in DATA_TYPES:
            raise ValueError(f"data_type must be one of {', '.join(DATA_TYPES)}")
        if self.data_type == "NUMERIC" and not (
            math.isfinite(self.min) and math.isfinite(self.max) and self.min < self.max
        ):
            raise ValueError("a NUMERIC output needs finite min < max")
        if self.data_type == "CATEGORICAL":
            cats = tuple(self.categories)
            if not cats or not all(isinstance(c, str) and c.strip() for c in cats):
                raise ValueError("a CATEGORICAL output needs non-empty category names")
            if len({_norm(c) for c in cats}) != len(cats):
                raise ValueError("categories must differ (case and separators ignored)")
            object.__setattr__(self, "categories", cats)

    def describe(self) -> str:
        """The value's shape in words, for prompts and the schema."""
        if self.data_type == "NUMERIC":
            return f"a number from {_num(self.min)} to {_num(self.max)}"
        if self.data_type == "BOOLEAN":
            return "true or false"
        return "one of " + ", ".join(json.dumps(c) for c in self.categories)


def json_schema(spec: OutputSpec) -> dict[str, Any]:
    """The answer's JSON schema: ``{"reasoning": string, "value": ...}``, reasoning first so the
    model reasons before it scores. Strict-mode compatible (every property required, no extra
    properties); a NUMERIC range is stated in the description, not as ``minimum``/``maximum``,
    which some providers refuse in strict schemas; :func:`validate` enforces it."""
    what = spec.description.strip()
    what = f" {what}" if what else ""
    value: dict[str, Any]
    if spec.data_type == "NUMERIC":
        value = {"type": "number", "description": f"The score, {spec.describe()}.{what}"}
    elif spec.data_type == "BOOLEAN":
        value = {"type": "boolean", "description": f"The verdict, true or false.{what}"}
    else:
        value = {
            "type": "string",
            "enum": list(spec.categories),
            "description": f"The category, {spec.describe()}.{what}",
        }
    return {
        "type": "object",
        "properties": {
            "reasoning": {
                "type": "string",
                "description": "Step-by-step reasoning that leads to the value, written first.",
            },
            "value": value,
        },
        "required": ["reasoning", "value"],
        "additionalProperties": False,
    }


# ---------------------------------------------------------------- prompts


class TemplateError(ValueError):
    """A prompt placeholder without a value."""

    def __init__(self, missing: Sequence[str]) -> None:
        self.missing = list(missing)
        names = ", ".join(f"{{{{{n}}}}}" for n in self.missing)
        super().__init__(f"no value for {names}")


_PLACEHOLDER = re.compile(r"\{\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}\}")


def placeholders(prompt: str) -> list[str]:
    """The names of the ``{{ name }}`` placeholders of a prompt, in order of first use."""
    return list(dict.fromkeys(_PLACEHOLDER.findall(prompt)))


def _text(value: Any) -> str:
    if isinstance(value, str):
        return value
    return json.dumps(value, indent=2, ensure_ascii=False, default=str)


def render(prompt: str, variables: Mapping[str, Any]) -> str:
    """``prompt`` with each ``{{ name }}`` replaced by its variable: strings as they are, any
    other value as indented JSON. One pass, so braces inside values are never expanded; other
    braces in the prompt stay as written. :class:`TemplateError` names every placeholder without
    a variable. Nothing is evaluated: this is substitution, not a template language."""
    missing = [n for n in placeholders(prompt) if n not in variables]
    if missing:
        raise TemplateError(missing)
    return _PLACEHOLDER.sub(lambda m: _text(variables[m.group(1)]), prompt)


# ---------------------------------------------------------------- validation


_NUMBER = re.compile(r"[-+]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?")
_TRUE = frozenset({"true", "yes", "pass", "passed", "y"})
_FALSE = frozenset({"false", "no", "fail", "failed", "n"})


def _norm(text: str) -> str:
    return re.sub(r"[\s_\-]+", " ", text.strip().lower()).strip()


def validate(value: Any, spec: OutputSpec) -> bool | float | str:
    """``value`` as the spec's type (float, bool or the category as declared), or an
    ``invalid`` :class:`JudgeError`. A NUMERIC value out of range is an error, not clamped:
    a judge answering 7 on a 0..1 scale misread its instructions, and a clamped 1 would hide
    that. Numeric strings, 0/1 for booleans and any case of a category are accepted."""
    if spec.data_type == "NUMERIC":
        number: float | None = None
        if isinstance(value, int | float) and not isinstance(value, bool):
            number = float(value)
        elif isinstance(value, str) and _NUMBER.fullmatch(value.strip()):
            number = float(value.strip())
        if number is None or not math.isfinite(number):
            raise invalid(f"the value {value!r} is not a number")
        if not spec.min <= number <= spec.max:
            raise invalid(f"the value {_num(number)} is outside {_num(spec.min)}..{_num(spec.max)}")
        return number
    if spec.data_type == "BOOLEAN":
        if isinstance(value, bool):
            return value
        if isinstance(value, int | float) and value in (0, 1):
            return bool(value)
        if isinstance(value, str):
            word = _norm(value)
            if word in _TRUE or word == "1":
                return True
            if word in _FALSE or word == "0":
                return False
        raise invalid(f"the value {value!r} is not true or false")
    if isinstance(value, str):
        wanted = _norm(value.strip("\"'`*. "))
        for category in spec.categories:
            if _norm(category) == wanted:
                return category
    raise invalid(f"the value {value!r} is not {spec.describe()}")


# ---------------------------------------------------------------- tolerant parsing


_VALUE_KEYS = (
    "value",
    "score",
    "verdict",
    "label",
    "rating",
    "result",
    "answer",
    "category",
    "classification",
    "grade",
    "decision",
)
_REASON_KEYS = (
    "reasoning",
    "reason",
    "explanation",
    "rationale",
    "justification",
    "analysis",
    "thoughts",
    "thinking",
    "comment",
)
_FENCE = re.compile(r"```[ \t]*(?:json|JSON)?[ \t]*\n(.*?)```", re.S)
_LABELLED = re.compile(
    r"^[\s>#*_`\-]*(?:final\s+|overall\s+)?(?:"
    + "|".join(_VALUE_KEYS)
    + r")\s*[*_`]*\s*[:=]\s*(.+?)\s*$",
    re.I | re.M,
)
_REASON_LABEL = re.compile(
    r"^[\s#*_`]*(?:" + "|".join(_REASON_KEYS) + r")\s*[*_`]*\s*:\s*[*_`]*\s*", re.I
)
_MAX_SCAN = 64  # JSON candidates tried per answer
_STRIP = "\"'`*_.,;:!()[] \t"


def _json_objects(text: str) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    decoder = json.JSONDecoder()
    chunks = [m.group(1) for m in _FENCE.finditer(text)] + [text]
    for chunk in chunks:
        start = chunk.find("{")
        tries = 0
        while start != -1 and tries < _MAX_SCAN:
            tries += 1
            try:
                obj, end = decoder.raw_decode(chunk, start)
            except ValueError:
                start = chunk.find("{", start + 1)
                continue
            if isinstance(obj, dict):
                found.append(obj)
            start = chunk.find("{", end)
    return found


def _pick(obj: Mapping[str, Any], keys: Sequence[str]) -> tuple[bool, Any]:
    lower = {str(k).lower(): v for k, v in obj.items()}
    for key in keys:
        if key in lower:
            return True, lower[key]
    return False, None


def from_object(obj: Mapping[str, Any], spec: OutputSpec, raw: str) -> tuple[Any, str] | None:
    """(value, reasoning) of a JSON answer, None when it holds no value key; an ``invalid``
    error when the value is there but wrong."""
    has, value = _pick(obj, _VALUE_KEYS)
    if not has:
        return None
    _, reasoning = _pick(obj, _REASON_KEYS)
    try:
        checked = validate(value, spec)
    except JudgeError as e:
        e.raw = raw
        raise
    return checked, reasoning if isinstance(reasoning, str) else _text(reasoning or "")


def _loose(text: str, spec: OutputSpec, *, bare: bool) -> bool | float | str | None:
    """The value written in ``text`` (the right side of ``Score:`` or a whole line), None when
    none is recognised. ``bare``: the text must be the value alone."""
    text = text.strip().strip(_STRIP)
    if not text:
        return None
    if spec.data_type == "NUMERIC":
        m = re.match(r"([-+]?\d+(?:\.\d+)?)\s*(?:(/)\s*(\d+(?:\.\d+)?)|(%))?", text)
        if m is None or (bare and m.end() != len(text)):
            return None
        number = float(m.group(1))
        if m.group(2):
            scale = float(m.group(3))
            if scale <= 0:
                return None
            if scale != spec.max:  # "8/10" on a 0..1 scale is 0.8
                number = spec.min + number / scale * (spec.max - spec.min)
        elif m.group(4) and (spec.min, spec.max) == (0.0, 1.0):
            number /= 100
        return number
    if spec.data_type == "BOOLEAN":
        words = re.findall(r"[A-Za-z]+", text)
        if not words or (bare and len(words) > 1):
            return None
        word = words[0].lower()
        return True if word in _TRUE else False if word in _FALSE else None
    wanted = _norm(text)
    for category in sorted(spec.categories, key=len, reverse=True):
        name = _norm(category)
        if wanted == name or (
            not bare and wanted.startswith(name) and not wanted[len(name) :][:1].isalnum()
        ):
            return category
    return None


def _reasoning_without(text: str, line: str) -> str:
    kept = [ln for ln in text.splitlines() if ln.strip() != line.strip()]
    out = "\n".join(kept).strip()
    return _REASON_LABEL.sub("", out, count=1).strip()


def parse_answer(text: str, spec: OutputSpec) -> tuple[bool | float | str, str]:
    """(value, reasoning) read tolerantly from a free-text answer (see the module docstring);
    an ``invalid`` :class:`JudgeError` when no value can be read or it is out of spec."""
    if not text or not text.strip():
        raise invalid("the answer is empty", raw=text)
    for obj in _json_objects(text):
        got = from_object(obj, spec, text)
        if got is not None:
            return got
    labelled = list(_LABELLED.finditer(text))
    for m in reversed(labelled):
        value = _loose(m.group(1), spec, bare=False)
        if value is not None:
            return _checked(value, spec, text), _reasoning_without(text, m.group(0))
    lines = [ln for ln in text.splitlines() if ln.strip()]
    if lines:
        value = _loose(lines[-1], spec, bare=True)
        if value is not None:
            return _checked(value, spec, text), _reasoning_without(text, lines[-1])
    snippet = text.strip()[:200]
    raise invalid(f"no value ({spec.describe()}) found in the answer: {snippet!r}", raw=text)


def _checked(value: Any, spec: OutputSpec, raw: str) -> bool | float | str:
    try:
        return validate(value, spec)
    except JudgeError as e:
        e.raw = raw
        raise
