"""orch measure: the real benchmarks on this host, their rows in the runs table, bad inputs.

Measurements are kept short (0.2-0.3 s a point): these tests check behaviour, not numbers."""

from __future__ import annotations

import json
import platform
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pyarrow.dataset as ds
import pyarrow.parquet as pq
import pytest
import yaml
from perfhelp import needs_perf

from orchestrator.measure import bench
from orchestrator.spec.topology import Topology


@pytest.fixture(autouse=True)
def cache(tmp_path, monkeypatch):
    """Each test builds execl into a cache folder of its own (not through XDG_CACHE_HOME: the
    compiled engine is cached there too, and would be compiled again)."""
    folder = tmp_path / "cache"
    monkeypatch.setattr(bench, "cache_folder", lambda: folder)
    return folder


def runs(root) -> list[dict]:
    data = ds.dataset(root / "table=runs", format="parquet", partitioning="hive")
    return data.to_table().to_pylist()


def tiny_sweep(orch, root) -> Path:
    """A simulated dataset of two runs (single, closed-loop on ideal, 2 copies, 2 seeds)."""
    spec = root / "sweep.yaml"
    spec.write_text(yaml.safe_dump({"name": "tiny", "topologies": ["ideal"], "strategies": [{"name": "single"}],
                                    "workloads": [{"file": "closed-loop"}], "copies": [2], "replications": 2,
                                    "duration_ms": 1}))
    assert orch("sweep", spec, "--backend", "local", "--out", root / "data").code == 0
    return root / "data"


def test_spawn_writes_measured_rows(orch, tmp_path):
    out = tmp_path / "data"
    result = orch("measure", "spawn", "--copies", "1,2", "--duration-s", "0.3", "--repeats", "2", "--out", out)
    assert result.code == 0, result.err
    assert "per copy/s" in result.out and "wrote 4 rows" in result.out
    rows = runs(out)
    assert sorted(r["copies"] for r in rows) == [1, 1, 2, 2]
    assert len({r["run_id"] for r in rows}) == 4
    for row in rows:
        assert row["source"] == "measured" and row["model_version"] is None and row["status"] == "ok"
        assert row["sweep"] == "measured" and row["workload"] == "spawn" and row["placement"] == "unpinned"
        assert row["iterations"] > 0 and row["throughput_per_s"] == pytest.approx(row["iterations"] / 0.3)
        assert row["host"] == socket.gethostname() and row["kernel_release"] == platform.release()
        assert row["cpu_model"] and row["topology"].startswith("detected-") and len(row["topology_digest"]) == 16
    part = next((out / "table=runs" / "sweep=measured").glob("part-*.parquet"))
    assert b"orch.measure" in pq.read_schema(part).metadata


def test_json_reports_every_point(orch):
    result = orch("measure", "spawn", "--copies", "2", "--duration-s", "0.2", "--repeats", "2", "--pin", "--json")
    assert result.code == 0, result.err
    point, = json.loads(result.out)["points"]
    assert point["copies"] == 2 and len(point["repeats_per_s"]) == 2
    assert point["min_per_s"] <= point["mean_per_s"] <= point["max_per_s"]
    assert point["per_copy_per_s"] == pytest.approx(point["mean_per_s"] / 2)


@pytest.mark.skipif(shutil.which("cc") is None, reason="no C compiler")
def test_execl_is_built_once_and_runs(orch, cache):
    for _ in range(2):
        result = orch("measure", "execl", "--copies", "1,2", "--duration-s", "0.2", "--repeats", "1", "--json")
        assert result.code == 0, result.err
        points = json.loads(result.out)["points"]
        assert [p["copies"] for p in points] == [1, 2] and all(p["mean_per_s"] > 0 for p in points)
        assert len(list(cache.glob("execl-*"))) == 1  # the second run reuses the first one's build


