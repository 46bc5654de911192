"""Verdicts across uncertainty samples: is a design's gain robust to what the model does not know?

For every cell (topology, workload, copies) and design, each sample gives the design's ratio to
the baseline (means over seeds) and, from the seeds, whether it is significantly faster, slower,
or neither (Welch's t-test, 5%). The verdict is `robust` when no sample gives the opposite
significant answer and more than half give the majority one; otherwise it `depends on` the
parameter with the largest global sensitivity index of the ratio, from SALib: the PAWN index
(median over conditioning slices) over Latin-hypercube samples, Morris' mu* over a Morris design,
Sobol's total index over a Sobol design (the sweep's uncertainty.method).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass

import numpy as np
from scipy import stats

ALPHA = 0.05
INDEX = {"lhs": "PAWN", "morris": "Morris mu*", "sobol": "Sobol ST"}


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
    sensitivity: dict[str, float]  # parameter -> its sensitivity index for the ratio
    index: str = "PAWN"        # which index (INDEX)

    @property
    def top(self) -> str | None:
        """The most influential parameter (ties: the first by name)."""
        return max(sorted(self.sensitivity), key=lambda n: self.sensitivity[n], default=None)


def _by(runs: list[dict], metric: str) -> dict[tuple, list[float]]:
    out: dict[tuple, list[float]] = {}
    for r in runs:
        if r.get(metric) is not None:
            key = (r["topology"], r["workload"], r["copies"], r["strategy"], r["sample"])
            out.setdefault(key, []).append(r[metric])
    return out


def verdicts(runs: list[dict], baseline: str, metric: str = "steady_throughput_per_s",
             designs: dict[str, str] | None = None) -> list[Verdict]:
    """designs: each sweep's uncertainty.method (default lhs), by sweep name."""
    values = _by(runs, metric)
    method = {(r["topology"], r["workload"], r["copies"]): (designs or {}).get(r.get("sweep") or "", "lhs")
              for r in runs}
    draws: dict[tuple, dict] = {}  # per cell: two sweeps may number different draws alike
    for r in runs:
        draws.setdefault((r["topology"], r["workload"], r["copies"]), {})[r["sample"]] = r["parameters_json"]
    cells = sorted({k[:3] for k in values})
    others = sorted({k[3] for k in values} - {baseline})
    out = []
    for cell in cells:
        for design in others:
            ratios, signs, samples = [], [], []
            params = {sample: json.loads(text or "{}") for sample, text in draws[cell].items()}
            for sample in sorted(params):
                mine, base = values.get((*cell, design, sample)), values.get((*cell, baseline, sample))
                if not mine or not base:
                    continue
                ratio = (sum(mine) / len(mine)) / (sum(base) / len(base))
                significant = (len(mine) > 1 and len(base) > 1
                               and _welch_p(mine, base) < ALPHA)
                ratios.append(ratio)
                signs.append(0 if not significant else (1 if ratio > 1 else -1))
                samples.append(sample)
            if ratios:
                xs = {name: [params[s].get(name) for s in samples] for name in {n for s in samples for n in params[s]}}
                sensitivity, index = influence(xs, ratios, method[cell], samples == list(range(len(samples))))
                out.append(_verdict(cell, design, ratios, signs, sensitivity, index))
    return out


def influence(xs: dict[str, list], ys: list[float], method: str = "lhs", complete: bool = True
              ) -> tuple[dict[str, float], str]:
    """(parameter -> sensitivity index of ys, the index's name), over the parameters that vary.
    Morris and Sobol analyses need their whole design in order (`complete`, and a sample count
    their structure allows); otherwise, and for Latin hypercubes, PAWN, which takes any sample."""
    names = sorted(n for n, v in xs.items() if None not in v and len(set(v)) > 1)
    if not names or len(set(ys)) < 2:
        return {}, INDEX["lhs"]
    x, y = np.array([xs[n] for n in names], dtype=float).T, np.array(ys, dtype=float)
    problem = {"num_vars": len(names), "names": names, "bounds": [[float(c.min()), float(c.max())] for c in x.T]}
    if method == "morris" and complete and len(y) % (len(names) + 1) == 0:
        from SALib.analyze import morris

        from orchestrator.spec.sweep import MORRIS_LEVELS

        found, index = morris.analyze(problem, x, y, num_levels=MORRIS_LEVELS, seed=0)["mu_star"], "morris"
    elif method == "sobol" and complete and len(y) % (len(names) + 2) == 0:
        from SALib.analyze import sobol

        found, index = sobol.analyze(problem, y, calc_second_order=False, seed=0)["ST"], "sobol"
    else:
        found, index = pawn_median(problem, x, y), "lhs"
    return {n: float(v) for n, v in zip(names, found) if math.isfinite(v)}, INDEX[index]


def pawn_median(problem: dict, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """SALib's PAWN index (median over slices) of each input, with about five samples per slice
    (2 - 10 slices; SALib's slice edges overshoot 1 for 6 and 9, so those take one fewer)."""
    from SALib.analyze import pawn

    slices = max(2, min(10, len(y) // 5))
    return pawn.analyze(problem, x, y, S=slices - (slices in (6, 9)))["median"]


def _verdict(cell: tuple[str, str, int], design: str, ratios: list[float], signs: list[int],
             sensitivity: dict[str, float], index: str) -> Verdict:
    faster, slower = signs.count(1), signs.count(-1)
    counts = {1: faster, -1: slower, 0: signs.count(0)}
    majority = max(counts, key=lambda s: (counts[s], s == 0))
    opposite = counts[-majority] if majority else 0
    verdict = Verdict(*cell, design, min(ratios), max(ratios), faster, slower, len(ratios), "", sensitivity, index)
    if opposite == 0 and counts[majority] * 2 > len(signs):
        verdict.verdict = "robust: " + {1: "faster", -1: "slower", 0: "no significant difference"}[majority]
    elif sensitivity:
        verdict.verdict = f"depends on {verdict.top}"
    else:
        verdict.verdict = "depends on the samples"
    return verdict


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
    strongest: int                 # comparisons where it has the largest index
    median: float                  # median index over the comparisons it varied in
    most: Verdict                  # the comparison where its index is largest


def sensitivity(found: list[Verdict], runs: list[dict]) -> list[Sensitivity]:
    """One row per sampled parameter, the most influential first: how strongly the designs' ratios
    depend on it (its sensitivity index) across every comparison."""
    drawn: dict[str, list[float]] = {}
    for r in runs:
        for name, value in json.loads(r["parameters_json"] or "{}").items():
            drawn.setdefault(name, []).append(value)
    rows = []
    for name, values in drawn.items():
        varied = [v for v in found if name in v.sensitivity]
        if not varied:
            continue
        top = sum(1 for v in varied if v.top == name)
        indices = sorted(v.sensitivity[name] for v in varied)
        most = max(varied, key=lambda v: v.sensitivity[name])
        rows.append(Sensitivity(name, (min(values), max(values)), top, indices[len(indices) // 2], most))
    return sorted(rows, key=lambda s: (-s.strongest, -s.median, s.parameter))


def _welch_p(mine, base) -> float:
    """Welch's t-test p-value; seeds that agree almost exactly make scipy warn of lost precision,
    which says nothing to a reader of the report (the verdict is then decided by the ratio)."""
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return stats.ttest_ind(mine, base, equal_var=False).pvalue
