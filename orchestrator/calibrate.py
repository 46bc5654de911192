"""Calibration: fit the model's uncertain parameters to a measured throughput curve, and say
what the curve cannot pin down.

A curve is throughput per copy count, measured on one machine (a CSV of `copies,
throughput_per_s`, as people copy from UnixBench or will-it-scale logs, or an `orch measure`
dataset). The fit searches the chosen parameters inside their plausible ranges (spec/params.py)
for the smallest root-mean-square error of log throughput over the curve's points, held-out
points excepted: a Latin-hypercube start, then Nelder-Mead from the best start. Every
evaluation simulates the whole curve with the same seeds (common random numbers, so that two
parameter values differ by the model, not by noise).

Then, for each parameter, two more evaluations move it to the ends of its range with the others
at the optimum: if the error hardly rises, the curve does not identify it. The ensemble is every
evaluated parameter set whose error is consistent with the best one given the measurement noise
(a likelihood-ratio region: n (rms^2 - best^2) <= noise^2 chi2_d(95%)), an approximate Bayesian
rejection over the evaluations already made; its members' predictions give each point a band.

With `--target throughput,spin_share` (a dataset `orch measure --perf` wrote), the error also
counts how far the model's share of CPU time spent spinning on locks is from the measured one at
each fitted copy count: the RMS runs over both kinds of residual, a throughput's log error and a
spin share's difference times SPIN_SHARE_WEIGHT. That weight puts both in units of one
measurement's spread: a spin share SPIN_SHARE_NOISE off counts as much as a throughput
DEFAULT_NOISE off, so the ensemble's noise model holds for both.
"""

from __future__ import annotations

import csv
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np

from orchestrator.errors import RunCrashed, UserError
from orchestrator.spec.params import Param, registry, value_at
from orchestrator.spec.profile import (
    MAX_MEMBERS,
    PROFILE_VERSION,
    Member,
    ParameterFit,
    Point,
    ProfileSpec,
    settings,
)

# by default: the per-iteration work outside locks (the first of these the workload has), which
# the 1-copy point fixes, and the serialized cost per iteration, which the points up to the peak fix
DEFAULT_WORK = ("workload.exec_ns", "workload.fork_ns")
DEFAULT_FIT = ("kernel.cost_scale",)
POOR = 0.10             # an RMS log error above this (about 10%) is a fit the model could not make
DEFAULT_NOISE = 0.05    # assumed run-to-run spread of one measured point (log) when the curve has no repeats
CONFIDENCE = 0.95       # of the ensemble's region and of the identifiability threshold
EDGE = 0.02             # a fitted value within this share of its range from an edge is "at the edge"
EDGE_AIM = 0.90         # the extra evaluations aim at the edge of this region, inside the ensemble's 95%
TARGETS = ("throughput", "spin_share")
SPIN_SHARE_NOISE = 0.02  # assumed spread of one measured spin share (absolute): perf's sampling and run to run
SPIN_SHARE_WEIGHT = DEFAULT_NOISE / SPIN_SHARE_NOISE  # a spin share residual in log-throughput noise units


@dataclass(frozen=True)
class Problem:
    parts: dict[str, Any]   # the validated topology, strategy and workload (plan.load_parts), not names
    params: tuple[Param, ...]
    fitted: tuple[tuple[int, float], ...]     # (copies, measured throughput/s) the fit sees
    held_out: tuple[tuple[int, float], ...]   # ... and the points it must predict
    seeds: tuple[int, ...] = (1, 2)
    duration_ms: float = 10.0
    warmup_ms: float = 2.0
    noise: float = DEFAULT_NOISE               # RMS log noise of one measured point
    names: tuple[str, str, str] = ("", "", "")  # topology, workload, strategy as the user named them
    spin: tuple[tuple[int, float], ...] = ()   # (copies, measured cpu_spin_share) the fit sees, if a target

    @property
    def copies(self) -> list[int]:
        return sorted({c for c, _ in self.fitted + self.held_out})

    @property
    def residuals(self) -> int:
        """Terms of the RMS error: one per fitted point and target."""
        return len(self.fitted) + len(self.spin)


@dataclass
class Evaluation:
    unit: np.ndarray                 # the parameters as shares of their ranges
    values: dict[str, float]
    model: dict[int, float]          # mean throughput over seeds at every copy count
    seed_noise: float                # RMS over fitted points of the seeds' log spread (standard error)
    rms: float                       # RMS error over the fitted points (log throughput; weighted spin share)
    spin: dict[int, float] = field(default_factory=dict)  # mean cpu_spin_share over seeds at every copy count


