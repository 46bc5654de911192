"""A sweep's uncertainty: Latin-hypercube samples over the uncertain parameters' ranges."""

from __future__ import annotations

import json

import pyarrow.dataset as ds
import pytest
import yaml

from orchestrator.plan import expand_sweep
from orchestrator.spec import validate
from orchestrator.spec.sweep import SweepSpec

BASE = {"name": "u", "topologies": ["laptop-1n-8"], "strategies": [{"name": "single"}, {"name": "inverted"}],
        "workloads": [{"file": "execl"}, {"file": "closed-loop"}], "copies": [1, 2], "duration_ms": 0.5,
        "warmup_ms": 0.1, "seeds": [1]}


def runs(**uncertainty):
    return expand_sweep(validate(SweepSpec, {**BASE, "uncertainty": uncertainty}, "test"), "test")


def test_every_cell_runs_once_per_sample_with_the_same_draws():
    expanded = runs(samples=4, parameters=["kernel.cost_scale", "workload.exec_ns"], seed=3)
    # workloads x strategies x copies x (the nominal point + 4 samples), one seed
    assert len(expanded) == 2 * 2 * 2 * 5
    nominal = [run for run in expanded if run.sample is None]
    assert len(nominal) == 8 and all(run.kernel.cost_scale == 1.0 for run in nominal)
    draws = {}
    for run in expanded:
        if run.sample is None:
            continue
        values = (run.kernel.cost_scale, getattr(run.workload, "exec_ns", None))
        draws.setdefault((run.workload.kind, run.sample), set()).add(values)
    assert all(len(v) == 1 for v in draws.values())  # a sample is the same for every strategy and copy count
    scales = sorted(next(iter(draws["execl", s]))[0] for s in range(4))
    # Latin hypercube: one draw in each quarter of the range (0.7 - 2.0)
    assert [int((x - 0.7) / (1.3 / 4)) for x in scales] == [0, 1, 2, 3]
    # the closed loop has no exec_ns: only cost_scale varies there
    assert all(next(iter(draws["closed-loop", s]))[1] is None for s in range(4))


def test_ranges_narrow_a_parameter_and_all_takes_every_one():
    expanded = runs(samples=3, parameters=["kernel.spin_mean_ns"], ranges={"kernel.spin_mean_ns": [200_000, 300_000]})
    assert all(200_000 <= r.kernel.spin_mean_ns <= 300_000 for r in expanded if r.sample is not None)
    everything = runs(samples=2)
    assert {r.kernel.handoff_line_transfers for r in everything} != {1.0}


def test_bad_uncertainty_is_one_line(orch, tmp_path):
    spec = tmp_path / "u.yaml"
    for bad, fragment in (({"samples": 2, "parameters": ["kernel.nope"]}, "not an uncertain parameter"),
                          ({"samples": 2, "ranges": {"kernel.cost_scale": [2, 1]}}, "low must be below high"),
                          ({"samples": 0}, "samples")):
        spec.write_text(yaml.safe_dump({**BASE, "uncertainty": bad}))
        result = orch("sweep", spec, "--backend", "local", "--out", tmp_path / "out")
        assert result.code == 2 and fragment in result.err and len(result.err.strip().splitlines()) == 1


def test_sampled_runs_carry_their_sample_and_values(orch, tmp_path):
    spec = tmp_path / "u.yaml"
    spec.write_text(yaml.safe_dump({**BASE, "workloads": [{"file": "closed-loop"}], "strategies": [{"name": "single"}],
                                    "copies": [1], "uncertainty": {"samples": 2, "parameters": ["kernel.cost_scale"]}}))
    assert orch("sweep", spec, "--backend", "local", "--out", tmp_path / "out").code == 0
    rows = ds.dataset(tmp_path / "out" / "table=runs", format="parquet", partitioning="hive").to_table().to_pylist()
    assert sorted(r["sample"] for r in rows if r["sample"] is not None) == [0, 1]
    assert sum(r["sample"] is None for r in rows) == 1  # the nominal run: the defaults
    values = [json.loads(r["parameters_json"])["kernel.cost_scale"] for r in rows if r["sample"] is not None]
    assert len(set(values)) == 2 and all(0.7 <= v <= 2.0 for v in values)
    report = orch("report", tmp_path / "out", "--out", tmp_path / "report")
    # one design: nothing to compare
    assert report.code == 0 and "## Uncertainty" not in (tmp_path / "report" / "report.md").read_text()


