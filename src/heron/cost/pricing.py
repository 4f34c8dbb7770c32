"""Token-derived cost: model price entries, matching, and the cost computation.

A :class:`PriceEntry` prices one model (a regex on the model name) from a start date on, in USD
per token per usage key. :class:`PriceBook` picks the entry for a model at a point in time
(project entries win over built-in ones, the newest start date not after that day wins) and
turns a usage map into a cost map. See ``docs/cost.md`` for the rules.

Usage keys are heron's canonical ones: ``input`` counts *all* input tokens, including the
``cached_input`` (read from cache) and ``cache_write`` subsets; ``output`` counts all output
tokens, including the ``reasoning`` subset. Any other ``input_*`` / ``output_*`` key that the
entry prices (e.g. ``input_audio``) is a further subset charged at its own price instead of the
text price.
"""

from __future__ import annotations

import contextlib
import json
import math
import operator as _op
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date
from functools import cache
from importlib import resources
from types import MappingProxyType
from typing import Any

from heron.userregex import RegexError, RegexSet, UserRegex, compile_regex

__all__ = [
    "PriceBook",
    "PriceEntry",
    "PriceEntryError",
    "PriceTier",
    "compute_cost",
    "load_builtin_prices",
]

US_PER_DAY = 86_400_000_000
_EPOCH_ORDINAL = date(1970, 1, 1).toordinal()
_OLDEST = -(2**62)  # start day used for entries without a start date

SOURCES = ("builtin", "project")
UNITS = ("TOKENS",)
# Keys that are subsets of ``input`` / ``output`` whatever their price; they fall back to the
# text price when the entry does not price them.
INPUT_SUBSETS = ("cached_input", "cache_write")
OUTPUT_SUBSETS = ("reasoning",)
# A per-token price of a dollar or more is certainly a per-million price typed by mistake.
MAX_PRICE = 1.0

_KEY_RE = re.compile(r"^[a-z][a-z0-9_]{0,63}$")
_ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:@/+-]{0,199}$")
_OPERATORS: dict[str, Callable[[float, float], bool]] = {
    ">": _op.gt,
    ">=": _op.ge,
    "<": _op.lt,
    "<=": _op.le,
    "==": _op.eq,
    "!=": _op.ne,
}
_ENTRY_FIELDS = frozenset(
    {
        "id",
        "model_name",
        "match_pattern",
        "start_date",
        "unit",
        "prices",
        "tiers",
        "provider",
        "source",
    }
)
_TIER_FIELDS = frozenset({"name", "condition", "prices"})
_CONDITION_FIELDS = frozenset({"usage_key", "operator", "value"})


class PriceEntryError(ValueError):
    """A price entry (or one of its tiers) is malformed."""


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _check_prices(prices: Any, where: str) -> MappingProxyType[str, float]:
    if not isinstance(prices, Mapping):
        raise PriceEntryError(f"{where}: 'prices' must be an object of usage key -> USD per token")
    if not prices:
        raise PriceEntryError(f"{where}: 'prices' must price at least one usage key")
    checked: dict[str, float] = {}
    for key, value in prices.items():
        if not isinstance(key, str) or not _KEY_RE.match(key):
            raise PriceEntryError(
                f"{where}: price key {key!r} is not a usage key (lowercase letters, digits, _)"
            )
        if not _is_number(value) or not math.isfinite(value):
            raise PriceEntryError(f"{where}: price for {key!r} must be a finite number")
        if value < 0:
            raise PriceEntryError(f"{where}: price for {key!r} is negative ({value})")
        if value >= MAX_PRICE:
            raise PriceEntryError(
                f"{where}: price for {key!r} is {value} USD per token; prices are per token, "
                f"not per million (divide by 1,000,000)"
            )
        checked[key] = float(value)
    return MappingProxyType(checked)


def _check_str(value: Any, name: str, where: str, *, optional: bool = False) -> str | None:
    if value is None and optional:
        return None
    if not isinstance(value, str) or not value.strip():
        raise PriceEntryError(f"{where}: {name!r} must be a non-empty string")
    return value


