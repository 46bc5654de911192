"""`orch calibrate`: fit the model's uncertain parameters to a measured curve; write a profile."""

from __future__ import annotations

import json
import shlex
import sys
from pathlib import Path

import typer
import yaml
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
)

from orchestrator import terminal
from orchestrator.cli.options import Backend, number, parse_copies, stops_said
from orchestrator.errors import UserError
from orchestrator.fileio import write_text_atomic


def calibrate(
    curve: str = typer.Argument(..., help="CSV with columns copies,throughput_per_s, or an orch measure dataset"),
    topology: str = typer.Option(..., "--topology", "-t", help="the measured machine: topology YAML or preset"),
    workload: str = typer.Option(..., "--workload", "-w", help="workload YAML or preset the curve ran"),
    strategy: str = typer.Option("single", "--strategy", "-s", help="the measured kernel's design"),
    fit_names: str | None = typer.Option(None, "--fit", help="parameters to fit, comma-separated dotted names "
                                         "(orch params; default: workload.exec_ns, or fork_ns for spawn, "
                                         "and kernel.cost_scale)"),
    holdout: str | None = typer.Option(None, "--holdout", help="copy counts the fit must predict, not see: 4,8"),
    budget: int = typer.Option(40, "--budget", min=1, help="evaluations of the whole curve in the "
                        "search; checking what the curve identifies adds up to two per fitted parameter"),
    seeds: int = typer.Option(2, "--seeds", min=1, max=100, help="seeds per point (the same in every evaluation)"),
    duration_ms: float = typer.Option(10.0, "--duration-ms", parser=number(0.001, 10_000), help="virtual ms per run"),
    warmup_ms: float = typer.Option(2.0, "--warmup-ms", parser=number(0, 10_000), help="virtual ms before measuring"),
    workers: int = typer.Option(2, "--workers", min=1, max=256, help="runs in parallel"),
    backend: Backend = typer.Option(Backend.local, "--backend", help="local (worker processes) or ray (tasks on "
                                    "a Ray instance started for the fit, or the cluster at --address)"),
    address: str | None = typer.Option(None, "--address", help="a Ray cluster's GCS, HEAD:6379, for the "
                                         "evaluations (--backend ray)"),
    noise: float | None = typer.Option(None, "--noise", parser=number(0.001, 1.0), help="RMS log spread of one "
                                       "measured point (0.05 = 5%); default: from the curve's repeats, else 0.05"),
    target: str = typer.Option("throughput", "--target", help="what the fit matches: throughput, or "
                               "throughput,spin_share (a dataset orch measure --perf wrote: the measured share "
                               "of CPU time spent spinning too; orch docs calibration gives the weights)"),
    out: Path | None = typer.Option(None, "--out", help="write the profile YAML here"),
    as_json: bool = typer.Option(False, "--json", help="print the fitted values, errors and bands as JSON"),
) -> None:
    """Fit parameters to a measured throughput curve within their plausible ranges; write a profile
    with the ensemble of parameter sets the curve allows, and what it cannot identify."""
    from orchestrator.calibrate import (
        DEFAULT_NOISE,
        Problem,
        averaged,
        choose_params,
        fit,
        identification_evaluations,
        profile,
        read_repeats,
        read_spin,
        repeat_noise,
        targets_of,
    )
    from orchestrator.plan import load_parts, run_from
    from orchestrator.spec.topology import shape_digest

    if address and backend != Backend.ray:
        raise UserError(address, "--address", "needs --backend ray")
    if curve == "-":
        raise UserError(curve, None, "a curve is a file or a dataset folder, not stdin")
    repeats = read_repeats(curve)
    points = averaged(repeats)
    parts = load_parts(topology, strategy, workload)
    probe = run_from(parts, copies=1, duration_ms=duration_ms, warmup_ms=warmup_ms)
    too_many = [c for c, _ in points if c > probe.topology.cpu_count]
    if too_many:
        raise UserError(curve, "copies", f"{too_many[0]} copies but {probe.topology.name} has "
                                         f"{probe.topology.cpu_count} CPUs")
    targets = targets_of(target)
    held = parse_copies(holdout, "--holdout") if holdout else []
    missing = sorted(set(held) - {c for c, _ in points})
    if missing:
        raise UserError("--holdout", str(missing[0]), "not a copy count of the curve")
    fitted = tuple((c, v) for c, v in points if c not in held)
    if not fitted:
        raise UserError("--holdout", holdout or "", "holds out every point: nothing is left to fit")
    names = [n.strip() for n in fit_names.split(",") if n.strip()] if fit_names else None
    params = choose_params(names, probe.workload.kind)
    spread = noise if noise is not None else repeat_noise(repeats) or DEFAULT_NOISE
    spin = read_spin(curve) if "spin_share" in targets else {}
    problem = Problem(parts, params, fitted, tuple((c, v) for c, v in points if c in held),
                      tuple(range(1, seeds + 1)), duration_ms, warmup_ms, spread,
                      (probe.topology.name, probe.workload.name, probe.strategy.display),
                      tuple((c, spin[c]) for c, _ in fitted if c in spin))
    total = budget + identification_evaluations(problem)
    done = 0

    def advance(n: int, best: float) -> None:
        nonlocal done
        done = n
        bar.update(task, completed=n, description=f"best RMS {best:.3f}")

    # the fit stops between evaluations and its workers go with it; the bar is gone before the line
    with stops_said(lambda: f" after {done} of {total} evaluations: no profile written (a profile is written "
                            "when the fit ends)"), \
            Progress(TextColumn("calibrating"), BarColumn(), MofNCompleteColumn(), TextColumn("{task.description}"),
                     TimeElapsedColumn(), console=terminal.console(100, stderr=True), transient=True) as bar:
        task = bar.add_task("", total=total)
        result = fit(problem, budget, workers, backend=backend.value, address=address, progress=advance)
    command = shlex.join(["orch", "calibrate", curve, "-t", topology, "-w", workload, "-s", strategy,
                          "--fit", ",".join(p.name for p in params),
                          *(["--holdout", holdout] if held and holdout else []),
                          *(["--target", ",".join(targets)] if targets != ("throughput",) else []),
                          "--budget", str(budget), "--seeds", str(seeds), "--duration-ms", str(duration_ms),
                          "--warmup-ms", str(warmup_ms), *(["--noise", str(noise)] if noise is not None else []),
                          *(["--out", str(out)] if out else [])])
    made = profile(problem, result, shape_digest(probe.topology.model_dump(mode="json")), command)
    if out is not None:
        try:
            write_text_atomic(out, yaml.safe_dump(made.model_dump(mode="json"), sort_keys=False))
        except OSError as exc:
            raise UserError(str(out), "--out", f"cannot write: {exc.strerror or exc}") from None
    if as_json:
        print(json.dumps(as_dict(made)))
    else:
        show(made, out)
    warn(made, bool(held))


