"""`orch params`: the model's uncertain parameters, with their plausible ranges and sources."""

from __future__ import annotations

import json

import typer
from rich.table import Table

from orchestrator import terminal
from orchestrator.spec.params import registry


def params(as_json: bool = typer.Option(False, "--json", help="print a JSON list instead of a table")) -> None:
    """List every parameter with a plausible range (what calibration fits and uncertainty samples)."""
    found = registry()
    if as_json:
        print(json.dumps([p.__dict__ for p in found], indent=2))
        return
    table = Table(title="Uncertain parameters (set any with --set NAME=VALUE)", title_justify="left")
    for column in ("name", "default", "plausible range", "unit", "source"):
        table.add_column(column, no_wrap=column != "source")
    for p in found:
        table.add_row(p.name, f"{p.default:,}", f"{p.low:,} - {p.high:,}", p.unit, p.source)
    terminal.console(140).print(table)
