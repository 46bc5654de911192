"""The folder layout shows the data path: the engine room (sim/) knows nothing of the plugins
that feed it, so a strategy or workload can change without touching the engine."""

from __future__ import annotations

import ast
from pathlib import Path

SIM = Path(__file__).resolve().parent.parent / "orchestrator" / "sim"
PLUGINS = ("orchestrator.strategies", "orchestrator.generators", "orchestrator.simulate")


def imported_modules(path: Path) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
    return found


def plugin_imports(path: Path) -> list[str]:
    return sorted(m for m in imported_modules(path) if m.startswith(PLUGINS))


def test_nothing_in_the_engine_room_imports_a_plugin():
    offenders = {p.name: plugin_imports(p) for p in SIM.glob("*.py") if plugin_imports(p)}
    assert not offenders, offenders


def test_the_check_sees_an_import(tmp_path):
    sample = tmp_path / "x.py"
    sample.write_text("from orchestrator import strategies\nimport orchestrator.generators.execl\n")
    assert plugin_imports(sample) == ["orchestrator.generators.execl", "orchestrator.strategies"]


HEAVY = ("scipy", "matplotlib", "pandas")
LOADED = """
import sys
from orchestrator.cli import main
sys.argv = ["orch", *sys.argv[1:]]
try:
    main()
except SystemExit:
    pass
print("LOADED", *sorted(m for m in {heavy!r} if m in sys.modules))
"""


def loaded_by(*args: str) -> list[str]:
    import subprocess
    import sys
    heavy = (*HEAVY, "numba", "ray")
    out = subprocess.run([sys.executable, "-c", LOADED.format(heavy=heavy), *args], capture_output=True,
                         text=True).stdout
    return out.rsplit("LOADED", 1)[1].split()


def test_help_loads_no_analysis_stack_and_no_engine():
    assert loaded_by("--help") == []


def test_a_run_loads_the_engine_but_not_the_analysis_stack():
    loaded = loaded_by("run", "-t", "genoa-1n-128", "-w", "closed-loop", "--copies", "2", "--duration-ms", "0.1")
    # numba imports scipy itself when it is installed (numba/__init__.py checks its version)
    assert "numba" in loaded and not {"matplotlib", "pandas"} & set(loaded)
