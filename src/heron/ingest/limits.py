"""Bounds applied to every span at decode, so that no stored value, and no sum of them, can
break the store or a read.

* Numbers: token counts are integers in ``[0, MAX_TOKENS]``, costs finite USD in
  ``[0, MAX_COST_USD]``, prompt versions in ``[0, MAX_PROMPT_VERSION]`` (an INTEGER column).
  With these bounds a trace or a project would need billions of observations before a sum of
  tokens left the int64 range.
* Times: within ``[MIN_US, MAX_US]`` (1970-01-02 .. 2200-01-01), which every reader (DuckDB,
  Python ``datetime``, browsers) can represent.
* Sizes: the per-value, per-metadata, per-span and per-request limits of :class:`IngestLimits`
  (settings of the same names).

What was changed is reported to the client in OTLP ``partial_success.error_message``. The
bounds are documented in ``docs/conventions.md`` ("Limits and clamps").
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import orjson

from heron.ingest.keys import MAX_NS, MIN_NS
from heron.ingest.values import truncate

MIN_US = MIN_NS // 1000
MAX_US = MAX_NS // 1000
MAX_TOKENS = 1_000_000_000  # per usage value of one observation
MAX_COST_USD = 1_000_000.0  # per cost value of one observation
MAX_PROMPT_VERSION = 2**31 - 1
#: Values nested deeper than this (arrays and maps in attribute values, or in JSON an
#: attribute carries) are cut there and replaced by :data:`DEPTH_MARKER`.
MAX_VALUE_DEPTH = 32
DEPTH_MARKER = f"…[nested deeper than {MAX_VALUE_DEPTH} levels: truncated by heron]"


@dataclass(frozen=True, slots=True)
class IngestLimits:
    """Size limits of the mapping; the server fills them from its settings."""

    max_io_bytes: int = 1_048_576  # input/output (each) stored whole up to this many bytes
    max_attribute_bytes: int = 1_048_576  # one string value in metadata
    max_metadata_bytes: int = 2_097_152  # an observation's or trace's metadata, as JSON
    max_span_attributes: int = 10_000  # attributes read per span (per event, per resource)
    max_request_spans: int = 50_000  # spans per request; more is a 413

    @classmethod
    def from_settings(cls, settings: Any) -> IngestLimits:
        return cls(
            max_io_bytes=settings.max_io_bytes,
            max_attribute_bytes=settings.max_attribute_bytes,
            max_metadata_bytes=settings.max_metadata_bytes,
            max_span_attributes=settings.max_span_attributes,
            max_request_spans=settings.max_request_spans,
        )


def bound_tokens(usage: dict[str, int], notes: list[str]) -> dict[str, int]:
    """Clamp every count into ``[0, MAX_TOKENS]`` (in place); a line per clamped key."""
    for key, n in usage.items():
        if n < 0:
            usage[key] = 0
            notes.append(f"usage {key}={n} is negative, stored as 0")
        elif n > MAX_TOKENS:
            usage[key] = MAX_TOKENS
            notes.append(f"usage {key}={n} is over {MAX_TOKENS:,}, stored as {MAX_TOKENS:,}")
    return usage


def bound_cost(cost: dict[str, float], notes: list[str]) -> dict[str, float]:
    """Drop costs that are not finite, clamp the others into ``[0, MAX_COST_USD]``."""
    for key, f in list(cost.items()):
        if not math.isfinite(f):
            del cost[key]
            notes.append(f"cost {key}={f} is not a finite number, dropped")
        elif f < 0:
            cost[key] = 0.0
            notes.append(f"cost {key}={f} is negative, stored as 0")
        elif f > MAX_COST_USD:
            cost[key] = MAX_COST_USD
            notes.append(f"cost {key}={f} is over {MAX_COST_USD:,.0f} USD, stored as the bound")
    return cost


def in_time_range(us: int | None) -> bool:
    return us is not None and MIN_US <= us <= MAX_US


def bound_json(obj: dict[str, Any], limit: int, what: str, notes: list[str]) -> dict[str, Any]:
    """``obj`` (a metadata-like map) made storable: nested at most :data:`MAX_VALUE_DEPTH`
    deep if it could not be serialised, and at most ``limit`` bytes as JSON, the largest
    values truncated first (strings cut with the truncation marker, other values replaced by
    it). Returns ``obj`` itself when it already fits."""
    try:
        size = len(_dumps(obj))
    except TypeError:  # deeper than orjson's recursion limit
        obj = _cut_depth(obj, 0)
        notes.append(f"{what} nested deeper than {MAX_VALUE_DEPTH} levels, cut there")
        size = len(_dumps(obj))
    if size <= limit:
        return obj
    items = sorted(((len(_dumps(k)) + len(_dumps(v)) + 2, k) for k, v in obj.items()), reverse=True)
    out = dict(obj)
    over = size - limit
    cut = dropped = 0
    for item_size, key in items:
        if over <= 0:
            break
        v = out[key]
        key_size = len(_dumps(key))
        value_size = item_size - key_size - 2
        new: Any = None
        if key_size <= _SHORT_KEY:
            if v.__class__ is str and value_size - over > 2 * _SHORT_KEY:
                new = truncate(v, value_size - over - _SHORT_KEY)  # room for the marker
            elif value_size > 2 * _SHORT_KEY:
                new = _marker(value_size, limit)
        if new is None:  # a huge key, or many small values: drop the entry
            del out[key]
            over -= item_size + 1
            dropped += 1
        else:
            out[key] = new
            over -= value_size - len(_dumps(new))
            cut += 1
    notes.append(
        f"{what} of {size:,} bytes is over {limit:,}: "
        f"{cut} value(s) truncated, {dropped} entry(ies) dropped"
    )
    return out


_SHORT_KEY = 256


def _marker(size: int, limit: int) -> str:
    return f"…[truncated by heron: {size:,} bytes, limit {limit:,}]"


def _dumps(v: Any) -> bytes:
    return orjson.dumps(v, option=orjson.OPT_NON_STR_KEYS, default=str)


def _cut_depth(v: Any, depth: int) -> Any:
    cls = v.__class__
    if cls is dict or cls is list:
        if depth >= MAX_VALUE_DEPTH:
            return DEPTH_MARKER
        if cls is dict:
            return {k: _cut_depth(x, depth + 1) for k, x in v.items()}
        return [_cut_depth(x, depth + 1) for x in v]
    return v