def sampled(design: str, sample: int, value: float, seeds: list[float], param="kernel.cost_scale") -> list[dict]:
    return [{"topology": "t", "workload": "w", "copies": 8, "strategy": design, "sample": sample, "seed": i,
             "steady_throughput_per_s": x, "parameters_json": json.dumps({param: value, "kernel.other": i * 0})}
            for i, x in enumerate(seeds)]


def test_a_comparison_that_flips_with_a_parameter_depends_on_it():
    from orchestrator.analysis.uncertainty import verdicts

    runs = []
    for sample, scale in enumerate([0.7, 1.0, 1.4, 2.0]):
        runs += sampled("single", sample, scale, [100, 101, 99])
        gain = 1.3 if scale < 1.2 else 0.7  # the design wins at low serialized cost, loses at high
        runs += sampled("split", sample, scale, [100 * gain, 101 * gain, 99 * gain])
    (found,) = verdicts(runs, "single")
    assert found.verdict == "depends on kernel.cost_scale"
    assert (found.faster, found.slower, found.samples) == (2, 2, 4)
    assert found.low == pytest.approx(0.7) and found.high == pytest.approx(1.3)


def test_a_comparison_no_sample_reverses_is_robust():
    from orchestrator.analysis.uncertainty import verdicts

    runs = []
    for sample, scale in enumerate([0.7, 1.0, 1.4, 2.0]):
        runs += sampled("single", sample, scale, [100, 101, 99])
        runs += sampled("split", sample, scale, [x * (1.5 + scale / 10) for x in (100, 101, 99)])
    (found,) = verdicts(runs, "single")
    assert found.verdict == "robust: faster" and found.faster == 4


TWO_NODES = {"name": "two-nodes-16", "nodes": [{"cpus": "0-7"}, {"cpus": "8-15"}], "distance": [[10, 32], [32, 10]],
             "latency_ns": {"l3": 24, "node": 118, "remote": {32: 250}}}
SPLIT_CPU_ROW = "| two-nodes-16 | execl+reclaim | 16 | split-cpu"   # its row in the report's uncertainty table


def flip_report(orch, tmp_path, cost_scale: list[float]) -> str:
    """split-cpu against single under reclaim: the extra trees cost more than they save when the
    serialized cost is low, and save more than they cost when it is high."""
    (tmp_path / "two.yaml").write_text(yaml.safe_dump(TWO_NODES))
    spec = tmp_path / "u.yaml"
    spec.write_text(yaml.safe_dump({
        "name": "flip", "topologies": ["two.yaml"], "strategies": [{"name": "single"}, {"name": "split-cpu"}],
        "workloads": [{"file": "execl-reclaim"}], "copies": [16], "duration_ms": 3, "warmup_ms": 0.5,
        "seeds": [1, 2, 3], "uncertainty": {"samples": 3, "parameters": ["kernel.cost_scale"], "seed": 1,
                                         "ranges": {"kernel.cost_scale": cost_scale}}}))
    out = tmp_path / f"out-{cost_scale[0]}"
    assert orch("sweep", spec, "--backend", "local", "--out", out).code == 0
    result = orch("report", out, "--out", tmp_path / f"report-{cost_scale[0]}")
    assert result.code == 0, result.err
    return (tmp_path / f"report-{cost_scale[0]}" / "report.md").read_text()


def test_the_report_says_a_flipping_comparison_depends_on_the_parameter(orch, tmp_path):
    md = flip_report(orch, tmp_path, [0.05, 2.0])
    assert "## Uncertainty" in md and "Robust: 0 of 1 comparisons" in md
    verdict_row = next(line for line in md.splitlines() if line.startswith(SPLIT_CPU_ROW))
    assert "depends on kernel.cost_scale" in verdict_row
    # the charts draw the band, and their log axes are labelled with numbers, not formula source
    svgs = {p.name: p.read_text() for p in (tmp_path / "report-0.05" / "plots").glob("*.svg")}
    assert "range across samples" in svgs["two-nodes-16-execl+reclaim-speedup.svg"]
    assert not [name for name, svg in svgs.items() if "mathdefault" in svg]
    # the sensitivity table ranks the one sampled parameter first
    assert "| kernel.cost_scale | 0.0822 - 1.906 | 1 |" in md


