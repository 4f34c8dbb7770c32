"""Fingerprint normalisation: what varies between occurrences is stripped, what differs in
kind is kept; equal messages up to numbers and ids group together."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from heron.signals.fingerprint import fingerprint, issue_id, normalise, override

CASES = [
    ("timeout after 30s calling 'orders-7'", "timeout after <duration> calling <q>"),
    ("timeout after 2.5 seconds", "timeout after <duration>"),
    ("took 1500ms", "took <duration>"),
    ('key "user-42" not found', "key <q> not found"),
    ("user 550e8400-e29b-41d4-a716-446655440000 failed", "user <uuid> failed"),
    ("bad pointer 0x7ffe12ab", "bad pointer <hex>"),
    ("commit deadbeef42 missing", "commit <hex> missing"),
    ("request req_abc123 failed with 503", "request <id> failed with <n>"),
    ("HTTP 500 at 2026-12-06T00:12:00Z", "HTTP <n> at <time>"),
    ("cost 1,234.50 over budget", "cost <n> over budget"),
    ("Rate limit  exceeded\n\tretry", "Rate limit exceeded retry"),
    ("connection refused", "connection refused"),
]


@pytest.mark.parametrize(("message", "expected"), CASES)
def test_normalise(message: str, expected: str) -> None:
    assert normalise(message) == expected


def test_words_that_differ_stay_apart() -> None:
    assert normalise("connection refused") != normalise("connection reset")
    assert fingerprint("error", "db", "x") != fingerprint("error", "cache", "x")
    assert fingerprint("error", "db", "x") != fingerprint("slow", "db", "x")


def test_the_override_replaces_name_and_message() -> None:
    assert override({"heron.fingerprint": "pay"}, None) == "pay"
    assert override(None, {"heron.fingerprint": 7}) == "7"
    assert override({}, {"other": 1}) is None
    a = fingerprint("error", "a", "one", "pay")
    assert a == fingerprint("error", "b", "two", "pay") != fingerprint("error", "a", "one")
    assert issue_id("p1", a) != issue_id("p2", a)  # an issue belongs to one project


def test_a_huge_message_is_bounded() -> None:
    assert len(normalise("x" * 1_000_000)) <= 2000


_words = st.sampled_from(["failed", "calling", "tool", "timeout", "user", "on", "retry"])
_KINDS = [
    st.integers(min_value=0, max_value=10**9).map(str),
    st.floats(min_value=0, max_value=1e6, allow_nan=False).map(lambda f: f"{f:.3f}"),
    st.uuids().map(str),
    st.integers(min_value=0, max_value=2**64).map(lambda n: f"0x{n:x}"),
    st.integers(min_value=0, max_value=10**6).map(lambda n: f"req_{n}a"),
    st.integers(min_value=0, max_value=10**4).map(lambda n: f"{n}ms"),
    st.text(alphabet="abcdefg XYZ-_", max_size=20).map(lambda s: f"'{s}'"),
]


@given(
    template=st.lists(
        st.one_of(_words, st.integers(min_value=0, max_value=len(_KINDS) - 1)),
        min_size=1,
        max_size=8,
    ),
    data=st.data(),
)
def test_equal_messages_up_to_numbers_and_ids_group_together(template: list, data) -> None:  # type: ignore[no-untyped-def]
    """A message template with a slot of each kind (a number, a UUID, an id, ...) filled
    twice with different values: both occurrences get one fingerprint."""

    def render() -> str:
        return " ".join(w if isinstance(w, str) else data.draw(_KINDS[w]) for w in template)

    first, second = render(), render()
    assert normalise(first) == normalise(second)
    assert fingerprint("error", "step", first) == fingerprint("error", "step", second)
