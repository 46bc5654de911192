"""Calibration: fit the model's uncertain parameters to a measured throughput curve.

A curve is throughput per copy count, measured on one machine (a CSV of `copies,
throughput_per_s`, as people copy from UnixBench or will-it-scale logs, or an `orch measure`
dataset). The fit searches the chosen parameters inside their plausible ranges (spec/params.py)
for the smallest root-mean-square error of log throughput over the curve's points, held-out
points excepted: a Latin-hypercube start, then Nelder-Mead from the best start. Every
evaluation simulates the whole curve with the same seeds (common random numbers, so that two
parameter values differ by the model, not by noise). The result is a profile: the fitted
values under their dotted names, their ranges, the error on fitted and held-out points, and the
command that reproduces it.
"""

from __future__ import annotations

import csv
import math
from concurrent.futures import ProcessPoolExecutor
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np

from orchestrator.errors import UserError
from orchestrator.spec.params import Param, registry, value_at
from orchestrator.spec.topology import shape_digest

DEFAULT_FIT = ("workload.exec_ns", "kernel.cost_scale", "kernel.spin_mean_ns")
POOR = 0.10  # an RMS log error above this (about 10%) is a fit the model could not make


@dataclass(frozen=True)
class Problem:
    topology: str
    workload: str
    strategy: str
    params: tuple[Param, ...]
    fitted: tuple[tuple[int, float], ...]     # (copies, measured throughput/s) the fit sees
    held_out: tuple[tuple[int, float], ...]   # ... and the points it must predict
    seeds: tuple[int, ...] = (1, 2)
    duration_ms: float = 10.0
    warmup_ms: float = 2.0


@dataclass
class Fit:
    values: dict[str, float]
    model: dict[int, float]        # model throughput at every copy count, fitted values
    fitted_rms: float              # RMS of log(model / measured) over the fitted points
    evaluations: int
    history: list[float] = field(default_factory=list)


def read_curve(path: str) -> list[tuple[int, float]]:
    """(copies, throughput/s) points of a CSV file or of the measured rows of a dataset."""
    source = Path(path)
    if source.is_dir():
        return _dataset_curve(path)
    try:
        with open(source, newline="") as handle:
            rows = list(csv.DictReader(handle))
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise UserError(path, None, f"cannot read the curve: {getattr(exc, 'strerror', None) or exc}") from None
    if not rows or not {"copies", "throughput_per_s"} <= set(rows[0]):
        raise UserError(path, "columns", "a curve CSV needs the columns copies,throughput_per_s")
    points: dict[int, list[float]] = {}
    for number, row in enumerate(rows, 2):
        try:
            copies, value = int(row["copies"]), float(row["throughput_per_s"])
        except (TypeError, ValueError):
            raise UserError(path, f"line {number}", "copies must be an integer, throughput_per_s a number") from None
        if copies < 1 or not value > 0 or not math.isfinite(value):
            raise UserError(path, f"line {number}", "copies must be >= 1 and throughput_per_s positive")
        points.setdefault(copies, []).append(value)
    return averaged(points)


def averaged(points: dict[int, list[float]]) -> list[tuple[int, float]]:
    """(copies, mean throughput) per copy count, repeated points averaged."""
    return sorted((c, sum(v) / len(v)) for c, v in points.items())


def _dataset_curve(path: str) -> list[tuple[int, float]]:
    from orchestrator.results.dataset import Dataset

    rows = [r for r in Dataset(path, "measured").runs().to_pylist() if r.get("source") == "measured"]
    if not rows:
        raise UserError(path, "source", "the dataset holds no measured rows (orch measure writes them)")
    points: dict[int, list[float]] = {}
    for row in rows:
        points.setdefault(int(row["copies"]), []).append(float(row["throughput_per_s"]))
    return averaged(points)


def choose_params(names: list[str] | None, workload_kind: str) -> tuple[Param, ...]:
    """The registry's parameters by name; by default the per-exec time, the serialized-cost scale
    and the sleep rule's spin time, those the workload has."""
    known = {p.name: p for p in registry()}
    if names is None:
        names = [n for n in DEFAULT_FIT if not known[n].workloads or workload_kind in known[n].workloads]
    unknown = [n for n in names if n not in known]
    if unknown:
        raise UserError("--fit", unknown[0], f"not an uncertain parameter (orch params lists them: "
                                             f"{', '.join(known)})")
    wrong = [n for n in names if known[n].workloads and workload_kind not in known[n].workloads]
    if wrong:
        raise UserError("--fit", wrong[0], f"the {workload_kind} workload has no such parameter")
    return tuple(known[n] for n in names)


def overrides(values: dict[str, float]) -> list[str]:
    return [f"{name}={value}" for name, value in values.items()]


def _simulate_point(args: tuple) -> float:
    """One copy count and seed of one evaluation, in a worker process: steady throughput/s."""
    from orchestrator.plan import compose_run
    from orchestrator.simulate import simulate

    problem, values, copies, seed = args
    spec = compose_run(problem.topology, problem.strategy, problem.workload, overrides=overrides(values),
                       copies=copies, seed=seed, duration_ms=problem.duration_ms, warmup_ms=problem.warmup_ms)
    return simulate(spec).metrics["steady_throughput_per_s"]


