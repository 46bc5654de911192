"""`orch report`: statistics, plots and text a reviewer can trust, from a sweep dataset."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import typer

from orchestrator.errors import UserError


def report(
    dataset: str = typer.Argument(..., help="dataset path or URI (s3://...) written by orch sweep (its --out)"),
    baseline: str = typer.Option("single", "--baseline", help="strategy every other is compared with"),
    sweep: str | None = typer.Option(None, "--sweep", help="only this sweep of the dataset"),
    out: Path = typer.Option(Path("report"), "--out", help="folder for index.html, report.md, lkml.txt"),
    as_json: bool = typer.Option(False, "--json", help="print one JSON object (the files written and every "
                                 "cell's estimates) instead of the file list; notes stay on stderr"),
) -> None:
    """Write index.html, report.md and lkml.txt comparing every strategy with the baseline."""
    # the analysis stack (scipy, matplotlib) loads only for this command
    from orchestrator.analysis.compare import compare
    from orchestrator.analysis.data import load_study
    from orchestrator.analysis.precision import runs_warning
    from orchestrator.analysis.render import write_report

    study = load_study(dataset, sweep)
    if baseline not in {r["strategy"] for r in study.runs + study.sampled_runs}:
        raise UserError(dataset, "--baseline", f"no runs of strategy {baseline!r}")
    groups = compare(study.runs, baseline, preferred=study.order)
    short = runs_warning(study.runs)
    if short:
        print(f"orch: warning: {short}", file=sys.stderr)
    try:
        paths = write_report(study, groups, baseline, out, dataset)
    except OSError as exc:
        raise UserError(str(out), "--out", f"cannot write: {exc.strerror or exc}") from None
    if as_json:
        print(json.dumps(report_json(paths, groups), allow_nan=False))
        return
    for path in paths:
        print(f"wrote {path}")


def report_json(paths: list[Path], groups) -> dict:
    """Every cell of the comparison: throughput mean and 95% CI, ratio to the baseline with its CI
    (null for the baseline, and a bound null where one seed gives no interval), and the verdict."""
    from orchestrator.results.tables import finite

    cells = []
    for group in groups:
        for c in group.cells:
            t, r = c.throughput, c.ratio
            cells.append({"topology": c.topology, "workload": c.workload, "copies": c.copies, "strategy": c.strategy,
                          "mean": finite(t.mean), "ci_low": finite(t.low), "ci_high": finite(t.high),
                          "ratio": finite(r.mean) if r else None, "ratio_low": finite(r.low) if r else None,
                          "ratio_high": finite(r.high) if r else None, "verdict": c.verdict or "baseline"})
    return {"files": [str(p) for p in paths], "cells": cells}
