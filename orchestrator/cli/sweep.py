"""`orch sweep`: the main job. Runs a sweep on Ray (or in-process) into a Parquet dataset."""

from __future__ import annotations

import json
import os
import sys

import typer
import yaml

from orchestrator import terminal
from orchestrator.cli.options import Backend, Layout, check_backend, number, parse_share, stops_said
from orchestrator.errors import UserError, one_line
from orchestrator.presets import beside, study_names, sweep_spec
from orchestrator.results.buffer import Bounds
from orchestrator.results.tables import finite
from orchestrator.spec import SweepSpec, validate
from orchestrator.spec.base import MAX_REPLICATIONS
from orchestrator.spec.loader import load_yaml_text, parse_yaml, read_spec_text

DEFAULT_STUDY = "quick"
STUDY_OR_FILE = f"a shipped study by name ({', '.join(study_names())}) or a sweep YAML"


def load_sweep(ref: str) -> tuple[SweepSpec, str]:
    """The sweep spec from a file, a shipped study's name or stdin (-), and its text; its file
    references are made relative to the spec's folder (stdin: the working directory)."""
    path = sweep_spec(ref)
    source = "<stdin>" if path == "-" else path
    text = read_spec_text(path)
    spec = validate(SweepSpec, parse_yaml(text, source), source)
    if path == "-":
        return spec, text
    folder = os.path.dirname(path)
    return spec.model_copy(update={
        "topologies": [beside(folder, ref) for ref in spec.topologies],
        "workloads": [w.model_copy(update={"file": beside(folder, w.file)}) for w in spec.workloads],
        "profile": spec.profile and beside(folder, spec.profile),
    }), text


def with_flags(spec: SweepSpec, source: str, settings: list[str], axes: list[str]) -> SweepSpec:
    """The spec with --set appended to its set: and --axis added to its axes:; expand_sweep
    checks both before any run starts."""
    extra = {}
    for item in axes:
        key, sep, raw = item.partition("=")
        try:
            values = load_yaml_text(raw) if sep else None
        except yaml.YAMLError:
            values = None
        if not key.strip() or not isinstance(values, list) or not values:
            raise UserError("--axis", item, "expected dotted.key=[v1, v2, ...] (a YAML list)")
        extra[key.strip()] = values
    data = spec.model_dump(mode="json")
    data.update(set=[*spec.set, *settings], axes={**spec.axes, **extra})
    return validate(SweepSpec, data, source)


def sweep(
    spec_file: str = typer.Argument(DEFAULT_STUDY, metavar="[SPEC]", show_default=False,
                                    help=f"{STUDY_OR_FILE}, or - for stdin (default: {DEFAULT_STUDY})"),
    backend: Backend = typer.Option(Backend.ray, "--backend", help="ray (embedded or --address) or local"),
    address: str | None = typer.Option(None, "--address",
                                         help="an existing Ray cluster's GCS, HEAD:6379, or auto "
                                              "($RAY_ADDRESS is ignored: it is orch submit's)"),
    workers: int | None = typer.Option(None, "--workers", min=1, help="runs in parallel: embedded Ray's CPUs "
                                       "(default 2), or local worker processes (default 1: in orch's own process)"),
    layout: Layout = typer.Option(Layout.task, "--layout", help="task: one Ray task per run; actors: "
                                                                 "one actor per virtual node + a tree actor"),
    out: str | None = typer.Option(None, "--out", help="dataset path or URI (default: the spec's output)"),
    force: bool = typer.Option(False, "--force", help="recompute runs already in the dataset"),
    repair: bool = typer.Option(False, "--repair", help="move parts no reader can read aside (to "
                                "unreadable/ in the dataset), keep the rest, and compute their runs again"),
    target_ci: str | None = typer.Option(None, "--target-ci", help="add seeds until every cell's 95% CI "
                                         "half-width is below this share of its mean, e.g. 2%"),
    max_replications: int = typer.Option(20, "--max-replications", min=2, max=MAX_REPLICATIONS,
                                         help="cap for --target-ci"),
    settings: list[str] = typer.Option([], "--set", metavar="KEY=VALUE",
                                       help="an override for every run, after the spec's set: (repeatable)"),
    axes: list[str] = typer.Option([], "--axis", metavar="KEY=[V1, V2]",
                                   help="a sweep axis: every run once per value of the YAML list (repeatable)"),
    profile: str | None = typer.Option(None, "--profile", help="a calibration profile (orch calibrate): its "
                                       "fitted values apply to every run, before the spec's set: "
                                       "(replaces the spec's profile:)"),
    part_rows: int = typer.Option(Bounds.rows, "--part-rows", min=1, help="write a part once this many rows "
                                  "(all tables) are buffered"),
    part_mb: float = typer.Option(Bounds.mib, "--part-mb", parser=number(0), help="... or this many MiB"),
    part_seconds: float = typer.Option(Bounds.seconds, "--part-seconds", parser=number(0),
                                       help="... or the oldest buffered run finished this long ago"),
    shared_out: bool = typer.Option(False, "--shared-out", help="every Ray node reaches --out (a shared "
                                    "filesystem): tasks write their parts themselves, as they do to s3://"),
    as_json: bool = typer.Option(False, "--json", help="print one JSON object (what was done and the cells) "
                                 "instead of the table; progress and notes stay on stderr"),
) -> None:
    """Run every point of a sweep; finished runs are kept, so rerunning resumes."""
    from orchestrator.runners import stopping
    from orchestrator.runners.sweep import (
        run_sweep,  # Ray and scipy: only for this command
    )

    spec, _ = load_sweep(spec_file)
    if profile is not None:
        spec = spec.model_copy(update={"profile": profile})
    source = "<stdin>" if spec_file == "-" else spec_file
    spec = with_flags(spec, source, settings, axes)
    check_backend(backend, address, layout)
    with stops_said(lambda: ""):  # a stop before the first run or after the last (finished runs are kept)
        outcome, dataset, _ = run_sweep(spec, source, backend=backend.value, address=address,
                                        workers=workers, layout=layout.value, out=out, force=force,
                                        target_ci=parse_share(target_ci), max_replications=max_replications,
                                        repair=repair, bounds=Bounds(part_rows, part_mb, part_seconds),
                                        shared_out=shared_out)
        summarize(spec, outcome, dataset, as_json)
    for run_id, error in outcome.failed:
        print(f"orch: failed: run {run_id}: {one_line(error)}", file=sys.stderr)
    if interrupted(outcome):
        print(f"orch: interrupted: {outcome.done} finished run(s) kept in {dataset.uri}", file=sys.stderr)
        raise typer.Exit(stopping.exit_code())
    if outcome.failed:
        raise typer.Exit(1)


