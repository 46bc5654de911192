"""Linux cpulist syntax ("0-3,8,10-11"), as in /sys/devices/system/node/node0/cpulist."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BeforeValidator, Field, PlainSerializer


def parse_cpulist(value: Any) -> Any:
    """Accept "0-3,8" or an int or a list of ints; leave other types for pydantic to reject."""
    if isinstance(value, bool):
        return value
    if isinstance(value, int):
        return [value]
    if not isinstance(value, str):
        return value
    cpus: list[int] = []
    for part in value.replace(" ", "").split(","):
        if not part:
            continue
        lo, sep, hi = part.partition("-")
        if not lo.isdigit() or (sep and not hi.isdigit()):
            raise ValueError(f"bad cpulist item {part!r} (expected e.g. '0-3,8')")
        first, last = int(lo), int(hi) if sep else int(lo)
        if last < first:
            raise ValueError(f"bad cpulist range {part!r}: end before start")
        cpus.extend(range(first, last + 1))
    return cpus


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
    list[Annotated[int, Field(ge=0)]],
    BeforeValidator(parse_cpulist),
    PlainSerializer(format_cpulist, return_type=str, when_used="always"),
    Field(min_length=1, description='CPU ids, as a cpulist string ("0-15,192-207") or a list'),
]
