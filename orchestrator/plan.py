"""Plan: turn user references (files, preset names, flags, --set overrides) into RunSpecs."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from orchestrator.errors import UserError
from orchestrator.presets import resolve
from orchestrator.spec import StrategySpec, Topology, WorkloadSpec, read_yaml, validate
from orchestrator.spec.run import RunSpec, apply_overrides
from orchestrator.strategies import get as get_strategy


def _is_file(ref: str) -> bool:
    return Path(ref).exists() or ref.endswith((".yaml", ".yml")) or "/" in ref


def load_part(kind: str, ref: str) -> dict[str, Any]:
    """Read and validate one part (topology / workload / strategy); errors name its file."""
    if kind == "strategy":
        if _is_file(ref):
            data, source = read_yaml(ref), ref
        else:
            data, source = {"name": ref}, "--strategy"
        spec = validate(StrategySpec, data, source)
        get_strategy(spec.name, source)
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
    spec = validate(RunSpec, data, "--set" if overrides else "orch run")
    get_strategy(spec.strategy.name, "--set" if overrides else "--strategy")
    return spec
