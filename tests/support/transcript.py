"""Transcripts of store calls, to compare two backends call by call (see
tests/store/test_backend_control.py).

Random ids, keys, tokens and times differ between two runs by nature; a transcript replaces
each by a placeholder numbered by first appearance, so equal transcripts still mean the same
values in the same places (the same user id in a membership as in the account, the same
order of creation times). A refused call is recorded as its error's name and message.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable
from datetime import datetime
from typing import Any

from heron.errors import HeronError

_RANDOM = re.compile(
    r"^(prj_|usr_|pk-hr-|sk-hr-|ntf_|dlv_)|^\d{4}-\d\d-\d\dT|^[0-9a-f]{64}$|^[0-9a-f]{16}$"
    r"|^[0-9a-f]{32}$|^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$"
    r"|^[A-Za-z0-9_-]{43}$"
)
_IDS = re.compile(r"\b(prj|usr)_[0-9a-f]{16}\b")

Lines = list[tuple[str, Any]]


class Transcript:
    """What each call returned or raised, with random values as numbered placeholders."""

    def __init__(self) -> None:
        self.lines: list[tuple[str, Any]] = []
        self._names: dict[str, str] = {}

    def _norm(self, value: Any) -> Any:
        if isinstance(value, dict):
            return {self._norm(k): self._norm(v) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return [self._norm(v) for v in value]
        if isinstance(value, datetime):
            value = value.isoformat()
        if isinstance(value, str) and _RANDOM.search(value):
            return self._names.setdefault(value, f"<{len(self._names)}>")
        return value

    def __call__(self, label: str, call: Callable[[], Any]) -> Any:
        try:
            result = call()
        except HeronError as e:
            message = _IDS.sub(lambda m: self._norm(m.group()), str(e))
            self.lines.append((label, (type(e).__name__, message)))
            return None
        self.lines.append((label, self._norm(result)))
        return result


def assert_same(got: Lines, expected: Lines) -> None:
    """The same calls, each with the same (normalised) result, naming the first that differs."""
    assert [label for label, _ in got] == [label for label, _ in expected]
    for (label, g), (_, e) in zip(got, expected, strict=True):
        assert g == e, label


def race(*calls: Callable[[], Any]) -> list[str]:
    """Run the calls at once, one thread each; what each did ("done" or the error's name)."""
    barrier = threading.Barrier(len(calls))
    outcomes: list[str] = []

    def run(call: Callable[[], Any]) -> None:
        barrier.wait()
        try:
            call()
            outcomes.append("done")
        except HeronError as e:
            outcomes.append(type(e).__name__)

    threads = [threading.Thread(target=run, args=(c,)) for c in calls]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    return sorted(outcomes)