def interrupted(outcome) -> bool:
    from orchestrator.runners import stopping

    return outcome.interrupted or stopping.received is not None


def summarize(spec: SweepSpec, outcome, dataset, as_json: bool = False) -> None:
    from orchestrator.analysis.compare import sweep_summary
    from orchestrator.analysis.precision import runs_warning

    runs = dataset.runs().to_pylist()
    rows = sweep_summary(runs, outcome.ids, [s.display for s in spec.strategies])
    short = runs_warning(r for r in runs if r["run_id"] in outcome.ids and r["status"] == "ok")
    if short and not interrupted(outcome):  # a stopped sweep says one thing: what it kept
        print(f"orch: warning: {short}", file=sys.stderr)
    if as_json:
        print(json.dumps(sweep_json(spec.name, dataset.uri, outcome, rows), allow_nan=False))
        return
    console = terminal.console()
    console.print(f"{spec.name}: {outcome.done} run(s) done now, {outcome.skipped} already in the dataset, "
                  f"{len(outcome.failed)} failed, {outcome.wall_s:.1f} s", highlight=False)
    console.print(f"data: {dataset.uri}  (runs: {dataset.folder('runs')})", highlight=False)
    if rows:
        columns = ("topology", "workload", "copies", "strategy", "throughput", "ratio")
        table = terminal.Grid("throughput (iterations/s), mean over seeds; ratio to the first strategy, "
                              "paired by seed (orch report has the CIs)", columns,
                              numbers={"copies", "throughput", "ratio"})
        for topo, work, copies, strategy, mean, ratio in rows:
            table.add_row(topo, work, str(copies), strategy, f"{mean:,.0f}", "-" if ratio is None else f"{ratio:.2f}")
        terminal.show(table, console)


def sweep_json(name: str, uri: str, outcome, rows: list[tuple]) -> dict:
    """What --json prints: the sweep's counts, its failures and the table's cells (ratio null for
    the first strategy, the one the others are compared with)."""
    return {"sweep": name, "dataset": uri, "done": outcome.done, "skipped": outcome.skipped,
            "failed": [{"run_id": run_id, "error": one_line(error)} for run_id, error in outcome.failed],
            "wall_s": round(outcome.wall_s, 3),
            "cells": [{"topology": topo, "workload": work, "copies": copies, "strategy": strategy,
                       "throughput": finite(mean), "ratio": finite(ratio)}
                      for topo, work, copies, strategy, mean, ratio in rows]}
