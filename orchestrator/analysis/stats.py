"""Statistics for comparing lock designs: CIs, paired ratios, verdicts, USL (MSER-5 is in sim/steady.py)."""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass

import numpy as np
from scipy import optimize, stats


@dataclass(frozen=True)
class Estimate:
    mean: float
    low: float
    high: float
    n: int

    @property
    def half_width(self) -> float:
        return (self.high - self.low) / 2

    @property
    def relative_half_width(self) -> float:
        return self.half_width / abs(self.mean) if self.mean else math.inf


def mean_ci(values, level: float = 0.95) -> Estimate:
    """Replication mean with a Student t confidence interval (no interval from one value)."""
    x = np.asarray(values, dtype=float)
    n = len(x)
    mean = float(x.mean()) if n else math.nan
    if n < 2:
        return Estimate(mean, math.nan, math.nan, n)
    half = float(stats.t.ppf(0.5 + level / 2, n - 1) * x.std(ddof=1) / math.sqrt(n))
    return Estimate(mean, mean - half, mean + half, n)


def paired_ratio(base: dict, new: dict, level: float = 0.95) -> Estimate:
    """new / base over the seeds both have (common random numbers): the geometric mean of the
    per-seed ratios with a t interval on their logarithms."""
    seeds = sorted(set(base) & set(new))
    logs = [math.log(new[s] / base[s]) for s in seeds if base[s] > 0 and new[s] > 0]
    est = mean_ci(logs, level)
    if est.n < 2:
        return Estimate(math.exp(est.mean) if est.n else math.nan, math.nan, math.nan, est.n)
    return Estimate(math.exp(est.mean), math.exp(est.low), math.exp(est.high), est.n)


FASTER, SAME, SLOWER = "faster", "no significant difference", "slower"


def verdict(ratio: Estimate) -> str:
    """faster / slower only when the whole interval is on one side of 1."""
    if math.isnan(ratio.low):
        return SAME
    if ratio.low > 1:
        return FASTER
    if ratio.high < 1:
        return SLOWER
    return SAME


@dataclass(frozen=True)
class USL:
    """Universal Scalability Law: X(N) = lam N / (1 + sigma (N - 1) + kappa N (N - 1))."""

    lam: float
    sigma: float
    kappa: float

    def __call__(self, n):
        n = np.asarray(n, dtype=float)
        return self.lam * n / (1 + self.sigma * (n - 1) + self.kappa * n * (n - 1))

    @property
    def peak(self) -> float:
        """Copies at peak throughput, sqrt((1 - sigma) / kappa); infinite without coherency cost."""
        return math.sqrt((1 - self.sigma) / self.kappa) if self.kappa > 0 and self.sigma < 1 else math.inf


def fit_usl(copies, throughput) -> USL:
    """Least-squares USL fit with sigma, kappa >= 0 (needs three copy counts or more)."""
    n = np.asarray(copies, dtype=float)
    x = np.asarray(throughput, dtype=float)
    if len(set(n.tolist())) < 3:
        raise ValueError("a USL fit needs throughput at three copy counts or more")
    lam0 = float(x[np.argmin(n)] / n.min())

    def model(nn, lam, sigma, kappa):
        return lam * nn / (1 + sigma * (nn - 1) + kappa * nn * (nn - 1))

    with warnings.catch_warnings():  # a perfect fit has no covariance: that is fine here
        warnings.simplefilter("ignore", optimize.OptimizeWarning)
        (lam, sigma, kappa), _ = optimize.curve_fit(model, n, x, p0=[lam0, 0.01, 0.0001],
                                                    bounds=([0, 0, 0], [np.inf, 1, 1]), maxfev=20000)
    return USL(float(lam), float(sigma), float(kappa))