@pytest.mark.skipif(shutil.which("cc") is None or not Path("/bin/true").exists(), reason="no C compiler or /bin/true")
def test_sysexec_forks_and_execs_true(orch, tmp_path):
    """sysexec is spawn.c built to exec /bin/true in the child: its own binary, and its simulated
    twin (workloads/sysexec.yaml) has its name."""
    result = orch("measure", "sysexec", "--copies", "1", "--duration-s", "0.2", "--repeats", "1", "--out",
                  tmp_path / "d")
    assert result.code == 0, result.err
    row, = runs(tmp_path / "d")
    assert row["workload"] == "sysexec" and row["iterations"] > 0
    assert json.loads(row["config_json"])["command"] == 'spawn.c built with -O2 -DEXEC="/bin/true"'
    assert bench.benchmark_binary("sysexec") != bench.benchmark_binary("spawn")
    assert (Path(__file__).parents[1] / "workloads" / "sysexec.yaml").exists()


def test_execl_without_a_compiler_exits_2(orch, monkeypatch):
    monkeypatch.setenv("CC", "no-such-compiler")
    result = orch("measure", "execl", "--copies", "1", "--duration-s", "0.2")
    assert result.code == 2 and result.err.count("\n") == 1
    assert "needs a C compiler" in result.err and "no-such-compiler" in result.err


@pytest.mark.skipif(shutil.which("cc") is None, reason="no C compiler")
def test_unwritable_cache_exits_2(orch, monkeypatch, tmp_path):
    (tmp_path / "file").write_text("not a folder")
    monkeypatch.setattr(bench, "cache_folder", lambda: tmp_path / "file" / "cache")
    result = orch("measure", "execl", "--copies", "1", "--duration-s", "0.2")
    assert result.code == 2 and result.err.count("\n") == 1 and "cannot build the execl benchmark" in result.err


@pytest.mark.parametrize("args,words", [
    (["spawn", "--copies", "0"], "--copies"),
    (["spawn", "--copies", "1,0,2"], "--copies"),
    (["spawn", "--copies", "two"], "--copies"),
    (["spawn", "--copies", "1,,2"], "--copies"),
    (["spawn", "--copies", "-1"], "--copies"),
    (["spawn", "--copies", "1,40000"], "at most 4096 copies"),
    (["dhrystone", "--copies", "1"], "'dhrystone' is not one of 'execl', 'spawn'"),
    (["spawn", "--copies", "1", "--duration-s", "0"], "--duration-s"),
    (["spawn", "--copies", "1", "--duration-s", "-2"], "--duration-s"),
    (["spawn", "--copies", "1", "--repeats", "0"], "--repeats"),
])
def test_bad_inputs_are_one_line_exit_2(orch, args, words):
    result = orch("measure", *args)
    assert result.code == 2 and result.err.startswith("orch: error: ") and result.err.count("\n") == 1
    assert words in result.err and "Traceback" not in result.err


def test_pinned_copies_spread_over_nodes():
    topo = Topology.model_validate({"name": "t", "nodes": [{"cpus": [0, 1, 2]}, {"cpus": [3, 4, 5]}],
                                    "distance": [[10, 20], [20, 10]],
                                    "latency_ns": {"node": 50, "remote": {20: 100}}})
    assert bench.pinned_cpus(4, topo, set(range(6))) == [0, 3, 1, 4]
    assert bench.pinned_cpus(3, topo, {1, 2, 3}) == [1, 3, 2]  # only CPUs this process may use
    assert bench.pinned_cpus(3, topo, {0}) == [0, 0, 0]        # more copies than CPUs: they share
    assert bench.pinned_cpus(5, topo, {0, 1, 2, 3}) == [0, 3, 1, 2, 0]  # a node with fewer CPUs


