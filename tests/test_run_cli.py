"""`orch run` end to end: output, Parquet tables, overrides, and one-line errors."""

from __future__ import annotations

import json

import duckdb
import pyarrow.parquet as pq
import pytest

from orchestrator.strategies import available

BASE = ["run", "-t", "ideal", "-w", "closed-loop", "--duration-ms", "2"]
REQUIRED = {"throughput_per_s", "iterations", "response_mean_ns", "response_read_mean_ns",
            "response_write_mean_ns", "wait_mean_ns", "events", "wall_s", "events_per_s"}


def run_json(orch, *extra):
    result = orch(*BASE, "--json", *extra)
    assert result.code == 0, result.err
    return json.loads(result.out)


def test_json_has_the_promised_fields(orch):
    data = run_json(orch, "-c", "8")
    assert REQUIRED <= data.keys()
    assert data["iterations"] > 0 and data["response_read_mean_ns"] is None  # no reads by default
    assert data["locks"][0]["lock_class"] == "closed-loop"


def test_summary_tables(orch):
    result = orch(*BASE, "-c", "8", "--warmup-ms", "1")
    assert result.code == 0
    for text in ("Results", "throughput", "lock_stat", "closed-loop", "memory per inode"):
        assert text in result.out


def test_set_overrides_fields(orch):
    slow = run_json(orch, "-c", "4", "--set", "workload.think_ns=100000")
    fast = run_json(orch, "-c", "4", "--set", "workload.think_ns=1000")
    assert fast["throughput_per_s"] > 3 * slow["throughput_per_s"]
    reads = run_json(orch, "-c", "4", "--set", "workload.read_fraction=1")
    assert reads["response_write_mean_ns"] is None and reads["response_read_mean_ns"] > 0


def test_same_config_same_run_id_and_numbers(orch):
    a, b = run_json(orch, "-c", "8"), run_json(orch, "-c", "8")
    c = run_json(orch, "-c", "8", "--seed", "2")
    assert a["run_id"] == b["run_id"] != c["run_id"]
    assert a["iterations"] == b["iterations"]


def test_check_mode(orch):
    assert run_json(orch, "-c", "8", "--check", "--set", "workload.read_fraction=0.5")["iterations"] > 0


def test_out_writes_four_tables(orch, tmp_path):
    out = tmp_path / "res"
    result = orch(*BASE, "-c", "8", "--warmup-ms", "1", "--out", out)
    assert result.code == 0
    for table in ("runs", "locks", "timeseries", "histograms"):
        path = out / f"{table}.parquet"
        assert path.exists()
        meta = pq.read_schema(path).metadata
        assert json.loads(meta[b"orch.spec"])["copies"] == 8
    assert not list(out.glob(".*"))  # no temp files left
    con = duckdb.connect()
    runs = con.execute(f"select status, copies, throughput_per_s from '{out}/runs.parquet'").fetchall()
    assert runs[0][0] == "ok" and runs[0][1] == 8 and runs[0][2] > 0
    windows = con.execute(f"select count(*), sum(warmup::int) from '{out}/timeseries.parquet'").fetchone()
    assert windows[0] >= 50 and 0 < windows[1] < windows[0]
    total = con.execute(f"select sum(count) from '{out}/histograms.parquet' where metric = 'response:write'")
    assert total.fetchone()[0] == runs[0][2] * 2 / 1000  # every measured iteration, 2 ms


def test_strategy_from_file(orch, tmp_path):
    path = tmp_path / "s.yaml"
    path.write_text("name: single\nlabel: mainline\n")
    assert run_json(orch, "-c", "2", "-s", path)["iterations"] > 0


def test_single_is_installed_through_entry_points():
    assert "single" in available()


@pytest.mark.parametrize("args,words", [
    (["-s", "nope"], "--strategy: name: unknown strategy 'nope'"),
    (["--set", "workload.think_ns=-1"], "--set: workload.think_ns:"),
    (["--set", "kernel.nonsense=1"], "--set: kernel.nonsense: unknown field"),
    (["--set", "novalue"], "--set: novalue: expected dotted.key=value"),
    (["--set", "strategy.name=nope"], "unknown strategy 'nope'"),
    (["-c", "999"], "copies: 999 copies but ideal has 256 CPUs"),
    (["-c", "0"], "Invalid value for '--copies'"),
    (["--placement", "diagonal"], "Invalid value for '--placement'"),
    (["--bogus"], "No such option"),
])
def test_bad_flags_are_one_line_exit_2(orch, args, words):
    result = orch(*BASE, *args)
    assert result.code == 2
    assert words in result.err and result.err.count("\n") == 1 and "Traceback" not in result.err


def test_bad_workload_file_is_named(orch, tmp_path):
    path = tmp_path / "w.yaml"
    path.write_text("kind: closed-loop\nthink_ns: lots\n")
    result = orch("run", "-t", "ideal", "-w", path)
    assert result.code == 2 and result.err.startswith(f"orch: error: {path}: think_ns: ")


def test_missing_topology(orch):
    result = orch("run", "-t", "atlantis", "-w", "closed-loop")
    assert result.code == 2 and "no preset of that name" in result.err


def test_unwritable_out(orch, tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    result = orch(*BASE, "-c", "2", "--out", blocker / "sub")
    assert result.code == 2 and "cannot write results" in result.err


def test_catalog_commands(orch):
    designs = orch("strategies")
    assert designs.code == 0
    for name in ("single", "split-tree", "split-node", "split-cpu", "inverted", "writer-hold"):
        assert name in designs.out
    presets = orch("workloads")
    assert presets.code == 0
    for name in ("execl", "spawn", "mmap-churn", "closed-loop", "execl-reclaim"):
        assert name in presets.out


@pytest.mark.parametrize("workload", ["execl", "spawn", "mmap-churn", "execl-reclaim", "mmap-churn-truncate"])
def test_run_accepts_every_workload(orch, workload):
    result = orch("run", "-t", "rome-8n-256", "-w", workload, "-s", "split-node", "-c", "16",
                  "--duration-ms", "1", "--check", "--json")
    assert result.code == 0, result.err
    assert json.loads(result.out)["iterations"] > 0


def test_bad_walker_file_is_named(orch):
    result = orch("run", "-t", "ideal", "-w", "execl", "--set", "workload.walkers.reclaim_file=nope")
    assert result.code == 2
    assert "--set: workload.walkers.reclaim_file: no file named 'nope'" in result.err
