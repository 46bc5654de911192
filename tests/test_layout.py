"""The folder layout shows the data path: the engine room (sim/) knows nothing of the plugins
that feed it, so a strategy or workload can change without touching the engine."""

from __future__ import annotations

import ast
import re
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


PACKAGE = SIM.parent
SOURCES = sorted(p for p in PACKAGE.rglob("*.py") if "_presets" not in p.parts)


def inside(path: Path) -> str:
    return path.relative_to(PACKAGE).as_posix()


def test_only_runners_start_parallel_work():
    """One execution seam: Ray and process pools are the runners' business alone."""
    parallel = ("ray", "concurrent.futures", "multiprocessing")
    offenders = {inside(p): sorted(m for m in imported_modules(p) if m.split(".")[0] in ("ray", "multiprocessing")
                                   or m.startswith("concurrent.futures"))
                 for p in SOURCES if not inside(p).startswith("runners/")}
    assert not {k: v for k, v in offenders.items() if v}, parallel


def test_no_import_cycle():
    import sys

    sys.path.insert(0, str(PACKAGE.parent / "tools"))
    try:
        import import_graph
    finally:
        sys.path.pop(0)
    found = {name: path for name, path in import_graph.modules(PACKAGE).items() if "_presets" not in name}
    graph = {name: import_graph.imports(name, path, set(found)) for name, path in found.items()}
    assert import_graph.cycles(graph) == []
    assert import_graph.cycles({"a": {"b"}, "b": {"a"}, "c": set()}) == [["a", "b"]]  # the check sees one


def test_no_test_hook_in_production_code():
    hooks = ("ORCH_INJECT_FAULTS", "os._exit")
    offenders = [(inside(p), hook) for p in SOURCES for hook in hooks if hook in p.read_text()]
    assert not offenders


def private_uses(path: Path) -> list[str]:
    """Imports of a dependency's private module or name (a part starting with _), outside orch."""
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        names = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            names = [node.module, *(f"{node.module}.{alias.name}" for alias in node.names)]
        for name in names:
            if not name.startswith(("orchestrator", "__future__")) and any(
                    part.startswith("_") for part in name.split(".")):
                found.append(name)
    return found


def test_private_apis_of_dependencies_only_in_compat():
    offenders = {inside(p): private_uses(p) for p in SOURCES if inside(p) != "compat.py" and private_uses(p)}
    assert not offenders
    # the names compat wraps are used nowhere else either
    names = {"ConsolePopen", "display_type_rich", "CACHE_DIR", "_click", "_private"}
    spoken = {(inside(p), n) for p in SOURCES if inside(p) != "compat.py" for n in names
              if re.search(rf"\b{re.escape(n)}\b", p.read_text())}
    assert not spoken


def test_the_private_api_check_sees_one(tmp_path):
    sample = tmp_path / "x.py"
    sample.write_text("from ray._private import services\nimport typer._click\nfrom os import path\n")
    assert private_uses(sample) == ["ray._private", "ray._private.services", "typer._click"]
