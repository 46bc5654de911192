"""Workload specs: what each simulated CPU does. One model per generator, told apart by `kind`."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, NonNegativeInt, PositiveInt

from orchestrator.spec.base import Spec


class ClosedLoop(Spec):
    """Validation workload (DESIGN 4.6, 7): think, then take one lock and hold it; repeat."""

    kind: Literal["closed-loop"]
    name: str = "closed-loop"
    description: str = ""
    think_ns: NonNegativeInt = Field(10_000, description="mean think time between accesses")
    hold_ns: NonNegativeInt = Field(1_000, description="mean hold time of a write access")
    read_hold_ns: NonNegativeInt = Field(1_000, description="mean hold time of a read access")
    read_fraction: float = Field(0.0, ge=0.0, le=1.0, description="share of accesses that read")
    distribution: Literal["exponential", "fixed"] = "exponential"
    locks: PositiveInt = Field(1, description="independent locks of the one class")
    lock_choice: Literal["pinned", "random"] = Field(
        "pinned", description="pinned: CPU slot i always uses lock i % locks; random: uniform per access")


# Issue 4 adds execl, spawn and mmap-churn here as further members of this union.
WorkloadSpec = ClosedLoop
