"""One run: a topology, a strategy, a workload, kernel policy, copies, seed and durations."""

from __future__ import annotations

import hashlib
import json
from typing import Any, Literal

from pydantic import Field, NonNegativeInt, PositiveInt, model_validator

from orchestrator.errors import FieldError, UserError
from orchestrator.spec.base import MAX_CPUS, DurationMs, Seed, Spec, WarmupMs
from orchestrator.spec.kernel import KernelSpec
from orchestrator.spec.loader import load_yaml_text
from orchestrator.spec.strategy import StrategySpec
from orchestrator.spec.topology import Topology
from orchestrator.spec.workload import WorkloadSpec

# Bump when the model changes what a run computes: run ids change, so old results are not reused.
MODEL_VERSION = "7"


# fields added to model version 3 after datasets were written with it, and their defaults
ADDED_WITH_DEFAULT = ((("kernel", "cost_scale"), 1.0), (("sample",), None))


class RunSpec(Spec):
    topology: Topology
    strategy: StrategySpec
    workload: WorkloadSpec
    kernel: KernelSpec = Field(default_factory=KernelSpec)
    copies: PositiveInt = Field(le=MAX_CPUS)
    seed: Seed = 1
    duration_ms: DurationMs = Field(description="virtual time measured")
    warmup_ms: WarmupMs = Field(0.0, description="virtual time run before measuring")
    placement: Literal["migrate", "spread", "compact"] = Field(
        "migrate", description="migrate: copies start spread and sched_exec may move one at each exec, as "
                               "unpinned UnixBench copies run; spread, compact: pinned")
    sample: NonNegativeInt | None = Field(None, description="which uncertainty sample of its sweep the run is")

    @model_validator(mode="after")
    def _fits(self) -> "RunSpec":
        if self.copies > self.topology.cpu_count:
            raise FieldError("copies", f"{self.copies} copies but {self.topology.name} has "
                                       f"{self.topology.cpu_count} CPUs")
        return self

    @property
    def end_ns(self) -> int:
        return round((self.warmup_ms + self.duration_ms) * 1e6)

    @property
    def warmup_ns(self) -> int:
        return round(self.warmup_ms * 1e6)

    def run_id(self) -> str:
        """Hash of the canonical config and the model version: same config, same id. A field
        added within a model version is left out while it has its default, so the runs of a
        dataset written before keep their ids (a rerun resumes instead of adding duplicates)."""
        config = self.model_dump(mode="json")
        for path, default in ADDED_WITH_DEFAULT:
            *parents, last = path
            section = config
            for key in parents:
                section = section[key]
            if section.get(last) == default:
                del section[last]
        canonical = json.dumps(config, sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(f"{MODEL_VERSION}\n{canonical}".encode()).hexdigest()[:16]


def apply_overrides(data: dict[str, Any], assignments: list[str]) -> dict[str, Any]:
    """Apply `dotted.key=value` settings (value parsed as YAML) to a nested dict, in order. `data`
    changes in place, but every nested dict or list on a path written to is copied first, so
    values it shares with other specs (a sweep's topologies and workloads) stay as they were."""
    import yaml

    for item in assignments:
        key, sep, raw = item.partition("=")
        if not sep or not key.strip():
            raise UserError("--set", item, "expected dotted.key=value")
        try:
            value = load_yaml_text(raw) if raw.strip() else None
        except yaml.YAMLError:
            value = raw
        parts = key.strip().split(".")
        target: Any = data
        for depth, part in enumerate(parts):
            last = depth == len(parts) - 1
            if isinstance(target, list) and part.isdigit() and int(part) < len(target):
                index: Any = int(part)
            elif isinstance(target, dict):
                index = part
                if not last and target.get(part) is None:
                    target[part] = {}
            else:
                raise UserError("--set", ".".join(parts[:depth]) or key, "has no field " + repr(part))
            if last:
                target[index] = value
            else:
                inner = target[index]
                target[index] = inner = dict(inner) if isinstance(inner, dict) else (
                    list(inner) if isinstance(inner, list) else inner)
                target = inner
    return data
