"""Request rates per API key and per project: token buckets in memory.

Two classes of requests are counted apart: ingest (traces and scores) and everything else a
key does (reads, settings). A request takes a token from its key's bucket and from its
project's; a bucket holds up to one second's worth and refills continuously. Buckets are
made only for authenticated keys, so the table stays as small as the key table. Limits are
per server process and start full after a restart.

Scores sent with the public key alone (browser feedback) are a third class, charged to the
key and to the client's address: the key is public, so its own bucket cannot tell one
visitor flooding from many voting. Address buckets are dropped once full again, so the
table holds only addresses seen in the last few seconds.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from heron.errors import RateLimited
from heron.settings import Settings

PRUNE_AT = 4096  # buckets held before full address buckets are dropped


@dataclass(slots=True)
class _Bucket:
    rate: float  # tokens per second
    tokens: float
    stamp: float

    def refill(self, now: float) -> None:
        self.tokens = min(max(self.rate, 1.0), self.tokens + (now - self.stamp) * self.rate)
        self.stamp = now

    def wait(self) -> float:
        """Seconds until one token is there (0 when one is)."""
        return 0.0 if self.tokens >= 1.0 else (1.0 - self.tokens) / self.rate


class RateLimiter:
    """Charges requests to their key's and project's buckets; raises :class:`RateLimited`."""

    def __init__(self, settings: Settings, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._rates = {
            ("ingest", "key"): settings.rate_ingest_per_key,
            ("ingest", "project"): settings.rate_ingest_per_project,
            ("read", "key"): settings.rate_read_per_key,
            ("read", "project"): settings.rate_read_per_project,
            ("public", "key"): settings.rate_public_scores_per_key,
            ("public", "address"): settings.rate_public_scores_per_address,
        }
        self._buckets: dict[tuple[str, str, str], _Bucket] = {}
        self._lock = threading.Lock()
        self._pruned_at = -math.inf

    def charge(self, kind: str, public_key: str, project_id: str) -> None:
        """Take one ``kind`` ("ingest" or "read") request from both buckets, or raise 429."""
        self._take(kind, (("key", public_key), ("project", project_id)))

    def charge_public(self, public_key: str, address: str) -> None:
        """Take one public-key score request from the key's and the address's buckets."""
        self._take("public", (("key", public_key), ("address", address)))
        self._forget_full_addresses()

    def _forget_full_addresses(self) -> None:
        """Drop address buckets that are full again (at most once a second, and only once
        there are many), so a flood from many addresses leaves no lasting table."""
        now = self._clock()
        if len(self._buckets) < PRUNE_AT or now - self._pruned_at < 1.0:
            return
        with self._lock:
            self._pruned_at = now
            for owner, bucket in list(self._buckets.items()):
                if owner[1] == "address":
                    bucket.refill(now)
                    if bucket.tokens >= max(bucket.rate, 1.0):
                        del self._buckets[owner]

    def __len__(self) -> int:
        """Buckets held (for tests and curiosity)."""
        return len(self._buckets)

    def _take(self, kind: str, owners: tuple[tuple[str, str], ...]) -> None:
        now = self._clock()
        with self._lock:
            buckets: list[tuple[str, _Bucket]] = []
            for level, owner in owners:
                rate = self._rates[(kind, level)]
                if rate <= 0:
                    continue
                bucket = self._buckets.get((kind, level, owner))
                if bucket is None:
                    bucket = _Bucket(rate, max(rate, 1.0), now)
                    self._buckets[(kind, level, owner)] = bucket
                bucket.refill(now)
                buckets.append((level, bucket))
            for level, bucket in buckets:
                wait = bucket.wait()
                if wait > 0:
                    what = "public-key score" if kind == "public" else kind
                    raise RateLimited(
                        f"rate limit of {bucket.rate:g} {what} requests per second per {level} "
                        f"exceeded; retry after {max(wait, 0.01):.2f} s",
                        retry_after=max(1, math.ceil(wait)),
                    )
            for _, bucket in buckets:
                bucket.tokens -= 1.0
