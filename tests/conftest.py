from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import pytest

from orchestrator.cli import main

# Ray must stay on 127.0.0.1 in tests (it would swap loopback for the machine's outward IP).
os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")
# Ray reads its authentication mode once per process, at its first use: every test that starts or
# joins a Ray in this process must see the same one, whatever order the tests run in.
os.environ["RAY_AUTH_MODE"] = "token"

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


@pytest.fixture(scope="session")
def orch_wheel(tmp_path_factory) -> Path:
    """orch's wheel, built once per test session."""
    from wheelenv import build_wheel

    return build_wheel(tmp_path_factory.mktemp("wheel"))


@pytest.fixture(scope="session")
def wheel_bin(tmp_path_factory, orch_wheel) -> Path:
    """The bin folder of a fresh venv with orch installed from its wheel (not editable)."""
    from wheelenv import fresh_venv

    return fresh_venv(tmp_path_factory.mktemp("wheel-venv") / "venv", orch_wheel)


@pytest.fixture(scope="session")
def head(tmp_path_factory):
    """A Ray cluster of our own (a head and a second node), shared by the tests that need one. Its
    Python has orch's dependencies but not orch: jobs and workers get orch from what orch ships."""
    from rayhead import RayHead
    from wheelenv import fresh_venv

    tmp = tmp_path_factory.mktemp("ray")  # short: Ray keeps unix sockets in it
    head = RayHead(tmp, fresh_venv(tmp / "venv") / "python")
    yield head
    head.stop()
