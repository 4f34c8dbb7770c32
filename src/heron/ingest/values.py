"""Small value helpers for the convention mapping: coercion, JSON, text, truncation, times.

Every function here is total: bad input gives ``None`` (or the :data:`INVALID` sentinel for
JSON), never an exception.
"""

from __future__ import annotations

import math
from datetime import datetime
from typing import Any

import orjson

TRUNCATION_PREFIX = "\n…[truncated by heron: "
#: Appended (formatted) to input/output text cut at the byte limit, e.g.
#: ``"\n…[truncated by heron: 3,145,728 bytes, limit 1,048,576]"``. Format with
#: ``TRUNCATION_MARKER.format(size=..., limit=...)``; search for :data:`TRUNCATION_PREFIX` to
#: detect a truncated value.
TRUNCATION_MARKER = TRUNCATION_PREFIX + "{size:,} bytes, limit {limit:,}]"


class _Invalid:
    __slots__ = ()

    def __repr__(self) -> str:
        return "INVALID"


#: Returned by :func:`parse_json` when a string is not valid JSON.
INVALID: Any = _Invalid()


_I64_MIN = -(2**63)
_I64_MAX = 2**63 - 1


def as_int(v: Any) -> int | None:
    """int, float (rounded) or numeric string -> int; anything else (bool, list...) or a value
    outside the int64 range -> None."""
    cls = v.__class__
    if cls is int:
        n = v
    elif cls is float:
        if not math.isfinite(v):
            return None
        n = round(v)
    elif cls is str:
        s = v.strip()
        try:
            n = int(s)
        except ValueError:
            try:
                f = float(s)
            except ValueError:
                return None
            if not math.isfinite(f):
                return None
            n = round(f)
    else:
        return None
    return n if _I64_MIN <= n <= _I64_MAX else None


def as_float(v: Any) -> float | None:
    cls = v.__class__
    if cls is float:
        return v if math.isfinite(v) else None
    if cls is int:
        return float(v)
    if cls is str:
        try:
            f = float(v.strip())
        except ValueError:
            return None
        return f if math.isfinite(f) else None
    return None


def as_str(v: Any) -> str | None:
    """str as is; int/float rendered; bool/list/dict/None -> None (not sensible as a name)."""
    cls = v.__class__
    if cls is str:
        return v
    if cls is int or cls is float:
        return str(v)
    return None


def as_bool(v: Any) -> bool | None:
    cls = v.__class__
    if cls is bool:
        return v
    if cls is str:
        s = v.strip().lower()
        if s in ("true", "1", "yes"):
            return True
        if s in ("false", "0", "no"):
            return False
        return None
    if cls is int and v in (0, 1):
        return bool(v)
    return None


def parse_json(v: Any) -> Any:
    """A JSON string -> its value (INVALID if it does not parse); other values as they are."""
    if v.__class__ is str:
        try:
            return orjson.loads(v)
        except orjson.JSONDecodeError:
            return INVALID
    return v


def to_text(v: Any) -> str | None:
    """Serialise a value as text: strings as they are, everything else as JSON."""
    if v is None:
        return None
    if v.__class__ is str:
        return v
    try:
        return orjson.dumps(v, option=orjson.OPT_NON_STR_KEYS).decode()
    except (TypeError, orjson.JSONEncodeError):
        return str(v)


def truncate(s: str, limit: int) -> str:
    """Cut ``s`` to at most ``limit`` UTF-8 bytes (on a character boundary) plus the marker."""
    n = len(s)
    if n * 4 <= limit:  # a code point is at most 4 bytes in UTF-8
        return s
    if n <= limit and s.isascii():
        return s
    b = s.encode("utf-8", "replace")
    size = len(b)
    if size <= limit:
        return s
    return b[:limit].decode("utf-8", "ignore") + TRUNCATION_MARKER.format(size=size, limit=limit)


def clean_text(s: str) -> str:
    """Replace NUL characters (kept out of stored text) with U+FFFD."""
    return s.replace("\x00", "\ufffd") if "\x00" in s else s


def time_to_us(v: Any) -> int | None:
    """An ISO-8601 timestamp (possibly JSON-quoted, as older Langfuse SDKs send) or a number of
    nanoseconds / microseconds / milliseconds / seconds since the epoch -> microseconds."""
    cls = v.__class__
    if cls is str:
        s = v.strip()
        if s.startswith('"') and s.endswith('"') and len(s) >= 2:
            s = s[1:-1]
        if not s:
            return None
        if s[0].isdigit() and ("-" not in s and ":" not in s):
            n = as_float(s)
            return _epoch_number_to_us(n) if n is not None else None
        try:
            dt = datetime.fromisoformat(s)
        except ValueError:
            return None
        if dt.tzinfo is None:
            dt = dt.replace(tzinfo=_UTC)
        delta = dt - _EPOCH
        return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds
    if cls is int or cls is float:
        return _epoch_number_to_us(float(v)) if math.isfinite(v) else None
    return None


def _epoch_number_to_us(n: float) -> int | None:
    if n <= 0:
        return None
    if n > 1e17:  # nanoseconds
        return int(n // 1000)
    if n > 1e14:  # microseconds
        return int(n)
    if n > 1e11:  # milliseconds
        return int(n * 1000)
    return int(n * 1_000_000)  # seconds


_EPOCH = datetime.fromisoformat("1970-01-01T00:00:00+00:00")
_UTC = _EPOCH.tzinfo
