"""The wheel stands alone: installed into a fresh venv, away from the checkout, it has every
preset, study and doc page the checkout has and runs."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

from orchestrator.presets import FOLDERS, ROOT, doc_pages, preset_files, preset_names, study_specs

REPO = Path(__file__).resolve().parent.parent
LIST = ("import json, orchestrator, orchestrator.presets as p, orchestrator.cli.sweep as s; "
        "print(json.dumps([orchestrator.__file__, {k: p.preset_names(k) for k in p.FOLDERS}, "
        "sorted(p.preset_files()), {name: s.load_sweep(name)[0].name for name in p.study_specs()}]))")


def test_checkout_resolves_presets_from_its_top_level_folders():
    assert ROOT == REPO
    for folder in FOLDERS:
        assert preset_names(folder) == sorted(p.stem for p in (REPO / folder).glob("*.yaml"))


def test_wheel_in_a_fresh_venv_has_the_presets_and_runs(wheel_bin, tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}  # which may name the checkout

    def venv(*args: str) -> subprocess.CompletedProcess:  # from a folder outside the checkout
        return subprocess.run([wheel_bin / args[0], *args[1:]], cwd=tmp_path, capture_output=True, text=True,
                              env=env, check=False)

    listed = venv("python", "-c", LIST)
    assert listed.returncode == 0, listed.stderr
    module, names, files, studies = json.loads(listed.stdout)
    assert Path(module).is_relative_to(wheel_bin.parent)  # orch from the wheel, not the checkout
    assert names == {folder: preset_names(folder) for folder in FOLDERS} and all(names.values())
    assert files == sorted(preset_files())  # every study spec and doc page too
    assert list(studies) == study_specs() and studies["quick"] == "quick"
    pages = venv("orch", "docs")
    assert pages.returncode == 0 and all(name in pages.stdout for name in doc_pages())
    page = venv("orch", "docs", "cluster")
    assert page.returncode == 0 and page.stdout == (REPO / "docs" / "cluster.md").read_text()
    unknown = venv("orch", "sweep", "nope")
    assert unknown.returncode == 2 and "studies: " in unknown.stderr and "quick" in unknown.stderr
    workloads = venv("orch", "workloads")
    assert workloads.returncode == 0, workloads.stderr
    assert all(name in workloads.stdout for name in preset_names("workloads"))
    run = venv("orch", "run", "-t", "laptop-1n-8", "-w", "execl", "-s", "split-node", "-c", "2",
               "--duration-ms", "0.5", "--json")
    assert run.returncode == 0, run.stderr
    assert json.loads(run.stdout)["iterations"] > 0
