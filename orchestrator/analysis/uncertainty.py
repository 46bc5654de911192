"""Verdicts across uncertainty samples: is a design's gain robust to what the model does not know?

For every cell (topology, workload, copies) and design, each sample gives the design's ratio to
the baseline (means over seeds) and, from the seeds, whether it is significantly faster, slower,
or neither (Welch's t-test, 5%). The verdict is `robust` when no sample gives the opposite
significant answer and more than half give the majority one; otherwise it `depends on` the
parameter whose sampled values have the largest rank correlation (Spearman) with the ratio.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass

from scipy import stats

ALPHA = 0.05


@dataclass
class Verdict:
    topology: str
    workload: str
    copies: int
    strategy: str
    low: float                 # smallest ratio to the baseline across samples
    high: float                # largest
    faster: int                # samples where the design is significantly faster
    slower: int                # ... significantly slower
    samples: int
    verdict: str               # "robust: faster", "robust: no difference", "depends on kernel.cost_scale"...
    sensitivity: dict[str, float]  # parameter -> Spearman rho of its values with the ratio


def _by(runs: list[dict], metric: str) -> dict[tuple, list[float]]:
    out: dict[tuple, list[float]] = {}
    for r in runs:
        if r.get(metric) is not None:
            key = (r["topology"], r["workload"], r["copies"], r["strategy"], r["sample"])
            out.setdefault(key, []).append(r[metric])
    return out


def verdicts(runs: list[dict], baseline: str, metric: str = "steady_throughput_per_s") -> list[Verdict]:
    values = _by(runs, metric)
    draws: dict[tuple, dict] = {}  # per cell: two sweeps may number different draws alike
    for r in runs:
        draws.setdefault((r["topology"], r["workload"], r["copies"]), {})[r["sample"]] = r["parameters_json"]
    cells = sorted({k[:3] for k in values})
    designs = sorted({k[3] for k in values} - {baseline})
    out = []
    for cell in cells:
        for design in designs:
            ratios, signs, samples = [], [], []
            params = {sample: json.loads(text or "{}") for sample, text in draws[cell].items()}
            for sample in sorted(params):
                mine, base = values.get((*cell, design, sample)), values.get((*cell, baseline, sample))
                if not mine or not base:
                    continue
                ratio = (sum(mine) / len(mine)) / (sum(base) / len(base))
                significant = (len(mine) > 1 and len(base) > 1
                               and stats.ttest_ind(mine, base, equal_var=False).pvalue < ALPHA)
                ratios.append(ratio)
                signs.append(0 if not significant else (1 if ratio > 1 else -1))
                samples.append(sample)
            if ratios:
                out.append(_verdict(cell, design, ratios, signs, samples, params))
    return out


def _verdict(cell, design, ratios, signs, samples, params) -> Verdict:
    faster, slower = signs.count(1), signs.count(-1)
    counts = {1: faster, -1: slower, 0: signs.count(0)}
    majority = max(counts, key=lambda s: (counts[s], s == 0))
    sensitivity = {}
    for name in sorted({n for s in samples for n in params[s]}):
        xs = [params[s].get(name) for s in samples]
        if len(set(xs)) > 1 and len(set(ratios)) > 1 and None not in xs:
            rho = stats.spearmanr(xs, ratios).statistic
            if not math.isnan(rho):
                sensitivity[name] = float(rho)
    opposite = counts[-majority] if majority else 0
    if opposite == 0 and counts[majority] * 2 > len(signs):
        verdict = "robust: " + {1: "faster", -1: "slower", 0: "no significant difference"}[majority]
    elif sensitivity:
        verdict = "depends on " + max(sensitivity, key=lambda n: abs(sensitivity[n]))
    else:
        verdict = "depends on the samples"
    return Verdict(*cell, design, min(ratios), max(ratios), faster, slower, len(ratios), verdict, sensitivity)


def throughput_bands(runs: list[dict], metric: str = "steady_throughput_per_s") -> dict[tuple, tuple[float, float]]:
    """(topology, workload, copies, strategy) -> the lowest and highest mean over seeds across samples."""
    by_sample: dict[tuple, list[float]] = {}
    for key, values in _by(runs, metric).items():
        by_sample.setdefault(key[:4], []).append(sum(values) / len(values))
    return {key: (min(means), max(means)) for key, means in by_sample.items()}


@dataclass
class Sensitivity:
    parameter: str
    sampled: tuple[float, float]   # the lowest and highest value the samples drew
    strongest: int                 # comparisons where it has the largest |rho|
    median_rho: float              # median |rho| over the comparisons it varied in
    most: Verdict                  # the comparison where its |rho| is largest


def sensitivity(found: list[Verdict], runs: list[dict]) -> list[Sensitivity]:
    """One row per sampled parameter, the most influential first: how strongly the designs' ratios
    follow it (Spearman |rho|) across every comparison."""
    drawn: dict[str, list[float]] = {}
    for r in runs:
        for name, value in json.loads(r["parameters_json"] or "{}").items():
            drawn.setdefault(name, []).append(value)
    rows = []
    for name, values in drawn.items():
        varied = [v for v in found if name in v.sensitivity]
        if not varied:
            continue
        top = sum(1 for v in varied if max(v.sensitivity, key=lambda n: abs(v.sensitivity[n])) == name)
        rhos = sorted(abs(v.sensitivity[name]) for v in varied)
        most = max(varied, key=lambda v: abs(v.sensitivity[name]))
        rows.append(Sensitivity(name, (min(values), max(values)), top, rhos[len(rhos) // 2], most))
    return sorted(rows, key=lambda s: (-s.strongest, -s.median_rho, s.parameter))
