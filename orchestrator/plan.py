"""Plan: turn user references (files, preset names, flags, --set overrides) into RunSpecs."""

from __future__ import annotations

import hashlib
import itertools
import json
import math
from typing import TYPE_CHECKING, Any, Callable, Iterator, Sequence

from orchestrator.errors import UserError
from orchestrator.presets import is_path, resolve
from orchestrator.spec import (
    StrategySpec,
    SweepSpec,
    Topology,
    WorkloadSpec,
    read_yaml,
    validate,
)
from orchestrator.spec.base import MAX_SAMPLES, MAX_SWEEP_RUNS
from orchestrator.spec.profile import ProfileSpec, load_profile
from orchestrator.spec.run import MODEL_VERSION, RunSpec, apply_overrides
from orchestrator.spec.sweep import MORRIS_LEVELS
from orchestrator.spec.topology import shape_digest
from orchestrator.strategies import get as get_strategy

if TYPE_CHECKING:
    from typing_extensions import TypeForm


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
    models: dict[str, tuple[str, TypeForm[object]]] = {"topology": ("topologies", Topology),
                                                       "workload": ("workloads", WorkloadSpec)}
    folder, model = models[kind]
    path = resolve(folder, ref)
    data = read_yaml(path)
    validate(model, data, str(path))
    return data


def compose_run(topology: str, strategy: str, workload: str, *, overrides: Sequence[str] = (),
                **fields: Any) -> RunSpec:
    """A RunSpec from references plus run fields (copies, seed, durations, placement).

    copies=None means every CPU of the topology.
    """
    return run_from(load_parts(topology, strategy, workload), overrides, **fields)


def load_parts(topology: str, strategy: str, workload: str) -> dict[str, Any]:
    """The validated content of a run's three parts, read once: what a worker process or a Ray
    node is handed (a path or a preset name may not exist where it runs)."""
    return {"topology": load_part("topology", topology), "strategy": load_part("strategy", strategy),
            "workload": load_part("workload", workload)}


def run_from(parts: dict[str, Any], overrides: Sequence[str] = (), source: str | None = None,
             **fields: Any) -> RunSpec:
    """A RunSpec from load_parts' content, run fields and --set overrides (parts is not changed);
    errors name `source` (default: --set, or orch run without overrides)."""
    data: dict[str, Any] = {**parts, **{k: v for k, v in fields.items() if v is not None}}
    if fields.get("copies") is None:
        data["copies"] = validate(Topology, data["topology"], "topology").cpu_count
    apply_overrides(data, list(overrides))
    source = source or ("--set" if overrides else "orch run")
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
    data = spec.model_dump(mode="json")
    if data["uncertainty"] and data["uncertainty"]["method"] == "lhs":
        del data["uncertainty"]["method"]  # added with lhs as before: sweep ids written before stay
    canonical = json.dumps(data, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(f"{MODEL_VERSION}\n{canonical}".encode()).hexdigest()[:16]


def uncertainty_samples(spec: SweepSpec, profile: ProfileSpec | None = None
                        ) -> list[tuple[int | None, dict[str, float]]]:
    """(sample, {parameter: value}) of each sample, the same for every cell, after the nominal
    point (None, {}): the defaults (or the profile's best fit), which give the report its seed
    statistics; the samples give the band around them.

    The samples are spec.uncertainty's design (a Latin hypercube by default, or SALib's Morris or
    Sobol design) over every uncertain parameter but a profile's fitted ones (over its plausible
    range unless `ranges` gives another). A profile with an ensemble adds its members: sample i
    takes member i mod n's fitted values; without an uncertainty block each member is a sample."""
    plan = spec.uncertainty
    members = profile.members() if profile is not None and len(profile.members()) > 1 else []
    if plan is None:
        return [(None, {})] + list(enumerate(members))
    from orchestrator.spec.params import registry

    known = {p.name: p for p in registry()}
    fitted = set(profile.fitted) if profile is not None else set()
    names = [n for n in known if n not in fitted] if plan.parameters == "all" else list(plan.parameters)
    bounds = [plan.ranges.get(name, (known[name].low, known[name].high)) for name in names]
    draws = [{name: value_of(known[name], value) for name, value in zip(names, values)}
             for values in design(plan, bounds)]
    return [(None, {})] + [(i, {**(members[i % len(members)] if members else {}), **draw})
                           for i, draw in enumerate(draws)]


def design(plan, bounds: list) -> list[list[float]]:
    """The sample points of an uncertainty block, in its method's order (Morris trajectories and
    Sobol's A/AB/B blocks must stay in order for their analysis)."""
    dimensions = len(bounds)
    if plan.method == "lhs":
        from scipy.stats import qmc

        units = qmc.LatinHypercube(d=dimensions, seed=plan.seed).random(plan.samples)
        return [[low + u * (high - low) for u, (low, high) in zip(point, bounds)] for point in units]
    problem = {"num_vars": dimensions, "names": [f"x{i}" for i in range(dimensions)], "bounds": bounds}
    if plan.method == "morris":
        from SALib.sample import morris

        return morris.sample(problem, plan.samples, num_levels=MORRIS_LEVELS, seed=plan.seed).tolist()
    from SALib.sample import sobol

    return sobol.sample(problem, plan.samples, calc_second_order=False, seed=plan.seed).tolist()


def value_of(param, value: float):
    """A drawn value in its parameter's type (an int parameter takes an int)."""
    return value if isinstance(param.default, float) else int(round(value))


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
    for i, entry in enumerate(spec.workloads):
        data = load_part("workload", entry.file)
        apply_overrides(data, [f"{k}={json.dumps(v)}" for k, v in entry.overrides.items()])
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
    profile = load_profile(spec.profile) if spec.profile is not None else None
    fitted = profile.overrides() if profile is not None else []
    draws = uncertainty_samples(spec, profile)
    if len(draws) - 1 > MAX_SAMPLES:
        assert spec.uncertainty is not None  # a profile's ensemble alone has at most MAX_MEMBERS samples
        raise UserError(source, "uncertainty.samples", f"{len(draws) - 1:,} samples in the "
                                                       f"{spec.uncertainty.method} design, at most {MAX_SAMPLES:,}")
    total = (sum(len(copy_counts(spec, cpus)) for cpus in cpu_counts) * len(workloads)
             * len(spec.strategies) * len(seeds) * len(draws) * math.prod(len(v) for v in spec.axes.values()))
    if total > MAX_SWEEP_RUNS:  # counted before a single RunSpec is built
        raise UserError(source, None, f"{total:,} runs (topologies x workloads x strategies x copies x "
                                      f"seeds), at most {MAX_SWEEP_RUNS:,} per sweep")
    if not total:
        raise UserError(source, "copies", "no run fits any topology")
    axes = axis_points(spec)
    for ref, cpus, topo in zip(spec.topologies, cpu_counts, topologies):
        if profile is not None:
            assert spec.profile is not None  # the profile was read from it
            warning = profile.warning(spec.profile, shape_digest(validate(Topology, topo, ref).model_dump(mode="json")))
            if warning:
                notes.append(f"{warning} (used on {ref})")
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
