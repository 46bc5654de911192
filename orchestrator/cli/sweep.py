"""`orch sweep`: the main job. Runs a sweep on Ray (or in-process) into a Parquet dataset."""

from __future__ import annotations

import os
import sys

import typer
import yaml
from rich.table import Table

from orchestrator import terminal
from orchestrator.cli.options import Backend, Layout, check_backend, parse_share
from orchestrator.errors import UserError, one_line
from orchestrator.presets import ROOT, beside
from orchestrator.results.buffer import Bounds
from orchestrator.spec import SweepSpec, validate
from orchestrator.spec.base import MAX_REPLICATIONS
from orchestrator.spec.loader import load_yaml_text, parse_yaml, read_spec_text

DEFAULT_SPEC = ROOT / "reports" / "quick" / "sweep.yaml"


def load_sweep(path: str) -> tuple[SweepSpec, str]:
    """The sweep spec from a file or stdin (-), and its text; its file references are made
    relative to the spec's folder (stdin: the working directory)."""
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
    spec_file: str = typer.Argument(str(DEFAULT_SPEC), metavar="[SPEC]",
                                    help="sweep YAML, or - for stdin (default: reports/quick/sweep.yaml)"),
    backend: Backend = typer.Option(Backend.ray, "--backend", help="ray (embedded or --address) or local"),
    address: str | None = typer.Option(None, "--address", envvar="RAY_ADDRESS", show_envvar=False,
                                         help="an existing Ray cluster, HEAD:6379 or auto (default: $RAY_ADDRESS)"),
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
    part_mb: float = typer.Option(Bounds.mib, "--part-mb", min=0, help="... or this many MiB"),
    part_seconds: float = typer.Option(Bounds.seconds, "--part-seconds", min=0,
                                       help="... or the oldest buffered run finished this long ago"),
    shared_out: bool = typer.Option(False, "--shared-out", help="every Ray node reaches --out (a shared "
                                    "filesystem): tasks write their parts themselves, as they do to s3://"),
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
    with stopping.handling():  # SIGINT, SIGTERM: finished runs kept, exit 130 or 143
        try:
            outcome, dataset, _ = run_sweep(spec, source, backend=backend.value, address=address,
                                            workers=workers, layout=layout.value, out=out, force=force,
                                            target_ci=parse_share(target_ci), max_replications=max_replications,
                                            repair=repair, bounds=Bounds(part_rows, part_mb, part_seconds),
                                            shared_out=shared_out)
            summarize(spec, outcome, dataset)
        except KeyboardInterrupt:  # a stop before the first run or after the last
            print("orch: interrupted", file=sys.stderr)
            raise typer.Exit(stopping.exit_code()) from None
    for run_id, error in outcome.failed:
        print(f"orch: failed: run {run_id}: {one_line(error)}", file=sys.stderr)
    if outcome.interrupted or stopping.received is not None:
        print(f"orch: interrupted: {outcome.done} finished run(s) kept in {dataset.uri}", file=sys.stderr)
        raise typer.Exit(stopping.exit_code())
    if outcome.failed:
        raise typer.Exit(1)


def summarize(spec: SweepSpec, outcome, dataset) -> None:
    from orchestrator.analysis.compare import sweep_summary

    console = terminal.console(110)
    console.print(f"{spec.name}: {outcome.done} run(s) done now, {outcome.skipped} already in the dataset, "
                  f"{len(outcome.failed)} failed, {outcome.wall_s:.1f} s", highlight=False)
    console.print(f"data: {dataset.uri}  (runs: {dataset.folder('runs')})", highlight=False)
    rows = sweep_summary(dataset.runs().to_pylist(), outcome.ids, [s.display for s in spec.strategies])
    if rows:
        table = Table(title="throughput (iterations/s), mean over seeds; ratio to the first strategy, "
                            "paired by seed (orch report has the CIs)",
                      title_justify="left")
        for col in ("topology", "workload", "copies", "strategy", "throughput", "ratio"):
            table.add_column(col, justify="right" if col in ("copies", "throughput", "ratio") else "left")
        for topo, work, copies, strategy, mean, ratio in rows:
            table.add_row(topo, work, str(copies), strategy, f"{mean:,.0f}", "-" if ratio is None else f"{ratio:.2f}")
        console.print(table)
