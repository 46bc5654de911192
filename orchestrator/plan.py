"""Plan: turn user references (files, preset names, flags, --set overrides) into RunSpecs."""

from __future__ import annotations

import hashlib
import itertools
import json
import math
from typing import Any, Callable, Iterator

from orchestrator.errors import UserError
from orchestrator.presets import is_path, resolve
from orchestrator.spec import StrategySpec, SweepSpec, Topology, WorkloadSpec, read_yaml, validate
from orchestrator.spec.base import MAX_SWEEP_RUNS
from orchestrator.spec.run import MODEL_VERSION, RunSpec, apply_overrides
from orchestrator.strategies import get as get_strategy


def load_part(kind: str, ref: str) -> dict[str, Any]:
    """Read and validate one part (topology / workload / strategy); errors name its file."""
    if kind == "strategy":
        if is_path(ref):
            data, source = read_yaml(ref), ref
        else:
            data, source = {"name": ref}, "--strategy"
        spec = validate(StrategySpec, data, source)
        get_strategy(spec.name, source).check(spec, source)
        return data
    folder, model = {"topology": ("topologies", Topology), "workload": ("workloads", WorkloadSpec)}[kind]
    path = resolve(folder, ref)
    data = read_yaml(path)
    validate(model, data, str(path))
    return data


def compose_run(topology: str, strategy: str, workload: str, *, overrides: list[str] = (),
                **fields: Any) -> RunSpec:
    """A RunSpec from references plus run fields (copies, seed, durations, placement).

    copies=None means every CPU of the topology.
    """
    data: dict[str, Any] = {
        "topology": load_part("topology", topology),
        "strategy": load_part("strategy", strategy),
        "workload": load_part("workload", workload),
        **{k: v for k, v in fields.items() if v is not None},
    }
    if fields.get("copies") is None:
        data["copies"] = validate(Topology, data["topology"], topology).cpu_count
    apply_overrides(data, list(overrides))
    source = "--set" if overrides else "orch run"
    spec = validate(RunSpec, data, source)
    get_strategy(spec.strategy.name, source).check(spec.strategy, source)
    return spec


# ---- sweeps ---------------------------------------------------------------------------------

def copy_counts(spec: SweepSpec, cpus: int) -> list[int]:
    if spec.scaling == "powers-of-two-to-all":
        counts, c = [], 1
        while c < cpus:
            counts.append(c)
            c *= 2
        return counts + [cpus]
    return [c for c in spec.copies or [] if c <= cpus]


