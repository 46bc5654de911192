"""The parameter registry: uncertain parameters declare a plausible range, by the name --set takes."""

from __future__ import annotations

import json

import pytest

from orchestrator.plan import compose_run
from orchestrator.simulate import simulate
from orchestrator.spec.params import registry

WORKLOAD_OF = {"execl": "execl", "spawn": "spawn", "sysexec": "sysexec", "stress-ng-spawn": "stress-ng-spawn",
               "doexec": "doexec", "mmap-churn": "mmap-churn", "closed-loop": "closed-loop"}


def test_every_range_holds_its_default():
    found = registry()
    assert {"kernel.spin_mean_ns", "kernel.cost_scale", "workload.exec_ns", "topology.costs_ns.smt_slowdown"} <= {
        p.name for p in found}
    for p in found:
        assert p.low < p.high and p.low <= p.default <= p.high, p
        assert p.source and p.source[0] in "HML", p  # a confidence grade, as docs/sources.md gives them


@pytest.mark.parametrize("param", registry(), ids=lambda p: p.name)
def test_every_name_is_one_set_takes(param):
    """A value set by the registry's name lands in the run spec; a value outside the plausible
    range is taken too (a range is metadata, never a bound)."""
    workload = WORKLOAD_OF[param.workloads[0]] if param.workloads else "execl"
    outside = param.high * 2
    value = outside if isinstance(param.default, float) else int(outside)
    spec = compose_run("laptop-1n-8", "single", workload, copies=1, duration_ms=1,
                       overrides=[f"{param.name}={value}"])
    section, *path = param.name.split(".")
    target = getattr(spec, section)
    for part in path:
        target = getattr(target, part)
    assert target == value


def test_params_command_lists_the_registry(orch):
    result = orch("params", "--json")
    assert result.code == 0
    listed = json.loads(result.out)
    assert [p["name"] for p in listed] == [p.name for p in registry()]
    table = orch("params")
    assert "kernel.cost_scale" in table.out and "0.7 - 2.0" in table.out


def test_cost_scale_stretches_every_critical_section():
    """One copy, fixed times: doubling the serialized cost adds exactly one hold to a response."""
    def response(scale: float) -> float:
        spec = compose_run("laptop-1n-8", "single", "closed-loop", copies=1, duration_ms=2, overrides=[
            "workload.distribution=fixed", "workload.hold_ns=10000", "workload.think_ns=10000",
            f"kernel.cost_scale={scale}"])
        return simulate(spec).metrics["response_mean_ns"]
    assert response(2.0) - response(1.0) == pytest.approx(10_000, abs=1)
    assert response(0.5) < response(1.0)


def test_schema_covers_the_kernel_settings(orch):
    result = orch("schema", "kernel")
    assert result.code == 0 and "cost_scale" in json.loads(result.out)["properties"]
