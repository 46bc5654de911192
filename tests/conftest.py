from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest

from orchestrator.cli import main

REPO = Path(__file__).resolve().parent.parent


@dataclass
class Result:
    code: int
    out: str
    err: str


@pytest.fixture
def orch(capsys):
    """Run the orch CLI in-process; returns exit code, stdout and stderr."""

    def run(*args: str) -> Result:
        capsys.readouterr()
        with pytest.raises(SystemExit) as exit_info:
            main([str(a) for a in args])
        captured = capsys.readouterr()
        return Result(exit_info.value.code, captured.out, captured.err)

    return run
