"""`orch measure`: run the real benchmark (execl, spawn, sysexec) on this host and report throughput,
and with --perf what the kernel shows of it (measure/perf.py)."""

from __future__ import annotations

import json
import os
import sys
from contextlib import nullcontext
from enum import Enum
from functools import partial

import typer
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
)

from orchestrator import terminal
from orchestrator.cli.options import number, parse_copies, stops_said
from orchestrator.errors import UserError, one_line
from orchestrator.measure import bench
from orchestrator.measure import perf as perf_record

MAX_COPIES = 4096
SWEEP = "measured"  # the dataset partition measured rows go to (sweep=measured)


class Workload(str, Enum):
    execl = "execl"
    spawn = "spawn"
    sysexec = "sysexec"


def measure(
    workload: Workload = typer.Argument(..., help="execl (a C program that execs itself), spawn "
                                                  "(fork + exit + wait, as UnixBench's spawn) or sysexec "
                                                  "(fork + exec /bin/true + wait, as UnixBench's syscall exec)"),
    copies: str = typer.Option(..., "--copies", "-c", help="copies to run at once, one point each: 1,2,4,..."),
    duration_s: float = typer.Option(5.0, "--duration-s", parser=number(0.01, 86_400),
                                     help="wall seconds each repeat measures"),
    repeats: int = typer.Option(3, "--repeats", min=1, help="measurements of each point"),
    out: str | None = typer.Option(None, "--out", help="dataset to add the rows to (table=runs/sweep=measured)"),
    pin: bool = typer.Option(False, "--pin", help="pin each copy to one CPU, spread over the NUMA nodes "
                                                 "(default: unpinned, as UnixBench runs them)"),
    address: str | None = typer.Option(None, "--address", help="a Ray cluster's GCS, HEAD:6379: measure on "
                                       "every node, each on its own machine, into one dataset"),
    as_json: bool = typer.Option(False, "--json", help="print one JSON object instead of a table"),
    perf: bool = typer.Option(False, "--perf", help="record each repeat with perf (root): lock contention by "
                              "caller (locks table), CPU time shares (runs) and top symbols (symbols); "
                              "needs --out, where perf's raw output is kept under perf/HOST/"),
) -> None:
    """Measure the real benchmark on this host (or every node of a Ray cluster): throughput per
    second at each number of copies."""
    counts = parse_copies(copies, "--copies", MAX_COPIES)
    if perf and out is None:
        raise UserError("measure", "--perf", "needs --out: the rows and perf's raw output go into that dataset")
    if address is None:
        if perf:
            perf_record.check()
        bench.command(workload.value)  # builds execl: without a compiler, fail before the progress bar
    cpus = len(os.sched_getaffinity(0))
    if address is None and max(counts) > cpus:
        print(f"orch: warning: {max(counts)} copies on {cpus} CPUs: copies share CPUs, "
              "so the curve past that point measures the scheduler as much as the kernel's locks", file=sys.stderr)
    dataset = None
    if out is not None:
        from orchestrator.results.dataset import Dataset, destination

        dataset = Dataset(destination(out, "--out"), SWEEP)
        dataset.check_writable()
    kept = 0

    def keep(found: dict) -> None:
        nonlocal kept
        if dataset is not None:
            write(dataset, found)
            kept += 1

    # SIGINT, SIGTERM: noted, and the measurement stops at its next safe point (between repeats, or
    # while it waits for its copies, which it then ends); the rows of finished repeats are kept
    with stops_said(lambda: ": " + (f"{kept} measured row(s) kept in {dataset.uri}" if dataset is not None
                                    else "nothing kept (rows are kept with --out)")), \
            dataset.writing() if dataset is not None else nullcontext():
        if address is not None:  # each node's rows are written as it finishes: a failing node loses only its own
            measured, failures = on_every_node(address, workload.value, counts, duration_s, repeats, pin, perf,
                                               keep)
        else:  # each repeat's row is written as it finishes: a stop or a failing copy keeps the rest
            measured = [on_this_host(workload.value, counts, duration_s, repeats, pin, perf, as_json, keep)]
            failures = []
    if as_json:
        hosts = [{"workload": workload.value, "host": host.name, "kernel_release": host.kernel_release,
                  "cpu_model": host.cpu_model, "topology": host.topology.name,
                  "topology_digest": host.topology_digest, "pinned": pin, "duration_s": duration_s,
                  "points": [p.summary() for p in points]} for host, points, _ in measured]
        print(json.dumps(hosts[0] if address is None else {"nodes": hosts}))
    else:
        for host, points, _ in measured:
            show(workload.value, host, points, pin, duration_s)
        if dataset is not None:
            print(f"wrote {sum(len(found) for *_, found in measured)} rows to {dataset.uri}/table=runs/sweep={SWEEP}"
                  + (f" (perf's output under {dataset.uri}/perf/)" if perf else ""))
    if failures:  # after the nodes that finished are kept and shown
        raise UserError("measure", failures[0][0], failures[0][1]
                        + (f" (and {len(failures) - 1} more node(s) failed)" if len(failures) > 1 else ""))


