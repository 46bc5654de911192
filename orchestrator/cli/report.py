"""`orch report`: statistics, plots and text a reviewer can trust, from a sweep dataset."""

from __future__ import annotations

from pathlib import Path

import typer

from orchestrator.errors import UserError


def report(
    dataset: str = typer.Argument(..., help="dataset path or URI (s3://...) written by orch sweep (its --out)"),
    baseline: str = typer.Option("single", "--baseline", help="strategy every other is compared with"),
    sweep: str | None = typer.Option(None, "--sweep", help="only this sweep of the dataset"),
    out: Path = typer.Option(Path("report"), "--out", help="folder for index.html, report.md, lkml.txt"),
) -> None:
    """Write index.html, report.md and lkml.txt comparing every strategy with the baseline."""
    # the analysis stack (scipy, matplotlib) loads only for this command
    from orchestrator.analysis.compare import compare
    from orchestrator.analysis.data import load_study
    from orchestrator.analysis.render import write_report

    study = load_study(dataset, sweep)
    if baseline not in {r["strategy"] for r in study.runs + study.sampled_runs}:
        raise UserError(dataset, "--baseline", f"no runs of strategy {baseline!r}")
    groups = compare(study.runs, baseline, preferred=study.order)
    try:
        paths = write_report(study, groups, baseline, out, dataset)
    except OSError as exc:
        raise UserError(str(out), "--out", f"cannot write: {exc.strerror or exc}") from None
    for path in paths:
        print(f"wrote {path}")