@dataclass
class Fit:
    best: Evaluation
    evaluations: list[Evaluation]
    noise: float                               # the per-point log noise the ensemble allows for
    members: list[Evaluation] = field(default_factory=list)
    parameters: list[dict] = field(default_factory=list)

    @property
    def values(self) -> dict[str, float]:
        return self.best.values

    @property
    def model(self) -> dict[int, float]:
        return self.best.model

    @property
    def fitted_rms(self) -> float:
        return self.best.rms


# ---- the curve -------------------------------------------------------------------------------

def read_repeats(path: str) -> dict[int, list[float]]:
    """Every measured value per copy count, of a CSV file or of the measured rows of a dataset."""
    from orchestrator.spec.loader import read_spec_text

    source = Path(path)
    if source.is_dir():
        return _dataset_repeats(path)
    try:
        text = read_spec_text(path).lstrip("\ufeff")  # a regular file, bounded; a spreadsheet's BOM dropped
    except UserError as exc:
        raise UserError(path, None, f"cannot read the curve: {exc.message.removeprefix('cannot read file: ')}") \
            from None
    try:
        rows = list(csv.DictReader(text.splitlines()))
        header = next(csv.reader(text.splitlines()), [])
    except csv.Error as exc:
        raise UserError(path, None, f"cannot read the curve: {exc}") from None
    if not {"copies", "throughput_per_s"} <= {h.strip() for h in header}:
        raise UserError(path, "columns", "a curve CSV needs the columns copies,throughput_per_s")
    if not rows:
        raise UserError(path, None, "no data rows (a header only)")
    points: dict[int, list[float]] = {}
    for number, row in enumerate(rows, 2):
        row = {(k or "").strip(): v for k, v in row.items()}
        try:
            copies, value = int(row["copies"]), float(row["throughput_per_s"])
        except (TypeError, ValueError):
            raise UserError(path, f"line {number}", "copies must be an integer, throughput_per_s a number") from None
        if copies < 1 or not value > 0 or not math.isfinite(value):
            raise UserError(path, f"line {number}", "copies must be >= 1 and throughput_per_s a positive "
                                                    "finite number")
        points.setdefault(copies, []).append(value)
    return points


def read_curve(path: str) -> list[tuple[int, float]]:
    """(copies, mean throughput/s) points, repeated copy counts averaged."""
    return averaged(read_repeats(path))


def averaged(points: dict[int, list[float]]) -> list[tuple[int, float]]:
    """(copies, mean throughput) per copy count, repeated points averaged."""
    return sorted((c, sum(v) / len(v)) for c, v in points.items())


def repeat_noise(points: dict[int, list[float]]) -> float | None:
    """The pooled standard deviation of log throughput between repeats of one copy count (the
    spread of one measurement), or None when no copy count was repeated."""
    squares, freedom = 0.0, 0
    for values in points.values():
        if len(values) > 1:
            logs = np.log(values)
            squares += float(((logs - logs.mean()) ** 2).sum())
            freedom += len(values) - 1
    return math.sqrt(squares / freedom) if freedom else None


def _dataset_repeats(path: str) -> dict[int, list[float]]:
    points = measured_values(path, "throughput_per_s")
    if not points:
        raise UserError(path, "source", "the dataset holds no measured rows (orch measure writes them)")
    return points


def measured_values(path: str, column: str) -> dict[int, list[float]]:
    """A column of a dataset's measured rows (where it has a value), per copy count: one per repeat."""
    from orchestrator.results.dataset import Dataset

    points: dict[int, list[float]] = {}
    for row in Dataset(path, "measured").runs().to_pylist():
        if row.get("source") == "measured" and row.get(column) is not None:
            points.setdefault(int(row["copies"]), []).append(float(row[column]))
    return points


def targets_of(text: str) -> tuple[str, ...]:
    """--target: throughput, and spin_share if asked for."""
    names = [n.strip() for n in text.split(",") if n.strip()]
    unknown = [n for n in names if n not in TARGETS]
    if unknown or "throughput" not in names or len(set(names)) != len(names):
        raise UserError("--target", None, f"one of throughput or throughput,spin_share (got {text!r})")
    return tuple(n for n in TARGETS if n in names)


