"""Workload, strategy and sweep spec models; JSON schemas; cpulist syntax."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from orchestrator.errors import UserError
from orchestrator.presets import preset_names, resolve
from orchestrator.spec import SCHEMAS, StrategySpec, SweepSpec, WorkloadSpec, load, validate
from orchestrator.spec.cpulist import format_cpulist, parse_cpulist


@given(st.sets(st.integers(0, 600), min_size=1, max_size=80))
def test_cpulist_round_trip(cpus):
    text = format_cpulist(list(cpus))
    assert parse_cpulist(text) == sorted(cpus)


@pytest.mark.parametrize("kind", sorted(SCHEMAS))
def test_schema_command(orch, kind):
    result = orch("schema", kind)
    assert result.code == 0
    schema = json.loads(result.out)
    assert "properties" in schema or "$defs" in schema


def test_workload_presets_validate():
    for name in preset_names("workloads"):
        load(WorkloadSpec, resolve("workloads", name))


def test_closed_loop_defaults_and_bounds():
    spec = validate(WorkloadSpec, {"kind": "closed-loop"}, "w.yaml")
    assert spec.think_ns == 10_000 and spec.distribution == "exponential"
    with pytest.raises(UserError, match="read_fraction"):
        validate(WorkloadSpec, {"kind": "closed-loop", "read_fraction": 1.5}, "w.yaml")
    with pytest.raises(UserError, match="think_ns"):
        validate(WorkloadSpec, {"kind": "closed-loop", "think_ns": -1}, "w.yaml")
    with pytest.raises(UserError, match="kind"):
        validate(WorkloadSpec, {"kind": "nope"}, "w.yaml")


@pytest.mark.parametrize("change,field", [
    ({"files": [{"name": "a", "segments_pages": []}]}, "files.0.segments_pages"),
    ({"files": [{"name": "a", "segments_pages": [2]}, {"name": "a", "segments_pages": [3]}]}, "files.1.name"),
    ({"files": [{"name": "a", "segments_pages": [2], "relro_pages": 2}]}, "files.0.relro_pages"),
    ({"files": [{"name": "a", "segments_pages": [2], "relro_pages": 0, "protections": ["r", "rx"]}]},
     "files.0.protections"),
    ({"files": [{"name": "a", "segments_pages": [2], "relro_pages": 1, "loader": "transient"}]}, "files.0.relro_pages"),
    ({"files": [{"name": "a", "segments_pages": [2], "relro_pages": 0, "loader": "ld.so"}]}, "files.0.loader"),
    ({"files": [{"name": "a", "segments_pages": [2], "relro_pages": 0},
                {"name": "b", "segments_pages": [2], "relro_pages": 0, "per_copy": True}]}, "files.1.per_copy"),
    ({"files": [{"name": "a", "segments_pages": [2], "relro_pages": 0, "per_copy": True}],
      "walkers": {"reclaim_per_node_per_s": 10}}, "walkers.reclaim_file"),
])
def test_bad_mapped_files(change, field):
    with pytest.raises(UserError) as info:
        validate(WorkloadSpec, {"kind": "execl", **change}, "w.yaml")
    assert info.value.field == field


def test_strategy_spec():
    assert validate(StrategySpec, {"name": "split-node", "shards": 4}, "s").display == "split-node[shards=4]"
    with pytest.raises(UserError, match="shards"):
        validate(StrategySpec, {"name": "single", "shards": 0}, "s")
    with pytest.raises(UserError, match="name"):
        validate(StrategySpec, {"name": "Bad Name"}, "s")


SWEEP = {
    "name": "quick",
    "topologies": ["ideal"],
    "strategies": [{"name": "single"}, {"name": "split-node"}],
    "workloads": [{"file": "closed-loop"}],
    "copies": [1, 2],
    "replications": 3,
    "duration_ms": 5,
}


def test_sweep_spec_valid():
    spec = validate(SweepSpec, SWEEP, "sweep.yaml")
    assert spec.placement == "migrate" and spec.output == "results"


@pytest.mark.parametrize("change,field", [
    ({"strategies": []}, "strategies"),
    ({"copies": [1, 1]}, "copies"),
    ({"copies": None}, "copies"),
    ({"scaling": "powers-of-two-to-all"}, "copies"),
    ({"seeds": [1, 2]}, "seeds"),
    ({"strategies": [{"name": "single"}, {"name": "single"}]}, "strategies.1"),
    ({"duration_ms": 0}, "duration_ms"),
])
def test_sweep_spec_errors_name_the_field(change, field):
    with pytest.raises(UserError) as info:
        validate(SweepSpec, {**SWEEP, **change}, "sweep.yaml")
    assert info.value.field == field


def test_overrides_leave_shared_nested_values_alone():
    """A sweep hands every run the same topology and workload dicts: a run's --set must not leak."""
    from orchestrator.spec.run import apply_overrides

    shared = {"costs_ns": {"wakeup": 5000}, "cpus": [0, 1]}
    first = apply_overrides({"topology": shared}, ["topology.costs_ns.wakeup=1", "topology.cpus.0=7"])
    assert first["topology"] == {"costs_ns": {"wakeup": 1}, "cpus": [7, 1]}
    assert shared == {"costs_ns": {"wakeup": 5000}, "cpus": [0, 1]}
