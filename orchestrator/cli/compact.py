"""`orch compact`: a dataset rewritten into few large parts, every row kept."""

from __future__ import annotations

import sys

import typer

from orchestrator.results.buffer import Bounds
from orchestrator.runners import stopping


def compact(
    dataset: str = typer.Argument(..., help="dataset path or URI written by orch sweep (its --out)"),
    part_rows: int = typer.Option(Bounds.rows, "--part-rows", min=1, help="rows (all tables) per part at most"),
) -> None:
    """Merge a dataset's parts into few large ones without changing any row; run it when no sweep writes there."""
    from orchestrator.results.compact import Progress
    from orchestrator.results.compact import compact as run

    progress = Progress()
    with stopping.handling():  # SIGINT, SIGTERM: noted; compact stops between sweeps and tables
        try:
            before, after = run(dataset, part_rows, progress)
        except KeyboardInterrupt:
            print(f"orch: interrupted: {dataset}: {progress.said()}", file=sys.stderr)
            raise typer.Exit(stopping.exit_code()) from None
    print(f"{dataset}: {before} part(s) -> {after}")