def test_the_report_says_a_comparison_no_sample_reverses_is_robust(orch, tmp_path):
    md = flip_report(orch, tmp_path, [1.5, 2.0])
    verdict_row = next(line for line in md.splitlines() if line.startswith(SPLIT_CPU_ROW))
    # no sample finds split-cpu slower (with two seeds most cannot tell): robust, and the band is above 1
    assert "| robust: " in verdict_row and "0 slower of 3" in verdict_row
    low = float(verdict_row.split("| x")[1].split(" - ")[0])
    assert low > 1


def test_an_axis_in_a_sampled_sweep_keeps_its_values_apart(orch, tmp_path):
    """Samples vary the drawn parameters; an axis varies another on purpose: each axis value gets
    its own band, labelled as its nominal runs are."""
    from orchestrator.analysis.data import load_study
    from orchestrator.analysis.uncertainty import verdicts

    spec = tmp_path / "u.yaml"
    spec.write_text(yaml.safe_dump({**BASE, "workloads": [{"file": "closed-loop"}], "copies": [2], "seeds": [1, 2],
                                    "axes": {"kernel.spin_mean_ns": [100_000, 2_000_000]},
                                    "uncertainty": {"samples": 2, "parameters": ["kernel.cost_scale"]}}))
    assert orch("sweep", spec, "--backend", "local", "--out", tmp_path / "out").code == 0
    study = load_study(str(tmp_path / "out"))
    nominal = {r["workload"] for r in study.runs}
    assert len(nominal) == 2 and all("kernel.spin_mean_ns" in w for w in nominal)
    assert {r["workload"] for r in study.sampled_runs} == nominal
    assert sorted(v.workload for v in verdicts(study.sampled_runs, "single")) == sorted(nominal)


def test_morris_and_sobol_designs_have_their_structure():
    names = ["kernel.cost_scale", "kernel.spin_mean_ns"]
    morris = [r for r in runs(samples=3, method="morris", parameters=names)
              if r.sample is not None and r.workload.kind == "execl" and r.copies == 1 and r.strategy.name == "single"]
    points = [(r.kernel.cost_scale, r.kernel.spin_mean_ns) for r in sorted(morris, key=lambda r: r.sample)]
    assert len(points) == 3 * (len(names) + 1)  # trajectories of parameters + 1 points
    for start in range(0, len(points), 3):  # each step of a trajectory moves one parameter
        trajectory = points[start:start + 3]
        assert all(sum(a != b for a, b in zip(p, q)) == 1 for p, q in zip(trajectory, trajectory[1:]))
    sobol = {r.sample for r in runs(samples=4, method="sobol", parameters=names) if r.sample is not None}
    assert sobol == set(range(4 * (len(names) + 2)))
    lhs = runs(samples=4, parameters=names, seed=3)
    assert lhs == runs(samples=4, method="lhs", parameters=names, seed=3)  # lhs is the default: same runs


@pytest.mark.parametrize(("bad", "fragment"), [
    ({"samples": 3, "method": "sobol"}, "a Sobol design needs a power of 2"),
    ({"samples": 2, "method": "morris", "parameters": ["kernel.cost_scale"]}, "at least two parameters"),
    ({"samples": 2, "method": "fast"}, "method"),
])
def test_bad_designs_are_refused(bad, fragment):
    from orchestrator.errors import UserError

    with pytest.raises(UserError, match=fragment):
        runs(**bad)


@pytest.mark.parametrize("method", ["lhs", "morris", "sobol"])
def test_each_design_ranks_the_parameter_the_ratio_follows(method):
    """The ratio follows cost_scale strongly and spin time not at all: every index says so."""
    from orchestrator.analysis.uncertainty import INDEX, influence
    from orchestrator.plan import design
    from orchestrator.spec.params import registry
    from orchestrator.spec.sweep import Uncertainty

    plan = Uncertainty(samples=8, method=method, parameters=["kernel.cost_scale", "kernel.spin_mean_ns"])
    known = {p.name: p for p in registry()}
    points = design(plan, [(known[n].low, known[n].high) for n in plan.parameters])
    xs = {n: [p[i] for p in points] for i, n in enumerate(plan.parameters)}
    ratios = [2.0 - 0.5 * scale for scale in xs["kernel.cost_scale"]]
    found, index = influence(xs, ratios, method)
    assert index == INDEX[method]
    assert found["kernel.cost_scale"] > 2 * found.get("kernel.spin_mean_ns", 0.0)
    # samples missing from a Morris or Sobol design: PAWN, which takes any sample
    assert influence({n: v[1:] for n, v in xs.items()}, ratios[1:], method, complete=False)[1] == "PAWN"
