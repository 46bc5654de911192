"""Mergeable log-bucket histogram (HDR-style): 8 sub-buckets per power of two, <= 12.5% error.

bucket_of is compiled: the engine buckets its measurements with it, and Python may call it too.
"""

from __future__ import annotations

from orchestrator.sim.jit import njit

SUB_BITS = 3
SUB = 1 << SUB_BITS
BUCKETS = 64 * SUB


@njit
def bit_length(value):
    """int.bit_length, which compiled code lacks."""
    bits = 0
    while value > 0:
        value >>= 1
        bits += 1
    return bits


@njit
def bucket_of(value):
    if value < SUB:
        return max(value, 0)
    bits = bit_length(value)
    return (bits - SUB_BITS) * SUB + ((value >> (bits - SUB_BITS - 1)) & (SUB - 1))


def bucket_low(index: int) -> int:
    """Smallest value that falls in bucket `index`."""
    if index < SUB:
        return index
    bits = index // SUB + SUB_BITS
    return (SUB + index % SUB) << (bits - SUB_BITS - 1)


def bucket_high(index: int) -> int:
    """Largest value that falls in bucket `index`."""
    return bucket_low(index + 1) - 1


class Histogram:
    __slots__ = ("counts",)

    def __init__(self, counts: list[int] | None = None) -> None:
        self.counts = [0] * BUCKETS if counts is None else counts

    def merge(self, other: "Histogram") -> None:
        self.counts = [a + b for a, b in zip(self.counts, other.counts)]

    @property
    def total(self) -> int:
        return sum(self.counts)

    def quantile(self, q: float) -> float:
        """Value at quantile q, interpolated linearly inside its bucket; nan when empty."""
        total = self.total
        if total == 0:
            return float("nan")
        rank = q * total
        seen = 0
        for index, count in enumerate(self.counts):
            if count and seen + count >= rank:
                low, high = bucket_low(index), bucket_high(index) + 1
                return low + (high - low) * max(rank - seen, 0) / count
            seen += count
        return float(bucket_high(BUCKETS - 1))

    def nonzero(self) -> list[tuple[int, int]]:
        return [(i, c) for i, c in enumerate(self.counts) if c]
