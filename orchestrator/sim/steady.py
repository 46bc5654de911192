"""The one steady-state estimator behind every throughput orch prints (runs column
`steady_throughput_per_s`): throughput over the windows after the warm-up, the warm-up being the
configured one or longer where MSER-5 finds the series still settling."""

from __future__ import annotations

import math

import numpy as np


def mser5(series) -> int:
    """MSER-5 warm-up truncation: how many leading windows to drop.

    Batch the series in means of 5, then pick the number d of leading batches (at most half)
    that minimizes the marginal standard error sum((y - mean)^2) / (m - d)^2 of what remains.
    """
    x = np.asarray(series, dtype=float)
    m = len(x) // 5
    if m < 2:
        return 0
    batches = x[: m * 5].reshape(m, 5).mean(axis=1)
    best, best_d = math.inf, 0
    for d in range(m // 2 + 1):
        rest = batches[d:]
        score = float(((rest - rest.mean()) ** 2).sum()) / (len(rest) ** 2)
        if score < best:
            best, best_d = score, d
    return best_d * 5


def steady_throughput(windows: list[dict]) -> float:
    """Throughput over the windows after the warm-up (never keeping a window the run called
    warm-up): iterations per second of the kept windows."""
    windows = sorted(windows, key=lambda w: w["window"])
    configured = sum(1 for w in windows if w["warmup"])
    drop = max(configured, mser5([w["throughput_per_s"] for w in windows]))
    kept = windows[drop:]
    span = sum(w["width_ns"] for w in kept)
    return sum(w["iterations"] for w in kept) / (span / 1e9) if span else float("nan")
