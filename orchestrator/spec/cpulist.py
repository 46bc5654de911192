"""Linux cpulist syntax ("0-3,8,10-11"), as in /sys/devices/system/node/node0/cpulist."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated, Any

from pydantic import BeforeValidator, Field, PlainSerializer

from orchestrator.spec.base import MAX_CPUS


def _ranges(text: str) -> Iterator[tuple[int, int]]:
    """(first, last) of each item of a cpulist string, checked but not expanded."""
    for part in text.replace(" ", "").split(","):
        if not part:
            continue
        lo, sep, hi = part.partition("-")
        ends = (lo, hi) if sep else (lo,)
        if not all(end.isascii() and end.isdigit() for end in ends):
            raise ValueError(f"bad cpulist item {part!r} (expected e.g. '0-3,8')")
        # the length first: int() of thousands of digits is slow, and out of range anyway
        if any(len(end.lstrip("0")) > len(str(MAX_CPUS)) or int(end) >= MAX_CPUS for end in ends):
            raise ValueError(f"bad cpulist item {part[:24]!r}: CPU ids are 0-{MAX_CPUS - 1}")
        first, last = int(lo), int(ends[-1])
        if last < first:
            raise ValueError(f"bad cpulist range {part!r}: end before start")
        yield first, last


def cpulist_size(value: Any) -> int:
    """How many CPUs a raw cpulist names, without expanding it (0 for a bad string: its field's
    validation says what is wrong with it)."""
    if isinstance(value, list):
        return len(value)
    try:
        return sum(last - first + 1 for first, last in _ranges(value)) if isinstance(value, str) else 1
    except ValueError:
        return 0


def parse_cpulist(value: Any) -> Any:
    """Accept "0-3,8" or an int or a list of ints; leave other types for pydantic to reject."""
    if isinstance(value, bool):
        return value
    if isinstance(value, int):
        return [value]
    if not isinstance(value, str):
        return value
    # Topology counts a spec's CPUs before expanding any of its cpulists
    return [cpu for first, last in _ranges(value) for cpu in range(first, last + 1)]


def format_cpulist(cpus: list[int]) -> str:
    """The shortest cpulist for a set of CPUs: [0,1,2,3,8] -> "0-3,8"."""
    ordered = sorted(set(cpus))
    runs: list[str] = []
    i = 0
    while i < len(ordered):
        j = i
        while j + 1 < len(ordered) and ordered[j + 1] == ordered[j] + 1:
            j += 1
        runs.append(str(ordered[i]) if i == j else f"{ordered[i]}-{ordered[j]}")
        i = j + 1
    return ",".join(runs)


CpuList = Annotated[
    list[Annotated[int, Field(ge=0, lt=MAX_CPUS)]],
    BeforeValidator(parse_cpulist),
    PlainSerializer(format_cpulist, return_type=str, when_used="always"),
    Field(min_length=1, max_length=MAX_CPUS,
          description='CPU ids, as a cpulist string ("0-15,192-207") or a list'),
]
