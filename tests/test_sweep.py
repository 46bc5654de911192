"""orch sweep: backends agree, resume after kill -9, faults, actor layout, submission, bad specs."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import duckdb
import pyarrow.dataset as ds
import pytest
import yaml

from orchestrator.plan import expand_sweep
from orchestrator.results.dataset import WRITER_LOCK
from orchestrator.runners import sweep as sweeping
from orchestrator.spec import SweepSpec, validate

from faults import Faults, hand_to_workers
from test_dataset_faults import run_counts

ORCH = [sys.executable, "-m", "orchestrator"]
WALL = ("wall_s", "events_per_s")
TINY = {
    "name": "tiny",
    "topologies": ["milan-2n-256"],
    "strategies": [{"name": "single"}, {"name": "split-node"}],
    "workloads": [{"file": "execl-reclaim", "overrides": {"exec_ns": 20000}}],
    "copies": [2, 4],
    "replications": 1,
    "duration_ms": 0.5,
    "warmup_ms": 0.1,
}


@pytest.fixture(autouse=True)
def ray_env(monkeypatch):
    monkeypatch.setenv("RAY_AUTH_MODE", "token")


def write_spec(tmp_path: Path, **changes) -> Path:
    path = tmp_path / "sweep.yaml"
    path.write_text(yaml.safe_dump({**TINY, **changes}))
    return path


def runs(out: Path, sweep: str = "tiny") -> list[dict]:
    rows = ds.dataset(out / "table=runs", partitioning="hive").to_table().to_pylist()
    return sorted(({k: v for k, v in r.items() if k not in WALL} for r in rows if r["sweep"] == sweep),
                  key=lambda r: r["run_id"])


def expected_ids(spec_path: Path) -> set[str]:
    spec = validate(SweepSpec, yaml.safe_load(spec_path.read_text()), "x")
    return {run.run_id() for run in expand_sweep(spec, "x")}


def orch_process(*args, env=None) -> subprocess.CompletedProcess:
    """orch in its own process: Ray loads an auth token once per process."""
    return subprocess.run([*ORCH, *map(str, args)], capture_output=True, text=True, env=env, timeout=600)


def test_local_embedded_and_cluster_give_identical_rows(orch, tmp_path, head):
    spec = write_spec(tmp_path)
    assert orch("sweep", spec, "--backend", "local", "--out", tmp_path / "local").code == 0
    assert orch("sweep", spec, "--out", tmp_path / "embedded").code == 0
    cluster = orch_process("sweep", spec, "--out", tmp_path / "cluster", "--address", head.address, env=head.env)
    assert cluster.returncode == 0, cluster.stderr
    local = runs(tmp_path / "local")
    assert {r["run_id"] for r in local} == expected_ids(spec) and all(r["status"] == "ok" for r in local)
    assert runs(tmp_path / "embedded") == local
    assert runs(tmp_path / "cluster") == local


def test_actor_layout_equals_task_layout(orch, tmp_path):
    spec = write_spec(tmp_path, strategies=[{"name": "split-node"}], copies=[4])
    assert orch("sweep", spec, "--out", tmp_path / "task").code == 0
    result = orch("sweep", spec, "--layout", "actors", "--out", tmp_path / "actors")
    assert result.code == 0, result.err
    assert runs(tmp_path / "actors") == runs(tmp_path / "task")
    for table in ("locks", "timeseries", "histograms"):
        a = ds.dataset(tmp_path / "actors" / f"table={table}", partitioning="hive").to_table()
        t = ds.dataset(tmp_path / "task" / f"table={table}", partitioning="hive").to_table()
        assert a.sort_by([(c, "ascending") for c in a.column_names]).equals(
            t.sort_by([(c, "ascending") for c in t.column_names]))


@pytest.mark.parametrize("victim", ["orch-tree-owner", "orch-node-streams"])
def test_actor_layout_survives_a_killed_actor(orch, tmp_path, victim):
    """ray.kill of the tree owner or a node's stream actor mid-sweep: its run is run again on
    fresh actors."""
    import threading

    import ray

    killed = []

    def kill_the_first_owner():
        for _ in range(1200):
            if ray.is_initialized():
                owners = [n for n in ray.util.list_named_actors() if n.startswith(victim)]
                if owners:
                    ray.kill(ray.get_actor(owners[0]))
                    killed.append(owners[0])
                    return
            time.sleep(0.05)

    spec = write_spec(tmp_path, strategies=[{"name": "split-node"}], copies=[2, 4, 8])
    killer = threading.Thread(target=kill_the_first_owner, daemon=True)
    killer.start()
    result = orch("sweep", spec, "--layout", "actors", "--out", tmp_path / "actors")
    killer.join(timeout=5)
    assert killed and result.code == 0, result.err
    rows = runs(tmp_path / "actors")
    assert len(rows) == 3 and {r["status"] for r in rows} == {"ok"}
    assert run_counts(tmp_path / "actors") == (3, 3, 3)  # pyarrow, DuckDB and Polars agree


def test_kill_9_then_resume(tmp_path):
    """Batched runs on Ray, buffered into parts of a few runs, killed with -9 from outside."""
    spec = write_spec(tmp_path, copies=[2, 4, 8, 16], replications=2, duration_ms=3.0)
    out = tmp_path / "out"
    cmd = [*ORCH, "sweep", str(spec), "--out", str(out), "--part-rows", "300"]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env={**os.environ,
                                                                                          "RAY_AUTH_MODE": "token"})
    parts = out / "table=runs" / "sweep=tiny"
    deadline = time.time() + 120
    while time.time() < deadline and not list(parts.glob("part-*.parquet")):
        time.sleep(0.05)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    before = len(runs(out))
    assert 0 < before < 16
    assert run_counts(out) == (before, before, before)  # what the killed writer left is no part
    rerun = subprocess.run(cmd, capture_output=True, text=True)
    assert rerun.returncode == 0, rerun.stderr
    assert f"{16 - before} run(s) done now, {before} already in the dataset" in rerun.stdout
    ids = [r["run_id"] for r in runs(out)]
    assert len(ids) == len(set(ids)) and set(ids) == expected_ids(spec)
    assert not [p for p in out.rglob("*") if p.name.startswith(".") and p.name != WRITER_LOCK]  # no temp files
    assert_no_duplicate_or_orphan(out)
    count = duckdb.connect().execute(
        f"select count(*), count(distinct run_id) from read_parquet('{out}/table=runs/**/*.parquet', "
        "hive_partitioning=true)").fetchone()
    assert count == (16, 16)


def assert_no_duplicate_or_orphan(out: Path) -> None:
    """Every row of the other tables belongs to a run in runs, and no row is there twice."""
    ids = {r["run_id"] for r in ds.dataset(out / "table=runs", partitioning="hive").to_table().to_pylist()}
    for table in ("locks", "timeseries", "histograms"):
        rows = ds.dataset(out / f"table={table}", partitioning="hive").to_table().to_pylist()
        assert {r["run_id"] for r in rows} <= ids, f"an orphan in {table}"
        keys = [json.dumps(r, sort_keys=True, default=str) for r in rows]
        assert len(keys) == len(set(keys)), f"a duplicate in {table}"


def test_worker_crash_retried_and_failing_run_recorded(orch, tmp_path, monkeypatch):
    spec = write_spec(tmp_path)
    ids = sorted(expected_ids(spec))
    hand_to_workers(monkeypatch, sweeping, "simulate_run", Faults(fail=[ids[1]], crash_once=[ids[0]], folder=tmp_path))
    result = orch("sweep", spec, "--out", tmp_path / "out")
    assert result.code == 1
    assert (tmp_path / f"crashed-{ids[0]}").exists()  # the worker really died once
    rows = {r["run_id"]: r for r in runs(tmp_path / "out")}
    assert set(rows) == set(ids)
    assert rows[ids[0]]["status"] == "ok"
    assert rows[ids[1]]["status"] == "failed" and "injected failure" in rows[ids[1]]["error"]
    assert all(rows[i]["status"] == "ok" for i in ids[2:])
    assert f"run {ids[1]}" in result.err


def test_submit_to_cluster(tmp_path, head):
    spec = write_spec(tmp_path, copies=[2])
    out = tmp_path / "submitted"
    result = orch_process("submit", spec, "--address", head.http, "--out", out, env=head.env)
    assert result.returncode == 0, result.stderr
    job = result.stdout.strip()
    status = ""
    deadline = time.time() + 240
    while time.time() < deadline:
        status = orch_process("jobs", "status", job, "--address", head.http, env=head.env).stdout.strip()
        if status in ("SUCCEEDED", "FAILED", "STOPPED"):
            break
        time.sleep(2)
    logs = orch_process("jobs", "logs", job, "--address", head.http, env=head.env).stdout
    assert status == "SUCCEEDED", logs
    assert "tiny: 2 run(s) done now" in logs
    assert {r["run_id"] for r in runs(out)} == expected_ids(spec)


def test_submit_needs_an_absolute_output(orch, tmp_path):
    result = orch("submit", write_spec(tmp_path), "--address", "http://127.0.0.1:1")
    assert result.code == 2 and "output: 'results' is relative" in result.err


@pytest.mark.parametrize("change,words", [
    ({"topologies": ["nowhere.yaml"]}, "nowhere.yaml: cannot read file"),
    ({"strategies": [{"name": "nope"}]}, "strategies.0: name: unknown strategy 'nope'"),
    ({"strategies": []}, "strategies: List should have at least 1 item"),
    ({"workloads": [{"file": "execl"}, {"file": "execl"}]}, "workloads.1: duplicate workload"),
    ({"strategies": [{"name": "single"}, {"name": "single"}]}, "strategies.1: duplicate strategy"),
    ({"workloads": [{"file": "execl", "overrides": {"exec_ns": -1}}]}, "workloads.0.overrides: exec_ns"),
    ({"copies": [999]}, "copies: no run fits any topology"),
    ({"strategies": [{"name": "single", "shards": 4}]}, "strategies.0: strategy.shards: single has one tree"),
    ({"workloads": [{"file": "execl"}, {"file": "execl", "overrides": {"exec_ns": 9}}]},
     "workloads.1.overrides: two workloads named 'execl'"),
])
def test_bad_sweep_specs_exit_2_before_running(orch, tmp_path, change, words):
    result = orch("sweep", write_spec(tmp_path, **change), "--backend", "local", "--out", tmp_path / "out")
    assert result.code == 2, result.err
    assert words in result.err and result.err.count("\n") == 1
    assert not (tmp_path / "out" / "table=runs").exists() or not list((tmp_path / "out").rglob("part-*"))


def test_unwritable_output_exits_2(orch, tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    result = orch("sweep", write_spec(tmp_path), "--backend", "local", "--out", blocker / "out")
    assert result.code == 2 and "output: cannot write there" in result.err


def test_rerun_skips_and_force_recomputes(orch, tmp_path):
    spec = write_spec(tmp_path, copies=[2])
    out = tmp_path / "out"
    assert "2 run(s) done now, 0 already" in orch("sweep", spec, "--backend", "local", "--out", out).out
    assert "0 run(s) done now, 2 already" in orch("sweep", spec, "--backend", "local", "--out", out).out
    assert "2 run(s) done now" in orch("sweep", spec, "--backend", "local", "--out", out, "--force").out
    assert len(runs(out)) == 2


def test_file_uri_output(orch, tmp_path):
    spec = write_spec(tmp_path, copies=[2])
    assert orch("sweep", spec, "--backend", "local", "--out", f"file://{tmp_path}/uri").code == 0
    assert len(runs(tmp_path / "uri")) == 2


def test_target_ci_tops_up_a_finished_dataset(orch, tmp_path):
    noisy = [{"file": "execl-reclaim", "overrides": {"exec_ns": 20000, "think_cv": 0.5}}]
    spec = write_spec(tmp_path, strategies=[{"name": "single"}], copies=[4], replications=2, workloads=noisy,
                      duration_ms=2)
    out = tmp_path / "out"
    assert orch("sweep", spec, "--backend", "local", "--out", out).code == 0
    assert sorted(r["seed"] for r in runs(out)) == [1, 2]
    # every run of the spec exists: --target-ci still adds seeds to the cells that are not tight
    result = orch("sweep", spec, "--backend", "local", "--out", out, "--target-ci", "0.5%",
                  "--max-replications", "4")
    assert result.code == 0, result.err
    assert sorted(r["seed"] for r in runs(out)) == [1, 2, 3, 4]


def test_target_ci_adds_seeds_until_tight(orch, tmp_path):
    # exec times that vary (cv 0.5) over ~90 execs, so that two seeds do not tie by chance
    noisy = [{"file": "execl-reclaim", "overrides": {"exec_ns": 20000, "think_cv": 0.5}}]
    spec = write_spec(tmp_path, strategies=[{"name": "single"}], copies=[4], replications=2, workloads=noisy,
                      duration_ms=2)
    out = tmp_path / "out"
    result = orch("sweep", spec, "--backend", "local", "--out", out, "--target-ci", "0.5%",
                  "--max-replications", "5")
    assert result.code == 0, result.err
    seeds = [r["seed"] for r in runs(out)]
    assert sorted(seeds) == [1, 2, 3, 4, 5]  # 0.5% is tighter than 5 short runs get: it stops at the cap
    loose = tmp_path / "loose"  # longer runs: two seeds already agree within the target
    (tmp_path / "longer").mkdir()
    longer = write_spec(tmp_path / "longer", strategies=[{"name": "single"}], copies=[4], replications=2,
                        workloads=noisy, duration_ms=20)
    assert orch("sweep", longer, "--backend", "local", "--out", loose, "--target-ci", "90%").code == 0
    assert len(runs(loose)) == 2  # already inside 90%: nothing added
    assert orch("sweep", spec, "--target-ci", "two").code == 2


def test_ctrl_c_keeps_finished_runs(tmp_path):
    spec = write_spec(tmp_path, copies=[2, 4, 8, 16], replications=2, duration_ms=3.0)
    out = tmp_path / "out"
    proc = subprocess.Popen([*ORCH, "sweep", str(spec), "--backend", "local", "--out", str(out), "--part-rows", "300"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            # a script's background job starts with SIGINT ignored, and orch leaves it so: not here
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    parts = out / "table=runs" / "sweep=tiny"
    deadline = time.time() + 120
    while time.time() < deadline and not list(parts.glob("part-*.parquet")):  # a part of 2 runs
        time.sleep(0.05)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130
    kept = len(runs(out))
    assert 2 <= kept < 16 and f"{kept} finished run(s) kept" in err
