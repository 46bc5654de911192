"""`orch strategies` and `orch workloads`: what is installed, one line each."""

from __future__ import annotations

from collections.abc import Sequence

from orchestrator import terminal
from orchestrator.generators import GENERATORS
from orchestrator.presets import preset_names, resolve
from orchestrator.spec import WorkloadSpec, read_yaml, validate
from orchestrator.strategies import available


def table(title: str, columns: tuple[str, ...], rows: Sequence[tuple[str, ...]]) -> None:
    shown = terminal.Grid(title, columns)
    for row in rows:
        shown.add_row(*row)
    terminal.show(shown, terminal.console())


def strategies() -> None:
    """List the lock designs installed (entry point group orch.strategies)."""
    rows = [(name, f"{cls.__module__}", cls.summary) for name, cls in available().items()]
    table("Strategies", ("name", "module", "design"), rows)


def workloads() -> None:
    """List the workload presets (workloads/*.yaml) and the generator kinds behind them."""
    rows: list[tuple[str, str, str]] = []
    for name in preset_names("workloads"):
        path = resolve("workloads", name)
        spec = validate(WorkloadSpec, read_yaml(path), str(path))
        rows.append((name, spec.kind, spec.description or GENERATORS[spec.kind].summary))
    table("Workload presets", ("preset", "kind", "description"), rows)
    table("Generators", ("kind", "summary"), [(k, g.summary) for k, g in GENERATORS.items()])