class Evaluator:
    """Simulates the whole curve (fitted and held-out copy counts, every seed) for given values, on
    worker processes (backend local) or as Ray tasks (backend ray, a local instance or --address)."""

    def __init__(self, problem: Problem, workers: int, backend: str = "local", address: str | None = None):
        self.problem = problem
        self.count = 0
        self.resources = ExitStack()
        if backend == "ray":
            from orchestrator.runners.ray_cluster import ray_session

            self.resources.enter_context(ray_session(address, workers, 1))
            import ray

            task = ray.remote(num_cpus=1)(_simulate_point)
            self.map = lambda tasks: ray.get([task.remote(t) for t in tasks])
        else:
            pool = self.resources.enter_context(ProcessPoolExecutor(max_workers=workers))
            self.map = lambda tasks: list(pool.map(_simulate_point, tasks))

    def __call__(self, values: dict[str, float]) -> dict[int, float]:
        problem = self.problem
        copies = sorted({c for c, _ in problem.fitted + problem.held_out})
        results = self.map([(problem, values, c, s) for c in copies for s in problem.seeds])
        self.count += 1
        per = len(problem.seeds)
        return {c: float(np.mean(results[i * per:(i + 1) * per])) for i, c in enumerate(copies)}

    def close(self) -> None:
        self.resources.close()


def rms_log_error(model: dict[int, float], points) -> float:
    errors = [math.log(max(model[c], 1e-9) / measured) for c, measured in points]
    return math.sqrt(sum(e * e for e in errors) / len(errors)) if errors else float("nan")


def fit(problem: Problem, budget: int, workers: int = 2, seed: int = 0,
        progress: Callable[[int, float], None] = lambda n, best: None, backend: str = "local",
        address: str | None = None) -> Fit:
    """Search the parameters' ranges within `budget` evaluations of the curve."""
    from scipy.optimize import minimize
    from scipy.stats import qmc

    params = problem.params
    evaluate = Evaluator(problem, workers, backend, address)
    best: dict = {"loss": math.inf}
    history: list[float] = []

    def loss(unit: np.ndarray) -> float:
        if evaluate.count >= budget:
            return best["loss"] + 1.0  # out of budget: the search stops improving
        values = {p.name: value_at(p, u) for p, u in zip(params, unit)}
        model = evaluate(values)
        error = rms_log_error(model, problem.fitted)
        history.append(error)
        if error < best["loss"]:
            best.update(loss=error, values=values, model=model, unit=np.array(unit))
        progress(evaluate.count, best["loss"])
        return error

    try:
        starts = max(2 * len(params), budget // 4)
        for unit in qmc.LatinHypercube(d=len(params), seed=seed).random(min(starts, budget)):
            loss(unit)
        if evaluate.count < budget:
            minimize(loss, best["unit"], method="Nelder-Mead", bounds=[(0.0, 1.0)] * len(params),
                     options={"maxfev": budget - evaluate.count, "xatol": 1e-3, "fatol": 1e-4,
                              "initial_simplex": _simplex(best["unit"])})
    finally:
        evaluate.close()
    return Fit(best["values"], best["model"], best["loss"], evaluate.count, history)


def _simplex(start: np.ndarray, step: float = 0.15) -> np.ndarray:
    """Nelder-Mead's first simplex around the best start, stepping inward from the range's edges."""
    points = [start]
    for i in range(len(start)):
        vertex = start.copy()
        vertex[i] = start[i] + step if start[i] + step <= 1.0 else start[i] - step
        points.append(vertex)
    return np.array(points)


def profile(problem: Problem, result: Fit, topology_json: dict, command: str) -> dict:
    """What `orch run --profile` and `orch sweep --profile` read, and a reviewer checks."""
    held = [{"copies": c, "measured": m, "model": result.model[c], "error": result.model[c] / m - 1}
            for c, m in problem.held_out]
    held_rms = rms_log_error(result.model, problem.held_out) if problem.held_out else None
    return {
        "topology": problem.topology, "topology_digest": shape_digest(topology_json), "workload": problem.workload,
        "strategy": problem.strategy,
        "fitted": {name: value for name, value in result.values.items()},
        "ranges": {p.name: [p.low, p.high] for p in problem.params},
        "error": {"fitted_rms_log": result.fitted_rms, "held_out_rms_log": held_rms,
                  "verdict": "poor" if result.fitted_rms > POOR or (held_rms or 0) > POOR else "good"},
        "points": [{"copies": c, "measured": m, "model": result.model[c], "held_out": False}
                   for c, m in problem.fitted] + [dict(h, held_out=True) for h in held],
        "evaluations": result.evaluations, "seeds": list(problem.seeds),
        "duration_ms": problem.duration_ms, "warmup_ms": problem.warmup_ms,
        "command": command,
    }


def profile_overrides(path: str, topology_name: str | None) -> tuple[list[str], str | None]:
    """(the --set list a profile stands for, a warning if it was fitted on another topology)."""
    from orchestrator.spec import read_yaml

    data = read_yaml(path)
    fitted = data.get("fitted") if isinstance(data, dict) else None
    if not isinstance(fitted, dict) or not fitted:
        raise UserError(path, "fitted", "not a calibration profile (orch calibrate writes one)")
    known = {p.name for p in registry()}
    for name in fitted:
        if name not in known:
            raise UserError(path, f"fitted.{name}", "not an uncertain parameter (orch params lists them)")
    warning = None
    if topology_name is not None and data.get("topology") not in (None, topology_name):
        warning = (f"{path}: fitted on {data['topology']}, used on {topology_name}: the machine-specific "
                   "values may not carry over")
    return overrides(fitted), warning
