"""Common base for every spec model: unknown keys are errors, not silently ignored.

Every spec is strict: an integer field takes only an integer (not `true`, not "3"), a flag only
true or false, and a number must be finite. The MAX_* bounds are hard validity limits, so
that a spec is rejected before any work rather than running for hours or exhausting memory;
they are not plausible ranges.
"""

from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

MAX_DURATION_MS = 10_000.0   # virtual time measured, and warm-up, each
MIN_DURATION_MS = 0.001      # 1 us: shorter measures nothing
MAX_NODES = 1_024
MAX_CPUS = 8_192             # per topology; also bounds CPU ids (Linux's largest NR_CPUS)
MAX_SHARDS = 4_096
MAX_BACKGROUND_VMAS = 1_000_000
MAX_LOCKS = 65_536
MAX_REPLICATIONS = 10_000
MAX_SAMPLES = 10_000           # uncertainty samples per sweep
MAX_SWEEP_RUNS = 10_000_000
MAX_SEED = 2**63 - 1         # seeds are int64 in the engine and the dataset
MAX_RATE_PER_S = 1e6         # walker calls per second: one per microsecond (more never ends)
MIN_RATE_PER_S = 1e-3        # ... and when on, not so few that the gap between calls overflows
MAX_THINK_CV = 10.0          # a gamma of larger CV has a shape too small to sample
MIN_THINK_CV = 1e-3          # ... and when not 0 (fixed), not so small that its shape overflows
MAX_LINE_TRANSFERS = 1_000.0
MAX_TREE_LINES = 64          # lines per tree descent or update: a tree of 2^64 VMAs is 64 deep
MAX_ZONE_LOCKS = 1_000       # zone lock acquisitions per iteration (each one is simulated)
MAX_BACKGROUND_TASKS = 64    # other runnable tasks per CPU

DurationMs = Annotated[float, Field(ge=MIN_DURATION_MS, le=MAX_DURATION_MS)]
WarmupMs = Annotated[float, Field(ge=0, le=MAX_DURATION_MS)]
Seed = Annotated[int, Field(ge=0, le=MAX_SEED)]


MAX_COST_SCALE = 100.0


def plausible(low: float, high: float, unit: str, source: str) -> dict:
    """Field metadata of an uncertain parameter: the range it plausibly takes on real machines,
    its unit, and where the range comes from (H/M/L as in docs/sources.md). Fitting and
    uncertainty sampling draw from it; it never rejects a value (hard limits are ge/le)."""
    return {"plausible": [low, high], "unit": unit, "source": source}


def zero_or_at_least(minimum: float) -> AfterValidator:
    """0 (off), or a value at least `minimum`: the engine divides by it."""
    def check(value: float) -> float:
        if 0 < value < minimum:
            raise ValueError(f"0 or at least {minimum:g}")
        return value
    return AfterValidator(check)


class Spec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True, allow_inf_nan=False)
