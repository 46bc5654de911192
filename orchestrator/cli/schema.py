"""`orch schema KIND`: JSON Schema of a spec (for editors), or the dataset's data contract."""

from __future__ import annotations

import enum
import json

import typer
from pydantic import TypeAdapter

from orchestrator.results.schema import COLUMNS
from orchestrator.spec import SCHEMAS

# its members, SCHEMAS' keys and data, are known at run time only
SchemaKind = enum.Enum("SchemaKind", {name: name for name in [*SCHEMAS, "data"]}, type=str)  # type: ignore[misc]


def data_contract() -> str:
    """Markdown of every dataset table: column, Arrow type, meaning (units in the names)."""
    from orchestrator.results import schema as module

    out = ["# The orch dataset", "", (module.__doc__ or "").strip(), ""]
    for table, columns in COLUMNS.items():
        out += [f"## {table}", "", "| column | type | meaning |", "|---|---|---|"]
        out += [f"| `{name}` | {kind} | {meaning} |" for name, kind, meaning in columns]
        out.append("")
    return "\n".join(out)


def schema(kind: SchemaKind = typer.Argument(..., help="kernel, topology, workload, strategy, sweep, or data")) -> None:
    """Print the JSON Schema of a spec, or (data) the Parquet tables' columns as Markdown."""
    if kind.value == "data":
        print(data_contract(), end="")
    else:
        print(json.dumps(TypeAdapter(SCHEMAS[kind.value]).json_schema(), indent=2))
