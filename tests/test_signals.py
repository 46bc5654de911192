"""Stopping a sweep with SIGINT or SIGTERM sent to its whole process group (issue 14, item 3):
exit 130 or 143 with one line, finished runs readable by every reader, and no process of the
sweep's Ray left (nor of our job on a cluster, which itself keeps running)."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
import yaml

from test_dataset_faults import run_counts

SPEC = {"name": "stop", "topologies": ["milan-2n-256"], "strategies": [{"name": "single"}, {"name": "split-node"}],
        "workloads": [{"file": "execl-reclaim", "overrides": {"exec_ns": 20000}}], "copies": [2, 4, 8, 16],
        "replications": 10, "duration_ms": 2.0, "warmup_ms": 0.1}  # 80 runs: many still to do at the signal
C_STACK = ("Traceback", "Check failed", "*** ", "StackTrace", "SIGTERM received", "PC: @", "Fatal Python error")


def marked(mark: str) -> list[int]:
    """Live processes whose environment holds mark (a zombie's environment reads as empty)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if mark.encode() in (entry / "environ").read_bytes().split(b"\0"):
                    found.append(int(entry.name))
            except OSError:
                pass
    return found


def stop_sweep(tmp_path: Path, signum: int, *flags: str, env: dict | None = None) -> tuple[int, str, Path, str]:
    """orch sweep in a session of its own, signalled as a terminal or a service manager would
    signal a job: killpg, once at least one run is in the dataset. Returns the exit code,
    stderr, the dataset and the mark in the environment of everything the sweep started."""
    spec = tmp_path / "sweep.yaml"
    spec.write_text(yaml.safe_dump(SPEC))
    out = tmp_path / "out"
    key, value = "ORCH_TEST_MARK", uuid.uuid4().hex  # orch passes ORCH_* to its Ray workers too
    env = {**(env or os.environ), "RAY_AUTH_MODE": "token", key: value}
    log = tmp_path / "stderr"
    with log.open("w") as stderr:  # a file, not a pipe that nobody reads while the sweep runs
        proc = subprocess.Popen(
            # --part-rows 1: each batch is written as it comes, so runs are in the dataset early
            [sys.executable, "-m", "orchestrator", "sweep", str(spec), "--out", str(out), "--part-rows", "1", *flags],
            stdout=subprocess.DEVNULL, stderr=stderr, env=env, start_new_session=True,
            # a script's background job starts with SIGINT ignored, and orch leaves it so: not here
            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    parts = out / "table=runs" / "sweep=stop"
    deadline = time.time() + 300
    while proc.poll() is None and time.time() < deadline and not list(parts.glob("part-*.parquet")):
        time.sleep(0.05)
    assert proc.poll() is None and list(parts.glob("part-*.parquet")), "no run before the signal, or no run left"
    os.killpg(proc.pid, signum)
    try:
        proc.wait(timeout=180)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        raise
    return proc.returncode, log.read_text(), out, f"{key}={value}"


def assert_clean_stop(code: int, err: str, out: Path, mark: str, signum: int) -> None:
    assert code == 128 + signum, err
    assert not any(text in err for text in C_STACK), err
    lines = [line for line in err.splitlines() if line.startswith("orch:")]
    assert len(lines) == 1 and err.endswith(lines[0] + "\n"), err
    kept = re.fullmatch(r"orch: interrupted: (\d+) finished run\(s\) kept in .*", lines[0])
    assert kept and int(kept[1]) >= 1, err
    assert run_counts(out) == (int(kept[1]),) * 3
    deadline = time.time() + 30  # SIGKILLed processes can take a moment to be gone
    while marked(mark) and time.time() < deadline:
        time.sleep(0.2)
    assert marked(mark) == []


@pytest.mark.parametrize("trial", range(5))
def test_sigint_to_the_process_group_on_ray(tmp_path, trial):
    layout = "actors" if trial == 4 else "task"
    code, err, out, mark = stop_sweep(tmp_path, signal.SIGINT, "--layout", layout)
    assert_clean_stop(code, err, out, mark, signal.SIGINT)


@pytest.mark.parametrize("layout", ["task", "actors"])
def test_sigterm_to_the_process_group_on_ray(tmp_path, layout):
    code, err, out, mark = stop_sweep(tmp_path, signal.SIGTERM, "--layout", layout)
    assert_clean_stop(code, err, out, mark, signal.SIGTERM)


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_stop_on_the_local_backend(tmp_path, signum):
    code, err, out, mark = stop_sweep(tmp_path, signum, "--backend", "local")
    assert_clean_stop(code, err, out, mark, signum)


def test_stop_on_a_cluster_leaves_it_running(tmp_path, head):
    """On a cluster (--address), our job ends and its tasks with it: the workers that ran
    them carry the mark (orch passes ORCH_* variables to its workers); the cluster stays."""
    code, err, out, mark = stop_sweep(tmp_path, signal.SIGINT, "--address", head.address, env=head.env)
    assert_clean_stop(code, err, out, mark, signal.SIGINT)
    assert all(proc.poll() is None for proc in head.procs)
