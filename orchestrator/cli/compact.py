"""`orch compact`: a dataset rewritten into few large parts, every row kept."""

from __future__ import annotations

import typer

from orchestrator.cli.options import stops_said
from orchestrator.results.buffer import Bounds


def compact(
    dataset: str = typer.Argument(..., help="dataset path or URI written by orch sweep (its --out)"),
    part_rows: int = typer.Option(Bounds.rows, "--part-rows", min=1, help="rows (all tables) per part at most"),
) -> None:
    """Merge a dataset's parts into few large ones without changing any row; run it when no sweep writes there."""
    from orchestrator.results.compact import Progress
    from orchestrator.results.compact import compact as run

    progress = Progress()
    with stops_said(lambda: f": {dataset}: {progress.said()}"):  # compact stops between sweeps and tables
        before, after = run(dataset, part_rows, progress)
    print(f"{dataset}: {before} part(s) -> {after}")
