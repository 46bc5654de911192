"""The wheel stands alone: installed into a fresh venv, away from the checkout, it has every
preset the checkout has and runs."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from orchestrator.presets import FOLDERS, ROOT, preset_names

REPO = Path(__file__).resolve().parent.parent
LIST = ("import json, orchestrator, orchestrator.presets as p, orchestrator.cli.sweep as s; "
        "print(json.dumps([orchestrator.__file__, {k: p.preset_names(k) for k in p.FOLDERS}, "
        "s.DEFAULT_SPEC.is_file()]))")


def test_checkout_resolves_presets_from_its_top_level_folders():
    assert ROOT == REPO
    for folder in FOLDERS:
        assert preset_names(folder) == sorted(p.stem for p in (REPO / folder).glob("*.yaml"))


def test_wheel_in_a_fresh_venv_has_the_presets_and_runs(wheel_bin, tmp_path):
    def venv(*args: str) -> subprocess.CompletedProcess:  # from a folder outside the checkout
        return subprocess.run([wheel_bin / args[0], *args[1:]], cwd=tmp_path, capture_output=True, text=True,
                              check=False)

    listed = venv("python", "-c", LIST)
    assert listed.returncode == 0, listed.stderr
    module, names, default_spec = json.loads(listed.stdout)
    assert Path(module).is_relative_to(wheel_bin.parent)  # orch from the wheel, not the checkout
    assert names == {folder: preset_names(folder) for folder in FOLDERS} and all(names.values())
    assert default_spec
    workloads = venv("orch", "workloads")
    assert workloads.returncode == 0, workloads.stderr
    assert all(name in workloads.stdout for name in preset_names("workloads"))
    run = venv("orch", "run", "-t", "laptop-1n-8", "-w", "execl", "-s", "split-node", "-c", "2",
               "--duration-ms", "0.5", "--json")
    assert run.returncode == 0, run.stderr
    assert json.loads(run.stdout)["iterations"] > 0
