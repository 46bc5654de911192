"""Run a sweep: expand it, skip what the dataset already has, run the rest in batches, write
them into few large parts as they finish (or let the tasks write them, near the workers)."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from typing import Callable, Iterator

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from orchestrator import terminal
from orchestrator.analysis.stats import mean_ci
from orchestrator.plan import sweep_id, sweep_runs
from orchestrator.results.buffer import Bounds, PartBuffer
from orchestrator.results.dataset import Dataset, owner
from orchestrator.runners import stopping
from orchestrator.runners.work import TARGET_S, Batch, Sink
from orchestrator.spec import SweepSpec
from orchestrator.spec.run import RunSpec


@dataclass
class Outcome:
    total: int
    skipped: int
    done: int = 0
    failed: list[tuple[str, str]] = field(default_factory=list)   # (run id, error)
    wall_s: float = 0.0
    interrupted: bool = False
    ids: set[str] = field(default_factory=set)                   # every run of this sweep


@dataclass
class Plan:
    runs: Callable[[], Iterator[RunSpec]]  # every run of the sweep, built anew at each call
    ids: set[str]                          # their run ids
    todo: set[str]                         # the ids of those still to do
    nodes: int                             # the most NUMA nodes of a run
    dataset: Dataset

    def todo_runs(self) -> Iterator[RunSpec]:
        """The runs still to do, built one at a time: the driver never holds them all."""
        left = set(self.todo)
        for run in self.runs():
            if run.run_id() in left:
                left.discard(run.run_id())
                yield run


def plan(spec: SweepSpec, source: str, out: str | None, force: bool, notes: list[str], repair: bool = False) -> Plan:
    """Everything that can fail on bad input, before any run starts: every run is built and
    checked once here, and only its id kept."""
    runs = sweep_runs(spec, source, notes)
    ids, nodes = set(), 0
    for run in runs():
        stopping.check()
        ids.add(run.run_id())
        nodes = max(nodes, len(run.topology.nodes))
    dataset = Dataset(out or spec.output, spec.name)
    dataset.check_writable()
    removed = dataset.remove_temp_files()
    if removed:
        notes.append(f"removed {removed} temp file(s) an interrupted sweep left")
    if repair:
        moved = dataset.repair()
        notes += [f"moved an unreadable part aside: {path}" for path in moved]
    finished = dataset.finished()
    todo = {run_id for run_id in ids if force or finished.get(run_id) != "ok"}
    # runs computed again leave the dataset first (failed ones, or all with --force): no duplicates
    dropped = dataset.drop({run_id for run_id in todo if run_id in finished})
    if dropped:
        notes.append(f"removed {dropped} run(s) from the dataset to compute them again")
    fixed = dataset.reconcile()
    if fixed:
        notes.append(f"removed or rewrote {fixed} part(s) holding rows of runs an interrupted sweep never "
                     "committed")
    return Plan(runs, ids, todo, nodes, dataset)


def results(todo: Iterator[RunSpec], count: int, nodes: int, sid: str, backend: str, address: str | None,
            workers: int, layout: str, sink: Sink | None, batch_s: float | None) -> Iterator[Batch]:
    """The batches of the `count` runs of todo as they finish; nodes: the most NUMA nodes of a run."""
    target_s = TARGET_S if batch_s is None else batch_s
    if backend == "local":
        from orchestrator.runners.local import run_local
        yield from run_local(todo, count, sid, target_s)
        return
    from orchestrator.runners.ray_cluster import ray_session
    with ray_session(address, workers, nodes):
        if layout == "actors":
            from orchestrator.runners.ray_actors import run_actors
            yield from run_actors(list(todo), sid)  # runs of many nodes: few, and each much longer than its spec
        else:
            from orchestrator.runners.ray_tasks import run_tasks
            yield from run_tasks(todo, count, sid, workers, sink, target_s)


def more_replications(rows: list[dict], target: float, cap: int) -> list[RunSpec]:
    """The stopping rule: one more seed for every cell whose throughput CI half-width is still
    above `target` (relative to its mean), until it has `cap` seeds."""
    cells: dict[tuple, list[dict]] = {}
    for row in rows:
        cells.setdefault((row["topology"], row["workload"], row["strategy"], row["copies"]), []).append(row)
    extra = []
    for cell in cells.values():
        if any(r["status"] != "ok" for r in cell):
            continue  # a failing cell gets no more seeds: they would fail too
        estimate = mean_ci([r["steady_throughput_per_s"] for r in cell])
        if len(cell) < cap and not estimate.relative_half_width <= target:
            seed = max(r["seed"] for r in cell) + 1
            extra.append(RunSpec.model_validate({**json.loads(cell[0]["config_json"]), "seed": seed}))
    return extra


def run_sweep(spec: SweepSpec, source: str, *, backend: str = "ray", address: str | None = None,
              workers: int = 2, layout: str = "task", out: str | None = None, force: bool = False,
              target_ci: float | None = None, max_replications: int = 20, repair: bool = False,
              bounds: Bounds = Bounds(), shared_out: bool = False, batch_s: float | None = None,
              console: Console | None = None) -> tuple[Outcome, Dataset, list[str]]:
    """shared_out: every Ray worker reaches the output (as it does an object store), so tasks write
    their parts themselves. batch_s: how long a task should last (None: TARGET_S; 0: one run each)."""
    notes: list[str] = []
    planned = plan(spec, source, out, force, notes, repair)
    dataset = planned.dataset
    console = console or terminal.console(stderr=True)
    for note in notes:
        console.print(f"orch: note: {note}", highlight=False)
    outcome = Outcome(total=len(planned.ids), skipped=len(planned.ids) - len(planned.todo), ids=planned.ids)
    todo, count = planned.todo_runs(), len(planned.todo)
    sid = sweep_id(spec)
    meta = spec.model_dump(mode="json")
    began = time.perf_counter()
    columns = [TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
               TextColumn("{task.fields[failed]} failed"), TimeElapsedColumn(), TextColumn("eta"),
               TimeRemainingColumn()]
    buffer = PartBuffer(dataset, meta, bounds)
    near = backend == "ray" and layout == "task" and (shared_out or dataset.object_store)
    sink = Sink(dataset.uri, dataset.sweep, meta, owner()) if near else None
    with Progress(*columns, console=console, transient=False) as progress:
        bar = progress.add_task(spec.name, total=count, failed=0)
        try:
            while True:
                if count:
                    for batch in results(todo, count, planned.nodes, sid, backend, address, workers, layout, sink,
                                         batch_s):
                        outcome.failed += [(run_id, error) for run_id, error in batch.acks if error is not None]
                        buffer.add(len(batch.acks), batch.tables)
                        progress.update(bar, advance=len(batch.acks), failed=len(outcome.failed))
                        stopping.check()
                    buffer.flush()  # the stopping rule below reads what is written
                # the stopping rule looks at every run of the sweep, those of earlier sweeps too
                extra = [] if target_ci is None else more_replications(
                    dataset.runs().to_pylist(), target_ci, max_replications)
                if not extra:
                    break
                todo, count = iter(extra), len(extra)
                outcome.ids.update(run.run_id() for run in extra)
                outcome.total += count
                progress.update(bar, total=outcome.total - outcome.skipped)
        except KeyboardInterrupt:
            outcome.interrupted = True
            buffer.flush()  # the finished runs are kept
        finally:
            outcome.done = buffer.written
    outcome.wall_s = time.perf_counter() - began
    return outcome, dataset, notes


def comparison(rows: list[dict], ids: set[str], order: list[str]) -> list[tuple]:
    """(topology, workload, copies, strategy, mean throughput, paired ratio to order[0]) of this
    sweep's nominal runs (ids), as orch report computes them; uncertainty samples only in the report."""
    from orchestrator.analysis.compare import compare
    from orchestrator.analysis.data import separate_configurations

    mine = [r for r in rows if r["run_id"] in ids and r["status"] == "ok" and r.get("sample") is None]
    separate_configurations(mine, "this sweep")
    return [(c.topology, c.workload, c.copies, c.strategy, c.throughput.mean, c.ratio.mean if c.ratio else None)
            for group in compare(mine, order[0], "steady_throughput_per_s", order) for c in group.cells]
