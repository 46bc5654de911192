"""orch sweep --set / --axis, spec paths relative to the spec file, and reports over datasets
mixing configurations under the same names (issue 13, items 2 and 3)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pyarrow.dataset as ds
import pytest
import yaml

from orchestrator.presets import ROOT

TINY = {
    "name": "tiny",
    "topologies": ["laptop-1n-8"],
    "strategies": [{"name": "single"}],
    "workloads": [{"file": "execl-reclaim", "overrides": {"exec_ns": 20000}}],
    "copies": [2],
    "replications": 1,
    "duration_ms": 0.5,
    "warmup_ms": 0.1,
}
SIBLINGS = [["0,4", "1,5", "2,6", "3,7"], ["0,1", "2,3", "4,5", "6,7"]]  # cpulists: commas inside


def write_spec(folder: Path, **changes) -> Path:
    path = folder / "sweep.yaml"
    path.write_text(yaml.safe_dump({**TINY, **changes}))
    return path


def configs(out: Path) -> list[dict]:
    rows = ds.dataset(out / "table=runs", partitioning="hive").to_table().to_pylist()
    return [json.loads(r["config_json"]) for r in rows]


def test_axis_with_cpulist_values_repeats_every_run_and_reports_them_apart(orch, tmp_path):
    out = tmp_path / "out"
    axis = "topology.hierarchy.smt_siblings=" + json.dumps(SIBLINGS)
    result = orch("sweep", write_spec(tmp_path, strategies=[{"name": "single"}, {"name": "split-node"}]),
                  "--backend", "local", "--out", out, "--axis", axis, "--set", "kernel.spin_mean_ns=100000")
    assert result.code == 0, result.err
    assert "4 run(s) done now" in result.out
    rows = configs(out)
    assert sorted(json.dumps(c["topology"]["hierarchy"]["smt_siblings"]) for c in rows) == sorted(
        2 * ['["0,4", "1,5", "2,6", "3,7"]', '["0-1", "2-3", "4-5", "6-7"]'])
    assert {c["kernel"]["spin_mean_ns"] for c in rows} == {100000}
    assert result.out.count("smt_siblings=") == 4  # the sweep table: one row per strategy and axis value
    assert orch("report", out, "--out", tmp_path / "report").code == 0
    report = (tmp_path / "report" / "report.md").read_text()
    assert 'execl+reclaim [topology.hierarchy.smt_siblings=["0,4","1,5","2,6","3,7"]]' in report
    assert 'execl+reclaim [topology.hierarchy.smt_siblings=["0-1","2-3","4-5","6-7"]]' in report


@pytest.mark.parametrize("flag, value, words", [
    ("--axis", "kernel.spin_mean_ns", "--axis: kernel.spin_mean_ns: expected dotted.key=[v1, v2, ...]"),
    ("--axis", "kernel.spin_mean_ns=100", "(a YAML list)"),
    ("--axis", "kernel.spin_mean_ns=[1, 2", "(a YAML list)"),
    ("--axis", "kernel.spin_mean_ns=[]", "(a YAML list)"),
    ("--axis", "kernel.spin_mean_ns=[1, 1]", "axes.kernel.spin_mean_ns: duplicate values"),
    ("--axis", "kernel.no_such=[1, 2]", "set / axes: kernel.no_such: unknown field"),
    ("--set", "kernel.spin_mean_ns", "--set: kernel.spin_mean_ns: expected dotted.key=value"),
    ("--set", "kernel.no_such=1", "set: kernel.no_such: unknown field"),
])
def test_bad_set_and_axis_exit_2_before_running(orch, tmp_path, flag, value, words):
    result = orch("sweep", write_spec(tmp_path), "--backend", "local", "--out", tmp_path / "out", flag, value)
    assert result.code == 2, result.err
    assert words in result.err and result.err.count("\n") == 1
    assert not (tmp_path / "out").exists()


def test_spec_paths_resolve_beside_the_spec(orch, tmp_path, monkeypatch):
    folder = tmp_path / "study"
    folder.mkdir()
    topology = yaml.safe_load((ROOT / "topologies" / "laptop-1n-8.yaml").read_text())
    (folder / "my-topo.yaml").write_text(yaml.safe_dump({**topology, "name": "my-topo"}))
    shutil.copy(ROOT / "workloads" / "execl-reclaim.yaml", folder / "my-work.yaml")
    spec = write_spec(folder, topologies=["my-topo.yaml", "laptop-1n-8"], workloads=[{"file": "my-work.yaml"}])
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    result = orch("sweep", spec, "--backend", "local", "--out", tmp_path / "out")
    assert result.code == 0, result.err
    assert sorted(c["topology"]["name"] for c in configs(tmp_path / "out")) == ["laptop-1n-8", "my-topo"]


def test_report_separates_configurations_sharing_names(orch, tmp_path):
    out = tmp_path / "out"
    for spin in (100000, 1000000):  # two sweeps into one dataset, the same names
        spec = write_spec(tmp_path, strategies=[{"name": "single"}, {"name": "split-node"}],
                          set=[f"kernel.spin_mean_ns={spin}"])
        result = orch("sweep", spec, "--backend", "local", "--out", out)
        assert result.code == 0, result.err
    assert orch("report", out, "--out", tmp_path / "report").code == 0
    report = (tmp_path / "report" / "report.md").read_text()
    for spin in (100000, 1000000):
        assert f"execl+reclaim [kernel.spin_mean_ns={spin}]" in report


def test_report_stops_on_one_strategy_label_for_two_designs(orch, tmp_path):
    out = tmp_path / "out"
    for name in ("single", "split-node"):  # the same label over two designs: no honest comparison
        spec = write_spec(tmp_path, name=f"by-{name}", strategies=[{"name": name, "label": "mine"}])
        assert orch("sweep", spec, "--backend", "local", "--out", out).code == 0
    result = orch("report", out, "--out", tmp_path / "report", "--baseline", "mine")
    assert result.code == 2
    assert "strategy 'mine' of laptop-1n-8 / execl+reclaim names two configurations, differing in strategy.name" \
        in result.err and result.err.count("\n") == 1


def test_rows_written_before_a_field_was_added_share_a_configuration():
    from orchestrator.analysis.data import separate_configurations

    old = {"kernel": {"spin_mean_ns": 1}}  # written before kernel.cost_scale and sample existed
    new = {"kernel": {"spin_mean_ns": 1, "cost_scale": 1.0}, "sample": None}
    rows = [{"topology": "t", "workload": "w", "strategy": "s", "config_json": json.dumps(c)} for c in (old, new)]
    rows = separate_configurations(rows, "x")
    assert [r["workload"] for r in rows] == ["w", "w"]
