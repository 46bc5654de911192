"""The shape of orch's code: its module import graph (cycles, imports against the data path) and
its largest files and functions. Reads the source with `ast`; imports nothing of orch.

The data path, lowest first: a module may import its own layer and the ones below it.
Run: python tools/import_graph.py [PACKAGE_DIR]   (default: orchestrator/ beside this folder)
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

LAYERS = (
    ("base", ("errors", "terminal", "fileio", "presets", "compat")),
    ("spec", ("spec",)),
    ("plan", ("plan",)),
    ("engine", ("sim", "strategies", "generators", "simulate")),
    ("results", ("results",)),
    ("runners", ("runners",)),
    ("analysis", ("analysis",)),
    ("workflows", ("calibrate", "measure", "validate")),
    ("cli", ("cli", "__main__", "__init__")),
)


def layer(module: str) -> int:
    first = module.split(".")[1] if "." in module else "__init__"
    for rank, (_, heads) in enumerate(LAYERS):
        if first in heads:
            return rank
    return len(LAYERS)


def modules(root: Path) -> dict[str, Path]:
    found = {}
    for path in sorted(root.rglob("*.py")):
        parts = path.relative_to(root.parent).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        found[name] = path
    return found


def imports(name: str, path: Path, known: set[str]) -> set[str]:
    """orch modules `name` imports, anywhere in its body (a function's import counts too)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parent = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(parent + ([base] if base else []))
            targets = [f"{base}.{alias.name}" for alias in node.names] + [base]
        else:
            continue
        for target in targets:
            while target and target not in known:
                target = target.rpartition(".")[0]
            if target and target != name and target != "orchestrator":
                found.add(target)
    return found


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in sorted(graph[node]):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                top = stack.pop()
                on_stack.discard(top)
                component.append(top)
                if top == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    sys.setrecursionlimit(10_000)
    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def functions(path: Path) -> list[tuple[int, str]]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    return [(node.end_lineno - node.lineno + 1, node.name) for node in ast.walk(tree)
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))]


def main() -> None:
    root = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).resolve().parent.parent / "orchestrator"
    found = {name: path for name, path in modules(root).items() if "_presets" not in name}
    graph = {name: imports(name, path, set(found)) for name, path in found.items()}
    edges = sum(len(targets) for targets in graph.values())
    print(f"{len(found)} modules, {edges} imports between them")
    loops = cycles(graph)
    print(f"cycles: {len(loops)}")
    for loop in loops:
        print("  " + " <-> ".join(loop))
    upward = sorted((a, b) for a, targets in graph.items() for b in targets if layer(b) > layer(a))
    print(f"imports against the data path ({' < '.join(n for n, _ in LAYERS)}): {len(upward)}")
    for a, b in upward:
        print(f"  {a} -> {b}")
    sizes = sorted(((len(path.read_text(encoding='utf-8').splitlines()), name) for name, path in found.items()),
                   reverse=True)
    print("largest files (lines): " + ", ".join(f"{name} {lines}" for lines, name in sizes[:10]))
    biggest = sorted(((lines, f"{name}.{func}") for name, path in found.items() for lines, func in functions(path)),
                     reverse=True)
    print("largest functions (lines): " + ", ".join(f"{name} {lines}" for lines, name in biggest[:10]))


if __name__ == "__main__":
    main()
