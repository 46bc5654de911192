"""`orch params`: the model's uncertain parameters, with their plausible ranges and sources."""

from __future__ import annotations

import json

import typer

from orchestrator import terminal
from orchestrator.spec.params import registry


def params(as_json: bool = typer.Option(False, "--json", help="print a JSON list instead of a table")) -> None:
    """List every parameter with a plausible range (what calibration fits and uncertainty samples)."""
    found = registry()
    if as_json:
        print(json.dumps([p.__dict__ for p in found], indent=2))
        return
    table = terminal.Grid("Uncertain parameters (set any with --set NAME=VALUE)",
                          ("name", "default", "plausible range", "unit", "source"),
                          numbers={"default", "plausible range"})
    for p in found:
        table.add_row(p.name, f"{p.default:,}", f"{p.low:,} - {p.high:,}", p.unit, p.source)
    terminal.show(table, terminal.console())
