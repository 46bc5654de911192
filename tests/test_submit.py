"""orch submit ships itself: orch's own wheel, plugin strategies and the files a spec names, to
a cluster whose Python has orch's dependencies but not orch (the `head` fixture)."""

from __future__ import annotations

import shlex
import shutil
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

import pyarrow.dataset as ds
import pytest
import yaml

from orchestrator.plan import expand_sweep
from orchestrator.presets import preset_files, resolve
from orchestrator.runners.bundle import bundle_spec, runtime_env
from orchestrator.spec import SweepSpec, validate

from wheelenv import build_wheel, fresh_venv

REPO = Path(__file__).resolve().parent.parent
PACKAGE = REPO / "orchestrator"
TWIN = '''"""A plugin strategy: mainline under another name."""
from orchestrator.strategies.single import Single


class Twin(Single):
    name = "twin"
    summary = "mainline's single tree, installed as a plugin"
'''
PLUGIN = '''[build-system]
requires = ["setuptools>=68"]
build-backend = "setuptools.build_meta"

[project]
name = "orch-twin"
version = "1.0"

[project.entry-points."orch.strategies"]
twin = "orch_twin:Twin"
'''


def sweep_file(folder: Path, **changes) -> Path:
    """A one-run sweep whose topology and workload are local files, not presets."""
    topology, workload = folder / "box.yaml", folder / "work.yaml"
    shutil.copyfile(resolve("topologies", "laptop-1n-8"), topology)
    workload.write_text(resolve("workloads", "execl-reclaim").read_text())
    spec = {"name": "shipped", "topologies": [str(topology)], "strategies": [{"name": "single"}],
            "workloads": [{"file": str(workload), "overrides": {"exec_ns": 20000}}], "copies": [2],
            "replications": 1, "duration_ms": 0.5, **changes}
    (folder / "sweep.yaml").write_text(yaml.safe_dump(spec))
    return folder / "sweep.yaml"


def test_shipped_wheel_has_every_package_and_the_presets(tmp_path):
    wheel = Path(runtime_env(tmp_path)["pip"]["packages"][0].split("}/", 1)[1])
    names = set(zipfile.ZipFile(tmp_path / wheel).namelist())
    packages = {f"{p.parent.relative_to(PACKAGE.parent).as_posix()}/__init__.py" for p in PACKAGE.rglob("__init__.py")}
    assert "orchestrator/results/__init__.py" in packages and packages <= names
    assert set(preset_files()) <= names
    # a wheel pip installs: orch runs from it, with its entry points and presets
    bin_dir = fresh_venv(tmp_path / "venv", tmp_path / wheel)
    listed = subprocess.run([bin_dir / "orch", "strategies"], capture_output=True, text=True, cwd=tmp_path,
                            check=False)
    assert listed.returncode == 0 and "split-node" in listed.stdout, listed.stderr


def test_same_code_ships_the_same_wheel(tmp_path):
    first, second = runtime_env(tmp_path / "a"), runtime_env(tmp_path / "b")
    assert first["pip"]["packages"] == second["pip"]["packages"]  # so a node reuses its virtualenv


def test_local_files_of_a_spec_are_bundled(tmp_path, monkeypatch):
    spec = validate(SweepSpec, yaml.safe_load(sweep_file(tmp_path).read_text()), "x")
    expected = {run.run_id() for run in expand_sweep(spec, "x")}
    job = tmp_path / "job"
    job.mkdir()
    bundled = bundle_spec(spec, job)
    for name in ("box.yaml", "work.yaml"):
        (tmp_path / name).unlink()  # the job has its own folder, not this machine's files
    monkeypatch.chdir(job)
    moved = validate(SweepSpec, yaml.safe_load(bundled.read_text()), "bundled")
    assert {run.run_id() for run in expand_sweep(moved, "bundled")} == expected


def test_docs_give_each_node_every_dependency():
    deps = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["dependencies"]
    lines = (REPO / "docs" / "cluster.md").read_text().splitlines()
    assert shlex.split(next(line for line in lines if line.startswith("pip install ")))[2:] == deps


def test_submit_validates_the_spec_before_sending(orch, tmp_path):
    spec = sweep_file(tmp_path, strategies=[{"name": "single", "shards": 4}])
    result = orch("submit", spec, "--address", "http://127.0.0.1:1", "--out", tmp_path / "out")
    assert result.code == 2 and "strategy.shards: single has one tree" in result.err


@pytest.fixture(scope="module")
def user_bin(tmp_path_factory, orch_wheel) -> Path:
    """A user's venv: orch and a plugin strategy installed from wheels, no checkout."""
    tmp = tmp_path_factory.mktemp("user")
    (tmp / "plugin").mkdir()
    (tmp / "plugin" / "pyproject.toml").write_text(PLUGIN)
    (tmp / "plugin" / "orch_twin.py").write_text(TWIN)
    return fresh_venv(tmp / "venv", orch_wheel, build_wheel(tmp / "wheels", tmp / "plugin"))


def test_submit_from_a_wheel_install_ships_orch_plugins_and_files(head, user_bin, tmp_path):
    spec = sweep_file(tmp_path, strategies=[{"name": "twin"}])
    out = tmp_path / "out"

    def user(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([user_bin / "orch", *args], capture_output=True, text=True, cwd=tmp_path,
                              env=head.env, timeout=600, check=False)

    submitted = user("submit", str(spec), "--address", head.http, "--out", str(out))
    assert submitted.returncode == 0, submitted.stderr
    job = submitted.stdout.strip()
    logs = user("jobs", "logs", job, "--follow", "--address", head.http)
    assert user("jobs", "status", job, "--address", head.http).stdout.strip() == "SUCCEEDED", logs.stdout
    rows = ds.dataset(out / "table=runs", partitioning="hive").to_table().to_pylist()
    assert [(r["strategy"], r["status"]) for r in rows] == [("twin", "ok")]


def test_job_that_fails_to_start_is_one_line_exit_1(head, tmp_path):
    # the job's orch cannot write there: it stops before it joins the cluster
    result = subprocess.run([Path(sys.executable).with_name("orch"), "submit", str(sweep_file(tmp_path)), "--address",
                             head.http, "--out", "/proc/orch-cannot-write"], capture_output=True, text=True,
                            env=head.env, timeout=600, check=False)
    assert result.returncode == 1
    assert result.stderr.count("\n") == 1 and "did not start" in result.stderr
    assert "cannot write there" in result.stderr, result.stderr
