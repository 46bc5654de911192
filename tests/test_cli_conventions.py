"""Command-line conventions: -h everywhere, --version, flags that look like flags."""

from __future__ import annotations

import pytest

from orchestrator.spec.run import MODEL_VERSION


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
