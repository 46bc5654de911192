"""One run's results as Arrow tables of the fixed schemas in results/schema.py."""

from __future__ import annotations

import json
import math
from typing import TYPE_CHECKING, Any

import pyarrow as pa

from orchestrator.results.schema import SCHEMAS
from orchestrator.spec.run import MODEL_VERSION, RunSpec

if TYPE_CHECKING:
    from orchestrator.simulate import RunResult


def finite(value: Any) -> Any:
    """NaN and infinities become nulls: Parquet readers and JSON expect them so."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def config_columns(spec: RunSpec, sweep_id: str | None = None) -> dict[str, Any]:
    return {
        "run_id": spec.run_id(),
        "sweep_id": sweep_id,
        "model_version": MODEL_VERSION,
        "source": "model",
        "topology": spec.topology.name,
        "nodes": len(spec.topology.nodes),
        "cpus": spec.topology.cpu_count,
        "strategy": spec.strategy.display,
        "strategy_name": spec.strategy.name,
        "shards": spec.strategy.shards,
        "subtree_choice": spec.strategy.subtree_choice,
        "workload": spec.workload.name,
        "workload_kind": spec.workload.kind,
        "copies": spec.copies,
        "seed": spec.seed,
        "sample": spec.sample,
        "parameters_json": None if spec.sample is None else json.dumps(parameter_values(spec), sort_keys=True),
        "duration_ms": spec.duration_ms,
        "warmup_ms": spec.warmup_ms,
        "placement": spec.placement,
        "config_json": json.dumps(spec.model_dump(mode="json"), sort_keys=True),
    }


def parameter_values(spec: RunSpec) -> dict[str, Any]:
    """The run's value of every uncertain parameter its spec has (orch params)."""
    from orchestrator.spec.params import registry

    config = spec.model_dump(mode="json")
    values = {}
    for param in registry():
        section: Any = config
        for key in param.name.split("."):
            section = section.get(key) if isinstance(section, dict) else None
        if section is not None:
            values[param.name] = section
    return values


def table(name: str, rows: list[dict[str, Any]]) -> pa.Table:
    schema = SCHEMAS[name]
    return pa.Table.from_pylist([{k: finite(row.get(k)) for k in schema.names} for row in rows], schema=schema)


def to_tables(result: RunResult, sweep_id: str | None = None) -> dict[str, pa.Table]:
    """Arrow tables of one finished run; every row carries the run id."""
    key = {"run_id": result.run_id}
    metrics = {k: ([finite(x) for x in v] if isinstance(v, list) else v) for k, v in result.metrics.items()}
    return {
        "runs": table("runs", [{**config_columns(result.spec, sweep_id), "status": "ok", **metrics}]),
        "locks": table("locks", [{**key, **row} for row in result.locks]),
        "timeseries": table("timeseries", [{**key, **row} for row in result.timeseries]),
        "histograms": table("histograms", [{**key, **row} for row in result.histograms]),
    }


def failed_tables(spec: RunSpec, error: str, sweep_id: str | None = None) -> dict[str, pa.Table]:
    """A failed run: its config and error in `runs`, nothing elsewhere."""
    row = {**config_columns(spec, sweep_id), "status": "failed", "error": error}
    return {"runs": table("runs", [row]), **{name: table(name, []) for name in ("locks", "timeseries", "histograms")}}
