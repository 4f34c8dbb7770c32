"""Password login protection: progressive delays after failures, and few hashes at once.

Failures are counted per account (the email as typed, normalised) and per client address.
From the ``threshold``-th failure in a row (failures less than ``window_s`` apart), the
key is refused for 1 s, then 2 s, 4 s, ... up to ``max_delay_s``: a refused attempt is
answered 429 with ``Retry-After`` before any password is hashed. A success clears the
account's record; the address record is left to age out, so a client holding one valid
account cannot clear its address between guesses at others. Records are forgotten
``window_s`` after their last delay ended, and at most ``max_keys`` are kept per kind
(the oldest go first), so memory stays bounded whatever names and addresses are sent.

Password hashes (scrypt, 16 MiB and tens of milliseconds of CPU each) run on their own
threads, at most ``running`` at once; up to ``waiting`` more wait for a slot, and any further
one is refused (503 with ``Retry-After``) instead of queueing without bound.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import partial
from typing import ParamSpec, TypeVar

ACCOUNT_THRESHOLD = 5
ADDRESS_THRESHOLD = 20
WINDOW_S = 15 * 60.0
BASE_DELAY_S = 1.0
MAX_DELAY_S = 15 * 60.0
MAX_KEYS = 10_000
BUSY_RETRY_AFTER_S = 1

P = ParamSpec("P")
T = TypeVar("T")


class HashesBusy(Exception):
    """Every hash slot is taken and the waiting line is full."""


@dataclass(slots=True)
class _Record:
    failures: int = 0
    blocked_until: float = 0.0


class FailureDelays:
    """Consecutive failures per key and the delay they impose (see the module docstring)."""

    def __init__(
        self,
        threshold: int,
        clock: Callable[[], float],
        window_s: float = WINDOW_S,
        base_delay_s: float = BASE_DELAY_S,
        max_delay_s: float = MAX_DELAY_S,
        max_keys: int = MAX_KEYS,
    ) -> None:
        self.threshold = threshold
        self.clock = clock
        self.window_s = window_s
        self.base_delay_s = base_delay_s
        self.max_delay_s = max_delay_s
        self.max_keys = max_keys
        self._records: dict[str, _Record] = {}  # oldest change first

    def retry_after(self, key: str) -> float:
        """Seconds until ``key`` may try again (0: now)."""
        record = self._records.get(key)
        return max(0.0, record.blocked_until - self.clock()) if record else 0.0

    def fail(self, key: str) -> None:
        now = self.clock()
        record = self._records.pop(key, None)
        if record is None or now >= record.blocked_until + self.window_s:
            record = _Record()
        record.failures += 1
        over = record.failures - self.threshold
        delay = 0.0 if over < 0 else min(self.max_delay_s, self.base_delay_s * 2.0 ** min(over, 60))
        record.blocked_until = now + delay
        self._records[key] = record
        while len(self._records) > self.max_keys:
            del self._records[next(iter(self._records))]

    def reset(self, key: str) -> None:
        self._records.pop(key, None)


class HashSlots:
    """At most ``running`` password hashes at once, ``waiting`` more in line.

    The hashes run on this object's own ``running`` threads, not the shared thread pool:
    glibc gives each thread its own malloc arena and keeps scrypt's 16 MiB in it after the
    hash, so hashing on any of the pool's 40 threads would let memory grow to 40 x 16 MiB.
    """

    def __init__(self, running: int = 2, waiting: int = 8) -> None:
        self.running = running
        self.waiting = waiting
        self.active = 0
        self.peak = 0  # the most that ever ran at once
        self._queued = 0
        self._semaphore: asyncio.Semaphore | None = None
        self._threads = ThreadPoolExecutor(running, thread_name_prefix="heron-password-hash")

    async def run(self, fn: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        """``fn(*args)`` on a hash thread; raises :class:`HashesBusy` when the line is full."""
        if self._semaphore is None:
            self._semaphore = asyncio.Semaphore(self.running)
        if self._semaphore.locked() and self._queued >= self.waiting:
            raise HashesBusy()
        self._queued += 1
        try:
            await self._semaphore.acquire()
        finally:
            self._queued -= 1
        self.active += 1
        self.peak = max(self.peak, self.active)
        try:
            loop = asyncio.get_running_loop()
            return await loop.run_in_executor(self._threads, partial(fn, *args, **kwargs))
        finally:
            self.active -= 1
            self._semaphore.release()


@dataclass
class LoginGuard:
    """What the login form consults before and after checking a password."""

    hash_concurrency: int = 2
    clock: Callable[[], float] = time.monotonic
    accounts: FailureDelays = field(init=False)
    addresses: FailureDelays = field(init=False)
    hashes: HashSlots = field(init=False)
    outcomes: dict[str, int] = field(
        default_factory=lambda: dict.fromkeys(("ok", "failed", "limited", "busy"), 0)
    )

    def __post_init__(self) -> None:
        self.accounts = FailureDelays(ACCOUNT_THRESHOLD, self._now)
        self.addresses = FailureDelays(ADDRESS_THRESHOLD, self._now)
        self.hashes = HashSlots(self.hash_concurrency, 4 * self.hash_concurrency)

    def _now(self) -> float:
        return self.clock()  # looked up on each call: tests may move the clock

    def retry_after(self, email: str, address: str) -> int:
        """Whole seconds this attempt must wait (0: go ahead); counts refusals."""
        wait = max(
            self.accounts.retry_after(account_key(email)), self.addresses.retry_after(address)
        )
        if wait > 0:
            self.outcomes["limited"] += 1
        return math.ceil(wait)

    def failed(self, email: str, address: str) -> None:
        self.outcomes["failed"] += 1
        self.accounts.fail(account_key(email))
        self.addresses.fail(address)

    def succeeded(self, email: str) -> None:
        self.outcomes["ok"] += 1
        self.accounts.reset(account_key(email))

    def busy(self) -> int:
        """Counts a refusal for want of a hash slot; the ``Retry-After`` to send."""
        self.outcomes["busy"] += 1
        return BUSY_RETRY_AFTER_S


def account_key(email: str) -> str:
    """The email as the store looks it up (cut short: any longer one is no account)."""
    return email.strip().lower()[:330]
