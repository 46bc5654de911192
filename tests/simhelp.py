"""Helpers for engine tests: build runs from dicts, and replicate them."""

from __future__ import annotations

import math
import statistics

from orchestrator.presets import resolve
from orchestrator.simulate import simulate
from orchestrator.spec import read_yaml, validate
from orchestrator.spec.run import RunSpec

T_975 = {2: 4.303, 3: 3.182, 4: 2.776, 5: 2.571, 6: 2.447, 7: 2.365, 8: 2.306, 9: 2.262, 11: 2.201}


def run_spec(topology="ideal", workload=None, strategy="single", kernel=None, **fields) -> RunSpec:
    data = {
        "topology": read_yaml(resolve("topologies", topology)),
        "strategy": {"name": strategy} if isinstance(strategy, str) else strategy,
        "workload": {"kind": "closed-loop", **(workload or {})},
        "kernel": kernel or {},
        "duration_ms": 20,
        **fields,
    }
    return validate(RunSpec, data, "test")


def replicate(spec: RunSpec, seeds, metrics):
    """Mean and 95% t half-width of each metric over seeds."""
    values = {m: [] for m in metrics}
    for seed in seeds:
        result = simulate(spec.model_copy(update={"seed": seed}))
        for m in metrics:
            values[m].append(result.metrics[m])
    out = {}
    for m, xs in values.items():
        n = len(xs)
        out[m] = (statistics.mean(xs), T_975[n - 1] * statistics.stdev(xs) / math.sqrt(n))
    return out