def sweep_id(spec: SweepSpec) -> str:
    canonical = json.dumps(spec.model_dump(mode="json"), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(f"{MODEL_VERSION}\n{canonical}".encode()).hexdigest()[:16]


def uncertainty_samples(spec: SweepSpec, fitted: set[str]) -> list[tuple[int | None, dict[str, float]]]:
    """(sample, {parameter: value}) of each Latin-hypercube point of spec.uncertainty, the same for
    every cell, after the nominal point (None, {}): the defaults (or the profile), which give the
    report its seed statistics; the samples give the band around them. By default every uncertain
    parameter but a profile's fitted ones varies, over its plausible range unless `ranges` gives
    another."""
    plan = spec.uncertainty
    if plan is None:
        return [(None, {})]
    from scipy.stats import qmc

    from orchestrator.spec.params import registry, value_at

    known = {p.name: p for p in registry()}
    names = [n for n in known if n not in fitted] if plan.parameters == "all" else list(plan.parameters)
    points = qmc.LatinHypercube(d=len(names), seed=plan.seed).random(plan.samples)
    return [(None, {})] + [(sample, {name: value_at(known[name], unit, *plan.ranges.get(name, (None, None)))
                                     for name, unit in zip(names, point)})
                           for sample, point in enumerate(points)]


def applies(name: str, workload: dict) -> bool:
    """Whether a sampled parameter is one the run's workload has (workload.* fields differ by kind)."""
    if not name.startswith("workload."):
        return True
    from orchestrator.spec.params import registry

    kinds = {p.name: p.workloads for p in registry()}[name]
    return workload.get("kind") in kinds


def axis_points(spec: SweepSpec) -> list[list[str]]:
    """One list of key=value settings per point of the axes' cross product ([[]] without axes)."""
    points: list[list[str]] = [[]]
    for key, values in spec.axes.items():
        points = [[*point, f"{key}={json.dumps(v)}"] for point in points for v in values]
    return points


def expand_sweep(spec: SweepSpec, source: str, notes: list[str] | None = None) -> list[RunSpec]:
    """Every run of a sweep, in a fixed order: topology, workload, strategy, copies, seed, axes, sample.

    Everything is validated here, before any run starts; a copy count larger than a topology
    is skipped for that topology (with a note), not an error.
    """
    return list(sweep_runs(spec, source, notes)())


def sweep_runs(spec: SweepSpec, source: str, notes: list[str] | None = None) -> Callable[[], Iterator[RunSpec]]:
    """expand_sweep one run at a time: the sweep's own checks now, and a function whose every
    call yields the runs anew (each run is checked as it is built). A sweep of 100,000 runs then
    never holds them all."""
    notes = notes if notes is not None else []
    seeds = spec.seeds or list(range(1, (spec.replications or 3) + 1))
    topologies = [load_part("topology", ref) for ref in spec.topologies]
    workloads = []
    for i, ref in enumerate(spec.workloads):
        data = load_part("workload", ref.file)
        apply_overrides(data, [f"{k}={json.dumps(v)}" for k, v in ref.overrides.items()])
        validate(WorkloadSpec, data, f"{source}: workloads.{i}.overrides")
        workloads.append(data)
    names = [w.get("name") or w["kind"] for w in workloads]
    for i, name in enumerate(names):
        if names.index(name) != i:
            raise UserError(source, f"workloads.{i}.overrides",
                            f"two workloads named {name!r}: give one a different name override")
    for i, strategy in enumerate(spec.strategies):
        get_strategy(strategy.name, f"{source}: strategies.{i}").check(strategy, f"{source}: strategies.{i}")
    cpu_counts = [validate(Topology, topo, ref).cpu_count for ref, topo in zip(spec.topologies, topologies)]
    total = (sum(len(copy_counts(spec, cpus)) for cpus in cpu_counts) * len(workloads)
             * len(spec.strategies) * len(seeds) * (spec.uncertainty.samples + 1 if spec.uncertainty else 1)
             * math.prod(len(v) for v in spec.axes.values()))
    if total > MAX_SWEEP_RUNS:  # counted before a single RunSpec is built
        raise UserError(source, None, f"{total:,} runs (topologies x workloads x strategies x copies x "
                                      f"seeds), at most {MAX_SWEEP_RUNS:,} per sweep")
    if not total:
        raise UserError(source, "copies", "no run fits any topology")
    fitted: list[str] = []
    if spec.profile is not None:
        from orchestrator.calibrate import profile_overrides

        fitted, _ = profile_overrides(spec.profile, None)
    draws = uncertainty_samples(spec, {name.split("=")[0] for name in fitted})
    axes = axis_points(spec)
    for ref, cpus in zip(spec.topologies, cpu_counts):
        skipped = sorted(set(spec.copies or []) - set(copy_counts(spec, cpus)))
        if skipped:
            notes.append(f"{ref}: skipping copies {skipped} (it has {cpus} CPUs)")

    def runs() -> Iterator[RunSpec]:
        for topo, cpus in zip(topologies, cpu_counts):
            for workload in workloads:
                for strategy in spec.strategies:
                    for copies in copy_counts(spec, cpus):
                        for seed, axis, (sample, values) in itertools.product(seeds, axes, draws):
                            data = {"topology": topo, "workload": workload,
                                    "strategy": strategy.model_dump(exclude_none=True),
                                    "copies": copies, "seed": seed, "duration_ms": spec.duration_ms,
                                    "warmup_ms": spec.warmup_ms, "placement": spec.placement, "sample": sample}
                            drawn = [f"{n}={v}" for n, v in values.items() if applies(n, workload)]
                            apply_overrides(data, [*fitted, *drawn, *spec.set, *axis])
                            yield validate(RunSpec, data, f"{source}: {'set / axes' if axis else 'set'}")
    return runs