def read_spin(path: str) -> dict[int, float]:
    """Mean measured cpu_spin_share per copy count of a dataset's rows recorded with --perf."""
    if not Path(path).is_dir():
        raise UserError(path, "--target", "spin_share needs a dataset orch measure --perf wrote (a CSV has no "
                                          "shares)")
    shares = measured_values(path, "cpu_spin_share")
    if not shares:
        raise UserError(path, "--target", "spin_share needs measured rows with shares (orch measure --perf)")
    return dict(averaged(shares))


def choose_params(names: list[str] | None, workload_kind: str) -> tuple[Param, ...]:
    """The registry's parameters by name; by default the per-iteration work and the serialized-
    cost scale."""
    known = {p.name: p for p in registry()}
    if names is None:
        has = [n for n in DEFAULT_WORK if workload_kind in known[n].workloads]
        names = has[:1] + list(DEFAULT_FIT)
    unknown = [n for n in names if n not in known]
    if unknown:
        raise UserError("--fit", unknown[0], f"not an uncertain parameter (orch params lists them: "
                                             f"{', '.join(known)})")
    wrong = [n for n in names if known[n].workloads and workload_kind not in known[n].workloads]
    if wrong:
        raise UserError("--fit", wrong[0], f"the {workload_kind} workload has no such parameter")
    if len(set(names)) != len(names):
        raise UserError("--fit", ",".join(names), "names a parameter twice")
    return tuple(known[n] for n in names)


# ---- evaluating the curve ---------------------------------------------------------------------

def simulate_point(task: tuple) -> tuple[float, float]:
    """One copy count and seed of one evaluation, in a worker: (steady throughput/s, the share of
    CPU time spent spinning)."""
    from orchestrator.plan import run_from
    from orchestrator.simulate import simulate

    parts, values, copies, seed, duration_ms, warmup_ms = task
    spec = run_from(parts, settings(values), copies=copies, seed=seed, duration_ms=duration_ms,
                    warmup_ms=warmup_ms)
    metrics = simulate(spec).metrics
    return metrics["steady_throughput_per_s"], metrics["cpu_spin_share"]


class Evaluator:
    """Simulates the whole curve (fitted and held-out copy counts, every seed) for given values, on
    worker processes (backend local) or as Ray tasks (backend ray, a local instance or --address)."""

    def __init__(self, problem: Problem, workers: int, backend: str = "local", address: str | None = None):
        from orchestrator.runners.backends import open_executor

        self.problem = problem
        self.executor = open_executor(backend, workers, address)

    def __call__(self, unit: np.ndarray) -> Evaluation:
        problem = self.problem
        values = {p.name: value_at(p, u) for p, u in zip(problem.params, unit)}
        copies = problem.copies
        tasks = [(problem.parts, values, c, s, problem.duration_ms, problem.warmup_ms)
                 for c in copies for s in problem.seeds]
        from orchestrator.runners.executor import ItemCrashed

        try:
            results = self.executor.map(simulate_point, tasks)
        except ItemCrashed as crash:
            _, _, c, s, _, _ = tasks[crash.index]
            raise RunCrashed(f"a worker died running copies={c} seed={s} with {settings(values)} "
                              f"({crash.reason})") from None
        per = len(problem.seeds)
        found = np.array(results, dtype=float).reshape(len(copies), per, 2)  # copies x seeds x (throughput, spin)
        logs = {c: np.log(np.maximum(found[i, :, 0], 1e-9)) for i, c in enumerate(copies)}
        model = {c: float(np.mean(found[i, :, 0])) for i, c in enumerate(copies)}
        spin = {c: float(np.mean(found[i, :, 1])) for i, c in enumerate(copies)}
        fitted = [c for c, _ in problem.fitted]
        spread = [float(np.std(logs[c], ddof=1)) / math.sqrt(per) if per > 1 else 0.0 for c in fitted]
        seed_noise = math.sqrt(sum(s * s for s in spread) / len(spread))
        return Evaluation(np.array(unit, dtype=float), values, model, seed_noise,
                          objective(model, spin, problem), spin)

    def close(self) -> None:
        self.executor.close()


def objective(model: dict[int, float], spin: dict[int, float], problem: Problem) -> float:
    """The fit's error: RMS over the fitted points' log throughput errors and, where spin share is
    a target, their weighted spin share differences."""
    errors = log_errors(model, problem.fitted) + [SPIN_SHARE_WEIGHT * (spin[c] - measured)
                                                  for c, measured in problem.spin]
    return math.sqrt(sum(e * e for e in errors) / len(errors))


