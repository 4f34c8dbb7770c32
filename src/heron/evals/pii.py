"""Personal data in a text: email addresses, phone numbers, payment card numbers and IBANs.

Used by the ``pii`` check (:mod:`heron.evals.checks`). :func:`find_pii` counts what it finds
per kind and never returns the values themselves. Candidates are found with RE2 (time linear
in the text, whatever it holds) and then validated in plain Python:

- **email**: ``local@domain.tld`` with an ASCII local part and a dotted domain whose last
  label is at least two letters; ``user@localhost`` and ``@mentions`` are not emails.
- **card**: 13 to 19 digits, optionally grouped by single spaces or by single hyphens (one
  kind of separator per number), starting with 2 to 6 (the card networks' ranges) and
  passing the Luhn checksum. A 13-digit millisecond timestamp (``17...``) or a decimal
  fraction (``3.14159265358979``) is not a card; about one random digit string in twenty of
  the right shape is, which no checksum can avoid.
- **iban**: a two-letter country code of the IBAN registry, two check digits and the
  country's exact length, upper case, optionally in groups separated by single spaces,
  passing the ISO 7064 mod-97 checksum.
- **phone**: international numbers (``+44 20 7946 0958``, ``+14155552671``,
  ``0044 20 7946 0958``: 8 to 15 digits after ``+`` or ``00``); North American numbers
  (``(415) 555-2671``, ``415-555-2671``, ``415.555.2671``: area code and exchange starting
  with 2 to 9); national numbers with a trunk 0 in at least two groups (``020 7946 0958``,
  ``01 23 45 67 89``, ``0171 1234567``: 9 to 12 digits, one kind of separator). Not phones:
  digit runs without ``+`` (order ids, timestamps: ``4155552671``), dates
  (``2024-03-01``, ``01.02.2024``, ``12/25/2024``), times, versions, prices, IP addresses,
  seven-digit local numbers (``555-0199``), and national numbers without a trunk 0 (Spain's
  ``912 345 678``).
"""

from __future__ import annotations

from collections.abc import Iterable
from itertools import pairwise
from typing import Any

import re2

__all__ = ["IBAN_LENGTHS", "KINDS", "find_pii", "iban_valid", "luhn_valid"]

KINDS = ("email", "phone", "card", "iban")

# The countries of SWIFT's IBAN registry and the length of their IBANs.
IBAN_LENGTHS = {
    "AD": 24, "AE": 23, "AL": 28, "AT": 20, "AZ": 28, "BA": 20, "BE": 16, "BG": 22, "BH": 22,
    "BI": 27, "BR": 29, "BY": 28, "CH": 21, "CR": 22, "CY": 28, "CZ": 24, "DE": 22, "DJ": 27,
    "DK": 18, "DO": 28, "EE": 20, "EG": 29, "ES": 24, "FI": 18, "FK": 18, "FO": 18, "FR": 27,
    "GB": 22, "GE": 22, "GI": 23, "GL": 18, "GR": 27, "GT": 28, "HN": 28, "HR": 21, "HU": 28,
    "IE": 22, "IL": 23, "IQ": 23, "IS": 26, "IT": 27, "JO": 30, "KW": 30, "KZ": 20, "LB": 28,
    "LC": 32, "LI": 21, "LT": 20, "LU": 20, "LV": 21, "LY": 25, "MC": 27, "MD": 24, "ME": 22,
    "MK": 19, "MN": 20, "MR": 27, "MT": 31, "MU": 30, "NI": 28, "NL": 18, "NO": 15, "OM": 23,
    "PK": 24, "PL": 28, "PS": 29, "PT": 25, "QA": 29, "RO": 24, "RS": 22, "RU": 33, "SA": 24,
    "SC": 31, "SD": 18, "SE": 24, "SI": 19, "SK": 24, "SM": 27, "SO": 23, "ST": 25, "SV": 28,
    "TL": 23, "TN": 24, "TR": 26, "UA": 29, "VA": 22, "VG": 24, "XK": 20, "YE": 30,
}  # fmt: skip

