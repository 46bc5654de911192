"""`orch run`: simulate one configuration and print (or save) what it measured."""

from __future__ import annotations

import json
import math
import sys
from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING, TypedDict

import pyarrow as pa
import typer
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
)
from rich.text import Text

from orchestrator import terminal
from orchestrator.analysis.precision import run_warning
from orchestrator.cli.options import number
from orchestrator.errors import UserError
from orchestrator.plan import load_parts, run_from
from orchestrator.results.dataset import write_run_folder
from orchestrator.results.tables import finite, to_tables
from orchestrator.spec.profile import ProfileSpec, load_profile, settings
from orchestrator.spec.topology import shape_digest

if TYPE_CHECKING:
    from orchestrator.simulate import RunResult


class Placement(str, Enum):
    migrate = "migrate"
    spread = "spread"
    compact = "compact"


class RunFields(TypedDict):
    """A run's own fields as orch run's options give them (plan.run_from takes them)."""

    copies: int | None
    seed: int
    duration_ms: float
    warmup_ms: float
    placement: str


def ns(value: float | None) -> str:
    """Nanoseconds in the unit a person reads fastest."""
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "-"
    for unit, scale in (("s", 1e9), ("ms", 1e6), ("us", 1e3)):
        if abs(value) >= scale:
            return f"{value / scale:.3g} {unit}"
    return f"{value:.3g} ns"


def run(
    topology: str = typer.Option(..., "--topology", "-t", help="topology YAML or preset name"),
    workload: str = typer.Option(..., "--workload", "-w", help="workload YAML or preset name"),
    strategy: str = typer.Option("single", "--strategy", "-s", help="strategy name or YAML file"),
    copies: int | None = typer.Option(None, "--copies", "-c", min=1, help="copies (default: every CPU)"),
    seed: int = typer.Option(1, "--seed", min=0),
    duration_ms: float = typer.Option(20.0, "--duration-ms", parser=number(), help="virtual ms measured"),
    warmup_ms: float = typer.Option(0.0, "--warmup-ms", parser=number(), help="virtual ms run before measuring"),
    placement: Placement = typer.Option(Placement.migrate, "--placement", help="migrate: unpinned, moved by "
                                       "sched_exec at exec; spread or compact: pinned"),
    overrides: list[str] = typer.Option([], "--set", help="override a spec field: dotted.key=value"),
    profile: str | None = typer.Option(None, "--profile", help="a calibration profile (orch calibrate): its "
                                       "fitted values, before any --set"),
    out: Path | None = typer.Option(None, "--out", help="write runs/locks/timeseries/histograms Parquet here"),
    as_json: bool = typer.Option(False, "--json", help="print one JSON object instead of tables"),
    check: bool = typer.Option(False, "--check", help="check engine invariants while running (slower)"),
) -> None:
    """Simulate one configuration and report throughput, lock_stat and costs."""
    parts = load_parts(topology, strategy, workload)
    fields = RunFields(copies=copies, seed=seed, duration_ms=duration_ms, warmup_ms=warmup_ms,
                       placement=placement.value)
    fitted = None if profile is None else load_profile(profile)
    if fitted is not None:
        run_from(parts, fitted.overrides(), source=profile, **fields)  # a bad value is blamed on the profile
    spec = run_from(parts, [*(fitted.overrides() if fitted else []), *overrides], **fields)
    if fitted is not None:
        assert profile is not None  # fitted was read from it
        warning = fitted.warning(profile, shape_digest(spec.topology.model_dump(mode="json")))
        if warning:
            print(f"orch: warning: {warning}", file=sys.stderr)
    from orchestrator.sim.cache import say_if_compiling
    from orchestrator.simulate import (
        simulate,  # the engine and its compiler: only for a run
    )

    say_if_compiling()
    result = simulate(spec, check=check)
    short = run_warning(result.metrics["iterations"], spec.duration_ms)
    if short:
        print(f"orch: warning: {short}", file=sys.stderr)
    band = None if fitted is None else member_band(parts, fitted, overrides, fields, result, check)
    if out is not None:
        try:
            write_run_folder(str(out), to_tables(result), spec.model_dump(mode="json"))
        except (OSError, pa.ArrowException) as exc:
            raise UserError(str(out), None, f"cannot write results: {exc.strerror or exc}") from None
    if as_json:
        print(json.dumps({**to_json(result), **({"band": band} if band else {})}, allow_nan=False))
    else:
        print_summary(result)
        if band:
            print(f"band over the profile's {band['members']} ensemble members: {band['low']:,.0f} - "
                  f"{band['high']:,.0f} iterations/s (steady state)")
        if out is not None:
            print(f"wrote {out}/{{runs,locks,timeseries,histograms}}.parquet")