def log_errors(model: dict[int, float], points) -> list[float]:
    """log(model / measured) at each (copies, measured) point."""
    return [math.log(max(model[c], 1e-9) / measured) for c, measured in points]


def rms_log_error(model: dict[int, float], points) -> float:
    errors = log_errors(model, points)
    return math.sqrt(sum(e * e for e in errors) / len(errors)) if errors else float("nan")


# ---- the fit ------------------------------------------------------------------------------------

def identification_evaluations(problem: Problem) -> int:
    """Evaluations after the search: at most four per parameter (its range's ends, and the edges
    of the ensemble's region between them and the optimum)."""
    return 4 * len(problem.params)


def fit(problem: Problem, budget: int, workers: int = 2, seed: int = 0,
        progress: Callable[[int, float], None] = lambda n, best: None, backend: str = "local",
        address: str | None = None) -> Fit:
    """Search the parameters' ranges within `budget` evaluations of the curve, then find what the
    curve identifies and the ensemble consistent with it."""
    from scipy.optimize import minimize
    from scipy.stats import qmc

    params = problem.params
    evaluate = Evaluator(problem, workers, backend, address)
    done: list[Evaluation] = []

    def run(unit: np.ndarray) -> Evaluation:
        result = evaluate(np.clip(unit, 0.0, 1.0))
        if not math.isfinite(result.rms):
            raise UserError("curve", None, "the model's error on it is not finite")
        done.append(result)
        progress(len(done), min(e.rms for e in done))
        return result

    def loss(unit: np.ndarray) -> float:
        if len(done) >= budget:
            return min(e.rms for e in done) + 1.0  # out of budget: the search stops improving
        return run(unit).rms

    try:
        starts = max(2 * len(params), budget // 4)
        for unit in qmc.LatinHypercube(d=len(params), seed=seed).random(min(starts, budget)):
            loss(unit)
        best = min(done, key=lambda e: e.rms)
        if len(done) < budget:
            minimize(loss, best.unit, method="Nelder-Mead", bounds=[(0.0, 1.0)] * len(params),
                     options={"maxfev": budget - len(done), "xatol": 1e-3, "fatol": 1e-4,
                              "initial_simplex": _simplex(best.unit)})
        best = min(done, key=lambda e: e.rms)
        noise = math.hypot(problem.noise, best.seed_noise)
        parameters = [_identify(problem, i, best, noise, run) for i in range(len(params))]
    finally:
        evaluate.close()
    best = min(done, key=lambda e: e.rms)  # an end of a range may have fitted better than the search
    for i, row in enumerate(parameters):
        row.update(value=best.values[row["name"]], at_edge=_edge(float(best.unit[i])))
    _global_sensitivity(parameters, done)
    return Fit(best, done, noise, ensemble(done, best, noise, len(params), problem.residuals), parameters)


def _identify(problem: Problem, i: int, best: Evaluation, noise: float,
              run: Callable[[np.ndarray], Evaluation]) -> dict:
    """Whether the curve pins parameter i down: the error at each end of its range, the others at
    the optimum, against the rise that noise alone explains (a one-parameter likelihood ratio).
    Where it rises, one more evaluation on that side lands near the edge of the ensemble's region
    (the summed squared error taken as quadratic in the parameter between the optimum and the
    end), so that the ensemble spans the values the curve allows, not only where the search went."""
    from scipy.stats import chi2

    n, dims = problem.residuals, len(problem.params)
    param, share = problem.params[i], float(best.unit[i])
    threshold = math.sqrt(best.rms ** 2 + noise ** 2 * chi2.ppf(CONFIDENCE, 1) / n) - best.rms
    rise_to_edge = noise ** 2 * chi2.ppf(EDGE_AIM, dims)  # in summed squared error
    rises = []
    for end in (0.0, 1.0):
        if abs(share - end) <= EDGE:
            continue
        unit = best.unit.copy()
        unit[i] = end
        at_end = run(unit)
        rises.append(at_end.rms - best.rms)
        curvature = n * (at_end.rms ** 2 - best.rms ** 2) / (end - share) ** 2
        if curvature * (end - share) ** 2 > rise_to_edge:  # the region's edge lies inside the range
            unit[i] = share + math.copysign(math.sqrt(rise_to_edge / curvature), end - share)
            run(unit)
    sensitivity = min(rises) if rises else 0.0
    return {"name": param.name, "value": best.values[param.name], "low": param.low, "high": param.high,
            "identified": sensitivity > threshold, "sensitivity": sensitivity, "threshold": threshold,
            "global_sensitivity": None, "at_edge": _edge(share)}


def _edge(share: float) -> str | None:
    return "low" if share < EDGE else "high" if share > 1 - EDGE else None


def _global_sensitivity(parameters: list[dict], done: list[Evaluation]) -> None:
    """PAWN (SALib) of the error over every evaluation made: how much the error's distribution
    changes when one parameter is held in a slice of its range, whatever the others do."""
    if len(done) < 4:
        return
    from orchestrator.analysis.uncertainty import pawn_median

    problem = {"num_vars": len(parameters), "names": [p["name"] for p in parameters],
               "bounds": [[0.0, 1.0]] * len(parameters)}
    indices = pawn_median(problem, np.array([e.unit for e in done]), np.array([e.rms for e in done]))
    for row, value in zip(parameters, indices):
        row["global_sensitivity"] = None if math.isnan(value) else float(value)


def ensemble(done: list[Evaluation], best: Evaluation, noise: float, dimensions: int,
             points: int) -> list[Evaluation]:
    """The evaluations consistent with the best one: their summed squared log error exceeds the
    best's by less than noise^2 chi2_d(95%), best first, thinned evenly to MAX_MEMBERS."""
    from scipy.stats import chi2

    allowed = noise ** 2 * chi2.ppf(CONFIDENCE, dimensions)
    unique: dict[tuple, Evaluation] = {}
    for e in done:
        unique.setdefault(tuple(sorted(e.values.items())), e)
    members = sorted((e for e in unique.values() if points * (e.rms ** 2 - best.rms ** 2) <= allowed),
                     key=lambda e: e.rms)
    if len(members) > MAX_MEMBERS:
        keep = np.unique(np.round(np.linspace(0, len(members) - 1, MAX_MEMBERS)).astype(int))
        members = [members[i] for i in keep]
    return members


def _simplex(start: np.ndarray, step: float = 0.15) -> np.ndarray:
    """Nelder-Mead's first simplex around the best start, stepping inward from the range's edges."""
    points = [start]
    for i in range(len(start)):
        vertex = start.copy()
        vertex[i] = start[i] + step if start[i] + step <= 1.0 else start[i] - step
        points.append(vertex)
    return np.array(points)


# ---- the profile ------------------------------------------------------------------------------

def _spin_rms(best: Evaluation, points: tuple[tuple[int, float], ...]) -> float:
    """RMS of the model's spin share minus the measured one (share units)."""
    return math.sqrt(sum((best.spin[c] - measured) ** 2 for c, measured in points) / len(points))


def band(result: Fit, copies: int) -> tuple[float, float]:
    values = [m.model[copies] for m in result.members] or [result.model[copies]]
    return min(values), max(values)


def profile(problem: Problem, result: Fit, topology_digest: str, command: str) -> ProfileSpec:
    """What `orch run --profile` and `orch sweep --profile` read, and a reviewer checks."""
    points = []
    for copies, measured in problem.fitted + problem.held_out:
        low, high = band(result, copies)
        points.append(Point(copies=copies, measured=measured, model=result.model[copies], low=low, high=high,
                            held_out=(copies, measured) in problem.held_out,
                            error=result.model[copies] / measured - 1))
    held_rms = rms_log_error(result.model, problem.held_out) if problem.held_out else None
    topology, workload, strategy = problem.names
    return ProfileSpec(
        version=PROFILE_VERSION, topology=topology, topology_digest=topology_digest, workload=workload,
        strategy=strategy, fitted=dict(result.values), ranges={p.name: [p.low, p.high] for p in problem.params},
        parameters=[ParameterFit(**row) for row in result.parameters], noise=result.noise,
        ensemble=[Member(values=m.values, rms_log=m.rms) for m in result.members],
        error={"fitted_rms_log": rms_log_error(result.model, problem.fitted), "held_out_rms_log": held_rms,
               "verdict": "poor" if result.fitted_rms > POOR or (held_rms or 0) > POOR else "good",
               **({"objective": result.fitted_rms, "spin_share_rms": _spin_rms(result.best, problem.spin)}
                  if problem.spin else {})},
        points=sorted(points, key=lambda p: p.copies), evaluations=len(result.evaluations),
        seeds=list(problem.seeds), duration_ms=problem.duration_ms, warmup_ms=problem.warmup_ms, command=command)