@dataclass(frozen=True, slots=True)
class PriceTier:
    """Prices that replace an entry's default prices when ``usage[usage_key] <op> value``."""

    name: str
    usage_key: str
    operator: str
    value: float
    prices: Mapping[str, float] = field(hash=False)
    _test: Callable[[float, float], bool] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        where = f"tier {self.name!r}"
        _check_str(self.name, "name", "tier")
        if not isinstance(self.usage_key, str) or not _KEY_RE.match(self.usage_key):
            raise PriceEntryError(f"{where}: condition usage_key {self.usage_key!r} is invalid")
        if self.operator not in _OPERATORS:
            raise PriceEntryError(
                f"{where}: operator {self.operator!r} is not one of {', '.join(_OPERATORS)}"
            )
        if not _is_number(self.value) or not math.isfinite(self.value):
            raise PriceEntryError(f"{where}: condition value must be a finite number")
        object.__setattr__(self, "prices", _check_prices(self.prices, where))
        object.__setattr__(self, "_test", _OPERATORS[self.operator])

    def matches(self, usage: Mapping[str, int]) -> bool:
        return self._test(usage.get(self.usage_key) or 0, self.value)

    @classmethod
    def from_dict(cls, data: Any) -> PriceTier:
        if not isinstance(data, Mapping):
            raise PriceEntryError("each tier must be an object with name, condition, prices")
        unknown = set(data) - _TIER_FIELDS
        if unknown:
            raise PriceEntryError(f"tier: unknown field(s) {sorted(unknown)}")
        missing = _TIER_FIELDS - set(data)
        if missing:
            raise PriceEntryError(f"tier: missing field(s) {sorted(missing)}")
        cond = data["condition"]
        if not isinstance(cond, Mapping):
            raise PriceEntryError(
                "tier: 'condition' must be an object {usage_key, operator, value}"
            )
        if set(cond) != _CONDITION_FIELDS:
            raise PriceEntryError(
                f"tier: 'condition' must have exactly the fields {sorted(_CONDITION_FIELDS)}"
            )
        return cls(
            name=data["name"],
            usage_key=cond["usage_key"],
            operator=cond["operator"],
            value=cond["value"],
            prices=data["prices"],
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "condition": {
                "usage_key": self.usage_key,
                "operator": self.operator,
                "value": self.value,
            },
            "prices": dict(self.prices),
        }


