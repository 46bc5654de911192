"""The bad-spec corpus (issue 14): every bad input is one error line naming the file, exit 2.

Files and their expected messages are in tests/bad_specs/index.yaml; they run in this process.
Inputs that could hang or exhaust memory if a check regressed (a FIFO, /dev/zero, alias and
cpulist bombs) also run in a subprocess with a timeout and a memory measurement.
"""

from __future__ import annotations

import io
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

CORPUS = Path(__file__).resolve().parent / "bad_specs"
INDEX = yaml.safe_load((CORPUS / "index.yaml").read_text())
MAX_RSS_MB = 500


def commands(rel: str, tmp_path: Path) -> list[list[str]]:
    """The orch commands a corpus file is run through (see the header of index.yaml)."""
    path = str(CORPUS / rel)
    return {
        "topology": [["topology", "validate", path], ["run", "-t", path, "-w", "closed-loop"]],
        "workload": [["run", "-t", "laptop-1n-8", "-w", path]],
        "strategy": [["run", "-t", "laptop-1n-8", "-w", "closed-loop", "-s", path]],
        "sweep": [["sweep", path, "--backend", "local", "--out", str(tmp_path / "out")]],
        "output": [["sweep", path, "--backend", "local"]],
    }[rel.split("/")[0]]


def assert_one_error_line(result, source: str, fragment: str) -> None:
    assert result.code == 2, result.err
    assert result.err.startswith(f"orch: error: {source}: "), result.err
    assert fragment in result.err, result.err
    assert result.err.count("\n") == 1 and "Traceback" not in result.err


def test_the_corpus_is_large_and_indexed():
    on_disk = {str(p.relative_to(CORPUS)) for p in CORPUS.glob("*/*.yaml")}
    assert on_disk == set(INDEX) and len(INDEX) >= 60


@pytest.mark.parametrize("rel", sorted(INDEX))
def test_bad_spec(orch, tmp_path, monkeypatch, rel):
    monkeypatch.chdir(tmp_path)  # where an output: taken from the working directory would land
    for args in commands(rel, tmp_path):
        assert_one_error_line(orch(*args), str(CORPUS / rel), INDEX[rel])
    assert not any(tmp_path.iterdir())  # rejected before any work


# ---- inputs that are not spec files --------------------------------------------------------

def test_fifo_directory_and_devices_are_not_read(orch, tmp_path):
    fifo = tmp_path / "spec.yaml"
    os.mkfifo(fifo)  # nobody writes: reading it would wait forever (see the subprocess test)
    for path, words in ((fifo, "not a regular file"), ("/dev/null", "not a regular file"),
                        (tmp_path, "Is a directory")):
        for args in (["topology", "validate", path], ["sweep", path, "--backend", "local"]):
            assert_one_error_line(orch(*args), str(path), f"cannot read file: {words}")


def test_larger_than_1_mib(orch, tmp_path):
    path = tmp_path / "big.yaml"
    path.write_text("name: x\n" + "# padding\n" * 110_000)
    assert_one_error_line(orch("topology", "validate", path), str(path), "larger than 1 MiB")


def test_stdin_larger_than_1_mib(orch, monkeypatch):
    monkeypatch.setattr("sys.stdin", io.StringIO("#" * (1 << 20) + "\nname: x\n"))
    assert_one_error_line(orch("sweep", "-", "--backend", "local"), "<stdin>", "larger than 1 MiB")


@pytest.mark.parametrize("name,words", [("a\0b.yaml", "NUL byte"), ("x" * 5000, "too long")])
def test_impossible_paths(orch, name, words):
    result = orch("topology", "validate", name)
    assert result.code == 2 and words in result.err
    assert result.err.count("\n") == 1 and "\0" not in result.err


@pytest.mark.parametrize("args,fragment", [
    (["--duration-ms", "inf"], "'--duration-ms': must be a finite number, got inf"),
    (["--duration-ms", "nan"], "'--duration-ms': must be a finite number, got nan"),
    (["--duration-ms", "1e9"], "duration_ms: Input should be less than or equal to 10000"),
    (["--duration-ms", "1e-300"], "duration_ms: Input should be greater than or equal to 0.001"),
    (["--warmup-ms", "inf"], "'--warmup-ms': must be a finite number, got inf"),
    (["--seed", str(2**63)], "seed: Input should be less than or equal to 9223372036854775807"),
])
def test_bad_run_flags(orch, args, fragment):
    assert_one_error_line(orch("run", "-t", "laptop-1n-8", "-w", "closed-loop", *args), "orch run", fragment)


@pytest.mark.parametrize("setting,fragment", [
    ("copies=true", "copies: Input should be a valid integer"),
    ("seed=true", "seed: Input should be a valid integer"),
    ("workload.read_fraction=.inf", "workload.read_fraction: Input should be a finite number"),
    ("kernel.spin_shape=.nan", "kernel.spin_shape: Input should be a finite number"),
])
def test_bad_set_values(orch, setting, fragment):
    result = orch("run", "-t", "laptop-1n-8", "-w", "closed-loop", "--set", setting)
    assert_one_error_line(result, "--set", fragment)


def test_exponent_numbers_read_as_numbers(orch):
    """YAML 1.1 reads 1e3 as a string; strict number fields would then reject a fine value."""
    result = orch("run", "-t", "laptop-1n-8", "-w", "closed-loop", "--duration-ms", "1",
                  "--set", "workload.read_fraction=5e-1", "--set", "kernel.spin_shape=1.5e0", "--json")
    assert result.code == 0, result.err


# ---- hangs and memory: in a subprocess, with a timeout ---------------------------------------

# peak memory of this process image: VmHWM starts afresh at exec, while ru_maxrss keeps the
# high-water mark of the parent it was forked from (a test process that compiled the engine)
MEASURED = """
import re, sys
from orchestrator.cli import main
try:
    main(sys.argv[1:])
finally:
    status = open("/proc/self/status").read()
    print(int(re.search(r"VmHWM:\\s+(\\d+) kB", status).group(1)) // 1024, file=sys.stderr)
"""


@pytest.mark.parametrize("case", ["fifo", "/dev/zero", "topology/billion-laughs.yaml",
                                  "topology/cpulist-range-huge.yaml", "topology/l3-groups-bomb.yaml"])
def test_no_hang_and_little_memory(tmp_path, case):
    if case == "fifo":
        path = tmp_path / "fifo.yaml"
        os.mkfifo(path)
    else:
        path = CORPUS / case if not case.startswith("/") else Path(case)
    done = subprocess.run([sys.executable, "-c", MEASURED, "topology", "validate", str(path)],
                          capture_output=True, text=True, timeout=60, check=False)
    error, rss_mb = done.stderr.splitlines()
    assert done.returncode == 2 and error.startswith(f"orch: error: {path}: ")
    assert int(rss_mb) < MAX_RSS_MB