def test_simulated_rows_say_model_and_report_skips_measured_rows(orch, tmp_path):
    data = tiny_sweep(orch, tmp_path)
    assert {r["source"] for r in runs(data)} == {"model"}
    assert orch("measure", "spawn", "--copies", "1", "--duration-s", "0.2", "--repeats", "1", "--out", data).code == 0
    assert sorted(r["source"] for r in runs(data)) == ["measured", "model", "model"]
    result = orch("report", data, "--out", tmp_path / "report")
    assert result.code == 0, result.err
    assert "1 measured on a real machine" in (tmp_path / "report" / "report.md").read_text()

    # a dataset of measured rows only has nothing to compare
    only = tmp_path / "only"
    assert orch("measure", "spawn", "--copies", "1", "--duration-s", "0.2", "--repeats", "1", "--out", only).code == 0
    result = orch("report", only, "--out", tmp_path / "r2")
    assert result.code == 2 and "1 measured rows" in result.err and result.err.count("\n") == 1


def test_datasets_written_before_the_source_column_still_report(orch, tmp_path):
    data = tiny_sweep(orch, tmp_path)
    for part in (data / "table=runs").rglob("part-*.parquet"):  # as an older orch wrote them
        table = pq.read_table(part)
        pq.write_table(table.drop_columns(["source", "host", "kernel_release", "cpu_model", "topology_digest"]),
                       part)
    assert orch("measure", "spawn", "--copies", "1", "--duration-s", "0.2", "--repeats", "1", "--out", data).code == 0
    result = orch("report", data, "--out", tmp_path / "report")
    assert result.code == 0, result.err
    md = (tmp_path / "report" / "report.md").read_text()
    assert "2 runs" in md and "1 measured on a real machine" in md


def model_of_this_machine(orch, tmp_path, data, replications: int) -> None:
    """Simulated spawn at 1 and 2 copies on the topology orch detects here, into `data`."""
    assert orch("topology", "detect", "--out", tmp_path / "here.yaml").code == 0
    spec = tmp_path / "sweep.yaml"
    spec.write_text(yaml.safe_dump({"name": "here", "topologies": ["here.yaml"], "strategies": [{"name": "single"}],
                                    "workloads": [{"file": "spawn"}], "copies": [1, 2], "replications": replications,
                                    "duration_ms": 2}))
    assert orch("sweep", spec, "--backend", "local", "--out", data).code == 0


def test_report_puts_the_model_beside_the_measurement_of_the_same_machine(orch, tmp_path):
    data = tmp_path / "data"
    assert orch("measure", "spawn", "--copies", "1,2", "--duration-s", "0.2", "--repeats", "2", "--out", data).code == 0
    model_of_this_machine(orch, tmp_path, data, replications=2)
    result = orch("report", data, "--out", tmp_path / "report")
    assert result.code == 0, result.err
    md = (tmp_path / "report" / "report.md").read_text()
    section = md.split("## Model beside measurement")[1].split("\n## ")[0]
    rows = [line for line in section.splitlines() if line.startswith("| 1 |") or line.startswith("| 2 |")]
    assert len(rows) == 2 and all(row.endswith("% |") for row in rows)  # each copy count with the model's error
    assert "RMS log error" in section and "match no simulated topology" not in section
    assert list((tmp_path / "report" / "plots").glob(f"measured-*-{platform.release()}-*.svg"))


@needs_perf
@pytest.mark.skipif(shutil.which("cc") is None, reason="no C compiler")
def test_report_shows_perf_beside_the_model(orch, tmp_path):
    data = tmp_path / "data"
    result = orch("measure", "spawn", "--copies", "1,2", "--duration-s", "0.3", "--repeats", "1", "--perf",
                  "--out", data)
    assert result.code == 0, result.err
    model_of_this_machine(orch, tmp_path, data, replications=1)
    result = orch("report", data, "--out", tmp_path / "report")
    assert result.code == 0, result.err
    section = (tmp_path / "report" / "report.md").read_text().split("## Model beside measurement")[1]
    assert "| 2 | measured |" in section and "| 2 | model |" in section and "Differences:" in section
    assert "Contended call sites at 2 copies" in section
    assert list((tmp_path / "report" / "plots").glob("measured-*-shares.svg"))