@dataclass(frozen=True, slots=True)
class PriceEntry:
    """The price of one model (``match_pattern``) from ``start_date`` on, in USD per token."""

    id: str
    model_name: str
    match_pattern: str
    prices: Mapping[str, float] = field(hash=False)
    start_date: date | None = None
    tiers: tuple[PriceTier, ...] = ()
    provider: str | None = None
    source: str = "builtin"
    _regex: UserRegex = field(init=False, repr=False, compare=False)
    _start_day: int = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if not isinstance(self.id, str) or not _ID_RE.match(self.id):
            raise PriceEntryError(
                f"'id' must be 1-200 characters of letters, digits and ._:@/+- (got {self.id!r})"
            )
        where = f"price entry {self.id!r}"
        _check_str(self.model_name, "model_name", where)
        _check_str(self.provider, "provider", where, optional=True)
        _check_str(self.match_pattern, "match_pattern", where)
        try:
            regex = compile_regex(self.match_pattern)
        except RegexError as exc:
            raise PriceEntryError(f"{where}: match_pattern: {exc.message}") from None
        if self.source not in SOURCES:
            raise PriceEntryError(f"{where}: source must be one of {SOURCES}")
        if self.start_date is not None and not isinstance(self.start_date, date):
            raise PriceEntryError(f"{where}: start_date must be a date or None")
        tiers = tuple(self.tiers)
        if not all(isinstance(t, PriceTier) for t in tiers):
            raise PriceEntryError(f"{where}: tiers must be PriceTier objects")
        names = [t.name for t in tiers]
        if len(set(names)) != len(names):
            raise PriceEntryError(f"{where}: tier names must be unique")
        object.__setattr__(self, "prices", _check_prices(self.prices, where))
        object.__setattr__(self, "tiers", tiers)
        object.__setattr__(self, "_regex", regex)
        start = _OLDEST if self.start_date is None else self.start_date.toordinal() - _EPOCH_ORDINAL
        object.__setattr__(self, "_start_day", start)

    def matches(self, model: str) -> bool:
        """Whether the regex matches the model name (a search: anchor with ^ and $).

        The pattern is RE2 syntax (:mod:`heron.userregex`), so this is linear in ``len(model)``.
        """
        return self._regex.search(model)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], source: str = "builtin") -> PriceEntry:
        """Build and validate an entry from its JSON form.

        ``source`` says where the entry comes from; a ``source`` field in ``data`` is ignored
        so that a project entry can never pass itself off as a built-in one.
        """
        if not isinstance(data, Mapping):
            raise PriceEntryError("a price entry must be a JSON object")
        label = data.get("id") if isinstance(data.get("id"), str) else "?"
        where = f"price entry {label!r}"
        unknown = set(data) - _ENTRY_FIELDS
        if unknown:
            raise PriceEntryError(
                f"{where}: unknown field(s) {sorted(unknown)}; allowed: {sorted(_ENTRY_FIELDS)}"
            )
        missing = {"id", "model_name", "match_pattern", "prices"} - set(data)
        if missing:
            raise PriceEntryError(f"{where}: missing field(s) {sorted(missing)}")
        unit = data.get("unit", "TOKENS")
        if unit not in UNITS:
            raise PriceEntryError(f"{where}: unit {unit!r} is not supported (only 'TOKENS')")
        raw_start = data.get("start_date")
        start: date | None
        if raw_start is None:
            start = None
        elif isinstance(raw_start, str):
            try:
                start = date.fromisoformat(raw_start)
            except ValueError:
                raise PriceEntryError(
                    f"{where}: start_date {raw_start!r} is not a YYYY-MM-DD date"
                ) from None
        else:
            raise PriceEntryError(f"{where}: start_date must be 'YYYY-MM-DD' or null")
        raw_tiers = data.get("tiers") or ()
        if not isinstance(raw_tiers, list | tuple):
            raise PriceEntryError(f"{where}: 'tiers' must be a list")
        try:
            tiers = tuple(PriceTier.from_dict(t) for t in raw_tiers)
        except PriceEntryError as exc:
            raise PriceEntryError(f"{where}: {exc}") from None
        return cls(
            id=data["id"],
            model_name=data["model_name"],
            match_pattern=data["match_pattern"],
            prices=data["prices"],
            start_date=start,
            tiers=tiers,
            provider=data.get("provider"),
            source=source,
        )

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "id": self.id,
            "model_name": self.model_name,
            "match_pattern": self.match_pattern,
            "start_date": self.start_date.isoformat() if self.start_date else None,
            "unit": "TOKENS",
            "prices": dict(self.prices),
            "provider": self.provider,
            "source": self.source,
        }
        if self.tiers:
            out["tiers"] = [t.to_dict() for t in self.tiers]
        return out

    def cost(self, usage: Mapping[str, int]) -> dict[str, float] | None:
        """Cost of ``usage`` at this entry's prices (tier applied), or None if nothing to price."""
        prices = self.prices
        for tier in self.tiers:
            if tier.matches(usage):
                prices = tier.prices
                break
        return compute_cost(prices, usage)


def compute_cost(prices: Mapping[str, float], usage: Mapping[str, int]) -> dict[str, float] | None:
    """Apply per-token ``prices`` to a canonical ``usage`` map (see the module docstring)."""
    n_in = usage.get("input")
    n_out = usage.get("output")
    p_in = prices.get("input")
    p_out = prices.get("output")
    if (n_in is None and n_out is None) or (p_in is None and p_out is None):
        # Only a total, or an entry that only prices the total.
        p_total = prices.get("total")
        if p_total is None:
            return None
        n_total = usage.get("total")
        if n_total is None:
            if n_in is None and n_out is None:
                return None
            n_total = (n_in or 0) + (n_out or 0)
        return {"total": max(n_total, 0) * p_total}

    p_in = p_in or 0.0
    p_out = p_out or 0.0
    base_in = n_in or 0
    base_out = n_out or 0
    result: dict[str, float] = {}
    extra = 0.0
    for key, n in usage.items():
        if not n or n <= 0 or key == "input" or key == "output" or key == "total":
            continue
        price = prices.get(key)
        if key in INPUT_SUBSETS:
            base_in -= n
            result[key] = n * (p_in if price is None else price)
        elif key in OUTPUT_SUBSETS:
            base_out -= n
            result[key] = n * (p_out if price is None else price)
        elif price is None:
            continue  # unpriced detail: stays in input/output at the text price
        elif key.startswith("input_"):
            base_in -= n
            result[key] = n * price
        elif key.startswith("output_"):
            base_out -= n
            result[key] = n * price
        else:
            result[key] = n * price  # a separately billed unit (e.g. per request)
        extra += result[key]
    c_in = (base_in if base_in > 0 else 0) * p_in
    c_out = (base_out if base_out > 0 else 0) * p_out
    result["input"] = c_in
    result["output"] = c_out
    result["total"] = c_in + c_out + extra
    return result


