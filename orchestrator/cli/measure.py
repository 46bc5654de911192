"""`orch measure`: run the real benchmark (execl, spawn) on this host and report throughput."""

from __future__ import annotations

import json
import os
from enum import Enum

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from orchestrator import terminal
from orchestrator.errors import UserError
from orchestrator.measure import bench

MAX_COPIES = 4096
SWEEP = "measured"  # the dataset partition measured rows go to (sweep=measured)


class Workload(str, Enum):
    execl = "execl"
    spawn = "spawn"


def parse_copies(text: str) -> list[int]:
    words = [w.strip() for w in text.split(",")]
    if not all(w.isascii() and w.isdigit() and int(w) > 0 for w in words):
        raise UserError("measure", "--copies", f"expected positive whole numbers separated by commas, got {text!r}")
    if max(int(w) for w in words) > MAX_COPIES:  # a typo's extra zeros would fork-bomb the host
        raise UserError("measure", "--copies", f"at most {MAX_COPIES} copies, got {text!r}")
    return [int(w) for w in words]


def measure(
    workload: Workload = typer.Argument(..., help="execl (a C program that execs itself) or spawn "
                                                  "(posix_spawn of /bin/true)"),
    copies: str = typer.Option(..., "--copies", "-c", help="copies to run at once, one point each: 1,2,4,..."),
    duration_s: float = typer.Option(5.0, "--duration-s", help="wall seconds each repeat measures"),
    repeats: int = typer.Option(3, "--repeats", min=1, help="measurements of each point"),
    out: str | None = typer.Option(None, "--out", help="dataset to add the rows to (table=runs/sweep=measured)"),
    pin: bool = typer.Option(False, "--pin", help="pin each copy to one CPU, spread over the NUMA nodes "
                                                 "(default: unpinned, as UnixBench runs them)"),
    as_json: bool = typer.Option(False, "--json", help="print one JSON object instead of a table"),
) -> None:
    """Measure the real benchmark on this host: throughput per second at each number of copies."""
    counts = parse_copies(copies)
    if not duration_s > 0:  # also refuses nan
        raise UserError("measure", "--duration-s", f"must be more than 0, got {duration_s:g}")
    argv = bench.command(workload.value)  # builds execl first: no compiler fails before anything runs
    host = bench.this_host()
    dataset = None
    if out is not None:
        from orchestrator.results.dataset import Dataset

        dataset = Dataset(out, SWEEP)
        dataset.check_writable()
    points = [bench.Point(n) for n in counts]
    console = terminal.console(stderr=True)
    columns = [TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn()]
    with Progress(*columns, console=console, transient=True, disable=as_json) as progress:
        bar = progress.add_task(f"measure {workload.value}", total=len(counts) * repeats)
        for point in points:
            cpus = bench.pinned_cpus(point.copies, host.topology, os.sched_getaffinity(0)) if pin else None
            for repeat in range(repeats):
                progress.update(bar, description=f"measure {workload.value}: {point.copies} copies, "
                                                 f"repeat {repeat + 1}/{repeats}")
                try:
                    result = bench.run_copies(argv, point.copies, duration_s, cpus)
                except RuntimeError as exc:
                    raise UserError("measure", workload.value, str(exc)) from None
                point.throughputs.append(result.throughput)
                if dataset is not None:
                    write(dataset, bench.row(host, workload.value, point.copies, repeat, result, pin))
                progress.advance(bar)
    if as_json:
        print(json.dumps({"workload": workload.value, "host": host.name, "kernel_release": host.kernel_release,
                          "cpu_model": host.cpu_model, "topology": host.topology.name,
                          "topology_digest": host.topology_digest, "pinned": pin, "duration_s": duration_s,
                          "points": [p.summary() for p in points]}))
        return
    show(workload.value, host, points, pin, duration_s)
    if out is not None:
        print(f"wrote {len(points) * repeats} rows to {out}/table=runs/sweep={SWEEP}")


def write(dataset, row: dict) -> None:
    from orchestrator.results.tables import table

    tables = {"runs": table("runs", [row]), **{name: table(name, []) for name in ("locks", "timeseries", "histograms")}}
    dataset.write_batch(tables, json.loads(row["config_json"]), spec_key="orch.measure")


def show(workload: str, host: bench.Host, points: list[bench.Point], pin: bool, duration_s: float) -> None:
    console = terminal.console(132)
    console.print(f"{workload} on {host.name} ({host.cpu_model}, {host.topology.cpu_count} CPUs in "
                  f"{len(host.topology.nodes)} nodes, kernel {host.kernel_release}): "
                  f"{'pinned, spread' if pin else 'unpinned'}, {duration_s:g} s per repeat", highlight=False)
    table = Table(title="Throughput (iterations of all copies per wall second)", title_justify="left")
    for name in ("copies", "mean/s", "min/s", "max/s", "stdev/s", "per copy/s", "repeats"):
        table.add_column(name, justify="right")
    for point in points:
        s = point.summary()
        stdev = "-" if s["stdev_per_s"] is None else f"{s['stdev_per_s']:,.0f}"
        table.add_row(str(point.copies), f"{s['mean_per_s']:,.0f}", f"{s['min_per_s']:,.0f}",
                      f"{s['max_per_s']:,.0f}", stdev, f"{s['per_copy_per_s']:,.0f}", str(len(point.throughputs)))
    console.print(table)
