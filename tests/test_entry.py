"""Ends that used to be silent or noisy (issue 25): a signal while orch imports is one line,
`orch measure` ends its copies when stopped, and a sweep whose raylet dies says so in one line
before Ray's C++ core ends the process."""

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

from test_signals import marked

# A child that runs the entry point with a hook on `import typer`, the first heavy import:
# what the hook does happens at a known point of the start-up, every time.
HOOKED = """
import builtins, os, signal, sys
real = builtins.__import__
def hook(name, *args, **kwargs):
    if name == "typer":
        builtins.__import__ = real
        {action}
    return real(name, *args, **kwargs)
builtins.__import__ = hook
sys.argv = ["orch", "--version"]
from orchestrator.entry import main
main()
"""


def hooked(action: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", HOOKED.format(action=action)], capture_output=True, text=True,
                          timeout=300, preexec_fn=default_sigint)


def default_sigint() -> None:
    """A script's background job (CI run with &) starts with SIGINT ignored, and orch keeps it so."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_a_signal_while_importing_is_one_line(signum):
    done = hooked(f"os.kill(os.getpid(), {int(signum)})")
    assert done.returncode == 128 + signum
    assert done.stderr == "orch: interrupted\n" and done.stdout == ""


def children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        try:
            if entry.name.isdigit() and int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1]) == pid:
                found.append(int(entry.name))
        except (OSError, IndexError, ValueError):
            pass
    return found


def wait_for(condition, what: str, limit_s: float = 120):
    deadline = time.time() + limit_s
    while time.time() < deadline:
        found = condition()
        if found:
            return found
        time.sleep(0.05)
    raise AssertionError(f"never saw {what}")


def measure_ended_by(send, code: int, **popen) -> None:
    """Start `orch measure` with two copies that would run for 10 minutes, `send` it a signal once
    both run, and check that orch ends with `code`, keeps nothing (it says so) and leaves no copy."""
    proc = subprocess.Popen([sys.executable, "-m", "orchestrator", "measure", "spawn", "-c", "2", "--duration-s",
                             "600", "--repeats", "1"], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                            **popen)
    try:
        copies = wait_for(lambda: [c for c in children(proc.pid) if len(children(proc.pid)) == 2], "two copies")
        send(proc)
        assert proc.wait(timeout=120) == code
    finally:
        if proc.poll() is None:  # the test failed: leave no 10-minute copies behind
            for pid in children(proc.pid):
                os.kill(pid, signal.SIGKILL)
            proc.kill()
    assert proc.stderr is not None
    assert proc.stderr.read().strip().splitlines() == ["orch: interrupted: nothing kept (rows are kept with --out)"]
    for pid in copies:
        assert not Path(f"/proc/{pid}").exists()


def test_sigterm_ends_measure_and_its_copies(tmp_path):
    """The copies would run for 10 minutes: orch ends them at its next safe point instead and
    keeps the repeat that had finished (none here: it says so)."""
    measure_ended_by(lambda proc: proc.send_signal(signal.SIGTERM), 143)  # to orch alone, not its process group


def test_ctrl_c_at_the_terminal_ends_measure_as_an_interrupt(tmp_path):
    """A terminal's Ctrl-C goes to the whole foreground process group: the copies (and perf)
    run in sessions of their own, so it reaches orch alone, which stops them and says it was
    interrupted, instead of seeing its copies killed and calling that a failure."""
    measure_ended_by(lambda proc: os.killpg(proc.pid, signal.SIGINT), 130,  # as the terminal does
                     start_new_session=True, preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))


def test_a_dead_raylet_ends_a_sweep_with_one_line(tmp_path):
    spec = tmp_path / "sweep.yaml"
    spec.write_text(yaml.safe_dump({"name": "raylet", "topologies": ["milan-2n-256"],
                                    "strategies": [{"name": "single"}], "workloads": [{"file": "execl"}],
                                    "copies": [2, 4, 8, 16], "replications": 20,
                                    "duration_ms": 2.0, "warmup_ms": 0.1}))
    out = tmp_path / "out"
    key, value = "ORCH_TEST_MARK", uuid.uuid4().hex  # orch hands ORCH_* to its Ray's processes
    env = {**os.environ, "RAY_AUTH_MODE": "token", key: value}
    with (tmp_path / "stderr").open("w") as stderr:
        proc = subprocess.Popen([sys.executable, "-m", "orchestrator", "sweep", str(spec), "--out", str(out),
                                 "--part-rows", "1", "--workers", "1"], stdout=subprocess.DEVNULL, stderr=stderr,
                                env=env, start_new_session=True)
    parts = out / "table=runs" / "sweep=raylet"
    wait_for(lambda: proc.poll() is not None or list(parts.glob("part-*.parquet")), "a run in the dataset", 300)
    raylets = [pid for pid in marked(f"{key}={value}")
               if b"raylet/raylet" in Path(f"/proc/{pid}/cmdline").read_bytes()]
    assert proc.poll() is None and len(raylets) == 1, (tmp_path / "stderr").read_text()
    os.kill(raylets[0], signal.SIGKILL)
    assert proc.wait(timeout=300) == 1
    err = (tmp_path / "stderr").read_text().splitlines()
    said = [line for line in err if line.startswith("orch:")]
    assert len(said) == 1 and said[0].startswith("orch: error: the raylet of orch's Ray (pid "), err
    assert "the same command resumes the rest" in said[0]
    assert not [line for line in err if re.match(r"\[\d{4}-\d\d-\d\d ", line)], err  # Ray's C++ log lines
    wait_for(lambda: not marked(f"{key}={value}"), "every process of the sweep's Ray gone", 60)