_LABELS = {"email": ("email", "emails"), "phone": ("phone number", "phone numbers"),
           "card": ("card number", "card numbers"), "iban": ("IBAN", "IBANs")}  # fmt: skip


def _compile(pattern: bytes) -> Any:
    options = re2.Options()
    options.max_mem = 1 << 20
    options.log_errors = False
    return re2.compile(pattern, options)


# Patterns run on the text's UTF-8 bytes: the RE2 module matches bytes about three times
# faster than str, and every pattern is ASCII. A byte past ASCII reads as a letter.
_EMAIL = _compile(
    rb"[A-Za-z0-9._%+-]{1,64}@[A-Za-z0-9-]{1,63}(?:\.[A-Za-z0-9-]{1,63})*\.[A-Za-z]{2,24}"
)
_CARD = _compile(rb"\b\d(?:[ -]?\d){12,18}\b")
_IBAN = _compile(rb"\b[A-Z]{2}\d{2}(?: ?[A-Z0-9]){11,30}")
_PHONE = _compile(
    rb"\+\d[\d .()-]{6,22}\d"  # international, +country
    rb"|\b00[1-9][\d .()-]{5,22}\d"  # international, 00country
    # national with a trunk 0: one long group after the area code, or two to four groups
    rb"|(?:\(0\d{1,4}\)|\b0\d{1,4})(?:[ .-]\d{5,8}|(?:[ .-]\d{2,8}){2,4})\b"
    rb"|(?:\(\d{3}\) ?|\b\d{3}[ .-])\d{3}[ .-]\d{4}\b"  # North American
)
_WORDISH = frozenset("+_@")


def find_pii(text: str, kinds: Iterable[str] = KINDS) -> dict[str, int]:
    """How many of each kind of personal data ``text`` holds: ``{"email": 2}``; kinds not
    found are left out. Time is linear in the text; the caller caps its length."""
    wanted = set(kinds)
    found: dict[str, int] = {}
    data = text.encode("utf-8", "replace")
    digits = len(data) - len(data.translate(None, b"0123456789"))
    if "email" in wanted and b"@" in data:
        found["email"] = _emails(data)
    # an IBAN's digits can look like a card or a phone number, a card's like a phone number:
    # a candidate that overlaps an IBAN-shaped text (valid or not) or a valid card is not
    # counted
    taken: list[tuple[int, int]] = []
    if wanted & {"iban", "card", "phone"} and digits >= 2:
        ibans = _ibans(data)  # IBAN-shaped spans, counted when their checksum is right
        found["iban"] = sum(valid for _, _, valid in ibans)
        taken += [(start, end) for start, end, _ in ibans]
    if wanted & {"card", "phone"} and digits >= 13:
        cards = _cards(data, taken)
        found["card"] = len(cards)
        taken += cards
    if "phone" in wanted and digits >= 8:
        found["phone"] = len(_phones(data, taken))
    return {kind: found[kind] for kind in KINDS if kind in wanted and found.get(kind)}


def describe(found: dict[str, int]) -> str:
    """``{"email": 2, "card": 1}`` -> ``"2 emails, 1 card number"``."""
    parts = []
    for kind in KINDS:
        if kind in found:
            one, many = _LABELS[kind]
            parts.append(f"{found[kind]} {one if found[kind] == 1 else many}")
    return ", ".join(parts)


def luhn_valid(digits: str) -> bool:
    """The Luhn checksum of a string of digits (payment cards)."""
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = ord(ch) - 48
        if i % 2:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


def iban_valid(compact: str) -> bool:
    """An IBAN without spaces, upper case: known country, its length, and mod 97 == 1."""
    if IBAN_LENGTHS.get(compact[:2]) != len(compact) or not compact.isalnum():
        return False
    if not compact.isascii() or not compact[2:4].isdigit():
        return False
    moved = compact[4:] + compact[:4]
    return int("".join(str(int(ch, 36)) for ch in moved)) % 97 == 1