def on_this_host(workload: str, counts: list[int], duration_s: float, repeats: int, pin: bool, perf: bool,
                 quiet: bool, keep) -> tuple:
    console = terminal.console(stderr=True)
    columns = [TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn()]
    with Progress(*columns, console=console, transient=True, disable=quiet) as progress:
        bar = progress.add_task(f"measure {workload}", total=len(counts) * repeats)

        def step(copies: int, repeat: int) -> None:
            progress.update(bar, completed=counts.index(copies) * repeats + repeat,
                            description=f"measure {workload}: {copies} copies, repeat {repeat + 1}/{repeats}")
        try:
            return bench.measure_host(workload, counts, duration_s, repeats, pin, step, keep, perf)
        except RuntimeError as exc:
            raise UserError("measure", workload, str(exc)) from None


def on_every_node(address: str, workload: str, counts: list[int], duration_s: float, repeats: int, pin: bool,
                  perf: bool, keep) -> tuple[list[tuple], list[tuple[str, str]]]:
    """One measurement per machine of a Ray cluster, each pinned to its machine and holding all of
    its CPUs, so no task of a sweep shares the machine while it measures. Returns what finished and
    (node, error) of what failed."""
    from orchestrator.runners.ray_tasks import RayTasks

    with RayTasks(address, None) as executor:
        machines = dict(executor.machines())
        measured, failures = [], []
        with Progress(TextColumn(f"measure {workload} on {len(machines)} machine(s)"), BarColumn(),
                      MofNCompleteColumn(), TimeElapsedColumn(), console=terminal.console(stderr=True),
                      transient=True) as progress:
            bar = progress.add_task("", total=len(machines))
            run = partial(measure_on_node, workload=workload, counts=counts, duration_s=duration_s, repeats=repeats,
                          pin=pin, perf=perf)
            for done in executor.stream(run, list(machines), placement=machines.get, in_flight=len(machines)):
                progress.advance(bar)
                if not done.ok:
                    failures.append((f"node {done.item}", done.crash or one_line(str(done.error))))
                    continue
                measured.append(done.value)
                for found in done.value[2]:
                    keep(found)
        return measured, failures


def measure_on_node(host: str, workload: str, counts: list[int], duration_s: float, repeats: int, pin: bool,
                    perf: bool):
    """The Ray task on machine `host` (its errors come back as they were raised)."""
    return bench.measure_host(workload, counts, duration_s, repeats, pin, perf=perf)


def write(dataset, found: dict) -> None:
    """One repeat's rows, and perf's raw files under DATASET/perf/HOST/COPIES-REPEAT/RUN_ID/."""
    from orchestrator.results.tables import table

    row = found["runs"][0]
    config = json.loads(row["config_json"])
    folder = f"perf/{row['host']}/{row['copies']}-{config['repeat']}/{row['run_id']}"  # each invocation its own
    for name, data in found.get("files", {}).items():
        dataset.write_file(f"{folder}/{name}", data)
    tables = {name: table(name, found.get(name, [])) for name in ("runs", "locks", "timeseries", "histograms")}
    if found.get("symbols"):
        tables["symbols"] = table("symbols", found["symbols"])
    dataset.write_batch(tables, config, spec_key="orch.measure")


def show(workload: str, host: bench.Host, points: list[bench.Point], pin: bool, duration_s: float) -> None:
    console = terminal.console()
    console.print(f"{workload} on {host.name} ({host.cpu_model}, {host.topology.cpu_count} CPUs in "
                  f"{len(host.topology.nodes)} nodes, kernel {host.kernel_release}): "
                  f"{'pinned, spread' if pin else 'unpinned'}, {duration_s:g} s per repeat", highlight=False)
    columns = ("copies", "mean/s", "min/s", "max/s", "stdev/s", "per copy/s", "repeats")
    table = terminal.Grid("Throughput (iterations of all copies per wall second)", columns, numbers=columns)
    for point in points:
        s = point.summary()
        stdev = "-" if s["stdev_per_s"] is None else f"{s['stdev_per_s']:,.0f}"
        table.add_row(str(point.copies), f"{s['mean_per_s']:,.0f}", f"{s['min_per_s']:,.0f}",
                      f"{s['max_per_s']:,.0f}", stdev, f"{s['per_copy_per_s']:,.0f}", str(len(point.throughputs)))
    terminal.show(table, console)
