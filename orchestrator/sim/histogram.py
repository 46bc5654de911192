"""Mergeable log-bucket histogram (HDR-style): 8 sub-buckets per power of two, <= 12.5% error."""

from __future__ import annotations

SUB_BITS = 3
SUB = 1 << SUB_BITS
BUCKETS = 64 * SUB


def bucket_of(value: int) -> int:
    if value < SUB:
        return max(value, 0)
    bits = value.bit_length()
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

    def __init__(self) -> None:
        self.counts = [0] * BUCKETS

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
