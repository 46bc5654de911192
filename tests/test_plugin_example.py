"""docs/plugins.md's complete example is a package that works: built into a wheel, installed
beside orch's wheel in a fresh venv, listed by `orch strategies` and run by `orch run`."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

from wheelenv import build_wheel, fresh_venv

DOC = Path(__file__).resolve().parent.parent / "docs" / "plugins.md"
# a code block whose info string names a file: ```python file=orch_two_trees.py
BLOCK = re.compile(r"^```\w+ file=(?P<name>\S+)\n(?P<text>.*?)^```$", re.MULTILINE | re.DOTALL)


def example_files() -> dict[str, str]:
    return {m["name"]: m["text"] for m in BLOCK.finditer(DOC.read_text())}


def test_the_documented_plugin_installs_and_runs(tmp_path, orch_wheel):
    files = example_files()
    assert set(files) == {"pyproject.toml", "orch_two_trees.py"}
    package = tmp_path / "plugin"  # not "two-trees": -s two-trees would name that folder
    package.mkdir()
    for name, text in files.items():
        (package / name).write_text(text)
    bin_dir = fresh_venv(tmp_path / "venv", orch_wheel, build_wheel(tmp_path / "wheels", package))

    def orch(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([bin_dir / "orch", *args], capture_output=True, text=True, cwd=tmp_path,
                              timeout=600, check=False)

    listed = orch("strategies")
    assert listed.returncode == 0 and "two-trees" in listed.stdout and "orch_two_trees" in listed.stdout, listed
    # execl links, splits and unlinks VMAs, reclaim walks them; --check holds the engine's invariants
    ran = orch("run", "-t", "laptop-1n-8", "-w", "execl-reclaim", "-s", "two-trees", "--copies", "4",
               "--duration-ms", "1", "--set", "workload.walkers.reclaim_per_node_per_s=20000", "--check", "--json")
    assert ran.returncode == 0, ran.stderr
    result = json.loads(ran.stdout)
    assert result["iterations"] > 0 and result["walks"] > 0
    assert {row["lock_class"] for row in result["locks"]} >= {"two.rwsem"}
