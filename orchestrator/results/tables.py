"""One run's results as Arrow tables of the fixed schemas in results/schema.py."""

from __future__ import annotations

import json
import math
from typing import TYPE_CHECKING, Any

import pyarrow as pa

from orchestrator.results.schema import SCHEMAS, TABLES
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
    schema = SCHEMAS[name]  # built column by column: a sweep of short runs spends much of its time here
    return pa.Table.from_pydict({field.name: _column(field.type, [row.get(field.name) for row in rows])
                                 for field in schema}, schema=schema)


def _column(kind: pa.DataType, values: list) -> list:
    if pa.types.is_floating(kind):
        return [v if v is None or math.isfinite(v) else None for v in values]
    if pa.types.is_list(kind):
        return [v if v is None else [finite(x) for x in v] for v in values]
    return values


def to_rows(result: RunResult, sweep_id: str | None = None) -> dict[str, list[dict]]:
    """The rows of one finished run, by table; every row carries the run id. A batch of runs
    makes its tables from all their rows at once (tables_of)."""
    key = {"run_id": result.run_id}
    return {
        "runs": [{**config_columns(result.spec, sweep_id), "status": "ok", **result.metrics}],
        "locks": [{**key, **row} for row in result.locks],
        "timeseries": [{**key, **row} for row in result.timeseries],
        "histograms": [{**key, **row} for row in result.histograms],
    }


def failed_rows(spec: RunSpec, error: str, sweep_id: str | None = None) -> dict[str, list[dict]]:
    """A failed run: its config and error in `runs`, nothing elsewhere."""
    row = {**config_columns(spec, sweep_id), "status": "failed", "error": error}
    return {"runs": [row], "locks": [], "timeseries": [], "histograms": []}


def tables_of(rows: dict[str, list[dict]]) -> dict[str, pa.Table]:
    return {name: table(name, rows[name]) for name in TABLES}


def to_tables(result: RunResult, sweep_id: str | None = None) -> dict[str, pa.Table]:
    """Arrow tables of one finished run."""
    return tables_of(to_rows(result, sweep_id))


def failed_tables(spec: RunSpec, error: str, sweep_id: str | None = None) -> dict[str, pa.Table]:
    return tables_of(failed_rows(spec, error, sweep_id))