def member_band(parts: dict, profile: ProfileSpec, user: list[str], fields: RunFields, best: RunResult,
                check: bool) -> dict | None:
    """The steady throughput range over a profile's ensemble members: each member's fitted values
    replace the best fit's, the user's --set still applied after them. None for a profile of one."""
    from orchestrator.simulate import simulate

    members = profile.members()
    if len(members) < 2:
        return None
    values = []
    with Progress(TextColumn("ensemble members"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                  console=terminal.console(100, stderr=True), transient=True) as bar:
        task = bar.add_task("", total=len(members))
        for member in members:
            if member == profile.fitted:  # the best fit: the run already made
                values.append(best.metrics["steady_throughput_per_s"])
            else:
                spec = run_from(parts, [*settings(member), *user], **fields)
                values.append(simulate(spec, check=check).metrics["steady_throughput_per_s"])
            bar.advance(task)
    return {"low": min(values), "high": max(values), "members": len(values)}


def to_json(result: RunResult) -> dict:
    def clean(value):
        return [finite(v) for v in value] if isinstance(value, list) else finite(value)

    return {"run_id": result.run_id, **{k: clean(v) for k, v in result.metrics.items()},
            "locks": [{k: clean(v) for k, v in row.items()} for row in result.locks]}


def walkers(where: str) -> str:
    """Where a run's walker threads ran, in words (the runs column says none, free or shared)."""
    return {"none": "no walker threads", "free": "walkers on CPUs no copy uses",
            "shared": "walkers share CPUs with copies"}.get(where, f"walkers: {where}")


def print_summary(result: RunResult) -> None:
    spec, m = result.spec, result.metrics
    console = terminal.console()
    console.print(Text.assemble((spec.strategy.display, "bold"),
                                f" x {spec.workload.name} on {spec.topology.name}: "
                                f"{spec.copies} copies ({spec.placement}), seed {spec.seed}, "
                                f"{spec.duration_ms:g} ms measured after {spec.warmup_ms:g} ms warm-up   "
                                f"run {result.run_id}"), highlight=False)
    summary = terminal.Grid("Results", ("metric", "value"), numbers={"value"}, header=False)
    rows = [
        ("throughput (steady state)", f"{m['steady_throughput_per_s']:,.0f} iterations/s "
                                      f"({m['iterations']:,} iterations, {m['throughput_per_s']:,.0f}/s overall)"),
        ("response mean / p50 / p99", f"{ns(m['response_mean_ns'])} / {ns(m['response_p50_ns'])} / "
                                      f"{ns(m['response_p99_ns'])}"),
        ("response write / read", f"{ns(m['response_write_mean_ns'])} / {ns(m['response_read_mean_ns'])}"),
        ("lock wait mean (all acquisitions)", ns(m["wait_mean_ns"])),
        ("rmap walks, p50 / p99", f"none ({walkers(m['walker_cpus'])})" if not m["walks"] + m["walks_contended"]
                                  else f"{m['walks']:,}, {ns(m['walk_p50_ns'])} / {ns(m['walk_p99_ns'])}"
                                  f" ({m['walks_contended']:,} gave up contended; {walkers(m['walker_cpus'])})"),
        ("CPU time: work / spin / sleep / idle", f"{m['cpu_work_share']:.1%} / {m['cpu_spin_share']:.1%} / "
                                                 f"{m['cpu_sleep_share']:.1%} / {m['cpu_idle_share']:.1%}"),
        ("cache-line transfers local / remote", f"{m['transfers_local']:,} / {m['transfers_remote']:,} "
                                                f"({m['remote_share']:.1%} remote)")
        if len(spec.topology.nodes) > 1 else ("cache-line transfers", f"{m['transfers_local']:,} (one NUMA node: "
                                                                      "all local)"),
        ("memory per inode", f"{m['memory_per_inode_bytes']} B ({m['memory_per_million_inodes_mib']:.1f} MiB "
                             "per million inodes)"),
        ("fairness (Jain, per CPU)", f"{m['fairness_jain']:.3f}"),
        ("lockref spinlock fallbacks", f"{m['lockref_fallbacks']:,}"),
        ("engine", f"{m['events']:,} events in {m['wall_s']:.2f} s = {m['events_per_s']:,.0f} events/s"),
    ]
    for row in rows:
        summary.add_row(*row)
    terminal.show(summary, console)
    if result.locks:
        columns = ("class", "mode", "caller", "acq", "con", "con%", "wait avg", "wait p99", "wait max",
                   "hold avg", "spin", "sleep", "sleeps", "handoffs", "bounces")
        table = terminal.Grid("lock_stat (after warm-up)", columns, numbers=columns[3:])
        for lock in result.locks:
            share = lock["contentions"] / lock["acquisitions"] if lock["acquisitions"] else 0.0
            table.add_row(lock["lock_class"], lock["mode"], lock["caller"] or "-", f"{lock['acquisitions']:,}",
                          f"{lock['contentions']:,}",
                          f"{share:.1%}", ns(lock["wait_avg_ns"]), ns(lock["wait_p99_ns"]), ns(lock["wait_max_ns"]),
                          ns(lock["hold_avg_ns"]), ns(lock["spin_ns"]), ns(lock["sleep_ns"]),
                          f"{lock['sleeps']:,}", f"{lock['handoffs']:,}",
                          f"{lock['acq_bounces'] + lock['con_bounces']:,}")
        terminal.show(table, console)
    sys.stdout.flush()