@cache
def _builtin_entries() -> tuple[PriceEntry, ...]:
    text = resources.files("heron.cost").joinpath("prices.json").read_text(encoding="utf-8")
    raw = json.loads(text)
    if not isinstance(raw, list):
        raise PriceEntryError("prices.json must hold a JSON list of entries")
    entries = tuple(PriceEntry.from_dict(item, source="builtin") for item in raw)
    seen: set[str] = set()
    for entry in entries:
        if entry.id in seen:
            raise PriceEntryError(f"prices.json: duplicate id {entry.id!r}")
        seen.add(entry.id)
    return entries


def load_builtin_prices() -> list[PriceEntry]:
    """The built-in price table (``prices.json``), parsed once."""
    return list(_builtin_entries())


_Candidates = tuple[tuple[PriceEntry, ...], tuple[PriceEntry, ...]]


class PriceBook:
    """Chooses the entry for a model at a time; project entries win over built-in ones.

    All patterns run in one pass over the model name (:class:`heron.userregex.RegexSet`);
    matching is cached per model name and the chosen entry per (model, UTC day), both in
    bounded dicts, so that pass runs once per distinct model name. A PriceBook is immutable:
    build a new one when the project's entries change.
    """

    def __init__(
        self,
        builtin: Iterable[PriceEntry],
        custom: Iterable[PriceEntry] = (),
        *,
        cache_size: int = 16_384,
    ) -> None:
        # Newest start first within each source; sorted() is stable, so ties keep file order.
        def newest_first(entries: Iterable[PriceEntry]) -> tuple[PriceEntry, ...]:
            return tuple(sorted(entries, key=lambda e: e._start_day, reverse=True))

        self._custom = newest_first(custom)
        self._builtin = newest_first(builtin)
        self._all = (*self._custom, *self._builtin)
        self._patterns = RegexSet([e._regex for e in self._all])
        self._cache_size = max(16, cache_size)
        self._candidates: dict[str, _Candidates] = {}
        self._chosen: dict[tuple[str, int], PriceEntry | None] = {}

    @property
    def entries(self) -> list[PriceEntry]:
        return [*self._custom, *self._builtin]

    def _bounded_put(self, store: dict[Any, Any], key: Any, value: Any) -> None:
        if len(store) >= self._cache_size:
            # Drop the oldest insertion; tolerate a concurrent writer doing the same.
            with contextlib.suppress(KeyError, RuntimeError, StopIteration):
                del store[next(iter(store))]
        store[key] = value

    def _match(self, model: str) -> _Candidates:
        found = self._candidates.get(model)
        if found is None:
            matched = self._patterns.matching(model)  # indices in self._all, ascending
            n = len(self._custom)
            found = (
                tuple(self._all[i] for i in matched if i < n),
                tuple(self._all[i] for i in matched if i >= n),
            )
            self._bounded_put(self._candidates, model, found)
        return found

    def find(self, model: str, at_us: int) -> PriceEntry | None:
        """The entry pricing ``model`` at ``at_us`` (microseconds since the epoch, UTC day)."""
        day = at_us // US_PER_DAY
        key = (model, day)
        chosen = self._chosen.get(key, False)
        if chosen is not False:
            return chosen  # type: ignore[return-value]
        chosen = None
        for group in self._match(model):
            for entry in group:  # newest start first
                if entry._start_day <= day:
                    chosen = entry
                    break
            if chosen is not None:
                break
        self._bounded_put(self._chosen, key, chosen)
        return chosen

    def cost(
        self, model: str | None, usage: Mapping[str, int], at_us: int
    ) -> dict[str, float] | None:
        """Cost map for ``usage`` of ``model`` at ``at_us``; None if it cannot be priced."""
        if not model or not usage:
            return None
        entry = self.find(model, at_us)
        if entry is None:
            return None
        try:
            return entry.cost(usage)
        except TypeError:  # a non-numeric count slipped through the ingest mapping
            return None