def test_measured_rows_without_a_simulated_twin_are_named_in_the_report(orch, tmp_path):
    data = tiny_sweep(orch, tmp_path)  # the ideal topology: not this machine's shape
    assert orch("measure", "spawn", "--copies", "1", "--duration-s", "0.2", "--repeats", "1", "--out", data).code == 0
    assert orch("report", data, "--out", tmp_path / "report").code == 0
    assert "1 measured rows match no simulated topology" in (tmp_path / "report" / "report.md").read_text()


def test_address_measures_each_machine_of_a_ray_cluster_once(head, tmp_path):
    """Our test cluster has two Ray nodes (a head and a worker node) on one machine: one task,
    pinned to one of them, measures it, and its rows land in the dataset."""
    out = tmp_path / "data"
    result = subprocess.run([Path(sys.executable).with_name("orch"), "measure", "spawn", "--copies", "1",
                             "--duration-s", "0.2", "--repeats", "1", "--address", head.address, "--out", str(out),
                             "--json"], capture_output=True, text=True, env=head.env, timeout=300)
    assert result.returncode == 0, result.stderr
    nodes = json.loads(result.stdout)["nodes"]
    assert len(nodes) == 1 and nodes[0]["points"][0]["mean_per_s"] > 0  # two Ray nodes, one machine
    rows = runs(out)
    assert len(rows) == 1 and rows[0]["source"] == "measured"


@needs_perf
def test_address_with_perf_brings_each_nodes_perf_output_home(head, tmp_path):
    """The node's task records with perf; its rows and perf's files come back to the driver,
    which writes them into the dataset."""
    out = tmp_path / "data"
    result = subprocess.run([Path(sys.executable).with_name("orch"), "measure", "spawn", "--copies", "1",
                             "--duration-s", "0.3", "--repeats", "1", "--address", head.address, "--perf",
                             "--out", str(out)], capture_output=True, text=True, env=head.env, timeout=600)
    assert result.returncode == 0, result.stderr
    row, = runs(out)
    assert row["cpu_work_share"] > 0
    folder = out / "perf" / row["host"] / "1-0" / row["run_id"]
    assert (folder / "lock-contention.txt").read_text().strip() and (folder / "report.txt").exists()


def test_a_measured_curve_pairs_with_its_own_workload_and_counts_unmatched_rows_once():
    """execl and execl+reclaim share a kind: a measured execl curve is drawn beside execl only.
    A curve shown beside one twin is not also counted as unmatched."""
    from orchestrator.analysis.measured import pair
    from orchestrator.plan import compose_run
    from orchestrator.spec.topology import shape_digest

    def model(workload: str, throughput: float) -> dict:
        spec = compose_run("laptop-1n-8", "single", workload, copies=2, duration_ms=1)
        return {"topology": "laptop-1n-8", "workload": spec.workload.name or spec.workload.kind, "copies": 2,
                "strategy": "single", "seed": 1, "steady_throughput_per_s": throughput,
                "workload_kind": spec.workload.kind, "config_json": spec.model_dump_json()}

    runs = [model("execl", 1000.0), model("execl-reclaim", 500.0)]
    digest = shape_digest(json.loads(runs[0]["config_json"])["topology"])
    measured = [{"host": "h", "kernel_release": "k", "cpu_model": "c", "topology_digest": digest,
                 "workload": "execl", "copies": copies, "throughput_per_s": 800.0} for copies in (2, 4)]
    found, unmatched = pair(measured, runs, [], "single")
    assert [(b.workload, [p.copies for p in b.points]) for b in found] == [("execl", [2])]
    assert found[0].points[0].error == pytest.approx(1000 / 800 - 1) and unmatched == 0
    other = [dict(row, topology_digest="elsewhere") for row in measured]
    assert pair(other, runs, [], "single") == ([], 2)
