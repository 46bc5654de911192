"""The code is lint- and type-clean: ruff (pyproject.toml, [tool.ruff]) and mypy ([tool.mypy]),
from the virtualenv running the tests (the test extra installs both)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def run(argv: list[str]) -> subprocess.CompletedProcess:
    return subprocess.run(argv, cwd=REPO, capture_output=True, text=True)


def test_ruff_finds_nothing():
    ruff = Path(sys.executable).with_name("ruff")
    assert ruff.exists(), f"no {ruff}: install the test extra (pip install -e '.[test]')"
    result = run([str(ruff), "check", "orchestrator", "tests", "tools", "benchmarks"])
    assert result.returncode == 0, result.stdout + result.stderr


def test_mypy_finds_nothing():
    result = run([sys.executable, "-m", "mypy"])  # its cache: the repository's .mypy_cache
    assert result.returncode == 0, result.stdout + result.stderr
