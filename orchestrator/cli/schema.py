"""`orch schema KIND`: JSON Schema of a spec, for editors and validators."""

from __future__ import annotations

import enum
import json

import typer
from pydantic import TypeAdapter

from orchestrator.spec import SCHEMAS

SchemaKind = enum.Enum("SchemaKind", {name: name for name in SCHEMAS}, type=str)


def schema(kind: SchemaKind = typer.Argument(..., help="which spec")) -> None:
    """Print the JSON Schema of a topology, workload, strategy or sweep spec."""
    print(json.dumps(TypeAdapter(SCHEMAS[kind.value]).json_schema(), indent=2))
