"""A Bloom filter of stored trace ids: "certainly new" lets the writer skip look-ups.

Most spans in a batch belong to traces heron has never seen; for those the writer need not
search the store for earlier spans or an earlier trace row. A false "maybe" only costs the
look-up that would have happened anyway. Rebuilt from the store when it fills up.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

_BITS_PER_ID = 12
_MIN_BITS = 1 << 23


class TraceIdFilter:
    def __init__(self, load: Callable[[], Iterable[str]], expected: int = 0) -> None:
        self._load = load
        self._rebuild(expected)

    def _rebuild(self, expected: int) -> None:
        bits = max(_MIN_BITS, expected * 2 * _BITS_PER_ID)
        self._mask = (1 << bits.bit_length()) - 1
        self._bits = bytearray((self._mask >> 3) + 1)
        self._capacity = (self._mask + 1) // _BITS_PER_ID
        self._count = 0
        for trace_id in self._load():
            self.add(trace_id)

    def _probes(self, trace_id: str) -> tuple[int, int, int]:
        h = hash(trace_id)
        g = hash((trace_id, 1))
        m = self._mask
        return h & m, (h >> 32) & m, g & m

    def add(self, trace_id: str) -> None:
        bits = self._bits
        for p in self._probes(trace_id):
            bits[p >> 3] |= 1 << (p & 7)
        self._count += 1
        if self._count > self._capacity:
            self._rebuild(self._count)

    def may_contain(self, trace_id: str) -> bool:
        bits = self._bits
        return all(bits[p >> 3] & (1 << (p & 7)) for p in self._probes(trace_id))