def _char(data: bytes, i: int) -> str:
    """The character at byte ``i`` as far as the checks care: a space outside the text, a
    letter for any byte past ASCII."""
    if i < 0 or i >= len(data):
        return " "
    return chr(data[i]) if data[i] < 128 else "a"


def _emails(data: bytes) -> int:
    count = 0
    for m in _EMAIL.finditer(data):
        local = m.group().decode().split("@", 1)[0]
        if local[0] == "." or local[-1] == "." or ".." in local:
            continue
        count += 1
    return count


def _overlaps(start: int, end: int, taken: list[tuple[int, int]]) -> bool:
    return any(start < t_end and t_start < end for t_start, t_end in taken)


def _cards(data: bytes, taken: list[tuple[int, int]]) -> list[tuple[int, int]]:
    spans = []
    for m in _CARD.finditer(data):
        if taken and _overlaps(m.start(), m.end(), taken):
            continue
        raw = m.group().decode()
        if _char(data, m.start() - 1) in ".,+":  # a decimal fraction, a phone number
            continue
        if " " in raw and "-" in raw:
            continue
        digits = raw.replace(" ", "").replace("-", "")
        if digits[0] in "23456" and luhn_valid(digits):
            spans.append((m.start(), m.end()))
    return spans


def _ibans(data: bytes) -> list[tuple[int, int, bool]]:
    """(start, end, valid) of every IBAN-shaped text: a valid IBAN, or one with an unknown
    country, a wrong length or checksum, whose digits are still no card or phone number."""
    spans = []
    for m in _IBAN.finditer(data):
        start, end = m.span()
        if _char(data, start - 1).isalnum():
            continue
        raw = m.group().decode()
        length = IBAN_LENGTHS.get(raw[:2], 0)
        # the pattern may run on into the next upper-case word: keep the country's length,
        # which must end where a group ends (a space, the end, or not a letter or digit)
        compact: list[str] = []
        stop = start
        for ch in raw:
            stop += 1
            if ch != " ":
                compact.append(ch)
                if len(compact) == length:
                    break
        if len(compact) == length and not _char(data, stop).isalnum():
            spans.append((start, stop, iban_valid("".join(compact))))
        else:
            spans.append((start, end, False))
    return spans


def _phones(data: bytes, taken: list[tuple[int, int]]) -> list[tuple[int, int]]:
    spans = []
    for m in _PHONE.finditer(data):
        if taken and _overlaps(m.start(), m.end(), taken):
            continue
        raw = m.group().decode()
        before = _char(data, m.start() - 1)
        if before.isalnum() or before in _WORDISH:
            continue
        end = m.end()
        if _char(data, end).isdigit() or _char(data, end) in "@_":
            continue
        if _phone_valid(raw, before):
            spans.append((m.start(), end))
    return spans


def _phone_valid(raw: str, before: str) -> bool:
    digits = sum(map(str.isdigit, raw))
    seps = {ch for ch in raw if not ch.isdigit()}
    opened = raw.count("(")
    if opened > 1 or opened != raw.count(")") or raw.find("(") > raw.find(")"):
        return False
    if any(a in " .-" and b in " .-" for a, b in pairwise(raw)):
        return False  # two separators in a row: a list of numbers, not one number
    if raw[0] == "+":
        return 8 <= digits <= 15
    if raw.startswith("00"):
        return bool(seps) and 10 <= digits <= 17
    if raw.lstrip("(")[0] == "0":
        return len(seps - {"(", ")"}) == 1 and 9 <= digits <= 12
    # North American: NXX NXX XXXX, the same separator twice when not in parentheses
    if before in "./:" or digits != 10:
        return False
    area = raw[1:4] if raw[0] == "(" else raw[:3]
    exchange = raw[-8:-5]
    if area[0] in "01" or exchange[0] in "01":
        return False
    return raw[0] == "(" or raw[3] == raw[7]
