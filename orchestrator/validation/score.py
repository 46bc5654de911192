"""The model beside each measurement: its central value, its band over the uncertainty samples,
the error, and whether the measurement lies inside the band; then the summary over `check` rows.

A throughput row's value is the mean over seeds of its one side, divided by the row's divisor (the
benchmark's unit). A change row's value is 100 x (B / A - 1) of the means over the same seeds of
its two sides, which ran with the same seeds and samples (common random numbers). The central value
is the nominal run's (the defaults, or a profile's best fit); the band runs from the lowest to the
highest value over the nominal and every sample.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from statistics import fmean, median

from orchestrator.validation.table import Row

NOMINAL = None  # the sample of the nominal runs


@dataclass(frozen=True)
class Scored:
    id: str
    source: str
    role: str
    metric: str
    measured: float
    model: float | None       # None: the row's runs failed
    low: float | None
    high: float | None
    error: float | None       # throughput: model / measured - 1; change: model - measured, in points
    inside: bool

    def as_json(self) -> dict:
        return asdict(self)


def value(row: Row, sides: list[list[float]]) -> float:
    """The row's statistic from each side's throughputs over the seeds (iterations per second)."""
    means = [fmean(throughputs) for throughputs in sides]
    if row.metric == "change":
        return 100.0 * (means[1] / means[0] - 1.0)
    return means[0] / row.divisor


def score(row: Row, values: dict[int | None, float] | None) -> Scored:
    """The row against its values by sample (NOMINAL first); None when its runs failed."""
    if not values:
        return Scored(row.id, row.source, row.role, row.metric, row.measured, None, None, None, None, False)
    model = values[NOMINAL]
    low, high = min(values.values()), max(values.values())
    error = model - row.measured if row.metric == "change" else model / row.measured - 1.0
    if row.bound == "lower":      # "over 400%": the band only has to reach it
        inside = high >= row.measured
    elif row.bound == "upper":
        inside = low <= row.measured
    else:
        inside = low <= row.measured <= high
    return Scored(row.id, row.source, row.role, row.metric, row.measured, model, low, high, error, inside)


def summary(scored: list[Scored]) -> dict:
    """Over the `check` rows (a `fit` row says how well calibration can do, not the model): how
    many lie inside their band, the median absolute error of throughput rows (a share: 0.25 is
    25%), how many change rows have the measured sign, and their median absolute error in
    percentage points."""
    checks = [s for s in scored if s.role == "check"]
    ran = [(s, s.model, s.error) for s in checks if s.model is not None and s.error is not None]
    throughput = [abs(error) for s, _, error in ran if s.metric == "throughput"]
    changes = [(s, model, error) for s, model, error in ran if s.metric == "change"]
    return {"rows": len(checks), "inside": sum(s.inside for s in checks),
            "median_abs_error": median(throughput) if throughput else None,
            "sign_agreement": sum(sign(model) == sign(s.measured) for s, model, _ in changes),
            "median_abs_pp_error": median(abs(error) for *_, error in changes) if changes else None}


def sign(x: float) -> int:
    return 0 if x == 0 or math.isnan(x) else (1 if x > 0 else -1)
