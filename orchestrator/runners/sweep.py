"""Run a sweep: expand it, skip what the dataset already has, run the rest in batches, write
them into few large parts as they finish (or let the tasks write them, near the workers)."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from typing import Iterator

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, \
    TimeRemainingColumn

from orchestrator import terminal
from orchestrator.analysis.stats import mean_ci
from orchestrator.plan import expand_sweep, sweep_id
from orchestrator.results.buffer import Bounds, PartBuffer
from orchestrator.results.dataset import Dataset, owner
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


def plan(spec: SweepSpec, source: str, out: str | None, force: bool, notes: list[str], repair: bool = False):
    """Everything that can fail on bad input, before any run starts. Returns every run and the
    runs still to do, both by run id, and the dataset."""
    runs = expand_sweep(spec, source, notes)
    dataset = Dataset(out or spec.output, spec.name)
    dataset.check_writable()
    removed = dataset.remove_temp_files()
    if removed:
        notes.append(f"removed {removed} temp file(s) an interrupted sweep left")
    if repair:
        moved = dataset.repair()
        notes += [f"moved an unreadable part aside: {path}" for path in moved]
    finished = dataset.finished()
    by_id = {run.run_id(): run for run in runs}  # each id hashes a whole spec: compute it once
    todo = {run_id: run for run_id, run in by_id.items() if force or finished.get(run_id) != "ok"}
    # runs computed again leave the dataset first (failed ones, or all with --force): no duplicates
    dropped = dataset.drop({run_id for run_id in todo if run_id in finished})
    if dropped:
        notes.append(f"removed {dropped} run(s) from the dataset to compute them again")
    fixed = dataset.reconcile()
    if fixed:
        notes.append(f"removed or rewrote {fixed} part(s) holding rows of runs an interrupted sweep never "
                     "committed")
    return by_id, todo, dataset


def results(todo: list[RunSpec], sid: str, backend: str, address: str | None, workers: int,
            layout: str, sink: Sink | None, batch_s: float | None) -> Iterator[Batch]:
    target_s = TARGET_S if batch_s is None else batch_s
    if backend == "local":
        from orchestrator.runners.local import run_local
        yield from run_local(todo, sid, target_s)
        return
    from orchestrator.runners.ray_cluster import ray_session
    nodes = max(len(run.topology.nodes) for run in todo)
    with ray_session(address, workers, nodes):
        if layout == "actors":
            from orchestrator.runners.ray_actors import run_actors
            yield from run_actors(todo, sid)
        else:
            from orchestrator.runners.ray_tasks import run_tasks
            yield from run_tasks(todo, sid, workers, sink, target_s)


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
    runs, by_id, dataset = plan(spec, source, out, force, notes, repair)
    console = console or terminal.console(stderr=True)
    for note in notes:
        console.print(f"orch: note: {note}", highlight=False)
    outcome = Outcome(total=len(runs), skipped=len(runs) - len(by_id), ids=set(runs))
    todo = list(by_id.values())
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
        bar = progress.add_task(spec.name, total=len(todo), failed=0)
        try:
            while True:
                if todo:
                    for batch in results(todo, sid, backend, address, workers, layout, sink, batch_s):
                        outcome.failed += [(run_id, error) for run_id, error in batch.acks if error is not None]
                        buffer.add(len(batch.acks), batch.tables)
                        progress.update(bar, advance=len(batch.acks), failed=len(outcome.failed))
                    buffer.flush()  # the stopping rule below reads what is written
                # the stopping rule looks at every run of the sweep, those of earlier sweeps too
                todo = [] if target_ci is None else more_replications(
                    dataset.runs().to_pylist(), target_ci, max_replications)
                if not todo:
                    break
                by_id.update({run.run_id(): run for run in todo})
                outcome.ids.update(by_id)
                outcome.total += len(todo)
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