def as_dict(made) -> dict:
    """--json: the fitted values, errors and points as before, the held-out bands and parameters added."""
    return {"fitted": made.fitted, "error": made.error,
            "points": [p.model_dump() for p in made.points],
            "held_out": [{"copies": p.copies, "measured": p.measured, "model": p.model, "low": p.low, "high": p.high,
                          "inside": p.low <= p.measured <= p.high} for p in made.points if p.held_out],
            "parameters": [{k: getattr(p, k) for k in ("name", "value", "low", "high", "identified", "sensitivity",
                                                       "at_edge")} for p in made.parameters]}


def warn(made, held: bool) -> None:
    for p in made.parameters:
        if p.at_edge:
            edge = p.low if p.at_edge == "low" else p.high
            print(f"orch: warning: {p.name} fitted at {p.value:,.4g}, at the {p.at_edge} edge of its range "
                  f"({edge:,}): the range may be wrong for this machine, or the model lacks a mechanism",
                  file=sys.stderr)
    error = made.error
    if error["verdict"] == "poor":
        print(f"orch: warning: poor fit (RMS log error {error['fitted_rms_log']:.2f} on fitted points"
              + (f", {error['held_out_rms_log']:.2f} held out" if held else "")
              + "): the model does not reproduce this curve with these parameters", file=sys.stderr)


def show(made, out: Path | None) -> None:
    console = terminal.console()
    columns = ("parameter", "fitted", "plausible range", "identified", "error rise at ends", "PAWN")
    table = terminal.Grid(f"Fitted on {made.topology} ({made.workload}, {made.strategy})", columns,
                          numbers=set(columns) - {"parameter", "identified"})
    for p in made.parameters:
        status = ("yes" if p.identified else "no") + (f", at {p.at_edge} edge" if p.at_edge else "")
        table.add_row(p.name, f"{p.value:,.4g}", f"{p.low:,.6g} - {p.high:,.6g}", status,
                      f"{p.sensitivity:+.3f} (noise {p.threshold:.3f})",
                      "-" if p.global_sensitivity is None else f"{p.global_sensitivity:.2f}")
    terminal.show(table, console)
    columns = ("copies", "measured/s", "model/s", "band/s", "error", "")
    points = terminal.Grid(f"Curve: model of the best fit, band over {len(made.ensemble)} ensemble members",
                           columns, numbers=columns)
    for p in made.points:
        inside = "inside" if p.low <= p.measured <= p.high else "outside"
        points.add_row(str(p.copies), f"{p.measured:,.0f}", f"{p.model:,.0f}", f"{p.low:,.0f} - {p.high:,.0f}",
                       f"{p.model / p.measured - 1:+.1%}",
                       f"held out: {inside} the band" if p.held_out else "")
    terminal.show(points, console)
    error = made.error
    console.print(f"RMS log error {error['fitted_rms_log']:.3f} fitted"
                  + (f", {error['held_out_rms_log']:.3f} held out" if error["held_out_rms_log"] is not None else "")
                  + f" ({error['verdict']}); noise allowed {made.noise:.3f}; {made.evaluations} evaluations"
                  + (f"; profile: {out}" if out else ""), highlight=False)
    if "spin_share_rms" in error:
        console.print(f"spin share RMS error {error['spin_share_rms']:.3f} (share of CPU time); objective over "
                      f"throughput and spin share {error['objective']:.3f}", highlight=False)
    unknown = [p.name for p in made.parameters if not p.identified]
    if unknown:
        console.print(f"not identified by this curve: {', '.join(unknown)} (the ensemble carries their spread; "
                      "orch docs calibration)", highlight=False)
