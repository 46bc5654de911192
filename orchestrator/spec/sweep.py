"""Sweep specs: the cross product of topologies, strategies, workloads, copies and seeds."""

from __future__ import annotations

import json
from typing import Annotated, Any, Literal

from pydantic import Field, PositiveInt, model_validator

from orchestrator.errors import FieldError
from orchestrator.spec.base import (
    MAX_CPUS,
    MAX_REPLICATIONS,
    MAX_SAMPLES,
    DurationMs,
    Seed,
    Spec,
    WarmupMs,
)
from orchestrator.spec.strategy import StrategySpec

MORRIS_LEVELS = 4  # grid levels of a Morris design (SALib's default), for sampling and analysis alike


class WorkloadRef(Spec):
    file: str = Field(min_length=1, description="workload YAML, a path or a preset name")
    overrides: dict[str, Any] = Field(default_factory=dict, description="fields to replace")


class Uncertainty(Spec):
    """Samples over the uncertain parameters' plausible ranges (orch params): every cell of the sweep
    runs at its nominal values and once per sample, each sample the same for every strategy and copy
    count."""

    samples: PositiveInt = Field(le=MAX_SAMPLES, description="lhs: points drawn over the ranges; morris: "
                                 "trajectories (each parameters + 1 points); sobol: base points, a power of 2 "
                                 "(each parameters + 2 points)")
    method: Literal["lhs", "morris", "sobol"] = Field(
        "lhs", description="the sample design and its sensitivity analysis (SALib): a Latin hypercube "
                           "analysed with PAWN, Morris elementary effects, or Sobol indices")
    parameters: Literal["all"] | list[str] = Field(
        "all", description="dotted names to vary (orch params), or all of them (a profile's fitted ones excepted)")
    ranges: dict[str, Annotated[list[float], Field(min_length=2, max_length=2)]] = Field(
        default_factory=dict, description="narrower or wider [low, high] for some of them")
    seed: Seed = Field(0, description="seed of the sample design")

    @model_validator(mode="after")
    def _check(self) -> "Uncertainty":
        from orchestrator.spec.params import registry

        known = {p.name for p in registry()}
        for where, names in (("parameters", [] if self.parameters == "all" else self.parameters),
                             ("ranges", list(self.ranges))):
            for name in names:
                if name not in known:
                    raise FieldError(where, f"{name!r} is not an uncertain parameter (orch params lists them)")
        for name, (low, high) in self.ranges.items():
            if not low < high:
                raise FieldError(f"ranges.{name}", "low must be below high")
        if self.method == "sobol" and self.samples & (self.samples - 1):
            raise FieldError("samples", "a Sobol design needs a power of 2 (e.g. 16)")
        if self.method != "lhs" and self.parameters != "all" and len(self.parameters) < 2:
            raise FieldError("parameters", f"a {self.method} design needs at least two parameters")
        return self


class SweepSpec(Spec):
    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$", description="the sweep's name: its partition "
                                                                           "in the dataset and its label in reports")
    topologies: list[str] = Field(min_length=1, description="topology YAML paths (relative to the spec's "
                                                            "folder) or preset names")
    strategies: list[StrategySpec] = Field(min_length=1, description="lock designs to compare (below)")
    workloads: list[WorkloadRef] = Field(min_length=1, description="workloads to run them under (below)")
    copies: list[Annotated[PositiveInt, Field(le=MAX_CPUS)]] | None = Field(
        None, max_length=MAX_CPUS, description="copy counts (UnixBench -c)")
    scaling: Literal["powers-of-two-to-all"] | None = Field(
        None, description="instead of copies: 1, 2, 4, ... and every CPU of the topology")
    seeds: list[Seed] | None = Field(None, max_length=MAX_REPLICATIONS,
                                     description="the seeds of every cell (default: 1..replications)")
    replications: PositiveInt | None = Field(None, le=MAX_REPLICATIONS, description="instead of seeds: seeds 1..N")
    duration_ms: DurationMs = Field(description="virtual time measured per run")
    warmup_ms: WarmupMs = Field(0.0, description="virtual time discarded before measuring")
    placement: Literal["migrate", "spread", "compact"] = Field(
        "migrate", description="where copies run: migrate (start spread; sched_exec may move one at each exec, "
                               "as UnixBench runs them unpinned), or pinned: spread round-robin over nodes, "
                               "compact (fill a node first)")
    output: str = Field("results", description="dataset path or pyarrow filesystem URI; a relative path is "
                        "taken from the working directory, as --out is (files the spec reads are taken "
                        "from the spec's folder)")
    set: list[str] = Field(default_factory=list, description="dotted.key=value overrides for every run, "
                                                             "as orch run --set (e.g. kernel.spin_mean_ns=100000)")
    profile: str | None = Field(None, description="a calibration profile (orch calibrate): its fitted values "
                                                  "apply to every run, before set:")
    uncertainty: Uncertainty | None = Field(None, description="run every cell at its nominal values and once per "
                                                              "sample of the uncertain parameters (below)")
    axes: dict[str, list[Any]] = Field(default_factory=dict, description="dotted.key: [v1, v2, ...]: every run "
                                       "is repeated once per value, with key=value set after set: (orch sweep "
                                       "--axis); reports label the runs by the value")

    @model_validator(mode="after")
    def _check(self) -> "SweepSpec":
        if (self.copies is None) == (self.scaling is None):
            raise FieldError("copies", "give exactly one of copies or scaling")
        if self.seeds is not None and self.replications is not None:
            raise FieldError("seeds", "give seeds or replications, not both")
        if self.seeds is not None and not self.seeds:
            raise FieldError("seeds", "empty list")
        for field in ("topologies", "copies", "seeds"):
            values = getattr(self, field) or []
            if len(set(values)) != len(values):
                raise FieldError(field, "duplicate entries")
        files = [(w.file, json.dumps(w.overrides, sort_keys=True)) for w in self.workloads]
        for i, entry in enumerate(files):
            if files.index(entry) != i:
                raise FieldError(("workloads", i), f"duplicate workload {entry[0]!r} with the same overrides")
        for key, values in self.axes.items():
            if not values:
                raise FieldError(("axes", key), "empty list")
            encoded = [json.dumps(v, sort_keys=True) for v in values]
            if len(set(encoded)) != len(encoded):
                raise FieldError(("axes", key), "duplicate values")
        labels = [s.display for s in self.strategies]
        for i, label in enumerate(labels):
            if labels.index(label) != i:
                raise FieldError(("strategies", i), f"duplicate strategy {label!r} (set a label)")
        return self
