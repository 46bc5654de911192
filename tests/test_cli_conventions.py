"""Command-line conventions: -h everywhere, --version, flags that look like flags."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from orchestrator.spec.run import MODEL_VERSION

REPO = Path(__file__).resolve().parent.parent


@pytest.mark.parametrize("args", [["-h"], ["sweep", "-h"], ["topology", "show", "-h"], ["jobs", "-h"]])
def test_short_help_everywhere(orch, args):
    result = orch(*args)
    assert result.code == 0 and "Usage: orch" in result.out


def test_version_names_orch_and_the_model_version(orch):
    result = orch("--version")
    assert result.code == 0
    assert result.out.startswith("orch ") and f"model version {MODEL_VERSION}" in result.out


def test_flags_take_no_value(orch):
    for command in ("sweep", "run"):
        assert "<bool>" not in orch(command, "--help").out
    result = orch("sweep", "--force=yes")
    assert result.code == 2 and "does not take a value" in result.err and "Traceback" not in result.err


@pytest.mark.parametrize("command", [["sweep", "quick"], ["measure", "spawn", "--copies", "1"],
                                     ["calibrate", "curve.csv", "-t", "ideal", "-w", "execl", "--backend", "ray"]])
def test_an_absent_ray_head_is_one_line_in_seconds(orch, tmp_path, monkeypatch, command):
    monkeypatch.chdir(REPO)
    (tmp_path / "curve.csv").write_text("copies,throughput_per_s\n1,5000\n")
    command = [str(tmp_path / c) if c == "curve.csv" else c for c in command]
    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    result = orch(*command, "--address", f"127.0.0.1:{port}", "--out", str(tmp_path / "out"))
    assert result.code == 2 and "cannot reach a Ray head there" in result.err
    assert len(result.err.strip().splitlines()) == 1
